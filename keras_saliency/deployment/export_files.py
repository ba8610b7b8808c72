"""What `keras-saliency export` does, as one library call: `export_file` resolves the output
paths, refuses what cannot work before anything loads (`check_export`), exports the model,
verifies it against Keras and writes `OUTPUT.report.json`.

Example:

```python
from keras_saliency.deployment.export_files import export_file

report = export_file("cifar10", export_format="tflite", quantize="int8", calibration_data="photos/")
```
"""

import json
import os

from keras_saliency.deployment.runtimes import EXPORT_EXTRA
from keras_saliency.errors import EngineNotBuilt, ParityError, first_line

EXPORT_MODULES = {"onnx": ("tf2onnx", "onnx", "onnxruntime"), "tflite": ("ai_edge_litert",), "saved_model": ()}
ENGINE_SUFFIXES = (".engine", ".plan")


def export_paths(model, export_format="onnx", quantize="float32", trt=False, output=None):
    """`(output, onnx_output, engine_output)`: the export's paths, with a default `output`
    (`saliency-exports/MODEL.onnx`, `-saved_model`, `.tflite`, `.engine`) when none is given.

    Args:
        model: the model's file or pretrained name; its stem names the default output.
        export_format: "saved_model", "tflite" or "onnx" (default "onnx").
        quantize: "float32", "float16", "dynamic" or "int8" (default "float32").
        trt: a TensorRT engine is built from the ONNX model (default False).
        output: the output path, or None for the default.

    Raises:
        ValueError: an output that does not fit the format.

    Example:

    >>> export_paths("cifar10", "onnx", trt=True)
    ('saliency-exports/cifar10.engine', 'saliency-exports/cifar10.onnx', 'saliency-exports/cifar10.engine')
    """
    if not output:
        stem = os.path.splitext(os.path.basename(model.rstrip("/")))[0]
        suffix = {"saved_model": "-saved_model", "tflite": ".tflite", "onnx": ".engine" if trt else ".onnx"}[export_format]
        if export_format == "tflite" and quantize != "float32":
            suffix = f"-{quantize}.tflite"
        output = os.path.join("saliency-exports", stem + suffix)
    lower = output.lower()
    onnx_output = engine_output = None
    if lower.endswith(ENGINE_SUFFIXES):
        if not trt or export_format != "onnx":
            raise ValueError(f"Expected `trt=True` (and `export_format=onnx`) with a TensorRT engine output. "
                             f"Received: `output={output}`")
        onnx_output, engine_output = os.path.splitext(output)[0] + ".onnx", output
    elif export_format == "onnx":
        if not lower.endswith(".onnx"):
            raise ValueError(f"Expected an `output` ending in .onnx (or .engine / .plan with `trt=True`). "
                             f"Received: {output}")
        onnx_output = output
        engine_output = output[: -len(".onnx")] + ".engine" if trt else None
    elif export_format == "tflite" and not lower.endswith(".tflite"):
        raise ValueError(f"Expected an `output` ending in .tflite. Received: {output}")
    return output, onnx_output, engine_output


def _require_calibration(quantize, calibration_data):
    if quantize == "int8" and not calibration_data:
        raise ValueError("Expected `calibration_data` (a folder of real images) with `quantize=int8`. "
                         "Received: none")


