"""`export_masker`: one export (SavedModel, TFLite, ONNX, TensorRT engine), verified against
the Keras masker, with its report and resolved configuration saved next to it."""

import dataclasses
import json
import typing
import os
import shutil
import tempfile
import time

import numpy as np

from keras_saliency.deployment import converters, onnx_precision, tensorrt_engine, verification
from keras_saliency.deployment.runtimes import load_runtime
from keras_saliency.deployment.serving import (
    PREDICTED, as_masker, can_classify, check_input_dtype, class_logits, reference_outputs,
)
from keras_saliency.errors import EngineNotBuilt

FORMATS = ("saved_model", "tflite", "onnx")
INT8_FLOAT_CHOICES = ("auto",) + converters.INT8_FLOAT  # "auto": speed, else parity (the verification decides)


@dataclasses.dataclass
class ExportRequest:
    """What `export_masker` writes (checked when created).

    Args:
        format: "saved_model", "tflite" or "onnx" (default "onnx").
        quantize: "float32", "float16", "dynamic" (TFLite only) or "int8" (default "float32").
        input_dtype: the `image` input's dtype, "float32" or "uint8" (default "float32").
        trt: also build a TensorRT engine from the ONNX model (default False).
        max_batch_size: the engine's largest batch (default 32).
        int8_float: int8 TFLite of a gated masker, the layers kept in float
            (`converters.int8_float_layers`): "speed", "parity", or "auto" (default): the fastest
            of "speed", "speed" with the encoder's first convolution blocks, and "parity" whose
            file passes the verification goals (`int8_choices`; one conversion per try).
        int8_float_through: None (default), or a layer of the masker's encoder: int8 TFLite also
            keeps it and the encoder's layers before it in float (`converters.int8_float_layers`).
        classify: one graph that classifies and explains (outputs `logits` and `explained_class` too;
            a class id of -1 explains the top-1 class; the trunk runs once): True, False, or None
            (default) for "when it can", a masker whose class gate reproduces its classifier's
            logits (checked on the verification images).
        int8_ranges: int8 TFLite activation ranges: "mean" (the mean of each calibration image's
            extremes, `int8_ranges.averaged_ranges`), "minmax" (TFLite's own: the extremes over
            all calibration images) or "auto" (default: whichever brings the verification's figures
            nearer their goals, `_tflite_int8`).

    Example:

    ```python
    request = ExportRequest(format="onnx", quantize="float16", trt=True)
    ```
    """

    format: str = "onnx"
    quantize: str = "float32"
    input_dtype: str = "float32"
    trt: bool = False
    max_batch_size: int = 32
    int8_float: str = "auto"
    classify: typing.Optional[bool] = None
    int8_float_through: typing.Optional[str] = None
    int8_ranges: str = "auto"

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"Expected `format` in {FORMATS}. Received: `format={self.format}`")
        if self.quantize not in converters.QUANTIZATIONS:
            raise ValueError(f"Expected `quantize` in {converters.QUANTIZATIONS}. Received: `quantize={self.quantize}`")
        check_input_dtype(self.input_dtype)
        if self.int8_float not in INT8_FLOAT_CHOICES:
            raise ValueError(f"Expected `int8_float` in {INT8_FLOAT_CHOICES}. Received: `int8_float={self.int8_float}`")
        if self.int8_float not in ("auto", "parity") and (self.format, self.quantize) != ("tflite", "int8"):
            raise ValueError("Expected `int8_float=speed` only with `format=tflite` and `quantize=int8`. "
                             f"Received: `format={self.format}`, `quantize={self.quantize}`")
        if self.int8_ranges not in ("auto",) + converters.INT8_RANGES:
            raise ValueError(f"Expected `int8_ranges` in {('auto',) + converters.INT8_RANGES}. "
                             f"Received: `int8_ranges={self.int8_ranges}`")
        if self.int8_ranges != "auto" and (self.format, self.quantize) != ("tflite", "int8"):
            raise ValueError(f"Expected `int8_ranges={self.int8_ranges}` only with `format=tflite` and "
                             f"`quantize=int8`. Received: `format={self.format}`, `quantize={self.quantize}`")
        if self.int8_float_through and (self.format, self.quantize) != ("tflite", "int8"):
            raise ValueError("Expected `int8_float_through` only with `format=tflite` and `quantize=int8`. "
                             f"Received: `format={self.format}`, `quantize={self.quantize}`")
        if self.trt and self.format != "onnx":
            raise ValueError("Expected `format=onnx` with `trt=True` (engines are built from ONNX). "
                             f"Received: `format={self.format}`")
        if self.trt and self.quantize == "dynamic":
            raise ValueError("Expected `quantize` in float32|float16|int8 for a TensorRT engine. "
                             "Received: `quantize=dynamic`")
        if self.format in ("saved_model",) and self.quantize != "float32":
            raise ValueError("Expected `quantize=float32` for a SavedModel (quantize through tflite). "
                             f"Received: `quantize={self.quantize}`")
        if self.format == "onnx" and not self.trt and self.quantize not in ("float32", "float16", "int8"):
            raise ValueError(f"Expected `quantize` in float32|float16|int8 for ONNX. Received: `quantize={self.quantize}`")


