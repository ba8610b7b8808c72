"""The runners in export/ (over `keras_saliency.runtime`) run exported models without TensorFlow
or Keras, on images, folders and videos; `keras-saliency video` writes overlay videos."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from keras_saliency import pretrained
from keras_saliency.cli import main
from keras_saliency.deployment.export import ExportRequest, export_masker, predicted_classes, synthetic_images
from keras_saliency.testing import square_images

cv2 = pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")

EXPORT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "export")
# Any import of these inside the runner fails: proves the runners do without them.
BLOCKED = "import sys; [sys.modules.__setitem__(m, None) for m in ('tensorflow', 'keras', 'tf_keras', 'matplotlib')]"


def run_runner(script, *args):
    code = f"{BLOCKED}; import runpy; sys.argv = {[script] + list(args)!r}; runpy.run_path({script!r}, run_name='__main__')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("runner_models")
    model = pretrained.load("cifar10")
    images = synthetic_images(32, 40, seed=2).astype("float32")
    ids = predicted_classes(model, images)
    paths = {}
    for name, request in [("int8.tflite", ExportRequest("tflite", "int8")), ("masker.onnx", ExportRequest("onnx"))]:
        paths[name] = str(root / name)
        export_masker(model, paths[name], request, images[:32], ids[:32], images[32:], ids[32:],
                      class_names=pretrained.class_names("cifar10"))
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("runner_inputs")
    folder = root / "images"
    folder.mkdir()
    images, _, _ = square_images(5, image_size=48, seed=0)
    for i, image in enumerate(images.astype(np.uint8)):
        Image.fromarray(image).save(folder / f"img{i}.png")
    video = str(root / "clip.mp4")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(12):
        frame = np.full((48, 64, 3), 90, np.uint8)
        frame[10:26, 2 * i : 2 * i + 16] = (0, 0, 255)
        writer.write(frame)
    writer.release()
    return {"folder": str(folder), "video": video}


def test_litert_runner_on_a_folder(models, inputs, tmp_path):
    out = run_runner(os.path.join(EXPORT_DIR, "litert_runner.py"), models["int8.tflite"], inputs["folder"],
                     "--class", "auto", "--output", str(tmp_path))
    assert "5 images" in out and "masks/s" in out
    masks = np.load(tmp_path / "masks.npy")
    assert masks.shape == (5, 16, 16) and 0 <= masks.min() and masks.max() <= 1
    assert sorted(os.listdir(tmp_path)) == sorted([f"img{i}_mask.png" for i in range(5)] + ["masks.csv", "masks.npy"])
    lines = (tmp_path / "masks.csv").read_text().splitlines()
    assert lines[0] == "file,class_id,exists,mean_mask" and len(lines) == 6


def test_a_classifying_export_names_the_classes_in_one_pass_without_tensorflow(models, inputs, tmp_path):
    """The float ONNX export of the shipped CIFAR-10 masker classifies too: `--class auto` explains
    the classifier's top-1 class and the runner prints each image's top classes by name."""
    import json

    with open(models["masker.onnx"] + ".report.json") as f:
        report = json.load(f)
    assert report["classify"] and report["outputs"] == ["mask", "exists", "logits", "explained_class"]
    out = run_runner(os.path.join(EXPORT_DIR, "onnx_runner.py"), models["masker.onnx"], inputs["folder"],
                     "--class", "auto", "--output", str(tmp_path))
    names = pretrained.class_names("cifar10")
    printed = [line for line in out.splitlines() if line.startswith("img")]
    assert len(printed) == 5 and all(line.split(": ")[1].split(" (")[0] in names for line in printed)
    lines = (tmp_path / "masks.csv").read_text().splitlines()
    assert lines[0] == "file,class_id,exists,mean_mask,top_classes" and len(lines) == 6


def test_onnx_runner_on_a_video(models, inputs, tmp_path):
    output = str(tmp_path / "overlay.mp4")
    out = run_runner(os.path.join(EXPORT_DIR, "onnx_runner.py"), models["masker.onnx"], inputs["video"],
                     "--class", "3", "--output", output)
    assert "12 frames" in out and "frames/s" in out
    capture = cv2.VideoCapture(output)
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    ok, frame = capture.read()
    assert ok and frame.shape == (48, 64, 3)


def test_runners_import_neither_tensorflow_nor_keras():
    runtime_dir = os.path.join(os.path.dirname(EXPORT_DIR), "keras_saliency", "runtime")
    sources = [os.path.join(EXPORT_DIR, f"{name}_runner.py") for name in ("litert", "onnx", "trt")]
    sources += [os.path.join(runtime_dir, name) for name in os.listdir(runtime_dir) if name.endswith(".py")]
    for path in sources:
        source = open(path).read()
        assert not re.search(r"^\s*(import|from)\s+(tensorflow|keras|matplotlib)\b", source, re.M), path
        # Inside the package, the runtime only imports itself (the rest needs Keras).
        for module in re.findall(r"^\s*(?:import|from)\s+(keras_saliency[\w.]*)", source, re.M):
            assert module.startswith("keras_saliency.runtime") or module == "keras_saliency.flags", (path, module)
    for name in ("litert", "onnx", "trt"):
        assert os.path.exists(os.path.join(EXPORT_DIR, f"requirements-{name}.txt"))
    assert not os.path.exists(os.path.join(EXPORT_DIR, "common.py"))  # one copy: keras_saliency.runtime


def test_the_runtime_imports_and_runs_without_tensorflow_or_keras(models, inputs):
    code = f"""{BLOCKED}
