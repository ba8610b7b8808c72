"""Sanity checks for saliency maps (Adebayo et al. 2018, "Sanity Checks for Saliency Maps").

A map that explains the classifier must change when the classifier's learned weights are
destroyed. Cascading model-parameter randomisation: a copy of the classifier gets fresh weights
layer by layer from the logits down (depth k: the top k layers re-initialised, a batch
normalisation together with the layer before it), and every method's maps are recomputed on the
same images for the same classes. The learned masker is checked twice: against the randomised
classifier (the masker itself kept: it reads only its own copy of the classifier's layers, so its
maps cannot follow), and with its own trained layers (selector, decoder, head; not the frozen
encoder) re-initialised in the same cascade, from the mask head down.

Similarity of the maps before and after, per image, averaged: Spearman rank correlation of the
maps (of the signed maps where a method has them, e.g. LRP's relevance), Spearman of the absolute
maps, and SSIM of the [0, 1] maps. High similarity after randomisation means that the method
fails the check: its maps do not depend on what the classifier learned.

Data randomisation (a masker retrained against a classifier trained on permuted labels) is
`tools.recipes.data_randomisation_models` + `data_randomisation_check`: hours of training, run separately
(`scripts/data_randomisation.py`).
"""

import contextlib
import logging
import os

import numpy as np

from keras_saliency.reports import tables

logger = logging.getLogger("keras_saliency")

MEASURES = ("spearman", "spearman_abs", "ssim")
# SSIM as Wang et al. 2004: Gaussian window (sigma 1.5, truncated at 3.5 sigma: 11 x 11),
# K1 = 0.01, K2 = 0.03, the mean over the pixels whose window lies inside the map.
SSIM_SIGMA, SSIM_TRUNCATE, SSIM_K1, SSIM_K2 = 1.5, 3.5, 0.01, 0.03
THUMBNAIL = 96  # largest side of the maps in sanity.png
COLUMNS = (
    ("method", "method", "{}"),
    ("randomised", "randomised", "{}"),
    ("depth", "depth", "{}"),
    ("layer", "top layer randomised", "{}"),
    ("spearman", "Spearman", "{:.3f}"),
    ("spearman_abs", "Spearman of |map|", "{:.3f}"),
    ("ssim", "SSIM", "{:.3f}"),
    ("images", "images", "{}"),
)


def spearman(a, b):
    """Spearman rank correlation of two maps (ties: average ranks). A constant map has no
    ranking: 1.0 when both are constant, else 0.0.

    Args:
        a: the first map, any shape.
        b: the second map, of the same size.

    Example:

    ```python
    spearman(map_before, map_after)  # 1.0: the same ranking of the pixels
    ```
    """
    from scipy.stats import rankdata

    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    flat_a, flat_b = np.ptp(a) == 0, np.ptp(b) == 0
    if flat_a or flat_b:
        return float(flat_a and flat_b)
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def structural_similarity(a, b, data_range=1.0):
    """SSIM of two 2-D maps (Wang et al. 2004; the settings of
    `skimage.metrics.structural_similarity(a, b, data_range=data_range, gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False)`).

    Args:
        a: the first `(H, W)` map, at least 11 x 11.
        b: the second map, of the same shape.
        data_range: the maps' value range (default 1.0).

    Example:

    ```python
    structural_similarity(mask, mask)  # 1.0
    ```
    """
    from scipy.ndimage import gaussian_filter

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"Expected two 2-D maps of the same shape. Received: {a.shape} and {b.shape}")
    radius = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
    if min(a.shape) < 2 * radius + 1:
        raise ValueError(f"Expected maps of at least {2 * radius + 1} x {2 * radius + 1}. Received: {a.shape}")

    def blur(x):
        return gaussian_filter(x, SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect")

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim[radius:-radius, radius:-radius].mean())


def map_similarity(before, after, signed_before=None, signed_after=None):
    """Per image: `{"spearman", "spearman_abs", "ssim"}` arrays `(N,)` of maps `(N, H, W)` in
    [0, 1] before and after randomisation. With signed maps (e.g. relevance), "spearman" ranks
    the signed values and "spearman_abs" their absolute values; otherwise both rank the maps.

    Args:
        before: `(N, H, W)` maps of the original model.
        after: `(N, H, W)` maps of the randomised model.
        signed_before: optional signed maps of the original model.
        signed_after: optional signed maps of the randomised model.

    Example:

    ```python
    similarity = map_similarity(maps, randomised_maps)
    similarity["ssim"].mean()
    ```
    """
    before, after = np.asarray(before), np.asarray(after)
    signed_before = before if signed_before is None else np.asarray(signed_before)
    signed_after = after if signed_after is None else np.asarray(signed_after)
    return {
        "spearman": np.array([spearman(x, y) for x, y in zip(signed_before, signed_after)]),
        "spearman_abs": np.array([spearman(np.abs(x), np.abs(y)) for x, y in zip(signed_before, signed_after)]),
        "ssim": np.array([structural_similarity(x, y) for x, y in zip(before, after)]),
    }


