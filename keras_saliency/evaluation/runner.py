"""Runs saliency methods on the same images and classifier and scores them.

The images are split (seeded) into a calibration part, where each method's threshold is chosen
(localisation: best hit rate; saliency metrics: lowest mean), and a test part, where every
figure is measured. Speed is measured in the same run: masks/s over the test images after one
warm-up batch (tracing excluded). Results: `results.csv`, `results.md`, `examples.png`,
`evaluation_config.json`, and with ROAD `road_curves.csv` (mean class probability per removed
fraction).
"""

import json
import logging
import os
import time

import numpy as np

from keras_saliency.reports import tables
from keras_saliency.evaluation import artefacts, metrics, road
from keras_saliency.evaluation.localization import choose_threshold, localization_hits, max_box_accuracy

logger = logging.getLogger("keras_saliency")

DEFAULT_METHODS = (
    "masker",
    "gradient",
    "smoothgrad",
    "integrated_gradients",
    "gradcam",
    "occlusion",
    "rise",
    "optimisation",
    "centre_box",
    "full_image",
)
THRESHOLDS = tuple(np.round(np.arange(0.1, 0.91, 0.1), 2))  # saliency metric: boxes of map >= t x max
# Localisation: the largest component of map >= t x max; a finer grid reaching 0.05, so that no
# method's best threshold sits at the grid's edge (Grad-CAM's often lies below 0.1).
LOCALISATION_THRESHOLDS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))
COLUMNS = (
    ("method", "method", "{}"),
    ("images", "test images", "{}"),
    ("masks_per_s", "masks/s", "{:.1f}"),
    ("localisation_error", "loc. error (IoU>=0.5)", "{:.1%}"),
    ("localisation_threshold", "loc. threshold (x max)", "{:.2f}"),
    ("max_box_acc_v2", "MaxBoxAccV2", "{:.1%}"),
    ("pointing_game", "pointing game", "{:.1%}"),
    ("energy_pointing_game", "mass in boxes", "{:.3f}"),
    ("map_mean", "mean of the map", "{:.3f}"),
    ("top2_correlation", "top-1/top-2 correlation", "{:.2f}"),
    ("saliency_metric", "saliency metric", "{:.3f}"),
    ("saliency_metric_threshold", "threshold", "{:.1f}"),
    ("saliency_metric_in_place", "saliency metric, crop in place", "{:.3f}"),
    ("saliency_metric_in_place_threshold", "threshold", "{:.1f}"),
    ("saliency_metric_corrected", "saliency metric, scale-corrected", "{:.3f}"),
    ("saliency_metric_corrected_threshold", "threshold", "{:.1f}"),
    ("deletion_auc", "deletion AUC (lower better)", "{:.3f}"),
    ("insertion_auc", "insertion AUC", "{:.3f}"),
    ("road_morf", "ROAD MoRF (lower better)", "{:.3f}"),
    ("road_lerf", "ROAD LeRF", "{:.3f}"),
    ("road_images", "ROAD images", "{}"),
    ("mean_mask_true", "mean mask, true class", "{:.3f}"),
    ("mean_mask_absent", "mean mask, absent class", "{:.3f}"),
    ("mask_ratio", "absent / true", "{:.2f}"),
    ("exists_true", "exists, true class", "{:.2f}"),
    ("exists_absent", "exists, absent class", "{:.2f}"),
)


def _metric(classifier, images, class_ids, boxes, variant, curve):
    if variant == "corrected":
        return artefacts.corrected_saliency_metric(classifier, images, class_ids, boxes, curve)
    return metrics.saliency_metric(classifier, images, class_ids, boxes, variant == "rescaled")


def _best_threshold(classifier, images, class_ids, maps, variant, curve=None):
    scores = [
        float(np.mean(_metric(classifier, images, class_ids, metrics.boxes_from_maps(maps, t), variant, curve)))
        for t in THRESHOLDS
    ]
    best = int(np.argmin(scores))
    return float(THRESHOLDS[best])


def _progress_callback(total, progress):
    """A Keras progress bar over `total` images, as a `progress(n)` callback (or None)."""
    import keras

    if not progress:
        return None
    bar = keras.utils.Progbar(total, unit_name="image")
    done = [0]

    def tick(n):
        done[0] += n
        bar.update(done[0])

    return tick


