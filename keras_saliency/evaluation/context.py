"""Does the classifier use context? Localisation scores a map by how well it covers the object's
box, but a faithful map may rightly light up what surrounds the object when the classifier relies
on it (a snorkel recognised by the water). `context_use` measures it per image: the classifier's
probability for the class on the full image, on the object alone (everything outside the
ground-truth boxes blurred) and on the context alone (the boxes blurred), and the share of a
saliency map's mass that lies outside the boxes.

Example:

```python
rows = context_use(pretrained.load("imagenet-darknet-tiny"), data.images, data.class_ids, data.boxes, maps)
print(tables.markdown_table(summarise_context(rows), SUMMARY_COLUMNS))
```
"""

import numpy as np

from keras_saliency.evaluation.metrics import box_union, class_probabilities  # noqa: F401 (box_union: re-exported)

CONTEXT_COLUMNS = (
    ("index", "image", "{}"),
    ("p_full", "p(class), full image", "{:.3f}"),
    ("p_object", "p, object only", "{:.3f}"),
    ("p_context", "p, context only", "{:.3f}"),
    ("box_area", "box area", "{:.2f}"),
    ("map_outside", "map mass outside the boxes", "{:.2f}"),
)
SUMMARY_COLUMNS = (
    ("images", "images", "{}"),
    ("p_full", "mean p, full image", "{:.3f}"),
    ("p_object", "mean p, object only", "{:.3f}"),
    ("p_context", "mean p, context only", "{:.3f}"),
    ("recognised", "images with p >= 0.5 (full image)", "{}"),
    ("context_suffices", "of those, context alone keeps >= half of p", "{:.1%}"),
    ("context_beats_object", "context only > object only", "{:.1%}"),
    ("map_outside", "mean map mass outside the boxes", "{:.2f}"),
    ("map_outside_if_context", "... where context beats the object", "{:.2f}"),
    ("map_outside_otherwise", "... elsewhere", "{:.2f}"),
    ("spearman", "Spearman(map outside, p context / p full)", "{:.2f}"),
    ("box_area_if_context", "box area where context beats the object", "{:.2f}"),
    ("box_area_otherwise", "... elsewhere", "{:.2f}"),
    ("partial_spearman", "Spearman given the box area", "{:.2f}"),
)


def object_and_context(images, boxes, batch_size=64):
    """The images with everything outside their boxes blurred (the object alone) and with the
    boxes blurred (the context alone), as `context_use` shows them to the classifier.

    Args:
        images: `(N, H, W, 3)` in [0, 255].
        boxes: per image, a `(k, 4)` array of boxes (inclusive pixels).
        batch_size: images per blur call (default 64).

    Returns:
        `(object_only, context_only)`, each `(N, H, W, 3)` float32.

    Example:

    ```python
    object_only, context_only = object_and_context(images, boxes)
    ```
    """
    images = np.asarray(images, np.float32)
    return _blend(images, box_union(boxes, images.shape[1:3])[..., None], batch_size)


def _blend(images, inside, batch_size):
    """`object_and_context` for a given `(N, H, W, 1)` box mask `inside`."""
    from keras_saliency.models.alternatives import blurred

    blur = np.concatenate([np.asarray(blurred(images[i : i + batch_size])) for i in range(0, len(images), batch_size)])
    return images * inside + blur * (1 - inside), blur * inside + images * (1 - inside)


