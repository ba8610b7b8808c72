"""Is the classifier scale-invariant? The saliency metric of Dabkowski & Gal crops the salient box
and resizes it to the classifier's input; that is fair only if the classifier recognises a
region equally well magnified. `scale_dependence` measures it: the classifier's accuracy and its
mean probability for the true class on centre crops of decreasing area, shown resized to the
input (the metric as published) and kept in place at their own scale on the blurred image (the
variant without rescaling).

Example:

```python
rows = scale_dependence(pretrained.load("cifar10"), images, labels)
print(tables.markdown_table(rows, SCALE_COLUMNS))
```
"""

import numpy as np

from keras_saliency.evaluation.metrics import box_candidates

CROP_AREAS = (1.0, 0.64, 0.36, 0.16, 0.04)
SCALE_COLUMNS = (
    ("area", "crop area", "{:.2f}"),
    ("variant", "shown", "{}"),
    ("accuracy", "top-1 accuracy", "{:.3f}"),
    ("probability", "mean p(true class)", "{:.3f}"),
    ("metric_term", "mean -log p", "{:.3f}"),
    ("images", "images", "{}"),
)


def centre_box(size, area):
    """The inclusive pixel box (xmin, ymin, xmax, ymax) of the centred square-proportioned crop
    covering `area` of an image of side `size` (its sides scaled by sqrt(area)).

    Args:
        size: the image side in pixels.
        area: the crop's share of the image, in (0, 1].

    Example:

    >>> centre_box(32, 0.25)
    (8, 8, 23, 23)
    """
    if not 0 < area <= 1:
        raise ValueError(f"Expected an area in (0, 1]. Received: {area}")
    side = max(1, int(round(size * np.sqrt(area))))
    start = (size - side) // 2
    return (start, start, start + side - 1, start + side - 1)


def scale_dependence(model, images, class_ids, areas=CROP_AREAS, variants=("rescaled", "in place"),
                     batch_size=64):
    """The classifier's accuracy on centre crops of each area, per variant.

    Args:
        model: a `SaliencyModel`, a `ClassifierFunction` or a Keras classifier.
        images: `(N, H, W, 3)` in [0, 255] (square).
        class_ids: `(N,)` true classes.
        areas: crop areas, shares of the image.
        variants: "rescaled" (crop resized to the input: the published saliency metric) and/or
            "in place" (the crop at its own scale, the rest blurred: the variant without
            rescaling).
        batch_size: images per classifier call.

    Returns:
        one row per (area, variant): `SCALE_COLUMNS` (`metric_term` is the mean of `-log p`,
        the term of the saliency metric that the classifier contributes).

    Example:

    ```python
    rows = scale_dependence(model, images, labels, areas=(1.0, 0.25))
    ```
    """
    from keras_saliency.methods.base import as_classifier_function

    classifier = as_classifier_function(model)
    images = np.asarray(images, np.float32)
    class_ids = np.asarray(class_ids, np.int64)
    size = images.shape[1]
    rows = []
    for area in areas:
        boxes = np.tile(centre_box(size, area), (len(images), 1))
        for variant in variants:
            if variant not in ("rescaled", "in place"):
                raise ValueError(f"Expected variants 'rescaled' and/or 'in place'. Received: {variant!r}")
            shown = box_candidates(images, boxes, rescale=variant == "rescaled")
            logits = np.concatenate([np.asarray(classifier(shown[i:i + batch_size]))
                                     for i in range(0, len(shown), batch_size)])
            logits = logits - logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            true = probabilities[np.arange(len(images)), class_ids]
            rows.append({
                "area": float(area), "variant": variant,
                "accuracy": float(np.mean(probabilities.argmax(axis=1) == class_ids)),
                "probability": float(true.mean()),
                "metric_term": float(np.mean(-np.log(np.maximum(true, 1e-12)))),
                "images": int(len(images)),
            })
    return rows


def scale_curve(model, images, class_ids, areas=CROP_AREAS, batch_size=64):
    """The classifier's mean probability for the true class on rescaled centre crops of each area:
    what magnification alone costs it. `(areas, mean probabilities)`, for `corrected_saliency_metric`.

    Args:
        model: a `SaliencyModel`, a `ClassifierFunction` or a Keras classifier.
        images: `(N, H, W, 3)` in [0, 255].
        class_ids: `(N,)` true (or predicted) classes.
        areas: crop areas, shares of the image.
        batch_size: images per classifier call.

    Example:

    ```python
    curve = scale_curve(model, calibration_images, calibration_ids)
    ```
    """
    rows = scale_dependence(model, images, class_ids, areas, variants=("rescaled",), batch_size=batch_size)
    return np.asarray([r["area"] for r in rows]), np.asarray([r["probability"] for r in rows])


def corrected_saliency_metric(classifier, images, class_ids, boxes, curve, batch_size=128):
    """The saliency metric corrected for the classifier's scale dependence:
    `log(max(a, 0.05)) - log(p / p_hat(a))`, where `p_hat(a)` is the classifier's mean probability
    on rescaled centre crops of area `a` (`scale_curve`, interpolated in log area). For a
    scale-invariant classifier `p_hat` is constant and the ranking of maps is the published one.

    Args:
        classifier: anything with `probabilities(images, class_ids)`.
        images: `(N, H, W, 3)` in [0, 255].
        class_ids: `(N,)` int classes.
        boxes: `(N, 4)` boxes (xmin, ymin, xmax, ymax), inclusive pixels.
        curve: `(areas, mean probabilities)` from `scale_curve`.
        batch_size: images per classifier call.

    Example:

    ```python
    scores = corrected_saliency_metric(classifier, images, ids, boxes, scale_curve(model, images, ids))
    ```
    """
    from keras_saliency.evaluation.metrics import saliency_metric

    boxes = np.asarray(boxes).reshape(-1, 4)
    size = np.asarray(images).shape[1:3]
    areas = ((boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)) / float(size[0] * size[1])
    curve_areas, curve_p = (np.asarray(c, np.float64) for c in curve)
    order = np.argsort(curve_areas)
    expected = np.interp(np.log(np.clip(areas, 1e-6, 1.0)), np.log(curve_areas[order]), curve_p[order])
    published = saliency_metric(classifier, images, class_ids, boxes, rescale=True, batch_size=batch_size)
    return published + np.log(np.maximum(expected, 1e-12))
