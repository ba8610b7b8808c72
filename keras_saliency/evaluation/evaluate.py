"""What `keras-saliency evaluate` does, as one library call: `evaluate_folder`.

Example:

```python
from keras_saliency.evaluation.evaluate import evaluate_folder

results = evaluate_folder("photos/", model="imagenet-darknet-tiny", boxes="photos/boxes.csv",
                          methods="masker,gradcam", output="evaluation")
```
"""

import json
import os


def _method_names(methods):
    from keras_saliency.evaluation.runner import DEFAULT_METHODS
    from keras_saliency.methods import METHODS

    names = [m.strip() for m in methods.split(",") if m.strip()] if methods else list(DEFAULT_METHODS)
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise ValueError(f"Expected `methods` in {sorted(METHODS)}. Received: {unknown}")
    return names


def _method_options(options):
    from keras_saliency.options import parse_assignments
    from keras_saliency.methods import METHODS

    method_options = {}
    for key, value in parse_assignments(options, "option").items():
        method, dot, option = key.partition(".")
        if not dot or method not in METHODS:
            raise ValueError(f"Expected METHOD.OPTION=VALUE, METHOD one of {sorted(METHODS)}. "
                             f"Received: `option={key}`")
        method_options.setdefault(method, {})[option] = value
    return method_options


def evaluate_folder(folder, model="cifar10", boxes=None, methods=None, limit=300, split="all",
                    calibration_fraction=0.3, slow_limit=60, options=(), seed=0, labels=None, subset=None,
                    faithfulness_limit=0, extra_maskers=(), road_limit=32, no_road=False, sanity=False,
                    sanity_limit=16, scale_corrected=False, deletion_substrate="black",
                    no_class_correlation=False, output="saliency-evaluation", log=None):
    """Compares the learned masker with classic saliency methods on the same classifier and
    images (`evaluation.evaluate_methods`), and with `sanity` runs the sanity checks of every
    method. Writes results.csv, results.md, examples.png and evaluation_config.json (the
    resolved options) into `output`.

    Args:
        folder: a class-folder tree, or a flat folder with `labels.csv`.
        model: a shipped model name or a masker's `.keras` file.
        boxes: `boxes.csv`, or ImageNet's own annotations (converted to `output/boxes.csv`).
        methods: comma-separated method names (default: all but the LRP ones).
        limit: a seeded random subset of at most this many images (0: all).
        split: "all", or "validation" (the held-out 10% of a class folder).
        calibration_fraction: images used to choose each method's threshold.
        slow_limit: the slow methods on at most this many test images (0: all).
        options: `METHOD.OPTION=VALUE` strings (JSON values).
        seed: the seed of the subset and of the calibration split.
        labels: a `labels.csv` of a flat folder.
        subset: a `path,part` CSV (a fixed calibration / test split).
        faithfulness_limit: saliency metrics and deletion / insertion on at most this many
            images (0: all).
        extra_maskers: `LABEL=PATH` strings: more maskers of the same classifier, one row each.
        road_limit: ROAD on at most this many test images (0: all).
        no_road: skip ROAD.
        sanity: also run the sanity checks.
        sanity_limit: images of the sanity checks (0: all).
        scale_corrected: also report the scale-corrected saliency metric.
        deletion_substrate: what removed pixels become in the deletion curve: "black" (the RISE
            protocol), "grey" or "blur".
        no_class_correlation: skip the correlation of the maps for the classifier's top-1 and
            top-2 classes (two more maps per faithfulness image and method).
        output: the output folder.
        log: a function called with each progress line, or None.

    Returns:
        the result rows (dicts; `evaluation.results_table` shows them) and, with `sanity`, the
        sanity summary as Markdown: `(results, sanity_summary or None)`.

    Example:

    ```python
    results, _ = evaluate_folder("photos/", model="imagenet-darknet-tiny", methods="masker,gradcam")
    ```
    """
    from keras_saliency.errors import first_line
    from keras_saliency.options import parse_assignments
    from keras_saliency.evaluation import evaluate_methods, imagenet_boxes, load_evaluation_images
    from keras_saliency.pretrained import load_saliency_model
    from keras_saliency.methods import build_method

    log = log or (lambda line: None)
    names = _method_names(methods)
    method_options = _method_options(options)
    saliency_model, class_names, _ = load_saliency_model(model)
    if boxes and imagenet_boxes.is_imagenet_source(boxes):
        converted = os.path.join(output, "boxes.csv")
        count = imagenet_boxes.convert(boxes, converted)
        log(f"Converted {count} ImageNet boxes from {boxes} to {converted}")
        boxes = converted
    data = load_evaluation_images(
        folder, saliency_model.image_size, boxes_csv=boxes, class_names=class_names,
        split=None if split == "all" else (0.1, 0, "validation"), limit=limit or None, seed=seed,
        labels_csv=labels, subset_csv=subset,
    )
    for name in (n for n in names if n.startswith("lrp_")):  # an unsupported layer: one line, before the run
        try:
            build_method(name, saliency_model, **method_options.get(name, {}))
        except (ValueError, TypeError) as error:
            raise ValueError(f"Expected `methods` that explain this classifier. Received: {name}: "
                             f"{first_line(error)}") from None
    log(f"Evaluating {len(names)} methods on {len(data)} images from {folder} "
        f"({'with' if data.boxes is not None else 'without'} boxes, "
        f"{'given' if data.class_ids is not None else 'predicted'} classes)")
    results = evaluate_methods(
        saliency_model, data, names, output=output, calibration_fraction=calibration_fraction,
        seed=seed, method_options=method_options, slow_limit=slow_limit or None,
        faithfulness_limit=faithfulness_limit or None,
        extra_maskers={label: load_saliency_model(path)[0]
                       for label, path in parse_assignments(extra_maskers, "extra_masker").items()},
        road_limit=road_limit or None, road_enabled=not no_road,
        scale_corrected=scale_corrected, deletion_substrate=deletion_substrate,
        class_correlation=not no_class_correlation,
    )
    config_path = os.path.join(output, "evaluation_config.json")
    with open(config_path) as f:
        config = json.load(f)
    config.update({"folder": folder, "model": model, "boxes": boxes, "limit": limit, "split": split,
                   "labels": labels, "subset": subset, "extra_maskers": list(extra_maskers)})
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2, default=str)
    summary = None
    if sanity:
        from keras_saliency.evaluation.sanity import run_sanity_checks

        summary = run_sanity_checks(saliency_model, data, names, output, method_options, seed=seed,
                                    limit=sanity_limit or None)
    return results, summary