def _leaf_layers(model):
    """Layers of `model` with weights, nested models expanded, in topological order."""
    import keras

    out = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            out += _leaf_layers(layer)
        elif layer.weights:
            out.append(layer)
    return out


def randomisation_groups(model, exclude=()):
    """The cascade: groups of layer names from the top (output) down; a BatchNormalization joins
    the group of the layer whose output it normalises. `exclude`: names of layers (or nested
    models) left alone.

    Args:
        model: the Keras model.
        exclude: names of layers (or nested models) to leave out.

    Example:

    ```python
    randomisation_groups(classifier)  # [["logits"], ["scale_3_conv_2", "scale_3_bn_2"], ...]
    ```
    """
    import keras

    groups, previous = [], None
    for layer in _leaf_layers(_Without(model, exclude)):
        source = None
        if isinstance(layer, keras.layers.BatchNormalization) and layer._inbound_nodes:
            inputs = layer._inbound_nodes[0].input_tensors
            source = inputs[0]._keras_history.operation if inputs else None
        if groups and source is not None and source is previous:
            groups[-1].append(layer.name)
        else:
            groups.append([layer.name])
        previous = layer
    return groups[::-1]


class _Without:
    """`model` seen without the layers named in `exclude`."""

    def __init__(self, model, exclude):
        self.layers = [layer for layer in model.layers if layer.name not in exclude]


def _find_layer(model, name):
    import keras

    for layer in model.layers:
        if layer.name == name:
            return layer
        if isinstance(layer, keras.Model):
            found = _find_layer(layer, name)
            if found is not None:
                return found
    return None


def reinitialise(model, names, seed=0):
    """Gives the layers `names` of `model` (in place) fresh weights from their own initialisers
    (Keras' defaults: Glorot-uniform kernels, zero biases, batch norm reset to gamma 1, beta 0,
    mean 0, variance 1), drawn with `keras.utils.set_random_seed(seed)` (which seeds Python,
    NumPy and the backend).

    Args:
        model: the Keras model, changed in place.
        names: the names of the layers to re-initialise.
        seed: the random seed (default 0).

    Example:

    ```python
    reinitialise(classifier, ["logits"], seed=1)
    ```
    """
    import keras

    keras.utils.set_random_seed(seed)
    for name in names:
        layer = _find_layer(model, name)
        if layer is None:
            raise ValueError(f"Expected a layer named {name!r} in {model.name!r}. Received: none")
        node = layer._inbound_nodes[0]
        fresh = type(layer).from_config(layer.get_config())
        like = lambda t: keras.KerasTensor(t.shape, t.dtype) if isinstance(t, keras.KerasTensor) else t  # noqa: E731
        args, kwargs = node.arguments.convert(like)
        fresh(*args, **kwargs)  # built on symbolic inputs of the same shapes
        layer.set_weights(fresh.get_weights())


def cascading_randomisation(model, groups=None, seed=0, exclude=()):
    """Yields `(depth, group, randomised copy)` for depth 1..len(groups): one copy of `model`
    (never modified) re-initialised a group more at each step, from the top down (the same copy
    changes in place: use it before the next step).

    Args:
        model: the Keras model (not modified).
        groups: the cascade's layer groups (default: `randomisation_groups(model, exclude)`).
        seed: depth k uses seed + k (default 0).
        exclude: names of layers left alone when `groups` is None.

    Example:

    ```python
    for depth, group, randomised in cascading_randomisation(classifier):
        maps = gradient_maps(randomised, images, class_ids)
    ```
    """
    from keras_saliency.models.encoders import frozen_clone

    copy = frozen_clone(model)
    for depth, group in enumerate(groups or randomisation_groups(copy, exclude), start=1):
        reinitialise(copy, group, seed=seed + depth)
        yield depth, group, copy


@contextlib.contextmanager
def _quiet_tensorflow():
    """TensorFlow's retracing warnings off while methods are rebuilt at every depth."""
    import tensorflow as tf

    tf_logger = tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        tf_logger.setLevel(level)


def _maps(name, method_model, images, class_ids, options):
    """`(maps, signed maps or None)` of method `name` built on `method_model`."""
    from keras_saliency.methods import build_method

    method = build_method(name, method_model, **options)
    maps = method(images, class_ids)
    signed = method.signed_maps(images, class_ids) if hasattr(method, "signed_maps") else None
    return maps, signed