def sample_images(folder, image_size, count, seed=0):
    """Up to `count` images (RGB uint8, squashed to `image_size`) drawn with `seed` from the
    image files under `folder` (searched recursively). Files the reader skips (not a regular
    file, unreadable, too large) are counted and reported in one warning, and the next files in
    the seeded order taken instead; none readable is an error.

    Args:
        folder: the folder of images.
        image_size: the side the images are resized to, in pixels.
        count: the number of images at most.
        seed: seed of the drawing order (default 0).

    Example:

    ```python
    calibration = sample_images("photos", 224, count=200)  # (200, 224, 224, 3) uint8
    ```
    """
    from keras_saliency.runtime.images import (
        UnreadableImageError, find_images, read_image, report_skipped, skipped_summary,
    )

    files = find_images([folder])
    if not files:
        raise ValueError(f"Expected image files under {folder!r}. Received: none")
    images, skipped = [], []
    for i in np.random.default_rng(seed).permutation(len(files)):
        if len(images) >= count:
            break
        try:
            images.append(read_image(files[i], image_size)[1])
        except UnreadableImageError as error:
            skipped.append((error.path, error.reason))
    report_skipped(skipped, f"images under {folder}")
    if not images:
        raise ValueError(f"Expected readable image files under {folder!r}. Received: none of {len(files)} "
                         f"({skipped_summary(skipped)})")
    return np.stack(images)


def synthetic_images(image_size, count, seed=0):
    """Smooth random colour fields (when no real images are given; parity figures on them
    say less than on real images).

    Returns `(count, image_size, image_size, 3)` uint8 images.

    Args:
        image_size: the side of the images, in pixels.
        count: the number of images.
        seed: the random seed (default 0).

    Example:

    ```python
    images = synthetic_images(32, count=16)
    ```
    """
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (count, 4, 4, 3)).astype(np.float32)
    import keras

    return np.clip(keras.ops.convert_to_numpy(keras.ops.image.resize(coarse, (image_size, image_size)))
                   + rng.normal(0, 10, (count, image_size, image_size, 3)), 0, 255).astype(np.uint8)


def predicted_classes(model, images, batch_size=64):
    """The classifier's predicted class of each image (a SaliencyModel), else zeros.

    Args:
        model: a `SaliencyModel` (or a `Masker`: all classes 0).
        images: `(N, S, S, 3)` in [0, 255].
        batch_size: images per classifier call (default 64).

    Example:

    ```python
    class_ids = predicted_classes(model, images)  # (N,) int32
    ```
    """
    from keras_saliency.models.model import SaliencyModel

    if not isinstance(model, SaliencyModel):
        return np.zeros(len(images), np.int32)
    ids = [np.argmax(np.asarray(model.classifier_logits(images[s : s + batch_size])), -1)
           for s in range(0, len(images), batch_size)]
    return np.concatenate(ids).astype(np.int32)