def timed_maps(method, images, class_ids, progress=True):
    """`(maps, masks per second)`: one warm-up batch first (not timed), then all images.

    Args:
        method: a saliency method from `keras_saliency.methods.build_method`.
        images: `(N, S, S, 3)` in [0, 255].
        class_ids: `(N,)` the explained classes.
        progress: show a progress bar (default True).

    Example:

    ```python
    maps, speed = timed_maps(build_method("gradient", model), images, class_ids)
    ```
    """
    method(images[: method.batch_size], class_ids[: method.batch_size])
    tick = _progress_callback(len(images), progress)
    start = time.perf_counter()
    maps = method(images, class_ids, progress=tick)
    return maps, len(images) / (time.perf_counter() - start)


def _top2_correlation(method, classifier, images, batch_size=256):
    """Mean correlation of the method's maps for the classifier's top-1 and top-2 classes."""
    logits = np.concatenate(
        [np.asarray(classifier(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    )
    ranked = np.argsort(-logits, axis=1)
    first = method(images, ranked[:, 0].astype(np.int32))
    second = method(images, ranked[:, 1].astype(np.int32))
    return float(metrics.map_correlation(first, second).mean())


def evaluate_methods(
    model,
    data,
    methods=DEFAULT_METHODS,
    output=None,
    calibration_fraction=0.3,
    seed=0,
    method_options=None,
    deletion_steps=16,
    deletion_substrate="black",
    examples=8,
    progress=True,
    slow_methods=("optimisation", "rise"),
    slow_limit=None,
    faithfulness_limit=None,
    extra_maskers=None,
    road_limit=None,
    road_enabled=True,
    scale_corrected=False,
    class_correlation=True,
):
    """Scores `methods` (names in `keras_saliency.methods.METHODS`) for `model` (a
    `SaliencyModel`; the classic methods use its classifier) on `data` (`EvaluationImages`).
    Returns a list of result dicts, one per method, and writes the result files to `output`.

    `slow_limit`: the `slow_methods` (hundreds of classifier passes per image) are scored on
    the first `slow_limit` test images only (and a proportional calibration part); the
    `images` column of the results says how many images each row used.
    `faithfulness_limit`: the saliency metrics and deletion / insertion (many classifier passes
    per image) use at most this many calibration and test images (the first ones).
    When `data.parts` is set (a fixed split), its "calibration" images choose the thresholds and
    its "test" images are scored; otherwise a seeded `calibration_fraction` of the images
    calibrates. Class selectivity (`metrics.class_selectivity`) is reported for the masker.
    `extra_maskers`: `{row name: SaliencyModel}` scored as more "masker" rows (e.g. other
    maskers trained for the same classifier), after the methods.
    ROAD (`keras_saliency.evaluation.road`, MoRF and LeRF with noisy linear imputation) is
    measured on the first `road_limit` of those images (None: all of them) unless
    `road_enabled` is False. With `scale_corrected`, a third saliency-metric variant divides out
    what magnification alone costs the classifier (`artefacts.corrected_saliency_metric`; off by
    default: on the shipped models it over-corrects, see docs/REVIEW.md). Every row also gives the
    mean of the min-max normalised map (how much of the image a picture of it lights), with boxes
    the share of its mass inside them (`metrics.energy_pointing_game`), and with
    `class_correlation` how much the maps for the classifier's top-1 and top-2 classes correlate
    (two more maps per faithfulness image: a class-selective method gives different maps).

    Args:
        model: the `SaliencyModel`.
        data: the `EvaluationImages`.
        methods: method names (default `DEFAULT_METHODS`).
        output: folder for `results.csv`, `results.md`, `examples.png` and the config, or None.
        calibration_fraction: share of the images that choose thresholds (default 0.3).
        seed: seed of the split, ROAD's noise and class selectivity (default 0).
        method_options: `{method: {option: value}}` for `build_method`.
        deletion_steps: steps of the deletion / insertion curves (default 16).
        deletion_substrate: what removed pixels become in the deletion curve: "black" (default,
            the RISE protocol), "grey" or "blur" (`metrics.substrate_images`).
        examples: test images shown in `examples.png` (default 8).
        progress: show progress bars (default True).
        slow_methods: the methods `slow_limit` applies to.
        slow_limit: test images of the slow methods at most, or None for all.
        faithfulness_limit: images of the saliency metrics and deletion / insertion at most,
            or None for all.
        extra_maskers: `{row name: SaliencyModel}` scored as more masker rows, or None.
        road_limit: images of ROAD at most, or None for all.
        road_enabled: measure ROAD (default True).
        scale_corrected: also report the scale-corrected saliency metric (default False).
        class_correlation: also report the top-1 / top-2 map correlation (default True).

    Example:

    ```python
    results = evaluate_methods(model, data, ["masker", "gradient"], output="eval")
    ```
    """
    import keras

    from keras_saliency.methods import ClassifierFunction, build_method

    if deletion_substrate not in metrics.DELETION_SUBSTRATES:  # before any map is made
        raise ValueError(
            f"Expected deletion_substrate in {metrics.DELETION_SUBSTRATES}. "
            f"Received: deletion_substrate={deletion_substrate!r}"
        )
    method_options = method_options or {}
    classifier = ClassifierFunction(model)
    class_ids = data.class_ids
    if class_ids is None:  # explain the predicted class
        logits = np.concatenate(
            [keras.ops.convert_to_numpy(classifier(data.images[i : i + 256])) for i in range(0, len(data), 256)]
        )
        class_ids = logits.argmax(1).astype(np.int32)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    n_cal = int(round(calibration_fraction * len(data)))
    if data.parts is not None:
        parts = np.asarray(data.parts)
        order = np.concatenate([np.flatnonzero(parts == "calibration"), np.flatnonzero(parts == "test")])
        n_cal = int((parts == "calibration").sum())
    if len(data) - n_cal < 1 or n_cal < 1:
        raise ValueError(
            f"Expected enough images for a calibration and a test part (calibration_fraction="
            f"{calibration_fraction}). Received: {len(data)} images"
        )
    cal, test = np.sort(order[:n_cal]), np.sort(order[n_cal:])
    has_boxes = data.boxes is not None
    results, example_maps, road_rows, curve = [], {}, [], None
    all_cal, all_test = cal, test
    runs = [(name, name, model) for name in methods]
    runs += [(label, "masker", other) for label, other in (extra_maskers or {}).items()]
    built, parts = {}, {}
    for name, method_name, method_model in runs:
        cal, test = all_cal, all_test
        if slow_limit and name in slow_methods and len(test) > slow_limit:
            ratio = len(all_cal) / len(all_test)
            cal, test = all_cal[: max(1, int(round(slow_limit * ratio)))], all_test[:slow_limit]
        built[name] = build_method(method_name, method_model, **method_options.get(method_name, {}))
        parts[name] = cal, test
    _log_estimate(built, parts, data.images[all_test[:2]], class_ids[all_test[:2]])
    for name, method_name, method_model in runs:
        cal, test = parts[name]
        method = built[name]
        logger.info("Method %s: %d calibration + %d test images", name, len(cal), len(test))
        start = time.perf_counter()
        cal_maps = method(data.images[cal], class_ids[cal], progress=_progress_callback(len(cal), progress))
        test_maps, speed = timed_maps(method, data.images[test], class_ids[test], progress)
        row = {"method": name, "masks_per_s": speed, "images": int(len(test))}
        row["map_mean"] = float(metrics.normalised_map_mean(test_maps).mean())
        fl = faithfulness_limit or len(test)
        images, ids = data.images[test][:fl], class_ids[test][:fl]
        if class_correlation:
            row["top2_correlation"] = _top2_correlation(method, classifier, images)
        variants = [("saliency_metric", "rescaled"), ("saliency_metric_in_place", "in place")]
        if scale_corrected:
            variants.append(("saliency_metric_corrected", "corrected"))
            if curve is None:  # what magnification alone costs the classifier, on the calibration images
                curve = artefacts.scale_curve(classifier, data.images[all_cal][:fl], class_ids[all_cal][:fl])
        for key, variant in variants:
            threshold = _best_threshold(classifier, data.images[cal][:fl], class_ids[cal][:fl], cal_maps[:fl],
                                        variant, curve)
            boxes = metrics.boxes_from_maps(test_maps[:fl], threshold)
            row[key] = float(np.mean(_metric(classifier, images, ids, boxes, variant, curve)))
            row[f"{key}_threshold"] = threshold
        deletion, insertion = metrics.deletion_insertion(
            classifier, images, ids, test_maps[:fl], deletion_steps, substrate=deletion_substrate
        )
        row["deletion_auc"], row["insertion_auc"] = float(deletion.mean()), float(insertion.mean())
        if road_enabled:
            rl = road_limit or len(images)
            curves = road.road_curves(classifier, images[:rl], ids[:rl], test_maps[:fl][:rl], seed=seed)
            row["road_morf"], row["road_lerf"] = float(curves["morf"].mean()), float(curves["lerf"].mean())
            row["road_images"] = int(len(curves["morf"]))
            road_rows += [
                {"method": name, "order": order, "fraction": float(f), "probability": float(p)}
                for order in ("morf", "lerf") for f, p in zip(road.FRACTIONS, curves[order].mean(0))
            ]
        if has_boxes:
            cal_boxes = [data.boxes[i] for i in cal]
            test_boxes = [data.boxes[i] for i in test]
            threshold, _ = choose_threshold(cal_maps, cal_boxes, rule="max",
                                            candidates=np.asarray(LOCALISATION_THRESHOLDS))
            hits = localization_hits(test_maps, test_boxes, threshold, rule="max")
            row["localisation_error"] = 1.0 - float(hits.mean())
            row["localisation_threshold"] = threshold
            row["pointing_game"] = float(metrics.pointing_game(test_maps, test_boxes).mean())
            row["energy_pointing_game"] = float(metrics.energy_pointing_game(test_maps, test_boxes).mean())
            row["max_box_acc_v2"] = max_box_accuracy(test_maps, test_boxes)["max_box_acc_v2"]
        if method_name == "masker" and data.class_ids is not None:
            row.update(metrics.class_selectivity(method_model, data.images[test], class_ids[test], seed=seed))
        results.append(row)
        example_maps[name] = test_maps[:examples]  # the first test images: shared by all methods
        logger.info("%s", method_summary(row, time.perf_counter() - start))
    if output:
        write_results(
            output,
            results,
            data.subset(all_test[:examples]),
            example_maps,
            road_rows,
            config={
                "methods": list(methods) + list(extra_maskers or {}),
                "calibration_fraction": calibration_fraction,
                "seed": seed,
                "method_options": method_options,
                "deletion_steps": deletion_steps,
                "deletion_substrate": deletion_substrate,
                "slow_methods": list(slow_methods),
                "slow_limit": slow_limit,
                "faithfulness_limit": faithfulness_limit,
                "road": "Rong et al. 2022: MoRF / LeRF, noisy linear imputation (neighbour weights 1/6 direct, "
                f"1/12 diagonal, noise std {road.NOISE_STD} pixel levels), mean class probability over the removed "
                f"fractions {list(road.FRACTIONS)}" if road_enabled else "not measured",
                "road_limit": road_limit,
                "split": "fixed parts (data.parts)" if data.parts is not None else "seeded calibration_fraction",
                "pointing_game": "maximum of the map (a flat maximum: its maximal pixel nearest the centre of "
                "mass of all maximal pixels) within 15 px at 224 px of a ground-truth box",
                "energy_pointing_game": "Wang et al. 2020 (Score-CAM): share of the min-max normalised map's mass "
                "inside the union of the image's boxes, test images; a uniform map scores the boxes' share",
                "map_mean": "mean of the min-max normalised map over the test images (a uniform map: 1.0)",
                "top2_correlation": "Pearson correlation of the maps for the classifier's top-1 and top-2 classes, "
                "mean over the first faithfulness_limit test images" if class_correlation else "not measured",
                "max_box_acc_v2": "Choe et al. 2020: min-max normalised map, thresholds 0.00..0.99, boxes of all "
                "8-connected components, best threshold per IoU in (0.3, 0.5, 0.7) on the test images, averaged",
                "class_selectivity": "masker only: a seeded random class outside the classifier's top 5 per image",
                "images": len(data),
                "calibration_images": int(len(cal)),
                "test_images": int(len(test)),
                "class": "given" if data.class_ids is not None else "predicted",
                "threshold_rule": "largest connected component of map > t x max(map), its box; "
                "t chosen on the calibration images from " + str([round(float(t), 2) for t in LOCALISATION_THRESHOLDS]),
                "saliency_metric_thresholds": list(THRESHOLDS),
                "saliency_metric_corrected": "not measured" if not scale_corrected else "log(max(a, 0.05)) - log(p / p_hat(a)); p_hat: the classifier's mean "
                "probability on rescaled centre crops of area a, measured on the calibration images",
                "scale_curve": None if curve is None else {"areas": [float(a) for a in curve[0]],
                                                           "mean_probability": [float(p) for p in curve[1]]},
            },
            row_titles=_example_titles(data, all_test[:examples], class_ids, getattr(model, "class_names", None)),
        )
    return results


def _example_titles(data, indices, class_ids, class_names):
    """examples.png's row titles: the file and the explained class (one file may be explained
    for several classes)."""
    titles = []
    for i in indices:
        c = int(class_ids[i])
        name = class_names[c] if class_names and c < len(class_names) else f"class {c}"
        titles.append(f"{os.path.basename(data.paths[i]) if data.paths else i}: {name}")
    return titles


def _log_estimate(built, parts, images, class_ids):
    """Times each method on (up to) two images after a first call (its tracing), then logs how
    long the maps should take: one line, before the long work starts."""
    if len(images) == 0:
        return
    total, pieces = 0.0, []
    for name, method in built.items():
        try:
            method(images[:1], class_ids[:1])  # traces
            start = time.perf_counter()
            method(images, class_ids)
            per_image = (time.perf_counter() - start) / len(images)
        except Exception:  # an estimate never stops an evaluation
            continue
        cal, test = parts[name]
        seconds = per_image * (len(cal) + len(test))
        total += seconds
        pieces.append(f"{name} {_duration(seconds)}")
    logger.info("The maps should take about %s on this machine (%s; timed on %d images each); "
                "the faithfulness metrics add to it", _duration(total), ", ".join(pieces), len(images))


def _duration(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


SUMMARY_FIELDS = (
    ("masks_per_s", "{:.1f} masks/s"), ("localisation_error", "loc. error {:.1%}"),
    ("max_box_acc_v2", "MaxBoxAccV2 {:.1%}"), ("energy_pointing_game", "mass in boxes {:.3f}"),
    ("map_mean", "mean of the map {:.3f}"), ("deletion_auc", "deletion {:.3f}"), ("insertion_auc", "insertion {:.3f}"),
    ("saliency_metric", "saliency metric {:.3f}"),
)


def method_summary(row, seconds):
    """One readable line of a method's main figures (the table has them all).

    Args:
        row: the method's result dict.
        seconds: how long the method took, maps and metrics.

    Example:

    >>> method_summary({"method": "gradcam", "images": 10, "masks_per_s": 12.5}, 30)
    'gradcam (10 test images, 30 s): 12.5 masks/s'
    """
    figures = [text.format(row[key]) for key, text in SUMMARY_FIELDS if isinstance(row.get(key), (int, float))]
    return f"{row['method']} ({row['images']} test images, {_duration(seconds)}): " + ", ".join(figures)


def results_table(results):
    """The results of `evaluate_methods` as a Markdown table (the columns some row has).

    Args:
        results: the result dicts.

    Example:

    ```python
    print(results_table(evaluate_methods(model, data)))
    ```
    """
    return tables.markdown_table(results, tables.present_columns(results, COLUMNS))


def write_results(output, results, examples, example_maps, road_rows, config, row_titles=None):
    """Writes `results.csv`, `results.md`, `evaluation_config.json`, `road_curves.csv` (with
    `road_rows`) and `examples.png` to `output`.

    Args:
        output: the folder (created).
        results: the result dicts, one per method.
        examples: `EvaluationImages` of the example images.
        example_maps: `{method: maps}` of the example images.
        road_rows: the mean ROAD curves' rows (may be empty).
        config: the evaluation's settings, written as JSON.
        row_titles: examples.png's row titles (default: the file names).

    Example:

    ```python
    write_results("eval", results, data.subset(range(8)), example_maps, [], {"seed": 0})
    ```
    """
    from keras_saliency.reports.pictures import save_method_grid

    os.makedirs(output, exist_ok=True)
    tables.write_csv(os.path.join(output, "results.csv"), results, tables.present_columns(results, COLUMNS))
    with open(os.path.join(output, "results.md"), "w") as f:
        f.write(results_table(results) + "\n")
    with open(os.path.join(output, "evaluation_config.json"), "w") as f:
        json.dump(config, f, indent=2, default=str)
    if road_rows:
        road_columns = [(k, k, "{}") for k in ("method", "order", "fraction", "probability")]
        tables.write_csv(os.path.join(output, "road_curves.csv"), road_rows, road_columns)
    rows = min([len(examples)] + [len(m) for m in example_maps.values()])
    save_method_grid(
        os.path.join(output, "examples.png"),
        examples.images[:rows],
        {name: maps[:rows] for name, maps in example_maps.items()},
        boxes=None if examples.boxes is None else examples.boxes[:rows],
        row_titles=(row_titles or [os.path.basename(p) for p in examples.paths])[:rows],
    )
