"""Evaluation metrics for saliency maps on a classifier.

- `saliency_metric` (Dabkowski & Gal 2017): box of the thresholded map (the rule of
  `keras_saliency.evaluation.localization`), crop, resize the crop to the classifier's input size,
  s = log(max(a, 0.05)) - log(p), a = box area / image area, p = class probability on the crop.
  With `rescale=False` the crop stays in place at its own scale and everything outside the box is
  replaced by the blurred image (the variant that avoids the rescaling bias towards small boxes).
  Lower is better.
- `deletion_insertion` (Petsiuk et al. 2018): pixels removed (set to 0, or another
  `substrate_images`) / inserted (into the blurred image) from the most to the least salient; the
  area under the class probability curve.
  Deletion: lower is better; insertion: higher is better.
- ROAD (Rong et al. 2022, MoRF / LeRF with noisy linear imputation): `keras_saliency.evaluation.road`.
- `pointing_game` (Zhang et al. 2016): is the map's maximum inside a ground-truth box (with a
  tolerance of 15 px at 224 px, scaled to the image)?
- `energy_pointing_game` (Wang et al. 2020, Score-CAM): the share of the min-max normalised map's
  mass inside the union of the ground-truth boxes (threshold-free: what a person sees lit on the
  object). A uniform map scores the boxes' share of the image.
- `normalised_map_mean`: the mean of the min-max normalised map, how much of the image a picture
  of the map lights (1.0 for a uniform map).
- `map_correlation`: the Pearson correlation of two maps of the same image (e.g. for the
  classifier's top-1 and top-2 classes: a class-selective method gives different maps).
"""

import numpy as np
import keras
import tensorflow as tf

from keras_saliency.models.alternatives import blurred
from keras_saliency.evaluation.localization import mask_to_box

MIN_AREA = 0.05


def boxes_from_maps(maps, threshold=0.5, rule="max"):
    """Box of each map; an empty map gives the whole image (the metric then pays for the area).

    Args:
        maps: `(N, H, W)` saliency maps.
        threshold: the threshold factor of `mask_to_box` (default 0.5).
        rule: the rule of `mask_to_box` (default "max").

    Example:

    ```python
    boxes = boxes_from_maps(maps, threshold=0.3)  # (N, 4) int32
    ```
    """
    boxes = []
    for m in maps:
        box = mask_to_box(m, threshold, rule)
        boxes.append(box if box is not None else (0, 0, m.shape[1] - 1, m.shape[0] - 1))
    return np.asarray(boxes, np.int32)


def class_probabilities(classifier, images, class_ids, batch_size=128):
    """Softmax probability of `class_ids[i]` for `images[i]`, in batches: `(N,)`.

    Args:
        classifier: a `keras_saliency.methods.ClassifierFunction` (anything with
            `probabilities(images, class_ids)`).
        images: `(N, H, W, 3)` in [0, 255].
        class_ids: `(N,)` int classes.
        batch_size: images per classifier call (default 128).

    Example:

    ```python
    probabilities = class_probabilities(ClassifierFunction(model), images, class_ids)
    ```
    """
    out = []
    for start in range(0, len(images), batch_size):
        out.append(
            keras.ops.convert_to_numpy(classifier.probabilities(
                keras.ops.convert_to_tensor(np.asarray(images[start : start + batch_size], np.float32)),
                keras.ops.convert_to_tensor(np.asarray(class_ids[start : start + batch_size], np.int32)),
            ))
        )
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def box_union(boxes, size):
    """`(N, H, W)` float32: 1 inside any of each image's boxes (inclusive pixels), else 0.

    Args:
        boxes: per image, a `(k, 4)` array of boxes (xmin, ymin, xmax, ymax).
        size: `(H, W)`.

    Example:

    >>> float(box_union([np.array([[0, 0, 1, 1]])], (3, 3))[0].sum())
    4.0
    """
    inside = np.zeros((len(boxes),) + tuple(size), np.float32)
    for i, image_boxes in enumerate(boxes):
        for x0, y0, x1, y1 in np.rint(np.asarray(image_boxes, np.float64)).astype(int).reshape(-1, 4):
            inside[i, max(y0, 0) : max(y1 + 1, 0), max(x0, 0) : max(x1 + 1, 0)] = 1.0
    return inside