def classifies(model, masker, images, wanted=None, quantize="float32"):
    """Whether an export of `model` classifies as well (`ExportRequest.classify`): `wanted`
    True or False, or None for "when it can": a float32 or float16 export of a `SaliencyModel`
    whose masker's class gate reproduces the classifier's logits on `images` (log-softmax
    within 1e-3; not so for an ensemble, whose logits are not one class layer's). An int8 trunk
    moves the classifier's top-1 class on a few photos in a hundred (the Darknet ImageNet
    masker: 95 of 100 kept), so int8 and dynamic exports classify only when asked.

    Args:
        model: the `SaliencyModel` or `Masker`.
        masker: its `Masker`.
        images: a few real images `(N, S, S, 3)` in [0, 255].
        wanted: True, False or None.
        quantize: the export's quantization (default "float32").

    Example:

    ```python
    classifies(model, model.masker, images)  # True for the shipped ImageNet maskers
    ```
    """
    from keras_saliency.models.model import SaliencyModel

    if wanted is False:
        return False
    if not can_classify(masker):
        if wanted:
            raise ValueError("Expected a masker with a class gate for `classify=True` (it holds the classifier's "
                             f"class layer). Received: class_gate={masker.class_gate!r}")
        return False
    if wanted or not isinstance(model, SaliencyModel) or quantize not in ("float32", "float16"):
        return bool(wanted)
    images = np.asarray(images[:16], np.float32)
    features = masker.encoder(images, training=False)
    features = features[-1] if isinstance(features, (list, tuple)) else features
    own = np.asarray(class_logits(masker.get_layer("class_gate"), features), np.float64)
    theirs = np.asarray(model.classifier_logits(images), np.float64)

    def log_softmax(x):
        x = x - x.max(-1, keepdims=True)
        return x - np.log(np.exp(x).sum(-1, keepdims=True))

    return bool(np.abs(log_softmax(own) - log_softmax(theirs)).max() <= 1e-3)


def int8_choices(masker, request):
    """The `(preset, through)` float-layer choices (`converters.int8_float_layers`) an int8 TFLite
    export tries in turn, fastest first, keeping the first whose file passes the verification.
    `int8_float="auto"`: "speed"; then "speed" with the encoder also in float through each of its
    first convolution blocks (`converters.encoder_float_steps`), shallowest first; then "parity".
    With `int8_float_through` given, "auto" tries "speed" then "parity", both through that layer.
    "speed" or "parity": that one only.

    Args:
        masker: the `Masker`.
        request: the `ExportRequest`.

    Example:

    ```python
    int8_choices(masker, ExportRequest("tflite", "int8"))  # [("speed", None), ("speed", "leaky_re_lu_1"), ...]
    ```
    """
    through = request.int8_float_through
    if request.int8_float != "auto":
        return [(request.int8_float, through)]
    if through:
        return [("speed", through), ("parity", through)]
    steps = converters.encoder_float_steps(masker.encoder)
    return [("speed", None)] + [("speed", step) for step in steps] + [("parity", None)]


def int8_kept(checked, choosing):
    """Whether an int8 export's file (`checked`: its verification) is kept. `choosing` (when
    `int8_choices` gives more than one choice): its top-20% IoU must pass the goal by one
    standard error of its mean too, since the next choice (more layers in float) is closer to
    the float masks and a narrow pass on a hundred verification images can miss on others (the
    compact Darknet masker through its first convolution block: 0.901 on the verification's 100
    photos, 0.899 on 1,429 imagenet-val-dev photos).

    Args:
        checked: the file's verification (`_verify`: figures, goals, "passed").
        choosing: whether a further choice is left to try.

    Example:

    ```python
    int8_kept({"passed": True, "top20_iou": 0.92, "top20_iou_standard_error": 0.01}, True)  # True
    ```
    """
    if not checked["passed"]:
        return False
    return not choosing or checked["top20_iou"] - checked.get("top20_iou_standard_error", 0.0) >= verification.MIN_IOU