def context_use(classifier, images, class_ids, boxes, maps=None, batch_size=64):
    """Per image, the classifier's probability for `class_ids` on the full image, the object only
    (outside the boxes blurred, as the saliency metric's in-place variant) and the context only
    (inside the boxes blurred); with `maps`, the share of each map's mass outside the boxes.

    Args:
        classifier: a `SaliencyModel` or anything with `probabilities(images, class_ids)`.
        images: `(N, H, W, 3)` in [0, 255].
        class_ids: `(N,)` classes.
        boxes: per image, a `(k, 4)` array of ground-truth boxes (inclusive pixels).
        maps: `(N, h, w)` saliency maps (any non-negative scale; resized to the images), or None.
        batch_size: images per classifier call (default 64).

    Returns:
        one dict per image with the keys of `CONTEXT_COLUMNS`.

    Example:

    ```python
    rows = context_use(model, images, labels, boxes, model.explain(images, labels))
    ```
    """
    import tensorflow as tf

    from keras_saliency.methods import ClassifierFunction

    if not hasattr(classifier, "probabilities"):
        classifier = ClassifierFunction(classifier)
    images = np.asarray(images, np.float32)
    class_ids = np.asarray(class_ids)
    if boxes is None or len(boxes) != len(images):
        raise ValueError(f"Expected one list of boxes per image ({len(images)}). Received: {None if boxes is None else len(boxes)}")
    inside = box_union(boxes, images.shape[1:3])[..., None]
    object_only, context_only = _blend(images, inside, batch_size)
    p_full = class_probabilities(classifier, images, class_ids, batch_size)
    p_object = class_probabilities(classifier, object_only, class_ids, batch_size)
    p_context = class_probabilities(classifier, context_only, class_ids, batch_size)
    outside = np.full(len(images), np.nan)
    if maps is not None:
        maps = np.clip(np.asarray(maps, np.float32), 0, None)
        if maps.shape[1:3] != images.shape[1:3]:
            maps = tf.image.resize(maps[..., None], images.shape[1:3], method="bilinear").numpy()[..., 0]
        mass = maps.reshape(len(maps), -1).sum(1)
        outside = (maps * (1 - inside[..., 0])).reshape(len(maps), -1).sum(1) / np.maximum(mass, 1e-12)
    return [
        {"index": i, "p_full": float(p_full[i]), "p_object": float(p_object[i]), "p_context": float(p_context[i]),
         "box_area": float(inside[i].mean()), "map_outside": float(outside[i])}
        for i in range(len(images))
    ]


def summarise_context(rows):
    """One summary row of `context_use` rows (the keys of `SUMMARY_COLUMNS`): among the images the
    classifier recognises (p >= 0.5 on the full image; a misclassified image's tiny p is no
    evidence either way), how often the context alone keeps at least half of that probability; over
    all images, how often the context alone beats the
    object alone, and whether the map puts more mass outside the boxes on those images (the
    rank correlation also given the box area, since small boxes leave both more map and more
    context outside them: a partial Spearman correlation).

    Args:
        rows: the rows of `context_use` (with maps).

    Example:

    >>> summarise_context([{"p_full": 0.8, "p_object": 0.2, "p_context": 0.6, "map_outside": 0.5},
    ...                    {"p_full": 0.9, "p_object": 0.8, "p_context": 0.1, "map_outside": 0.1}])["context_beats_object"]
    0.5
    """
    from scipy.stats import spearmanr

    get = lambda key: np.array([r[key] for r in rows], np.float64)  # noqa: E731
    full, obj, ctx, out = get("p_full"), get("p_object"), get("p_context"), get("map_outside")
    beats = ctx > obj
    mean = lambda values: float(values[~np.isnan(values)].mean()) if (~np.isnan(values)).any() else float("nan")  # noqa: E731
    ratio = ctx / np.maximum(full, 1e-12)
    recognised = full >= 0.5
    area = np.array([r.get("box_area", np.nan) for r in rows], np.float64)
    known = ~np.isnan(out)
    spearman = partial = float("nan")
    if known.sum() > 2 and np.ptp(out[known]) > 0:
        spearman = spearmanr(out[known], ratio[known])[0]
        if np.ptp(area[known]) > 0:  # small boxes leave more map and more context outside: hold the area fixed
            r_xy, r_xz, r_yz = spearman, spearmanr(out[known], area[known])[0], spearmanr(ratio[known], area[known])[0]
            denominator = (1 - r_xz**2) * (1 - r_yz**2)
            partial = (r_xy - r_xz * r_yz) / np.sqrt(denominator) if denominator > 1e-9 else float("nan")
    return {
        "images": len(rows),
        "p_full": float(full.mean()),
        "p_object": float(obj.mean()),
        "p_context": float(ctx.mean()),
        "recognised": int(recognised.sum()),
        "context_suffices": float((ratio[recognised] >= 0.5).mean()) if recognised.any() else float("nan"),
        "context_beats_object": float(beats.mean()),
        "map_outside": mean(out),
        "map_outside_if_context": mean(out[beats]),
        "map_outside_otherwise": mean(out[~beats]),
        "spearman": float(spearman),
        "box_area_if_context": mean(area[beats]),
        "box_area_otherwise": mean(area[~beats]),
        "partial_spearman": float(partial),
    }
