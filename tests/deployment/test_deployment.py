"""Exports (SavedModel, TFLite, ONNX), their verification, the TensorRT engine builder (with a
fake `tensorrt`), the benchmark and the `export` CLI."""

import json
import os
import types

import numpy as np
import pytest
from click.testing import CliRunner

from keras_saliency import pretrained
from keras_saliency.cli import main
from keras_saliency.deployment import converters, tensorrt_engine, verification
from keras_saliency.deployment.export import ExportRequest, export_masker, predicted_classes, synthetic_images
from keras_saliency.deployment.runtimes import load_runtime
from keras_saliency.deployment.serving import reference_outputs

pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")


@pytest.fixture(scope="module")
def cifar():
    model = pretrained.load("cifar10")
    images = synthetic_images(32, 48, seed=1).astype("float32")
    return model, images, predicted_classes(model, images)


@pytest.fixture(scope="module")
def exported(cifar, tmp_path_factory):
    """The shipped CIFAR-10 masker exported once in every format (calibrated on 32 images,
    verified on 16 others)."""
    model, images, ids = cifar
    root = tmp_path_factory.mktemp("exports")
    paths = {"saved_model": str(root / "saved_model"), "onnx": str(root / "masker.onnx")}
    converters.export_saved_model(model.masker, paths["saved_model"])
    converters.export_onnx(model.masker, paths["onnx"])
    for quantize in converters.QUANTIZATIONS:
        paths[f"tflite_{quantize}"] = str(root / f"masker_{quantize}.tflite")
        converters.export_tflite(model.masker, paths[f"tflite_{quantize}"], quantize, images[:32], ids[:32])
    return paths


def test_metrics_known_answers():
    a = np.arange(50, dtype=np.float64).reshape(2, 5, 5, 1)
    assert verification.rank_correlation(a, a) == pytest.approx(1.0)
    assert verification.rank_correlation(a, -a) == pytest.approx(-1.0)
    assert verification.top_region_iou(a, a) == 1.0
    assert verification.top_region_iou(a, -a) == 0.0  # top 5 of 25 pixels vs the bottom 5
    figures = verification.parity({"mask": a, "exists": np.zeros(2)}, {"mask": a + 1e-5, "exists": np.zeros(2)})
    assert figures["max_abs_diff"] == pytest.approx(1e-5, rel=1e-3)
    assert all(verification.parity_goals(figures, "float32").values())
    assert not any(verification.parity_goals({**figures, "top20_iou": 0.5, "rank_correlation": 0.5}, "int8").values())


def test_top_region_iou_per_image_and_its_standard_error():
    # 10 pixels, top 20% = 2 pixels: image 0 the same top pair (IoU 1); image 1 one pixel shared (1/3)
    reference = np.array([np.arange(10.0), np.arange(10.0)])
    candidate = reference.copy()
    candidate[1, 0] = 100.0  # its top pair {9, 8} becomes {0, 9}
    ious = verification.top_region_ious(reference, candidate)
    assert ious == pytest.approx([1.0, 1.0 / 3.0])
    figures = verification.parity({"mask": reference, "exists": np.zeros(2)}, {"mask": candidate, "exists": np.zeros(2)})
    assert figures["top20_iou"] == pytest.approx(2.0 / 3.0)
    assert figures["top20_iou_standard_error"] == pytest.approx(np.std([1.0, 1.0 / 3.0], ddof=1) / np.sqrt(2))


def test_worst_margin_compares_two_exports_by_the_goal_they_are_furthest_from():
    assert verification.worst_margin({"top20_iou": 0.92, "rank_correlation": 0.99}, "int8") == pytest.approx(0.02)
    assert verification.worst_margin({"top20_iou": 0.95, "rank_correlation": 0.93}, "int8") == pytest.approx(-0.02)
    assert verification.worst_margin({"max_abs_diff": 4e-5}, "float32") == pytest.approx(6e-5)
    # one graph that classifies: a better IoU does not make up for a worse top-1 agreement
    minmax = {"top20_iou": 0.795, "rank_correlation": 0.976, "top1_agreement": 0.80}
    mean = {"top20_iou": 0.805, "rank_correlation": 0.960, "top1_agreement": 0.69}
    assert verification.worst_margin(minmax, "int8") == pytest.approx(0.80 - 0.97)
    assert verification.worst_margin(minmax, "int8") > verification.worst_margin(mean, "int8")
    float16 = {"top20_iou": 0.95, "rank_correlation": 0.99, "top1_agreement": 0.985}  # its floor: 0.99
    assert verification.worst_margin(float16, "float16") == pytest.approx(-0.005)


