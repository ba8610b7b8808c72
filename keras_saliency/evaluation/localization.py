"""From masks to boxes, and box overlap.

Threshold rule (state it with every figure): binarise the mask at image resolution at
`threshold * max(mask)` (rule "max", the default), at a fixed `threshold` (rule "fixed") or
at `threshold * mean(mask)` (rule "mean", the paper's alpha); keep the largest 4-connected
component; its tightest box is the prediction. An empty binary mask gives no box (a miss).
Choose the threshold on a validation split (`choose_threshold`), never on the test split.
"""

import numpy as np
from scipy import ndimage


RULES = ("max", "fixed", "mean")


def mask_to_box(mask, threshold=0.5, rule="max"):
    """Box `(xmin, ymin, xmax, ymax)` inclusive, in pixels of `mask`, or None if empty.

    The box of the largest connected component of `mask > threshold x scale`, where `rule`
    gives the scale.

    Args:
        mask: `(H, W)` or `(H, W, 1)` map.
        threshold: the threshold factor (default 0.5).
        rule: "max" (times the mask's maximum), "fixed" (times 1) or "mean" (times its mean).

    Example:

    ```python
    box = mask_to_box(masks[0], threshold=0.5, rule="max")  # e.g. (3, 5, 12, 14)
    ```
    """
    mask = np.asarray(mask, dtype=np.float32)
    if mask.ndim == 3:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"Expected a mask of shape (H, W) or (H, W, 1). Received: shape={mask.shape}")
    if rule not in RULES:
        raise ValueError(f"Expected rule in {RULES}. Received: rule={rule!r}")
    scale = {"max": float(mask.max()), "fixed": 1.0, "mean": float(mask.mean())}[rule]
    level = threshold * scale
    binary = mask > level
    if not binary.any():
        return None
    components, count = ndimage.label(binary)
    if count > 1:
        sizes = np.bincount(components.ravel())[1:]
        binary = components == (1 + int(np.argmax(sizes)))
    ys, xs = np.nonzero(binary)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def box_iou(a, b):
    """IoU of two inclusive pixel boxes `(xmin, ymin, xmax, ymax)`; 0 when either is None.

    Args:
        a: the first box, or None.
        b: the second box, or None.

    Example:

    >>> box_iou((0, 0, 3, 3), (0, 0, 3, 1))
    0.5
    """
    if a is None or b is None:
        return 0.0
    ix = min(a[2], b[2]) - max(a[0], b[0]) + 1
    iy = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inter / float(area_a + area_b - inter)


def localization_hits(masks, boxes, threshold=0.5, rule="max", min_iou=0.5):
    """Per image: does the box of the thresholded mask overlap a ground-truth box with
    IoU >= `min_iou`? `boxes[i]` is one box or a list of boxes of image i.

    Args:
        masks: `(N, H, W)` or `(N, H, W, 1)` maps.
        boxes: per image, one box or a list of boxes (inclusive pixels of the mask).
        threshold: the threshold factor of `mask_to_box` (default 0.5).
        rule: the rule of `mask_to_box` (default "max").
        min_iou: the IoU a hit needs (default 0.5).

    Example:

    ```python
    hit_rate = localization_hits(masks, boxes, threshold=0.4).mean()
    ```
    """
    hits = []
    for mask, truth in zip(masks, boxes):
        truth = np.asarray(truth).reshape(-1, 4)
        predicted = mask_to_box(mask, threshold=threshold, rule=rule)
        hits.append(any(box_iou(predicted, tuple(t)) >= min_iou for t in truth))
    return np.asarray(hits, dtype=bool)


def choose_threshold(masks, boxes, rule="max", candidates=None, min_iou=0.5):
    """The candidate threshold with the highest hit rate on (validation) masks and boxes.
    Returns `(threshold, hit_rate)`.

    Args:
        masks: `(N, H, W)` or `(N, H, W, 1)` maps.
        boxes: per image, one box or a list of boxes.
        rule: the rule of `mask_to_box` (default "max").
        candidates: thresholds to try (default: a grid that suits `rule`).
        min_iou: the IoU a hit needs (default 0.5).

    Example:

    ```python
    threshold, rate = choose_threshold(validation_masks, validation_boxes, rule="max")
    ```
    """
    if candidates is None:
        candidates = {"max": np.arange(0.1, 0.96, 0.05), "fixed": np.arange(0.05, 0.96, 0.05),
                      "mean": np.arange(0.5, 8.01, 0.5)}[rule]
    rates = [float(localization_hits(masks, boxes, t, rule, min_iou).mean()) for t in candidates]
    best = int(np.argmax(rates))
    return float(round(candidates[best], 4)), rates[best]