import numpy as np
import keras_saliency
import keras_saliency.runtime as rt
runtime = rt.load_runtime({models["masker.onnx"]!r}, batch_size=2)
files = rt.find_images([{inputs["folder"]!r}])
images = np.stack([rt.read_image(f, runtime.image_size)[1] for f in files])
outputs = runtime(images, [rt.resolve_class("cat", rt.load_metadata({models["masker.onnx"]!r})["class_names"])] * 5)
assert outputs["mask"].shape == (5, 16, 16, 1) and outputs["exists"].shape == (5,), outputs
assert rt.overlay(images[0], outputs["mask"][0, ..., 0]).shape == images[0].shape
assert not [m for m in sys.modules if m.startswith("keras_saliency.")
            and not m.startswith(("keras_saliency.runtime", "keras_saliency.flags"))]
try:
    keras_saliency.SaliencyModel
except ImportError:
    pass
else:
    raise AssertionError("SaliencyModel without Keras")
print("ok", rt.load_runtime({models["int8.tflite"]!r}).image_size)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == ["ok", "32"]


def test_cli_video_with_keras_and_an_export(models, inputs, tmp_path):
    output = str(tmp_path / "keras.mp4")
    result = CliRunner().invoke(main, ["video", inputs["video"], "--model", "cifar10", "--max-frames", "10",
                                       "--batch-size", "4", "--output", output])
    assert result.exit_code == 0, result.output
    assert "10 frames" in result.output
    assert int(cv2.VideoCapture(output).get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    assert os.path.exists(str(tmp_path / "keras_config.json"))
    output = str(tmp_path / "tflite.mp4")
    result = CliRunner().invoke(main, ["video", inputs["video"], "--runtime", models["int8.tflite"],
                                       "--class", "cat", "--output", output])
    assert result.exit_code == 0, result.output
    assert int(cv2.VideoCapture(output).get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    result = CliRunner().invoke(main, ["video", inputs["video"], "--runtime", models["int8.tflite"], "--output", output])
    assert result.exit_code != 0 and "give --class" in result.output
    result = CliRunner().invoke(main, ["video", "--output", output])
    assert result.exit_code != 0 and "video file or --camera" in result.output


def test_a_damaged_export_that_still_runs_is_one_line_not_nan_masks(models, tmp_path, inputs):
    """Flipped weight bytes can leave a file that loads and runs but answers NaN: the runners and
    `video --runtime` say the file is damaged (exit status 1, one line) instead of writing NaN masks
    (and `export` itself refuses to verify such a model)."""
    import shutil

    from keras_saliency.deployment import export_tflite

    model = pretrained.load("cifar10")
    layer = [x for x in model.masker.layers if x.weights and x is not model.masker.encoder][-1]
    layer.weights[-1].assign(np.full(layer.weights[-1].shape, np.nan, "float32"))
    path = export_tflite(model.masker, str(tmp_path / "damaged.tflite"))  # the converter, unverified
    shutil.copy(models["masker.onnx"] + ".report.json", path + ".report.json")  # its class names
    runner = os.path.join(EXPORT_DIR, "litert_runner.py")
    argv = [runner, path, inputs["folder"], "--class", "cat", "--output", str(tmp_path / "out")]
    code = f"{BLOCKED}; import runpy; sys.argv = {argv!r}; runpy.run_path({runner!r}, run_name='__main__')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "the file is damaged" in result.stderr.strip().splitlines()[-1]
    result = CliRunner().invoke(main, ["video", inputs["video"], "--runtime", path, "--class", "cat",
                                       "--output", str(tmp_path / "v.mp4")])
    assert result.exit_code == 1 and "the file is damaged" in result.output, result.output