def check_export(model, export_format="onnx", quantize="float32", trt=False, output=None, overwrite=False,
                 calibration_data=None):
    """`export_paths`, and a refusal of a missing export extra (`ImportError`) or of files it
    would overwrite without `overwrite` (`FileExistsError`); loads no TensorFlow.

    Args:
        model: the model's file or pretrained name.
        export_format: "saved_model", "tflite" or "onnx" (default "onnx").
        quantize: "float32", "float16", "dynamic" or "int8" (default "float32").
        trt: a TensorRT engine is built from the ONNX model (default False).
        output: the output path, or None for the default.
        overwrite: allow replacing existing files (default False).
        calibration_data: the int8 calibration folder (int8 needs one).

    Example:

    ```python
    output, onnx_output, engine_output = check_export("cifar10", "onnx")
    ```
    """
    from keras_saliency.options import missing_modules, require_tensorflow_backend

    require_tensorflow_backend("export (SavedModel, LiteRT and ONNX come from TensorFlow's converters)")
    output, onnx_output, engine_output = export_paths(model, export_format, quantize, trt, output)
    _require_calibration(quantize, calibration_data)
    missing = missing_modules(EXPORT_MODULES[export_format])
    if missing:
        raise ImportError(f"{export_format} export needs {', '.join(missing)}: {EXPORT_EXTRA}")
    if overwrite:
        return output, onnx_output, engine_output
    if export_format == "saved_model":
        if os.path.isfile(output) or (os.path.isdir(output) and os.listdir(output)):
            raise FileExistsError(f"{output} exists and is not an empty folder: give `overwrite=True` to write "
                                  "the SavedModel into it, or another `output`")
        return output, onnx_output, engine_output
    written = [output] if export_format == "tflite" else [onnx_output]
    if export_format == "onnx":
        base = onnx_output[: -len(".onnx")]
        written += [f"{base}.{quantize}.onnx"] if quantize in ("float16", "int8") else []
        written += [engine_output] if trt else []
    existing = [path for path in written if os.path.lexists(path)]
    if existing:
        raise FileExistsError(f"{', '.join(existing)} already exists: give `overwrite=True` to replace it, or "
                              "another `output`")
    return output, onnx_output, engine_output


def _rename_engine(report, built, wanted):
    """Moves the engine `export_masker` wrote (BASE.engine) to the output asked (BASE.plan) and
    rewrites the report's paths."""
    if built == wanted or not os.path.exists(built):
        return report
    os.replace(built, wanted)
    report = json.loads(json.dumps(report, default=str).replace(json.dumps(built)[1:-1], json.dumps(wanted)[1:-1]))
    path = report["output"].rstrip("/") + ".report.json"
    with open(path + ".partial", "w") as f:
        json.dump(report, f, indent=2, default=str)
    os.replace(path + ".partial", path)
    return report


def _images(model, quantize, calibration_data, calibration_images, verification_images, seed):
    from keras_saliency.deployment.export import sample_images, synthetic_images

    size = model.image_size
    if calibration_data:
        images = sample_images(calibration_data, size, calibration_images + verification_images, seed)
        if len(images) <= verification_images:
            raise ValueError(f"Expected more than {verification_images} images in `calibration_data` "
                             f"(calibration + verification). Received: {len(images)} in {calibration_data}")
        source = (f"{len(images) - verification_images} calibration + {verification_images} held-out "
                  f"verification images from {calibration_data}")
        return images[:-verification_images], images[-verification_images:], source
    _require_calibration(quantize, calibration_data)
    source = f"{verification_images} synthetic images (give `calibration_data` for real-image figures)"
    return None, synthetic_images(size, verification_images, seed), source