def box_candidates(images, boxes, rescale=True):
    """The images the saliency metric shows the classifier: each image cropped to its box and
    resized to the image's size (`rescale`), or the box kept in place at its own scale with
    everything outside it blurred (`rescale=False`).

    Args:
        images: `(N, H, W, 3)` in [0, 255].
        boxes: `(N, 4)` boxes (xmin, ymin, xmax, ymax), inclusive pixels.
        rescale: crop and resize (the paper's metric), or keep in place on the blurred image.

    Returns:
        `(N, H, W, 3)` float32 images.

    Example:

    >>> box_candidates(np.ones((1, 4, 4, 3)), [[0, 0, 3, 3]]).shape
    (1, 4, 4, 3)
    """
    images = np.asarray(images, np.float32)
    size = images.shape[1:3]
    boxes = np.asarray(boxes).reshape(-1, 4)
    if rescale:
        # crop_and_resize maps 0 and 1 to the centres of the first and last pixel rows/columns:
        # an inclusive pixel box is [first / (H - 1), last / (H - 1)], the full box the identity.
        normalized = np.stack(
            [
                boxes[:, 1] / max(size[0] - 1, 1),
                boxes[:, 0] / max(size[1] - 1, 1),
                boxes[:, 3] / max(size[0] - 1, 1),
                boxes[:, 2] / max(size[1] - 1, 1),
            ],
            axis=1,
        ).astype(np.float32)
        crops = tf.image.crop_and_resize(
            images, normalized, np.arange(len(images)), size, method="bilinear"
        )
        return crops.numpy()
    else:
        inside = box_union(boxes[:, None], size)[..., None]
        return images * inside + keras.ops.convert_to_numpy(blurred(images)) * (1.0 - inside)


def saliency_metric(classifier, images, class_ids, boxes, rescale=True, batch_size=128):
    """Per image: `log(max(a, 0.05)) - log(p)` for inclusive pixel `boxes` (N, 4).

    `a` is the box's share of the image and `p` the class probability of the image cropped
    to the box (lower is better).

    Args:
        classifier: anything with `probabilities(images, class_ids)`.
        images: `(N, H, W, 3)` in [0, 255].
        class_ids: `(N,)` int classes.
        boxes: `(N, 4)` boxes (xmin, ymin, xmax, ymax), inclusive pixels.
        rescale: crop the box and resize it to the image's size (default True); False keeps
            the box in place on a blurred image.
        batch_size: images per classifier call (default 128).

    Example:

    ```python
    scores = saliency_metric(classifier, images, class_ids, boxes_from_maps(maps))
    ```
    """
    images = np.asarray(images, np.float32)
    size = images.shape[1:3]
    boxes = np.asarray(boxes).reshape(-1, 4)
    areas = ((boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)) / float(
        size[0] * size[1]
    )
    candidates = box_candidates(images, boxes, rescale)
    probabilities = class_probabilities(classifier, candidates, np.asarray(class_ids), batch_size)
    return np.log(np.maximum(areas, MIN_AREA)) - np.log(np.maximum(probabilities, 1e-12))


def removal_ranks(maps):
    """Rank of each pixel by decreasing saliency, `(N, H, W)`; ties in raster order.

    Args:
        maps: `(N, H, W)` saliency maps.

    Example:

    ```python
    rank = removal_ranks(maps)  # rank 0: each map's most salient pixel
    ```
    """
    maps = np.asarray(maps)
    n = len(maps)
    order = np.argsort(-maps.reshape(n, -1), axis=1, kind="stable")
    rank = np.empty_like(order)
    rank[np.arange(n)[:, None], order] = np.arange(order.shape[1])[None, :]
    return rank.reshape(maps.shape)


DELETION_SUBSTRATES = ("black", "grey", "blur")


def substrate_images(images, substrate="black"):
    """What removed pixels become in the deletion curve: `"black"` (0, the RISE protocol), `"grey"`
    (127.5) or `"blur"` (the blurred image, the insertion canvas).

    Args:
        images: `(N, H, W, 3)` in [0, 255].
        substrate: one of `DELETION_SUBSTRATES`.

    Example:

    >>> float(substrate_images(np.full((1, 2, 2, 3), 200.0), "grey").max())
    127.5
    """
    images = np.asarray(images, np.float32)
    if substrate == "black":
        return np.zeros_like(images)
    if substrate == "grey":
        return np.full_like(images, 127.5)
    if substrate == "blur":
        return np.asarray(blurred(images))
    raise ValueError(f"Expected substrate in {DELETION_SUBSTRATES}. Received: substrate={substrate!r}")