def _classifier_function(model, classifier):
    """A `ClassifierFunction` of `classifier` with `model`'s preprocessing and output kind."""
    from keras_saliency.methods import ClassifierFunction

    function = ClassifierFunction(classifier, model.classifier_preprocessing)
    function.output_kind = model.classifier_output
    return function


def _saliency_model(model, masker=None, classifier=None):
    """`model` (a SaliencyModel) with its masker or classifier replaced (nothing copied)."""
    from keras_saliency.models.model import SaliencyModel

    return SaliencyModel(
        masker or model.masker, classifier or model.classifier, config=model.config,
        classifier_preprocessing=model.classifier_preprocessing, classifier_output=model.classifier_output,
        clone_classifier=False,
    )


def _row(method, randomised, depth, group, similarity):
    return {
        "method": method, "randomised": randomised, "depth": depth, "layer": group[0] if group else "",
        "layers": " ".join(group), **{k: float(np.mean(v)) for k, v in similarity.items()},
        "images": int(len(similarity["ssim"])),
    }


def model_randomisation(model, images, class_ids, methods, method_options=None, seed=0, max_depth=None,
                        masker_layers=True, examples=1):
    """Cascading model-parameter randomisation of every method in `methods`.

    Args:
        model: a `SaliencyModel` (the "masker" method; the others explain its classifier).
        images: `(N, S, S, 3)` in [0, 255].
        class_ids: `(N,)` the classes explained at every depth.
        methods: names in `keras_saliency.methods.METHODS`.
        method_options: `{method: {option: value}}`.
        seed: seed of the fresh weights (depth k uses seed + k).
        max_depth: stop after this many groups (None: down to the first layer).
        masker_layers: also randomise the masker's own layers (row "masker layers").
        examples: images whose maps are kept for the figure.

    Returns:
        `(rows, example_maps)`: one row per method, cascade and depth (`COLUMNS`), and
        `{(method, randomised): [maps at depth 0, 1, ...]}` of the first `examples` images.

    Example:

    ```python
    rows, maps = model_randomisation(model, images, labels, ["masker", "gradient", "lrp_epsilon_gamma_box"])
    ```
    """
    method_options = method_options or {}
    images = np.asarray(images, np.float32)
    class_ids = np.asarray(class_ids, np.int32)
    rows, example_maps, originals = [], {}, {}
    with _quiet_tensorflow():
        for name in methods:
            base = model if name == "masker" else _classifier_function(model, model.classifier)
            originals[name] = _maps(name, base, images, class_ids, method_options.get(name, {}))
            example_maps[(name, "classifier")] = [originals[name][0][:examples]]
        groups = randomisation_groups(model.classifier)[:max_depth]
        for depth, group, classifier in cascading_randomisation(model.classifier, groups, seed):
            logger.info("Sanity: classifier randomised down to %s (depth %d of %d)", group[0], depth, len(groups))
            for name in methods:
                if name == "masker":
                    target = _saliency_model(model, classifier=classifier)
                else:
                    target = _classifier_function(model, classifier)
                maps, signed = _maps(name, target, images, class_ids, method_options.get(name, {}))
                similarity = map_similarity(originals[name][0], maps, originals[name][1], signed)
                rows.append(_row(name, "classifier", depth, group, similarity))
                example_maps[(name, "classifier")].append(maps[:examples])
        if masker_layers and "masker" in methods:
            encoder = model.masker.encoder.name
            groups = randomisation_groups(model.masker, exclude={encoder})[:max_depth]
            key = ("masker", "masker layers")
            example_maps[key] = [originals["masker"][0][:examples]]
            for depth, group, masker in cascading_randomisation(model.masker, groups, seed):
                logger.info("Sanity: masker randomised down to %s (depth %d of %d)", group[0], depth, len(groups))
                maps, _ = _maps("masker", _saliency_model(model, masker=masker), images, class_ids, {})
                rows.append(_row("masker", "masker layers", depth, group, map_similarity(originals["masker"][0], maps)))
                example_maps[key].append(maps[:examples])
    return rows, example_maps


def summary_rows(rows):
    """Per method and cascade: the similarity after the top layer and after the deepest depth.

    Args:
        rows: the rows of `model_randomisation` (method, randomised, depth and the measures).

    Example:

    ```python
    print(tables.markdown_table(summary_rows(rows), SUMMARY_COLUMNS))
    ```
    """
    out = {}
    for row in rows:
        key = (row["method"], row["randomised"])
        entry = out.setdefault(key, {"method": key[0], "randomised": key[1]})
        if row["depth"] == 1:
            entry.update({f"top_{m}": row[m] for m in MEASURES})
        if row["depth"] >= entry.get("depths", 0):
            entry.update({"depths": row["depth"], **{f"all_{m}": row[m] for m in MEASURES}})
    return list(out.values())


