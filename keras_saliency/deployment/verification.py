"""Parity of an exported masker with the Keras masker it came from.

Figures per export: max and mean absolute difference of the masks, mean per-image Spearman
rank correlation, mean IoU of the top-20% mask regions, max difference of the "exists"
probability. Goals: float32 exports max abs diff <= 1e-4; quantized exports (float16,
dynamic, int8) IoU >= 0.9 and rank correlation >= 0.95. A classifying export (outputs
`logits` and `explained_class`, asked for the top-1 class) also gives its top-1 agreement with the
Keras classifier and the largest logit difference; goals: agreement >= 0.99 (float32, float16),
>= 0.97 (dynamic, int8).
"""

import numpy as np

FLOAT_TOLERANCE = 1e-4
MIN_IOU = 0.9
MIN_RANK_CORRELATION = 0.95
MIN_TOP1_AGREEMENT = 0.99  # a classifying export's top-1 class against the Keras classifier's
MIN_TOP1_AGREEMENT_QUANTIZED = 0.97
TOP_FRACTION = 0.2


def rank_correlation(reference, candidate):
    """Mean over images of the Spearman correlation of the mask pixels (constant masks: 1 if
    both are constant, else 0).

    Args:
        reference: `(N, ...)` masks of the Keras masker.
        candidate: `(N, ...)` masks of the export.

    Example:

    ```python
    rank_correlation(reference["mask"], outputs["mask"])  # e.g. 0.99
    ```
    """
    from scipy.stats import spearmanr

    values = []
    for a, b in zip(reference.reshape(len(reference), -1), candidate.reshape(len(candidate), -1)):
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            values.append(float(np.ptp(a) == np.ptp(b) == 0))
        else:
            values.append(float(spearmanr(a, b).statistic))
    return float(np.mean(values))


def top_region_iou(reference, candidate, fraction=TOP_FRACTION):
    """The mean over images of `top_region_ious` (the same arguments).

    Example:

    ```python
    top_region_iou(reference["mask"], outputs["mask"])  # e.g. 0.95
    ```
    """
    return float(np.mean(top_region_ious(reference, candidate, fraction)))


def top_region_ious(reference, candidate, fraction=TOP_FRACTION):
    """Per image, the IoU of the `fraction` highest-valued pixels of each mask: `(N,)`.

    Args:
        reference: `(N, ...)` masks of the Keras masker.
        candidate: `(N, ...)` masks of the export.
        fraction: the share of pixels in each top region (default 0.2).

    Example:

    ```python
    top_region_ious(reference["mask"], outputs["mask"]).min()  # the least similar image
    ```
    """
    values = []
    for a, b in zip(reference.reshape(len(reference), -1), candidate.reshape(len(candidate), -1)):
        k = max(1, int(round(fraction * a.size)))
        top_a = np.zeros(a.size, bool)
        top_b = np.zeros(b.size, bool)
        top_a[np.argsort(-a, kind="stable")[:k]] = True
        top_b[np.argsort(-b, kind="stable")[:k]] = True
        values.append((top_a & top_b).sum() / (top_a | top_b).sum())
    return np.asarray(values, np.float64)


def parity(reference, candidate):
    """Figures comparing two `{"mask", "exists"}` dicts (see the module docstring).

    Args:
        reference: the Keras masker's outputs (`reference_outputs`).
        candidate: the export's outputs, of the same shapes.

    Example:

    ```python
    figures = parity(reference_outputs(masker, images, ids), load_runtime("m.onnx")(images, ids))
    ```
    """
    ref, out = np.asarray(reference["mask"], np.float64), np.asarray(candidate["mask"], np.float64)
    if ref.shape != out.shape:
        raise ValueError(f"Expected masks of shape {ref.shape}. Received: {out.shape}")
    diff = np.abs(ref - out)
    ious = top_region_ious(ref, out)
    classes = {}
    if "explained_class" in reference and "explained_class" in candidate:  # a classifying export
        classes["top1_agreement"] = float(np.mean(np.asarray(reference["explained_class"]).reshape(-1)
                                                  == np.asarray(candidate["explained_class"]).reshape(-1)))
    if "logits" in reference and "logits" in candidate:
        classes["logits_max_abs_diff"] = float(np.abs(np.asarray(reference["logits"], np.float64)
                                                      - np.asarray(candidate["logits"], np.float64)).max())
    return {**classes,
        "images": int(len(ref)),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "rank_correlation": rank_correlation(ref, out),
        "top20_iou": float(ious.mean()),
        # the mean's standard error: how far the IoU may move on other images of the kind
        "top20_iou_standard_error": float(ious.std(ddof=1) / np.sqrt(len(ious))) if len(ious) > 1 else 0.0,
        "exists_max_abs_diff": float(
            np.abs(np.asarray(reference["exists"], np.float64) - np.asarray(candidate["exists"], np.float64)).max()
        ),
    }


def parity_goals(figures, quantize):
    """`{goal: passed}` for an export with quantization `quantize` ("float32" or another).

    Args:
        figures: the dict of `parity`.
        quantize: the export's quantization.

    Example:

    >>> parity_goals({"max_abs_diff": 2e-5}, "float32")
    {'max_abs_diff <= 0.0001': True}
    """
    classes = {}
    if "top1_agreement" in figures:
        floor = MIN_TOP1_AGREEMENT if quantize in ("float32", "float16") else MIN_TOP1_AGREEMENT_QUANTIZED
        classes[f"top1_agreement >= {floor}"] = figures["top1_agreement"] >= floor
    if quantize == "float32":
        return {f"max_abs_diff <= {FLOAT_TOLERANCE:g}": figures["max_abs_diff"] <= FLOAT_TOLERANCE, **classes}
    return {
        f"top20_iou >= {MIN_IOU}": figures["top20_iou"] >= MIN_IOU,
        f"rank_correlation >= {MIN_RANK_CORRELATION}": figures["rank_correlation"] >= MIN_RANK_CORRELATION,
        **classes,
    }


def worst_margin(figures, quantize):
    """The smallest margin by which `figures` pass the goals of `parity_goals` (each figure minus
    its floor, or the tolerance minus the difference; negative: that goal is missed by as much).
    Two exports of the same model compare by it: the higher, the nearer every goal.

    Args:
        figures: the dict of `parity`.
        quantize: the export's quantization.

    Example:

    >>> round(worst_margin({"top20_iou": 0.92, "rank_correlation": 0.99}, "int8"), 4)
    0.02
    """
    margins = []
    if "top1_agreement" in figures:
        floor = MIN_TOP1_AGREEMENT if quantize in ("float32", "float16") else MIN_TOP1_AGREEMENT_QUANTIZED
        margins.append(figures["top1_agreement"] - floor)
    if quantize == "float32":
        margins.append(FLOAT_TOLERANCE - figures["max_abs_diff"])
    else:
        margins += [figures["top20_iou"] - MIN_IOU, figures["rank_correlation"] - MIN_RANK_CORRELATION]
    return float(min(margins))