def deletion_insertion(classifier, images, class_ids, maps, steps=16, batch_size=128, substrate="black"):
    """`(deletion_auc, insertion_auc)` per image, `steps` + 1 points from 0% to 100% of pixels.

    Args:
        classifier: anything with `probabilities(images, class_ids)`.
        images: `(N, H, W, 3)` in [0, 255].
        class_ids: `(N,)` int classes.
        maps: `(N, H, W)` saliency maps; pixels are removed / inserted most salient first.
        steps: the curves' steps (default 16).
        batch_size: images per classifier call (default 128).
        substrate: what removed pixels become in the deletion curve (`substrate_images`);
            defaults to `"black"`, the RISE protocol. Insertion always starts from the blurred image.

    Example:

    ```python
    deletion, insertion = deletion_insertion(classifier, images, class_ids, maps, steps=16)
    ```
    """
    images = np.asarray(images, np.float32)
    class_ids = np.asarray(class_ids, np.int32)
    h, w = images.shape[1:3]
    canvas_delete = substrate_images(images, substrate)
    canvas_insert = keras.ops.convert_to_numpy(blurred(images))
    rank = removal_ranks(maps)[..., None]
    deletion, insertion = [], []
    for k in range(steps + 1):
        count = int(round(k / steps * h * w))
        top = (rank < count).astype(np.float32)
        deletion.append(
            class_probabilities(classifier, images * (1.0 - top) + canvas_delete * top, class_ids, batch_size)
        )
        insertion.append(
            class_probabilities(classifier, images * top + canvas_insert * (1.0 - top), class_ids, batch_size)
        )
    deletion, insertion = np.stack(deletion, 1), np.stack(insertion, 1)
    auc = lambda curve: np.trapezoid(curve, dx=1.0 / steps, axis=1)  # noqa: E731
    return auc(deletion), auc(insertion)


def peak_location(saliency_map):
    """`(y, x)` of the map's maximum. A flat maximum (tied values within 1e-6, e.g. a saturated
    mask or a box) does not point at its first pixel: the point is the centre of mass of all
    maximal pixels, snapped to the maximal pixel nearest to it (so it stays on the maximum
    when the maximal region is not convex).

    Args:
        saliency_map: `(H, W)` or `(H, W, 1)` map.

    Example:

    >>> peak_location(np.eye(3))
    (1, 1)
    """
    m = np.asarray(saliency_map, np.float32)
    if m.ndim == 3:
        m = m[..., 0]
    ys, xs = np.nonzero(m >= m.max() - 1e-6)
    k = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return int(ys[k]), int(xs[k])


def class_selectivity(model, images, class_ids, seed=0, top=5, batch_size=32):
    """Does the masker answer "not here" for a class that is absent?

    For each image a random class outside the classifier's `top` predictions (and not the given
    class) is drawn (seeded); the masker is asked for the given class and for that one.

    Args:
        model: a `SaliencyModel`.
        images: `(N, S, S, 3)` pixels in [0, 255].
        class_ids: `(N,)` the classes present (e.g. the ground truth).
        seed: seed of the absent classes.
        top: classes ranked this high by the classifier are never drawn (at most
            num_classes - 2 of them, so a class is always left to draw).
        batch_size: images per masker call.

    Returns:
        `{"mean_mask_true", "mean_mask_absent", "mask_ratio", "exists_true", "exists_absent"}`
        (means over the images; "exists" as a probability; ratio = absent / true).

    Example:

    ```python
    class_selectivity(keras_saliency.pretrained.load("imagenet-darknet-tiny"), images, labels)
    ```
    """
    images = np.asarray(images, np.float32)
    class_ids = np.asarray(class_ids, np.int32)
    rng = np.random.default_rng(seed)
    absent = np.zeros_like(class_ids)
    logits = np.concatenate([
        np.asarray(model.classifier_logits(images[i : i + batch_size])) for i in range(0, len(images), batch_size)
    ])
    # With few classes, fewer are excluded: always the given class, then the top ones while at
    # least one class remains to draw.
    top = max(0, min(top, model.num_classes - 2))
    for i, row in enumerate(logits):
        excluded = set(np.argsort(row)[::-1][:top].tolist()) | {int(class_ids[i])}
        if len(excluded) >= model.num_classes:
            excluded = {int(class_ids[i])}
        allowed = np.setdiff1d(np.arange(model.num_classes), np.fromiter(excluded, int))
        absent[i] = int(rng.choice(allowed))

    def run(ids):
        masks, exists = [], []
        for i in range(0, len(images), batch_size):
            out = model.masker({"image": images[i : i + batch_size], "class_id": ids[i : i + batch_size]})
            masks.append(np.asarray(out["mask"]).mean(axis=(1, 2, 3)))
            exists.append(1.0 / (1.0 + np.exp(-np.asarray(out["exists"], np.float64))))
        return np.concatenate(masks), np.concatenate(exists)

    mask_true, exists_true = run(class_ids)
    mask_absent, exists_absent = run(absent)
    return {
        "mean_mask_true": float(mask_true.mean()),
        "mean_mask_absent": float(mask_absent.mean()),
        "mask_ratio": float(mask_absent.mean() / max(mask_true.mean(), 1e-12)),
        "exists_true": float(exists_true.mean()),
        "exists_absent": float(exists_absent.mean()),
    }