SUMMARY_COLUMNS = (
    ("method", "method", "{}"),
    ("randomised", "randomised", "{}"),
    ("top_spearman", "Spearman, top layer", "{:.3f}"),
    ("top_ssim", "SSIM, top layer", "{:.3f}"),
    ("depths", "depths", "{}"),
    ("all_spearman", "Spearman, all depths", "{:.3f}"),
    ("all_spearman_abs", "Spearman of |map|, all depths", "{:.3f}"),
    ("all_ssim", "SSIM, all depths", "{:.3f}"),
)


def write_sanity(output, rows, example_maps, example_image, config=None):
    """Writes `sanity.csv` (every row), `sanity.md` (a summary and one table per measure),
    `sanity.png` (rows: method and cascade; columns: depth 0 = original, 1, 2, ...; the maps of
    one image, at most `THUMBNAIL` pixels) and `sanity_curves.png` (mean similarity against depth). Returns the paths.

    Args:
        output: the folder (created).
        rows: the rows of `model_randomisation`.
        example_maps: `{(method, randomised): [maps at depth 0, 1, ...]}`.
        example_image: the example image, `(H, W, 3)` in [0, 255].
        config: the settings written to `sanity_config.json`, or None.

    Example:

    ```python
    rows, maps = model_randomisation(model, images, labels, ["masker", "gradient"])
    paths = write_sanity("sanity", rows, maps, images[0])
    ```
    """
    import json

    from keras_saliency.reports.pictures import save_method_grid

    os.makedirs(output, exist_ok=True)
    paths = {name: os.path.join(output, name) for name in ("sanity.csv", "sanity.md", "sanity.png", "sanity_curves.png")}
    tables.write_csv(paths["sanity.csv"], rows, list(COLUMNS[:4]) + [("layers", "layers", "{}")] + list(COLUMNS[4:]))
    lines = ["Similarity of each method's maps before and after cascading randomisation (1 = unchanged).", ""]
    lines += [tables.markdown_table(summary_rows(rows), SUMMARY_COLUMNS), ""]
    keys = list(dict.fromkeys((r["method"], r["randomised"]) for r in rows))
    depths = max(r["depth"] for r in rows)
    for measure, title in (("spearman", "Spearman"), ("spearman_abs", "Spearman of |map|"), ("ssim", "SSIM")):
        columns = [("row", "method (randomised)", "{}")] + [(d, str(d), "{:.2f}") for d in range(1, depths + 1)]
        pivot = []
        for method, randomised in keys:
            entry = {"row": f"{method} ({randomised})"}
            entry.update({r["depth"]: r[measure] for r in rows if (r["method"], r["randomised"]) == (method, randomised)})
            pivot.append(entry)
        lines += [f"{title} by depth (depth k: the top k layers randomised)", "", tables.markdown_table(pivot, columns), ""]
    for randomised in dict.fromkeys(r["randomised"] for r in rows):
        layers = {r["depth"]: r["layer"] for r in rows if r["randomised"] == randomised}
        lines.append(f"Depths, {randomised}: " + ", ".join(f"{d} {layers[d]}" for d in sorted(layers)))
    with open(paths["sanity.md"], "w") as f:
        f.write("\n".join(lines) + "\n")
    if config is not None:
        with open(os.path.join(output, "sanity_config.json"), "w") as f:
            json.dump(config, f, indent=2, default=str)
    width = max(len(maps) for maps in example_maps.values())
    grid = {str(d) if d else "original": [] for d in range(width)}
    for maps in example_maps.values():
        for d, column in enumerate(grid.values()):
            column.append(_thumbnail(maps[d][0] if d < len(maps) else np.zeros_like(maps[0][0])))
    image = _thumbnail(np.asarray(example_image, np.float32))
    save_method_grid(
        paths["sanity.png"], np.repeat(image[None], len(example_maps), 0), grid,
        row_titles=[f"{m} ({r})" for m, r in example_maps],
    )
    _plot_curves(paths["sanity_curves.png"], rows, keys)
    return paths


def _thumbnail(array, side=THUMBNAIL):
    """An image (H, W, 3) or map (H, W) shrunk (area averaging) to at most `side` pixels."""
    import tensorflow as tf

    if array.shape[0] <= side:
        return array
    size = (side, int(round(side * array.shape[1] / array.shape[0])))
    resized = tf.image.resize(array if array.ndim == 3 else array[..., None], size, method="area").numpy()
    return resized if array.ndim == 3 else resized[..., 0]