def test_an_int8_file_is_kept_only_when_it_passes_by_a_standard_error_while_choices_are_left():
    from keras_saliency.deployment.export import int8_kept

    narrow = {"passed": True, "top20_iou": 0.905, "top20_iou_standard_error": 0.006}
    assert not int8_kept(narrow, choosing=True) and int8_kept(narrow, choosing=False)
    assert int8_kept({**narrow, "top20_iou": 0.907}, choosing=True)
    assert not int8_kept({**narrow, "passed": False, "top20_iou": 0.95}, choosing=False)


@pytest.mark.parametrize("kind", ["saved_model", "onnx", "tflite_float32", "tflite_float16", "tflite_dynamic", "tflite_int8"])
def test_exports_match_keras(cifar, exported, kind):
    model, images, ids = cifar
    reference = reference_outputs(model.masker, images[32:], ids[32:])
    outputs = load_runtime(exported[kind])(images[32:], ids[32:])
    assert outputs["mask"].shape == (16, 16, 16, 1) and outputs["exists"].shape == (16,)
    figures = verification.parity(reference, outputs)
    if kind in ("saved_model", "onnx", "tflite_float32"):
        assert figures["max_abs_diff"] <= verification.FLOAT_TOLERANCE
    else:
        assert figures["rank_correlation"] >= 0.9 and figures["top20_iou"] >= 0.8, figures


def test_tflite_uses_builtin_ops_only(exported):
    """No Flex (SELECT_TF_OPS) or custom ops: the models run in ai-edge-litert alone; int8
    keeps only the mask head's last block in float (quantize / dequantize at its edges)."""
    from ai_edge_litert.interpreter import Interpreter

    for quantize in converters.QUANTIZATIONS:
        interpreter = Interpreter(model_path=exported[f"tflite_{quantize}"])
        ops = {op["op_name"] for op in interpreter._get_ops_details()}
        assert not any(op.startswith("Flex") or op == "CUSTOM" for op in ops), ops
        signature = interpreter.get_signature_runner("serving_default")
        assert sorted(signature.get_input_details()) == ["class_id", "image"]
        assert sorted(signature.get_output_details()) == ["exists", "mask"]
    int8 = Interpreter(model_path=exported["tflite_int8"])
    conv_types = {int8._get_tensor_details(op["inputs"][1], 0)["dtype"].__name__
                  for op in int8._get_ops_details() if op["op_name"] == "CONV_2D"}
    assert "int8" in conv_types


def test_saved_model_signature(exported):
    import tensorflow as tf

    signature = tf.saved_model.load(exported["saved_model"]).signatures["serving_default"]
    inputs = signature.structured_input_signature[1]
    assert inputs["image"].dtype == tf.float32 and inputs["class_id"].dtype == tf.int32
    assert sorted(signature.structured_outputs) == ["exists", "mask"]


def test_uint8_input_and_int8_needs_calibration(cifar, tmp_path):
    model, images, ids = cifar
    path = str(tmp_path / "uint8.tflite")
    converters.export_tflite(model.masker, path, input_dtype="uint8")
    runtime = load_runtime(path)
    assert runtime.dtype == np.uint8
    reference = reference_outputs(model.masker, images[:4].astype(np.uint8), ids[:4])
    assert verification.parity(reference, runtime(images[:4].astype(np.uint8), ids[:4]))["max_abs_diff"] < 1e-4
    with pytest.raises(ValueError, match="calibration images"):
        converters.export_tflite(model.masker, str(tmp_path / "x.tflite"), "int8")
    with pytest.raises(ValueError, match="quantize"):
        ExportRequest("saved_model", "int8")
    with pytest.raises(ValueError, match=r"Expected `int8_float` in \('auto', 'parity', 'speed'\)"):
        ExportRequest("tflite", "int8", int8_float="fast")
    with pytest.raises(ValueError, match="Expected `int8_float=speed` only with `format=tflite` and `quantize=int8`"):
        ExportRequest("onnx", "int8", int8_float="speed")


def test_export_masker_writes_a_verified_report(cifar, tmp_path):
    model, images, ids = cifar
    output = str(tmp_path / "m.onnx")
    report = export_masker(model, output, ExportRequest("onnx", "int8"), images[:32], ids[:32], images[32:], ids[32:],
                           class_names=pretrained.class_names("cifar10"))
    with open(output + ".report.json") as f:
        saved = json.load(f)
    assert saved["request"]["quantize"] == "int8" and saved["num_classes"] == 10
    assert [os.path.basename(f["path"]) for f in report["files"]] == ["m.onnx", "m.int8.onnx"]
    assert report["files"][0]["passed"] and report["files"][0]["max_abs_diff"] <= 1e-4
    assert np.isfinite(report["files"][1]["mean_abs_diff"])  # the head's division stays float