def _tflite_int8(masker, output, request, calibration_images, calibration_class_ids, part, classify, verify):
    """The int8 `.tflite` at `output`: each `int8_choices` float-layer choice in turn until one is
    kept (`int8_kept`). With `int8_ranges="auto"`, the first choice is converted with each kind of
    activation range and the one whose figures are nearer their goals (`verification.worst_margin`:
    top-20% IoU, rank correlation, a classifying export's top-1 agreement) is used from then on.
    Averaged ranges help an encoder with unbounded activations, such as the Darknet ImageNet
    masker's (IoU 0.877 against 0.847), and hurt others (the CIFAR-10 masker 0.935 against 0.971;
    Darknet's top-1 agreement in one graph that classifies, 0.69 against 0.80).
    Returns the report's int8 entries and "checked" (the kept file's verification)."""
    choices = int8_choices(masker, request)
    kinds = converters.INT8_RANGES if request.int8_ranges == "auto" else (request.int8_ranges,)
    tried, ranges = [], None
    for number, (preset, through) in enumerate(choices):
        float_layers = converters.int8_float_layers(masker, preset=preset, through=through)
        if classify:  # the logits stay float: the top-1 class is kept
            float_layers += ["class_logits"]
        candidates = []
        for kind in kinds if ranges is None else (ranges,):
            path = output if len(kinds) == 1 or ranges is not None else f"{output[:-len('.tflite')]}.{kind}.tflite"
            converters.export_tflite(masker, path, "int8", calibration_images, calibration_class_ids,
                                     request.input_dtype, float_layers=float_layers, part=part, int8_ranges=kind)
            candidates.append((verify(path, "int8"), kind, path))
        checked, ranges, path = max(candidates, key=lambda candidate: verification.worst_margin(candidate[0], "int8"))
        for other in candidates:
            if other[2] != output and other[2] != path:
                os.remove(other[2])
            if len(candidates) > 1 and other[2] != path:
                tried.append(_tried(other[0], preset, through, other[1]))
        if path != output:
            os.replace(path, output)
            checked = {**checked, "path": os.fspath(output)}
        if int8_kept(checked, number < len(choices) - 1):
            break
        if number < len(choices) - 1:
            tried.append(_tried(checked, preset, through, ranges))
    entries = {"int8_float": preset, "int8_float_through": through, "int8_ranges": ranges, "checked": checked}
    return {**entries, "int8_tried": tried} if tried else entries


def _tried(checked, preset, through, ranges):
    """A report's entry for an int8 file tried and not kept (its figures; the file is gone)."""
    figures = {key: value for key, value in checked.items() if key != "path"}
    return {**figures, "int8_float": preset, "int8_float_through": through, "int8_ranges": ranges}


def _verify(path, masker_reference, images, class_ids, quantize, **runtime_options):
    with converters.converter_lines_dropped():  # LiteRT's "Created ... delegate" note
        runtime = load_runtime(path, **runtime_options)
        start = time.perf_counter()
        outputs = runtime(images, class_ids)
    seconds = time.perf_counter() - start
    figures = verification.parity(masker_reference, outputs)
    goals = verification.parity_goals(figures, quantize)
    return {"path": os.fspath(path), "runtime": runtime.name, "quantize": quantize, **figures,
            "goals": goals, "passed": all(goals.values()), "seconds": seconds}