MAX_BOX_ACC_THRESHOLDS = np.round(np.arange(0.0, 1.0, 0.01), 2)
MAX_BOX_ACC_IOUS = (0.3, 0.5, 0.7)


def component_boxes(binary):
    """Tightest box `(xmin, ymin, xmax, ymax)` of every 8-connected component of `binary`.

    Args:
        binary: `(H, W)` boolean map.

    Example:

    ```python
    boxes = component_boxes(saliency_map > 0.5)  # (k, 4) int32, inclusive pixels
    ```
    """
    components, count = ndimage.label(binary, structure=np.ones((3, 3), bool))
    if not count:
        return np.zeros((0, 4), np.int32)
    slices = ndimage.find_objects(components)
    return np.asarray([(s[1].start, s[0].start, s[1].stop - 1, s[0].stop - 1) for s in slices], np.int32)


def _best_ious(predicted, truth):
    """Highest IoU between any predicted and any true box (inclusive pixels)."""
    if not len(predicted):
        return 0.0
    p, t = predicted[:, None, :].astype(np.float64), truth[None, :, :].astype(np.float64)
    ix = np.minimum(p[..., 2], t[..., 2]) - np.maximum(p[..., 0], t[..., 0]) + 1
    iy = np.minimum(p[..., 3], t[..., 3]) - np.maximum(p[..., 1], t[..., 1]) + 1
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)  # noqa: E731
    return float((inter / (area(p) + area(t) - inter)).max())


def max_box_accuracy(maps, boxes, thresholds=MAX_BOX_ACC_THRESHOLDS, ious=MAX_BOX_ACC_IOUS):
    """MaxBoxAccV2 (Choe et al., CVPR 2020, "Evaluating weakly supervised object localization
    methods right"): each map is min-max normalised; for every threshold of the sweep, the
    boxes of ALL connected components of `map >= threshold` are candidates and an image counts
    as localised when one of them overlaps a ground-truth box with IoU >= delta; the accuracy
    is maximised over the thresholds, separately for each delta, and averaged over the deltas.

    Args:
        maps: `(N, H, W[, 1])` saliency maps.
        boxes: per image, one box or a list of boxes (inclusive pixels of the maps).
        thresholds: the sweep (default 0.00, 0.01, ..., 0.99).
        ious: the IoU levels delta (default 0.3, 0.5, 0.7).

    Returns:
        `{"max_box_acc_v2": mean, "max_box_acc@0.5": ..., "max_box_acc@0.5_threshold": ...}`.

    Example:

    ```python
    scores = max_box_accuracy(masks, boxes)
    scores["max_box_acc_v2"]
    ```
    """
    thresholds = np.asarray(thresholds, np.float32)
    best = np.zeros((len(maps), len(thresholds)))
    for i, (m, truth) in enumerate(zip(maps, boxes)):
        m = np.asarray(m, np.float32)
        m = m[..., 0] if m.ndim == 3 else m
        low, high = float(m.min()), float(m.max())
        normalised = (m - low) / (high - low) if high > low else np.zeros_like(m)
        truth = np.asarray(truth, np.int32).reshape(-1, 4)
        for j, t in enumerate(thresholds):
            best[i, j] = _best_ious(component_boxes(normalised >= t), truth)
    result = {}
    for delta in ious:
        accuracy = (best >= delta).mean(axis=0)
        k = int(np.argmax(accuracy))
        result[f"max_box_acc@{delta}"] = float(accuracy[k])
        result[f"max_box_acc@{delta}_threshold"] = float(thresholds[k])
    result["max_box_acc_v2"] = float(np.mean([result[f"max_box_acc@{d}"] for d in ious]))
    return result