def export_file(model, export_format="onnx", quantize="float32", trt=False, calibration_data=None,
                calibration_images=200, verification_images=100, input_dtype="float32", max_batch_size=32,
                seed=0, overwrite=False, allow_failed_verification=False, output=None, log=None,
                int8_float="auto", classify=None, int8_float_through=None, int8_ranges="auto"):
    """Exports a masker and verifies the export against the Keras model (max / mean difference,
    rank correlation, top-20% IoU), saved as `OUTPUT.report.json`.

    Args:
        model: a shipped model name or a masker's `.keras` file.
        export_format: "saved_model", "tflite" or "onnx".
        quantize: "float32", "float16", "dynamic" (tflite) or "int8" (calibrated).
        trt: also build a TensorRT engine from the ONNX model (a GPU and `tensorrt`).
        calibration_data: a folder of real images (int8 calibration, held-out verification).
        calibration_images: images for the int8 calibration.
        verification_images: held-out images of the verification.
        input_dtype: the `image` input's type, "float32" or "uint8".
        max_batch_size: TensorRT: the largest batch of the engine's profile.
        seed: the seed of the image sample.
        overwrite: replace existing output files.
        allow_failed_verification: return normally when the export misses its parity goals.
        output: a folder (saved_model), a .tflite / .onnx file or an .engine / .plan file.
        log: a function called with each line of the report, or None.
        int8_float: int8 TFLite of a gated masker, the layers kept in float: "auto" (default:
            the fastest choice whose file passes the verification goals, `export.int8_choices`),
            "speed" or "parity" (`converters.int8_float_layers`).
        classify: one graph that classifies and explains (outputs `logits` and `explained_class`;
            a class id of -1 explains the top-1 class): True, False, or None (default) for "when
            it can" (`export.classifies`).
        int8_float_through: None (default), or a layer of the masker's encoder kept in float in
            an int8 TFLite, with the encoder's layers before it.
        int8_ranges: int8 TFLite activation ranges, "auto" (default), "mean" or "minmax"
            (`export.ExportRequest`).

    Returns:
        the report (a dict; `report["passed"]`: the parity goals were met).

    Raises:
        ValueError, FileExistsError, ImportError: a refused request (nothing is written).
        EngineNotBuilt: a TensorRT engine that could not be built (the ONNX model is written).
        ParityError: an export that missed its parity goals (unless `allow_failed_verification`).

    Example:

    ```python
    report = export_file("cifar10", "tflite", "int8", calibration_data="photos/")
    ```
    """
    from keras_saliency.deployment.export import ExportRequest, export_masker, predicted_classes, report_table
    from keras_saliency.pretrained import load_saliency_model

    log = log or (lambda line: None)
    output, onnx_output, engine_output = check_export(model, export_format, quantize, trt, output, overwrite,
                                                      calibration_data)
    request = ExportRequest(export_format, quantize, input_dtype, trt, max_batch_size, int8_float, classify,
                            int8_float_through, int8_ranges)
    saliency_model, class_names, info = load_saliency_model(model)
    calibration, verification, source = _images(
        saliency_model, quantize, calibration_data, calibration_images, verification_images, seed)
    target = onnx_output or output
    parent = os.path.dirname(os.path.abspath(target.rstrip("/")))
    os.makedirs(parent, exist_ok=True)
    log(f"Exporting {model} ({export_format}, {quantize}{', TensorRT' if trt else ''}) to {output}; "
        f"verifying on {source}")
    missing = None
    try:
        report = export_masker(
            saliency_model, target, request,
            calibration_images=calibration,
            calibration_class_ids=None if calibration is None else predicted_classes(saliency_model, calibration),
            verification_images=verification,
            verification_class_ids=predicted_classes(saliency_model, verification),
            class_names=info.get("display_names") or class_names,
        )
    except EngineNotBuilt as error:
        missing = str(error)
        with open(target.rstrip("/") + ".report.json") as f:
            report = json.load(f)
    except ImportError as error:  # an export dependency that does not load
        line = first_line(error)
        raise ImportError(line if "[export]" in line else f"{line}: {EXPORT_EXTRA}") from None
    if trt and not missing:
        report = _rename_engine(report, target[: -len(".onnx")] + ".engine", engine_output)
    def float_layers(preset, through):
        return f"'{preset}'" + (f" and the encoder through {through}" if through else "")

    for tried in report.get("int8_tried", []):
        log(f"int8 with the {float_layers(tried['int8_float'], tried.get('int8_float_through'))} float layers "
            f"and '{tried.get('int8_ranges')}' ranges: "
            f"top-20% IoU {tried['top20_iou']:.3f} (standard error {tried.get('top20_iou_standard_error', 0):.3f}), "
            f"rank correlation {tried['rank_correlation']:.3f}: not kept")
    if "int8_float" in report:
        log(f"int8 float layers: {float_layers(report['int8_float'], report.get('int8_float_through'))}, "
            f"activation ranges '{report.get('int8_ranges')}' (`converters.int8_float_layers`, `int8_ranges`)")
    log(report_table(report))
    written = ", ".join(os.path.basename(f["path"].rstrip("/")) for f in report["files"])
    log(f"Wrote {written} in {parent} and {os.path.basename(target.rstrip('/'))}.report.json "
        f"(figures and the resolved request); verified on {source}")
    if missing:
        raise EngineNotBuilt(f"TensorRT engine NOT built: {missing}. The ONNX model is written.")
    if not report["passed"]:
        if not allow_failed_verification:
            raise ParityError(f"the export missed its parity goals (see the table and {target.rstrip('/')}"
                              ".report.json); give `allow_failed_verification=True` to accept it")
        log("Some parity goals were missed (see the table); accepted (`allow_failed_verification=True`).")
    return report
