"""ROAD: RemOve And Debias (Rong et al. 2022), deletion curves without retraining.

Pixels are removed in the order of the saliency map, most relevant first (MoRF) or least
relevant first (LeRF), and filled by noisy linear imputation: each removed pixel is the
weighted average of its 8 neighbours (weight 1/6 for the 4 direct, 1/12 for the 4 diagonal
ones; neighbours outside the image left out and the weights renormalised), a sparse linear
system over all removed pixels solved at once, then Gaussian noise added to the imputed
pixels. Unlike a constant or blurred fill, the imputed region carries no shape of the removed
set that the classifier could read (the "class information leakage" of plain deletion).

Curves: the class probability at removed fractions 10%, 20%, ..., 90% of the pixels;
`road_morf` (lower is better) and `road_lerf` (higher is better) are the means of the curves
over those fractions.
"""

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import spsolve

from keras_saliency.evaluation.metrics import class_probabilities, removal_ranks

FRACTIONS = tuple(np.round(np.arange(0.1, 0.91, 0.1), 2))
# (dy, dx), weight: direct neighbours 1/6, diagonal ones 1/12 (the weights sum to 1)
NEIGHBOUR_WEIGHTS = (
    ((-1, 0), 1 / 6), ((1, 0), 1 / 6), ((0, -1), 1 / 6), ((0, 1), 1 / 6),
    ((-1, -1), 1 / 12), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((1, 1), 1 / 12),
)
# The reference implementation's noise, 0.01 on standardised images, in pixel levels: CIFAR-10's
# per-channel standard deviation is about 0.25 x 255 = 64 levels.
NOISE_STD = 0.64


def noisy_linear_imputation(image, removed, noise_std=NOISE_STD, rng=None):
    """Fills the `removed` pixels of `image` by noisy linear imputation.

    Args:
        image: `(H, W, C)` pixels.
        removed: `(H, W)` booleans, True where the pixel is removed.
        noise_std: standard deviation of the Gaussian noise added to the imputed pixels (in
            the image's units; 0: none).
        rng: a `numpy.random.Generator` for the noise (default: seeded with 0).

    Returns:
        `(H, W, C)` float32: the kept pixels unchanged, the removed ones imputed.

    Example:

    ```python
    filled = noisy_linear_imputation(image, saliency_map > 0.5, noise_std=0.0)
    ```
    """
    image = np.asarray(image, np.float64)
    removed = np.asarray(removed, bool)
    if image.ndim != 3 or removed.shape != image.shape[:2]:
        raise ValueError(
            f"Expected an image (H, W, C) and a removed mask (H, W). Received: shapes {image.shape} "
            f"and {removed.shape}"
        )
    height, width, channels = image.shape
    unknown = np.flatnonzero(removed)
    out = image.reshape(-1, channels).copy()
    if unknown.size == 0:
        return out.reshape(image.shape).astype(np.float32)
    if unknown.size == removed.size:
        raise ValueError("Expected at least one kept pixel to impute from. Received: all pixels removed")
    variable = np.full(removed.size, -1)
    variable[unknown] = np.arange(unknown.size)
    ys, xs = np.divmod(unknown, width)
    diagonal = np.zeros(unknown.size)
    rows, cols, weights = [], [], []
    rhs = np.zeros((unknown.size, channels))
    for (dy, dx), weight in NEIGHBOUR_WEIGHTS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        equation = np.flatnonzero(inside)
        neighbour = ny[inside] * width + nx[inside]
        diagonal[equation] += weight
        is_unknown = removed.reshape(-1)[neighbour]
        rows.append(equation[is_unknown])
        cols.append(variable[neighbour[is_unknown]])
        weights.append(np.full(int(is_unknown.sum()), -weight))
        np.add.at(rhs, equation[~is_unknown], weight * out[neighbour[~is_unknown]])
    # sum_n w_n * v_i - sum_{unknown n} w_n v_n = sum_{known n} w_n v_n
    rows.append(np.arange(unknown.size))
    cols.append(np.arange(unknown.size))
    weights.append(diagonal)
    matrix = sparse.csc_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape=(unknown.size,) * 2
    )
    solution = spsolve(matrix, rhs).reshape(unknown.size, channels)
    if noise_std:
        rng = rng if rng is not None else np.random.default_rng(0)
        solution = solution + rng.normal(0.0, noise_std, solution.shape)
    out[unknown] = solution
    return out.reshape(image.shape).astype(np.float32)


def road_curves(classifier, images, class_ids, maps, fractions=FRACTIONS, noise_std=NOISE_STD, seed=0, batch_size=128):
    """ROAD curves: the class probability after removing each fraction of the pixels.

    Args:
        classifier: a `keras_saliency.methods.ClassifierFunction` (or anything with
            `probabilities(images, class_ids)`).
        images: `(N, H, W, 3)` in [0, 255].
        class_ids: `(N,)` the explained classes.
        maps: `(N, H, W)` saliency maps (higher: more relevant).
        fractions: removed fractions of the pixels.
        noise_std: imputation noise (pixel levels).
        seed: seed of the noise.
        batch_size: images per classifier call.

    Returns:
        `{"morf": (N, F), "lerf": (N, F)}` class probabilities, F = len(fractions).

    Example:

    ```python
    curves = road_curves(ClassifierFunction(model), images, labels, maps)
    morf, lerf = curves["morf"].mean(1), curves["lerf"].mean(1)  # per image
    ```
    """
    images = np.asarray(images, np.float32)
    class_ids = np.asarray(class_ids, np.int32)
    n, h, w = images.shape[:3]
    if np.asarray(maps).shape != (n, h, w):
        raise ValueError(f"Expected maps of shape {(n, h, w)}. Received: {np.asarray(maps).shape}")
    rank = removal_ranks(maps)
    rng = np.random.default_rng(seed)
    curves = {}
    for order in ("morf", "lerf"):
        imputed = np.empty((len(fractions),) + images.shape, np.float32)
        for f, fraction in enumerate(fractions):
            count = int(round(fraction * h * w))
            removed = rank < count if order == "morf" else rank >= h * w - count
            for i in range(n):
                imputed[f, i] = noisy_linear_imputation(images[i], removed[i], noise_std, rng)
        probabilities = class_probabilities(
            classifier, imputed.reshape((-1,) + images.shape[1:]), np.tile(class_ids, len(fractions)), batch_size
        )
        curves[order] = probabilities.reshape(len(fractions), n).T
    return curves


def road_scores(classifier, images, class_ids, maps, **options):
    """`(road_morf, road_lerf)` per image: the means of the ROAD curves over the fractions
    (`road_curves`, same options). MoRF: lower is better; LeRF: higher is better.

    Args:
        classifier: anything with `probabilities(images, class_ids)`.
        images: `(N, H, W, 3)` in [0, 255].
        class_ids: `(N,)` the explained classes.
        maps: `(N, H, W)` saliency maps.
        **options: the other arguments of `road_curves` (fractions, noise_std, seed, batch_size).

    Example:

    ```python
    morf, lerf = road_scores(ClassifierFunction(model), images, class_ids, maps, seed=0)
    ```
    """
    curves = road_curves(classifier, images, class_ids, maps, **options)
    return curves["morf"].mean(axis=1), curves["lerf"].mean(axis=1)