def _plot_curves(path, rows, keys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(MEASURES), figsize=(4 * len(MEASURES), 3.2), squeeze=False)
    for axis, measure in zip(axes[0], MEASURES):
        for key in keys:
            points = sorted((r["depth"], r[measure]) for r in rows if (r["method"], r["randomised"]) == key)
            axis.plot([0] + [d for d, _ in points], [1.0] + [v for _, v in points], marker=".", label=f"{key[0]} ({key[1]})")
        axis.set_xlabel("depth (top layers randomised)")
        axis.set_title({"spearman": "Spearman", "spearman_abs": "Spearman of |map|", "ssim": "SSIM"}[measure])
        axis.set_ylim(-0.2, 1.05)
    axes[0][-1].legend(fontsize=7, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run_sanity_checks(model, data, methods, output, method_options=None, seed=0, limit=16, max_depth=None):
    """The sanity checks of `keras-saliency evaluate --sanity`: `model_randomisation` of
    `methods` on the first `limit` images of `data` (`EvaluationImages`; their classes, else the
    classifier's predictions), written by `write_sanity` to `output` with `sanity_config.json`.
    Returns the summary table (Markdown).

    Args:
        model: the `SaliencyModel`.
        data: the `EvaluationImages`.
        methods: method names in `keras_saliency.methods.METHODS`.
        output: the folder of the results.
        method_options: `{method: {option: value}}`, or None.
        seed: the randomisation's seed (default 0).
        limit: images used at most (default 16).
        max_depth: stop after this many layer groups (None: all of them).

    Example:

    ```python
    print(run_sanity_checks(model, data, ["masker", "gradient"], "sanity", limit=8))
    ```
    """
    images = np.asarray(data.images[:limit], np.float32)
    if data.class_ids is not None:
        class_ids = np.asarray(data.class_ids[:limit], np.int32)
    else:
        class_ids = np.concatenate([
            np.asarray(model.classifier_logits(images[i : i + 64])).argmax(1) for i in range(0, len(images), 64)
        ]).astype(np.int32)
    rows, maps = model_randomisation(model, images, class_ids, methods, method_options, seed, max_depth)
    config = {
        "methods": list(methods), "method_options": method_options or {}, "seed": seed, "images": len(images),
        "max_depth": max_depth, "class": "given" if data.class_ids is not None else "predicted",
        "paths": list(data.paths[:limit]),
        "randomisation": "cascading, from the logits down: depth k = the top k weighted layers (a batch norm with "
        "the layer it follows) re-initialised from their own initialisers, seed + k; the masker's own layers "
        "(not its frozen encoder) in a second cascade",
        "similarity": "per image, averaged: Spearman rank correlation (signed maps where a method has them), "
        "Spearman of the absolute maps, SSIM (Gaussian window sigma 1.5, K1 0.01, K2 0.03, data range 1)",
    }
    write_sanity(output, rows, maps, images[0], config)
    return tables.markdown_table(summary_rows(rows), SUMMARY_COLUMNS)


def data_randomisation_check(model, random_model, images, class_ids, methods, method_options=None,
                             return_maps=False):
    """Similarity of each method's maps for `model` (trained on true labels) and `random_model`
    (the same recipe on permuted labels, e.g. `tools.recipes.data_randomisation_models`): one row per method
    (randomised "labels"), `COLUMNS`.

    Args:
        model: the `SaliencyModel` trained on the true labels.
        random_model: the `SaliencyModel` trained on permuted labels.
        images: `(N, S, S, 3)` in [0, 255].
        class_ids: `(N,)` the explained classes.
        methods: method names in `keras_saliency.methods.METHODS`.
        method_options: `{method: {option: value}}`, or None.
        return_maps: also return `{method: (maps, random-label maps)}` (default False).

    Example:

    ```python
    rows = data_randomisation_check(model, random_model, images, labels, ["masker", "gradient"])
    ```
    """
    method_options = method_options or {}
    rows, all_maps = [], {}
    for name in methods:
        pair = [m if name == "masker" else _classifier_function(m, m.classifier) for m in (model, random_model)]
        (maps, signed), (random_maps, random_signed) = (
            _maps(name, m, images, class_ids, method_options.get(name, {})) for m in pair
        )
        rows.append(_row(name, "labels", 1, [], map_similarity(maps, random_maps, signed, random_signed)))
        all_maps[name] = (maps, random_maps)
    return (rows, all_maps) if return_maps else rows