class FakeTensorRT(types.SimpleNamespace):
    """Just enough of the `tensorrt` API to follow `build_engine`'s calls."""

    def __init__(self, version, typed, parse_ok=True):
        calls = []
        flags = types.SimpleNamespace(FP16="FP16", INT8="INT8") if not typed else types.SimpleNamespace()

        class Tensor:
            def __init__(self, name, shape):
                self.name, self.shape = name, shape

        class Network:
            num_inputs = 2

            def get_input(self, i):
                return [Tensor("image", (-1, 32, 32, 3)), Tensor("class_id", (-1,))][i]

        class Parser:
            num_errors = 0 if parse_ok else 1

            def __init__(self, network, logger):
                pass

            def parse_from_file(self, path):
                calls.append(("parse", path))
                return parse_ok

            def get_error(self, i):
                return "Unsupported op Foo"

        class Config:
            def set_memory_pool_limit(self, pool, size):
                calls.append(("workspace", size))

            def set_flag(self, flag):
                calls.append(("flag", flag))

            def add_optimization_profile(self, profile):
                calls.append(("profile", profile.shapes))

        class Profile:
            def __init__(self):
                self.shapes = {}

            def set_shape(self, name, *shapes):
                self.shapes[name] = shapes

        class Builder:
            def __init__(self, logger):
                pass

            def create_network(self, flags):
                calls.append(("network_flags", flags))
                return Network()

            def create_builder_config(self):
                return Config()

            def create_optimization_profile(self):
                return Profile()

            def build_serialized_network(self, network, config):
                return b"engine-bytes"

        super().__init__(
            __version__=version, calls=calls, Builder=Builder, OnnxParser=Parser, BuilderFlag=flags,
            Logger=type("Logger", (), {"WARNING": 1, "ERROR": 2, "__init__": lambda self, level: None}),
            NetworkDefinitionCreationFlag=types.SimpleNamespace(STRONGLY_TYPED=3, EXPLICIT_BATCH=0),
            MemoryPoolType=types.SimpleNamespace(WORKSPACE="workspace"),
        )


@pytest.mark.parametrize("version,typed", [("10.8.0", False), ("11.4.0", True)])
@pytest.mark.parametrize("precision", ["float16", "int8"])
def test_build_engine_with_fake_tensorrt(tmp_path, version, typed, precision):
    trt = FakeTensorRT(version, typed)
    engine = tmp_path / "m.engine"
    info = tensorrt_engine.build_engine("m.onnx", engine, precision, max_batch_size=16, opt_batch_size=4, trt=trt)
    assert engine.read_bytes() == b"engine-bytes"
    assert info["strongly_typed"] is typed
    calls = dict((k, v) for k, v in trt.calls if k != "flag")
    flags = [v for k, v in trt.calls if k == "flag"]
    assert calls["network_flags"] == (1 << 3 if typed else 0)
    # TensorRT 11: the precision is in the ONNX model (no flags); 10: FP16 (+ INT8) flags.
    assert flags == ([] if typed else (["FP16"] if precision == "float16" else ["FP16", "INT8"]))
    assert calls["profile"]["image"] == ((1, 32, 32, 3), (4, 32, 32, 3), (16, 32, 32, 3))
    assert calls["profile"]["class_id"] == ((1,), (4,), (16,))


def test_build_engine_reports_parser_errors(tmp_path):
    with pytest.raises(RuntimeError, match="Unsupported op Foo"):
        tensorrt_engine.build_engine("m.onnx", tmp_path / "m.engine", trt=FakeTensorRT("10.0", False, parse_ok=False))