def pointing_game(maps, boxes, tolerance=15 / 224):
    """Per image: is the arg-max of the map within `tolerance` x side pixels of a box?
    `boxes[i]`: one box or a list of boxes (inclusive pixels) of image i.

    Args:
        maps: `(N, H, W)` saliency maps.
        boxes: per image, one box or a list of boxes.
        tolerance: the margin, as a fraction of the map's side (default 15 / 224: 15 px at
            224 px).

    Example:

    ```python
    accuracy = pointing_game(maps, boxes).mean()
    ```
    """
    hits = []
    for m, truth in zip(maps, boxes):
        y, x = peak_location(m)
        margin = tolerance * m.shape[0]
        truth = np.asarray(truth).reshape(-1, 4)
        hits.append(
            bool(
                np.any(
                    (x >= truth[:, 0] - margin)
                    & (x <= truth[:, 2] + margin)
                    & (y >= truth[:, 1] - margin)
                    & (y <= truth[:, 3] + margin)
                )
            )
        )
    return np.asarray(hits, bool)


def normalised_maps(maps):
    """Each map min-max normalised to [0, 1]; a constant map (no contrast) becomes all ones, the
    uniform map.

    Args:
        maps: `(N, H, W)` saliency maps.

    Example:

    ```python
    normalised_maps(np.array([[[0.0, 2.0]]]))  # [[[0.0, 1.0]]]
    ```
    """
    maps = np.asarray(maps, np.float64)
    if maps.ndim != 3:
        raise ValueError(f"Expected maps of shape (N, H, W). Received: shape={maps.shape}")
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    flat = span <= 0
    return np.where(flat, 1.0, (maps - low) / np.where(flat, 1.0, span))


def box_union_masks(boxes, shape):
    """Per image, a boolean `(H, W)` mask of the union of its boxes (inclusive pixels).

    Args:
        boxes: per image, one box or a list of boxes `(xmin, ymin, xmax, ymax)`.
        shape: `(H, W)` of the masks.

    Example:

    ```python
    box_union_masks([[0, 0, 1, 1]], (4, 4))[0].sum()  # 4
    ```
    """
    height, width = shape
    out = np.zeros((len(boxes), height, width), bool)
    for i, truth in enumerate(boxes):
        for x0, y0, x1, y1 in np.asarray(truth, np.int64).reshape(-1, 4):
            out[i, max(y0, 0) : max(y1 + 1, 0), max(x0, 0) : max(x1 + 1, 0)] = True
    return out


def energy_pointing_game(maps, boxes):
    """Per image, the share of the min-max normalised map's mass inside the union of the boxes
    (Wang et al. 2020, "Score-CAM"'s energy-based pointing game). Threshold-free; a map equal to
    the box scores 1.0, a uniform map the boxes' share of the image.

    Args:
        maps: `(N, H, W)` saliency maps, at the resolution of the boxes' pixels.
        boxes: per image, one box or a list of boxes (inclusive pixels).

    Example:

    ```python
    share = energy_pointing_game(maps, boxes).mean()
    ```
    """
    normalised = normalised_maps(maps)
    inside = box_union_masks(boxes, normalised.shape[1:])
    return (normalised * inside).sum(axis=(1, 2)) / normalised.sum(axis=(1, 2))


def normalised_map_mean(maps):
    """Per image, the mean of the min-max normalised map: the share of the image that a picture
    of the map lights (1.0 for a uniform map, 0.25 for a map lighting a quarter of it).

    Args:
        maps: `(N, H, W)` saliency maps.

    Example:

    ```python
    lit = normalised_map_mean(maps).mean()
    ```
    """
    return normalised_maps(maps).mean(axis=(1, 2))


def map_correlation(first, second):
    """Per image, the Pearson correlation of two maps of it (0 where either map is constant).

    Args:
        first: `(N, H, W)` maps.
        second: `(N, H, W)` maps of the same images (e.g. for another class).

    Example:

    ```python
    map_correlation(maps_top1, maps_top2).mean()  # near 1: the maps ignore the class
    ```
    """
    a = np.asarray(first, np.float64)
    b = np.asarray(second, np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"Expected two (N, H, W) arrays of one shape. Received: {a.shape} and {b.shape}")
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(axis=1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(axis=1, keepdims=True)
    norm = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.where(norm > 0, (a * b).sum(axis=1) / np.where(norm > 0, norm, 1.0), 0.0)