def export_masker(model, output, request=None, calibration_images=None, calibration_class_ids=None,
                  verification_images=None, verification_class_ids=None, class_names=None):
    """Exports `model` (a SaliencyModel or Masker) to `output` as `request` asks, verifies every
    file written against the Keras masker and saves `<output>.report.json` (the report and the
    resolved request; `class_names` go in it for the standalone runners). Returns the report.

    With `request.trt` and no usable TensorRT, the ONNX model is still written and verified,
    then `EngineNotBuilt` is raised with one line saying what is missing.

    Args:
        model: the `SaliencyModel` or `Masker`.
        output: the file (`.onnx`, `.tflite`) or SavedModel folder to write.
        request: the `ExportRequest` (default: `ExportRequest()`, float32 ONNX).
        calibration_images: `(N, S, S, 3)` images in [0, 255] for int8, or None.
        calibration_class_ids: `(N,)` their classes, or None.
        verification_images: a few real images to compare every file with the Keras masker
            (required).
        verification_class_ids: their classes, or None.
        class_names: the class names saved in the report, or None.

    Example:

    ```python
    report = export_masker(model, "export/masker.onnx", ExportRequest(quantize="float16"),
                           verification_images=images, verification_class_ids=class_ids)
    ```
    """
    request = request or ExportRequest()
    masker = as_masker(model)
    output = os.fspath(output)
    if request.format == "tflite" and not output.endswith(".tflite"):
        raise ValueError(f"Expected an output path ending in .tflite. Received: {output!r}")
    if request.format == "onnx" and not output.endswith(".onnx"):
        raise ValueError(f"Expected an output path ending in .onnx. Received: {output!r}")
    if verification_images is None or len(verification_images) == 0:
        raise ValueError("Expected verification images (a few real images). Received: none")
    classify = classifies(model, masker, verification_images, request.classify, request.quantize)
    if classify:  # asked for the top-1 class, compared with the Keras classifier's
        from keras_saliency.models.model import SaliencyModel

        if isinstance(model, SaliencyModel):
            verification_class_ids = predicted_classes(model, verification_images)
        else:  # a masker alone: the top-1 class of its class layer
            zeros = np.zeros(len(verification_images), np.int32)
            logits = reference_outputs(masker, verification_images, zeros, classify=True)["logits"]
            verification_class_ids = logits.argmax(-1).astype(np.int32)
        reference = reference_outputs(masker, verification_images, verification_class_ids, classify=True)
    else:
        reference = reference_outputs(masker, verification_images, verification_class_ids)
    # Everything is written into a hidden folder beside the output, then moved into place (an
    # atomic rename per file): a kill or a full disk leaves the previous files as they were.
    final_dir = os.path.dirname(output.rstrip("/"))
    os.makedirs(final_dir or ".", exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".keras-saliency-export-", dir=final_dir or ".")
    try:
        staged = os.path.join(staging, os.path.basename(output.rstrip("/")))
        report = _export_into(masker, staged, request, reference, calibration_images, calibration_class_ids,
                              verification_images, verification_class_ids, class_names, classify)
        report = _publish(report, staging, final_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if request.trt and not report["engine"]["built"]:
        raise EngineNotBuilt(report["engine"]["missing"])
    return report


def _export_into(masker, output, request, reference, calibration_images, calibration_class_ids,
                 verification_images, verification_class_ids, class_names, classify=False):
    """`export_masker`'s files, written at `output` (inside the staging folder)."""
    part = "classify" if classify else "masker"
    asked = np.full(len(verification_images), PREDICTED, np.int32) if classify else verification_class_ids

    def verify(path, quantize):
        return _verify(path, reference, verification_images, asked, quantize)

    report = {"request": dataclasses.asdict(request), "output": output, "files": [], "classify": classify,
              "outputs": ["mask", "exists"] + (["logits", "explained_class"] if classify else []),
              "image_size": masker.image_size, "mask_stride": masker.mask_stride,
              "num_classes": masker.num_classes, "class_names": class_names,
              "verification_images": int(len(verification_images)),
              "calibration_images": 0 if calibration_images is None else int(len(calibration_images))}
    start = time.perf_counter()
    if request.format == "saved_model":
        converters.export_saved_model(masker, output, request.input_dtype, part=part)
        report["files"].append(verify(output, "float32"))
    elif request.format == "tflite":
        if request.quantize == "int8":
            report.update(_tflite_int8(masker, output, request, calibration_images, calibration_class_ids,
                                       part, classify, verify))
            checked = report.pop("checked")
        else:
            converters.export_tflite(masker, output, request.quantize, input_dtype=request.input_dtype, part=part)
            checked = verify(output, request.quantize)
        report["files"].append(checked)
    else:
        base = output[: -len(".onnx")]
        converters.export_onnx(masker, output, request.input_dtype, part=part)
        report["files"].append(verify(output, "float32"))
        source = output
        if request.quantize == "float16":
            source = onnx_precision.float16_onnx(output, base + ".float16.onnx")
            report["files"].append(verify(source, "float16"))
        elif request.quantize == "int8":
            source = onnx_precision.int8_qdq_onnx(
                output, base + ".int8.onnx", calibration_images, calibration_class_ids,
                converters.int8_float_layers(masker, whole_decoder=True) + (["class_logits"] if classify else []),
                request.input_dtype)
            report["files"].append(verify(source, "int8"))
        if request.trt:
            missing = tensorrt_engine.tensorrt_status()
            if missing:
                report["engine"] = {"built": False, "missing": missing}
            else:
                engine = base + ".engine"
                report["engine"] = {"built": True, **tensorrt_engine.build_engine(
                    source, engine, request.quantize, max_batch_size=request.max_batch_size)}
                report["files"].append(verify(engine, request.quantize))
    report["seconds"] = time.perf_counter() - start
    report["passed"] = all(f["passed"] for f in report["files"])
    return report


def _publish(report, staging, final_dir):
    """Moves every file of the staging folder into `final_dir` (each an atomic rename; a link at
    the final path is replaced, never followed), the report last; returns the report with the
    final paths."""
    prefix = os.path.join(staging, "")
    final_prefix = os.path.join(final_dir, "") if final_dir else ""
    report = json.loads(json.dumps(report, default=str).replace(json.dumps(prefix)[1:-1],
                                                                 json.dumps(final_prefix)[1:-1]))
    for name in sorted(os.listdir(staging)):
        source, target = os.path.join(staging, name), os.path.join(final_dir, name)
        if os.path.isdir(source) and not os.path.islink(source):
            _replace_folder(source, target)
        else:
            os.replace(source, target)
    report_path = report["output"].rstrip("/") + ".report.json"
    partial = os.path.join(staging, ".report.json.partial")
    with open(partial, "w") as f:
        json.dump(report, f, indent=2, default=str)
    os.replace(partial, report_path)
    return report


def _replace_folder(source, target):
    """A SavedModel folder into place. Into an existing folder, entry by entry (its other files
    stay): each old entry is renamed aside first and removed only once the new one is in place."""
    if os.path.islink(target) or os.path.isfile(target):
        os.remove(target)
    if not os.path.isdir(target):
        os.rename(source, target)
        return
    for name in sorted(os.listdir(source)):
        new, old = os.path.join(source, name), os.path.join(target, name)
        if not os.path.isdir(new) or not os.path.lexists(old):
            if os.path.isdir(old) and not os.path.islink(old):
                shutil.rmtree(old)
            os.replace(new, old)
            continue
        aside = old + ".keras-saliency-old"
        shutil.rmtree(aside, ignore_errors=True)
        os.rename(old, aside)
        os.rename(new, old)
        if os.path.isdir(aside) and not os.path.islink(aside):
            shutil.rmtree(aside, ignore_errors=True)
        else:
            os.remove(aside)


REPORT_COLUMNS = (
    ("file", "file", "{}"),
    ("runtime", "runtime", "{}"),
    ("quantize", "quantize", "{}"),
    ("max_abs_diff", "max abs diff", "{:.2e}"),
    ("mean_abs_diff", "mean abs diff", "{:.2e}"),
    ("rank_correlation", "rank corr", "{:.4f}"),
    ("top20_iou", "top-20% IoU", "{:.4f}"),
    ("goals", "goals", "{}"),
)


def report_table(report):
    """The report's files as a Markdown table.

    Args:
        report: the dict `export_masker` returns.

    Example:

    ```python
    print(report_table(export_masker(model, "masker.onnx", verification_images=images)))
    ```
    """
    from keras_saliency.reports import tables

    rows = [{**f, "file": os.path.basename(f["path"].rstrip("/")), "goals": "pass" if f["passed"] else "FAIL"}
            for f in report["files"]]
    return tables.markdown_table(rows, REPORT_COLUMNS)