def test_tensorrt_status_says_what_is_missing(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorrt(name, *args, **kwargs):
        if name == "tensorrt":
            raise ImportError("No module named 'tensorrt'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorrt)
    assert "tensorrt` Python package is not installed" in tensorrt_engine.tensorrt_status()

    class NoGPU(FakeTensorRT):
        pass

    trt = NoGPU("10.0", False)

    def failing_builder(logger):
        raise RuntimeError("CUDA initialization failure with error: 35")

    trt.Builder = failing_builder
    assert "no CUDA GPU" in tensorrt_engine.tensorrt_status(trt)
    assert tensorrt_engine.tensorrt_status(FakeTensorRT("10.0", False)) is None


def test_cli_export_trt_without_tensorrt(tmp_path, monkeypatch):
    """No TensorRT here: the ONNX model is written and verified, one line says what is
    missing, the exit code is 2, no traceback."""
    monkeypatch.setattr(tensorrt_engine, "tensorrt_status", lambda trt=None: "the `tensorrt` Python package is not installed")
    output = str(tmp_path / "cifar10.onnx")
    result = CliRunner().invoke(main, ["export", "cifar10", "--trt", "--verification-images", "8", "--output", output])
    assert result.exit_code == 2, result.output
    assert os.path.exists(output) and not os.path.exists(str(tmp_path / "cifar10.engine"))
    assert "TensorRT engine NOT built: the `tensorrt` Python package is not installed" in result.output
    assert "Traceback" not in result.output
    with open(output + ".report.json") as f:
        report = json.load(f)
    assert report["engine"] == {"built": False, "missing": "the `tensorrt` Python package is not installed"}


@pytest.mark.slow
def test_cli_export_tflite_int8_and_errors(tmp_path):
    from PIL import Image

    folder = tmp_path / "images" / "cls"
    folder.mkdir(parents=True)
    for i, image in enumerate(synthetic_images(32, 24, seed=3)):
        Image.fromarray(image).save(folder / f"{i}.png")
    output = str(tmp_path / "m.tflite")
    result = CliRunner().invoke(main, ["export", "cifar10", "--format", "tflite", "--quantize", "int8",
                                       "--calibration-data", str(tmp_path / "images"), "--calibration-images", "16",
                                       "--verification-images", "8", "--output", output])
    assert result.exit_code == 0, result.output
    assert "| m.tflite | litert | int8 |" in result.output
    result = CliRunner().invoke(main, ["export", "cifar10", "--format", "tflite", "--quantize", "int8", "--output",
                                       str(tmp_path / "other.tflite")])
    assert result.exit_code != 0 and "calibration-data" in result.output
    result = CliRunner().invoke(main, ["export", "cifar10", "--format", "saved_model", "--trt", "--output",
                                       str(tmp_path / "saved")])
    assert result.exit_code != 0 and "Expected --format onnx with --trt" in result.output


@pytest.mark.slow
def test_benchmark_rows_and_files(tmp_path):
    result = CliRunner().invoke(main, ["benchmark", "--model", "cifar10", "--backends", "keras,tflite_float32",
                                       "--batch-sizes", "1,4", "--seconds", "0.2", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    import csv

    with open(tmp_path / "benchmark.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["backend"], r["batch_size"]) for r in rows] == [
        ("gradcam (keras)", "1"), ("gradcam (keras)", "4"), ("keras", "1"), ("keras", "4"),
        ("tflite_float32", "1"), ("tflite_float32", "4")]
    for row in rows[2:]:
        assert float(row["masks_per_s"]) > 0 and float(row["encoder_per_s"]) > 0
        assert float(row["masker_vs_encoder"]) == pytest.approx(float(row["masks_per_s"]) / float(row["encoder_per_s"]))
    config = json.loads((tmp_path / "benchmark_config.json").read_text())
    assert config["backends"] == ["keras", "tflite_float32"] and config["machine"]["cpus"] >= 1
    from keras_saliency.deployment.benchmark import INT8_INSTRUCTIONS

    if os.path.exists("/proc/cpuinfo"):  # the CPU named, and which int8 instructions it has
        assert config["machine"]["cpu"] and set(config["machine"]["int8_instructions"]) <= set(INT8_INSTRUCTIONS)


def test_float_tensor_names_tell_auto_named_layers_apart():
    import keras
    import tensorflow as tf

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv2d")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv2d_1")(x)  # "conv2d" + a TF-like suffix
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="pool")(x))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    known = converters.model_layer_names(model)
    first = converters.float_tensor_names(converter, ["conv2d"], known)
    second = converters.float_tensor_names(converter, ["conv2d_1"], known)
    # TF scopes layer "conv2d" as "conv2d_1" and layer "conv2d_1" as "conv2d_1_2"
    assert first and second and not set(first) & set(second)
    assert all("conv2d_1_2" in n.split("/") for n in second)
    loose = converters.float_tensor_names(converter, ["conv2d_1"])  # without the layer list: both layers
    assert set(first) | set(second) <= set(loose)


@pytest.mark.slow
def test_int8_export_prints_no_converter_lines(tmp_path):
    """The TFLite converter's and LiteRT's own progress lines (C++, on the process's stderr) do not
    reach the user of `export`; its own lines do."""
    import subprocess
    import sys

    pytest.importorskip("ai_edge_litert")
    from PIL import Image

    script = os.path.join(os.path.dirname(sys.executable), "keras-saliency")
    if not os.path.exists(script):
        pytest.skip(f"no console script at {script}")
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    result = subprocess.run([script, "export", "cifar10", "--format", "tflite", "--quantize", "int8",
                             "--calibration-data", str(photos), "--calibration-images", "4", "--verification-images",
                             "2", "--output", str(tmp_path / "c.tflite"), "--allow-failed-verification"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    said = result.stdout + result.stderr
    assert "Wrote c.tflite" in said
    assert "fully_quantize" not in said and "XNNPACK" not in said, said[-2000:]
