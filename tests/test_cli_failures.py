"""The command line under hostile conditions: a fresh install offline, crafted bad files, a full
or read-only disk, missing extras. Each failure is one line on stderr and a non-zero exit, never
a traceback, and nothing is silently overwritten or left half-made. Also: --help loads no
TensorFlow, the defaults of --output, and the standalone runners' --class by name."""

import errno
import os
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from keras_saliency import pretrained
from keras_saliency.cli import DELETION_SUBSTRATES, METHOD_NAMES, main
from keras_saliency.testing import TINY_TAPS, tiny_classifier

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(os.path.dirname(sys.executable), "keras-saliency")
TF_LINES = ("I0000", "W0000", "E0000", "oneDNN", "cuda", "cuInit", "absl::InitializeLog")
# Any import of these inside the runner fails: proves the runners (over keras_saliency.runtime) do without them.
BLOCKED = "import sys; [sys.modules.__setitem__(m, None) for m in ('tensorflow', 'keras', 'tf_keras')]"


def clean_env():
    """The user's environment, without the test suite's TF_CPP_MIN_LOG_LEVEL (a user's own
    setting shows TensorFlow's lines on purpose)."""
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def one_line_error(result, progress_before=False):
    """The CliRunner result failed with one line, "Error: ...", and no traceback (after the
    command's own progress lines when `progress_before`). Returns that line."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert lines and lines[-1].startswith("Error: "), result.output
    assert [line for line in lines if line.startswith("Error")] == lines[-1:], result.output
    if not progress_before:
        assert len(lines) == 1, result.output
    return lines[-1]


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    Image.fromarray(np.full((40, 48, 3), 120, np.uint8)).save(path)
    return str(path)


# --- --help / --version: instant, no TensorFlow, no TensorFlow start-up lines ---------------


def test_help_and_version_load_no_tensorflow_and_are_fast():
    code = (
        "import sys, time; sys.argv = ['keras-saliency'] + sys.argv[1:]\n"
        "from keras_saliency.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sorted(sys.modules)\n"
    )
    for args in (["--help"], ["--version"], ["export", "--help"], ["train", "--help"], ["video", "--help"]):
        result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                                env=clean_env(), timeout=60)
        assert result.returncode == 0, result.stderr
        assert not any(marker in result.stdout + result.stderr for marker in TF_LINES), result.stderr
    if not os.path.exists(SCRIPT):
        pytest.skip(f"no console script at {SCRIPT}")
    for args in (["--help"], ["--version"], ["export", "--help"]):
        start = time.perf_counter()
        result = subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=clean_env(), timeout=60)
        seconds = time.perf_counter() - start
        assert result.returncode == 0 and not result.stderr, result.stderr
        assert seconds < 2.0, f"keras-saliency {' '.join(args)} took {seconds:.1f} s"


def test_a_command_prints_no_tensorflow_startup_lines(photo):
    if not os.path.exists(SCRIPT):
        pytest.skip(f"no console script at {SCRIPT}")
    # loads TensorFlow (the command runs), then refuses the model: one line, nothing else
    result = subprocess.run([SCRIPT, "explain", photo, "--model", "no-such-model"], capture_output=True,
                            text=True, env=clean_env(), timeout=300)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "shipped model name" in lines[0], result.stderr
    assert not any(marker in result.stdout + result.stderr for marker in TF_LINES), result.stderr


def test_help_texts_name_the_models_and_methods():
    text = CliRunner().invoke(main, ["export", "--help"]).output
    assert ", ".join(pretrained.available()) in text.replace("\n  ", " ").replace("\n", " ")
    for command in ("explain", "evaluate", "benchmark", "video"):
        text = CliRunner().invoke(main, [command, "--help"]).output
        assert "available()" not in text and "METHODS" not in text, command
        assert pretrained.available()[0] in text, command
    assert "gradcam" in CliRunner().invoke(main, ["evaluate", "--help"]).output
    text = " ".join(CliRunner().invoke(main, ["video", "--help"]).output.split())
    assert "--trust-savedmodel" in text and "only one you made" in text and ".tflite / .onnx files are data only" in text


def test_method_names_in_the_help_are_the_methods():
    from keras_saliency.methods import METHODS

    assert sorted(METHOD_NAMES) == sorted(METHODS)


def test_deletion_substrates_in_the_help_are_the_metric_s():
    from keras_saliency.evaluation import metrics

    assert DELETION_SUBSTRATES == metrics.DELETION_SUBSTRATES


# --- train: offline, failed starts, default output, the estimate -----------------------------


def test_setup_declares_importlib_resources():
    # tensorflow-datasets 4.9 needs it on Python >= 3.9 and does not declare it
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert "importlib_resources" in project["dependencies"]  # tensorflow-datasets is a core dependency
    import importlib_resources  # noqa: F401  (installed with the package)


@pytest.mark.slow
def test_train_cifar10_offline_fails_fast_in_one_line(tmp_path):
    """The real tensorflow-datasets path (no mocks) up to the download, in a real process."""
    if not os.path.exists(SCRIPT):
        pytest.skip(f"no console script at {SCRIPT}")
    from keras_saliency.data.tfds_sources import download_problem

    if download_problem("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz") is None:
        pytest.skip("CIFAR-10's host answers here: the offline path cannot be tested")
    start = time.perf_counter()
    result = subprocess.run([SCRIPT, "train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "tfds")],
                            capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=120)
    seconds = time.perf_counter() - start
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: could not download CIFAR-10: ")
    assert "use --dataset folder with --data-dir, or --data-dir with a prepared tensorflow-datasets folder" in lines[0]
    assert seconds < 30, f"{seconds:.0f} s"
    assert not os.path.exists(tmp_path / "saliency-runs")  # no run folder left behind


def test_tfds_dataset_without_imagenet_archives_says_so(tmp_path):
    from keras_saliency.data.tfds_sources import DatasetUnavailable, tfds_dataset

    with pytest.raises(DatasetUnavailable, match="no ILSVRC2012 archives"):
        tfds_dataset("imagenet2012", 64, 4, data_dir=str(tmp_path / "tfds"), manual_dir=str(tmp_path / "none"))


def test_a_failed_start_leaves_no_run_folder(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["train", "--dataset", "folder", "--data-dir", str(empty),
                                       "--output", str(tmp_path / "run")])
    assert result.exit_code != 0 and "Expected class subfolders" in result.output
    assert not os.path.exists(tmp_path / "run")
    monkeypatch.chdir(tmp_path)  # the default output
    result = CliRunner().invoke(main, ["train", "--dataset", "folder", "--data-dir", str(empty)])
    assert result.exit_code != 0 and not os.path.exists(tmp_path / "saliency-runs")


@pytest.mark.slow
def test_train_default_output_and_estimate(tmp_path, image_folder, monkeypatch):
    classifier = str(tmp_path / "clf.keras")
    tiny_classifier(width=8).save(classifier)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main, ["train", "--dataset", "folder", "--data-dir", image_folder, "--classifier", classifier,
               "--tap-layers", ",".join(TINY_TAPS), "--epochs", "4", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    runs = os.listdir(tmp_path / "saliency-runs")
    assert len(runs) == 1 and runs[0].startswith("folder-20"), runs
    output = os.path.join("saliency-runs", runs[0])
    assert f"Run folder: {output}" in result.output
    assert os.path.exists(os.path.join(output, "model.keras"))
    estimate = [line for line in result.output.splitlines() if line.startswith("Masker training: about")]
    assert len(estimate) == 1 and "on this machine (an estimate" in estimate[0], result.output
    assert "x 24 steps = 4 epochs x 6 steps of 8 images" in estimate[0]  # 44 training images / 8


def test_train_rejects_a_bad_classifier_file_in_one_line(tmp_path, image_folder):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip at all")
    result = CliRunner().invoke(main, ["train", "--dataset", "folder", "--data-dir", image_folder,
                                       "--classifier", str(bad), "--output", str(tmp_path / "run")])
    assert "could not load the classifier" in one_line_error(result, progress_before=True)
    assert not os.path.exists(tmp_path / "run")


def test_train_rejects_unknown_tap_layers_in_one_line(tmp_path, image_folder):
    classifier = str(tmp_path / "clf.keras")
    tiny_classifier(width=8).save(classifier)
    result = CliRunner().invoke(main, ["train", "--dataset", "folder", "--data-dir", image_folder,
                                       "--classifier", classifier, "--tap-layers", "no_such_layer",
                                       "--output", str(tmp_path / "run")])
    assert "no_such_layer" in one_line_error(result, progress_before=True)
    assert not os.path.exists(tmp_path / "run")


# --- model files: every rejection is one line ---------------------------------------------


def _crafted_models(root):
    """name -> path of files that are not a usable masker."""
    import keras

    models = {}
    models["garbage"] = root / "garbage.keras"
    models["garbage"].write_bytes(os.urandom(256))
    models["no_config"] = root / "no_config.keras"
    with zipfile.ZipFile(models["no_config"], "w") as archive:
        archive.writestr("metadata.json", "{}")
    models["bad_config"] = root / "bad_config.keras"
    with zipfile.ZipFile(models["bad_config"], "w") as archive:
        archive.writestr("config.json", '{"class_name": "NoSuchLayer", "config": {}}')
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
    inputs = keras.Input((32, 32, 3))
    lambda_model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    models["lambda"] = root / "lambda.keras"
    lambda_model.save(models["lambda"])  # Python code in the file: safe mode refuses it
    models["classifier"] = root / "classifier.keras"
    tiny_classifier(width=4).save(models["classifier"])  # a model, but no masker
    models["folder"] = root / "saved_model_dir"
    models["folder"].mkdir()
    return {name: str(path) for name, path in models.items()}


def test_every_model_loading_rejection_is_one_line(tmp_path, photo):
    for name, path in _crafted_models(tmp_path).items():
        result = CliRunner().invoke(main, ["explain", photo, "--model", path, "--output", str(tmp_path / "out")])
        line = one_line_error(result)
        assert path in line, (name, line)
        if name == "classifier":
            assert "Expected a masker saved by keras-saliency" in line
    # a valid masker with a broken run_config.json next to it
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(os.path.join(os.path.dirname(pretrained.__file__), "cifar10.keras"), folder / "model.keras")
    (folder / "run_config.json").write_text("{not json")
    result = CliRunner().invoke(main, ["explain", photo, "--model", str(folder / "model.keras")])
    assert "run_config.json" in one_line_error(result)


def test_video_rejects_a_bad_export_in_one_line(tmp_path):
    pytest.importorskip("ai_edge_litert")
    cv2 = pytest.importorskip("cv2")
    clip = str(tmp_path / "clip.mp4")
    writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"mp4v"), 10, (32, 32))
    for _ in range(3):
        writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.release()
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    result = CliRunner().invoke(main, ["video", clip, "--runtime", str(bad), "--class", "cat",
                                       "--output", str(tmp_path / "out.mp4")])
    assert "could not load the exported model" in one_line_error(result)


# --- a full, read-only or forbidden disk ------------------------------------------------------


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_full_disk_is_one_line(tmp_path):
    solution = tmp_path / "LOC_val_solution.csv"
    solution.write_text("ImageId,PredictionString\nILSVRC2012_val_00000001,n01751748 10 20 100 200\n")
    result = CliRunner().invoke(main, ["convert-boxes", str(solution), "--output", "/dev/full"])
    line = one_line_error(result)
    assert "No space left on device" in line and "free some space" in line


@pytest.mark.parametrize("number, advice", [(errno.EROFS, "read-only"), (errno.ENOSPC, "free some space"),
                                            (errno.EACCES, "permission denied")])
def test_disk_errors_while_explaining_are_one_line(tmp_path, photo, monkeypatch, number, advice):
    import keras_saliency.explain.files

    def fail(*args, **kwargs):
        raise OSError(number, os.strerror(number), str(tmp_path / "out" / "x_saliency.png"))

    monkeypatch.setattr(keras_saliency.explain.files, "explain_files", fail)
    result = CliRunner().invoke(main, ["explain", photo, "--output", str(tmp_path / "out")])
    line = one_line_error(result)
    assert os.strerror(number) in line and advice in line and "x_saliency.png" in line


def test_tensorflow_file_errors_while_training_are_one_line(tmp_path, image_folder, monkeypatch):
    import tensorflow as tf

    from keras_saliency.training import fit as training

    classifier = str(tmp_path / "clf.keras")
    tiny_classifier(width=8).save(classifier)

    def fail(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "run/backup/checkpoint; No space left on device")

    monkeypatch.setattr(training, "save_run_config", fail)
    result = CliRunner().invoke(main, ["train", "--dataset", "folder", "--data-dir", image_folder,
                                       "--classifier", classifier, "--tap-layers", ",".join(TINY_TAPS),
                                       "--steps-per-epoch", "1", "--output", str(tmp_path / "run")])
    assert "No space left on device; the disk is full" in one_line_error(result, progress_before=True)


# --- export ----------------------------------------------------------------------------------


def test_export_needs_a_model_and_refuses_to_overwrite(tmp_path):
    result = CliRunner().invoke(main, ["export", "--format", "tflite"])
    assert result.exit_code == 2 and "Missing argument 'MODEL'" in result.output
    existing = tmp_path / "x.tflite"
    existing.write_bytes(b"keep me")
    result = CliRunner().invoke(main, ["export", "cifar10", "--format", "tflite", "--output", str(existing)])
    assert result.exit_code == 2 and "--overwrite" in one_line_error(result)
    assert existing.read_bytes() == b"keep me"
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, ["export", "cifar10", "--format", "saved_model", "--output", str(folder)])
    assert result.exit_code == 2 and "not an empty folder" in one_line_error(result)
    result = CliRunner().invoke(main, ["export", "cifar10", "--output", str(tmp_path / "x.engine")])
    assert result.exit_code == 2 and "Expected --trt" in one_line_error(result)
    result = CliRunner().invoke(main, ["export", "cifar10", "--format", "tflite", "--output", str(tmp_path / "x.onnx")])
    assert result.exit_code == 2 and "ending in .tflite" in one_line_error(result)


@pytest.mark.parametrize("args", [["--output", "x.onnx"], ["--trt", "--output", "x.engine"]])
def test_export_without_the_export_extra_says_how_to_install_it(tmp_path, monkeypatch, args):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)  # as if not installed
    result = CliRunner().invoke(main, ["export", "cifar10", *args[:-1], str(tmp_path / args[-1])])
    assert result.exit_code == 2
    assert 'install the export extra: pip install "keras-saliency[export]" (from a clone: pip install ".[export]")' \
        in one_line_error(result)
    assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_export_default_output_and_failed_verification(tmp_path, monkeypatch):
    pytest.importorskip("ai_edge_litert")
    from keras_saliency.deployment import verification

    monkeypatch.setattr(verification, "parity_goals", lambda figures, quantize: {"max_abs_diff": False})
    monkeypatch.chdir(tmp_path)
    args = ["export", "cifar10", "--format", "tflite", "--verification-images", "8"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 3, result.output
    assert "missed its parity goals" in result.output and "--allow-failed-verification" in result.output
    path = tmp_path / "saliency-exports" / "cifar10.tflite"
    assert path.exists() and (tmp_path / "saliency-exports" / "cifar10.tflite.report.json").exists()
    assert "Exporting cifar10 (tflite, float32) to saliency-exports/cifar10.tflite" in result.output
    result = CliRunner().invoke(main, args)  # the file exists now
    assert result.exit_code == 2 and "--overwrite" in result.output
    result = CliRunner().invoke(main, args + ["--overwrite", "--allow-failed-verification"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def onnx_export(tmp_path_factory):
    """`export cifar10 --trt --output DIR/cifar10.engine`: without TensorRT the ONNX model is
    written next to the engine's path and the command exits 2."""
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    root = tmp_path_factory.mktemp("onnx_export")
    result = CliRunner().invoke(main, ["export", "cifar10", "--trt", "--verification-images", "8",
                                       "--output", str(root / "cifar10.engine")])
    return root, result


def test_export_trt_accepts_an_engine_output(onnx_export):
    root, result = onnx_export
    from keras_saliency.deployment import tensorrt_engine

    assert os.path.exists(root / "cifar10.onnx") and os.path.exists(root / "cifar10.onnx.report.json")
    if tensorrt_engine.tensorrt_status():  # no TensorRT / GPU here: exit 2 after the ONNX model
        assert result.exit_code == 2 and "TensorRT engine NOT built" in result.output
    else:
        assert result.exit_code == 0 and os.path.exists(root / "cifar10.engine"), result.output


def run_runner(script, *args):
    code = f"{BLOCKED}; import runpy; sys.argv = {[script] + list(args)!r}; runpy.run_path({script!r}, run_name='__main__')"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_onnx_runner_takes_class_names(onnx_export, photo, tmp_path):
    root, _ = onnx_export
    runner = os.path.join(ROOT, "export", "onnx_runner.py")
    result = run_runner(runner, str(root / "cifar10.onnx"), photo, "--class", "cat", "--output", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a" / "masks.csv").read_text().splitlines()[1].split(",")[1] == "3"  # cat is class 3
    result = run_runner(runner, str(root / "cifar10.onnx"), photo, "--class", "unicorn", "--output", str(tmp_path / "b"))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert lines[-1].startswith("Error: Expected a class id or one of the model's 10 class names")
    assert "Received: --class unicorn" in lines[-1]
    result = run_runner(runner, str(root / "cifar10.onnx"), photo, "--class", "12", "--output", str(tmp_path / "c"))
    assert result.returncode != 0 and "Expected a class id in [0, 10)" in result.stderr
    # a model without its report: names cannot be resolved, one line
    bare = tmp_path / "bare.onnx"
    shutil.copy(root / "cifar10.onnx", bare)
    result = run_runner(runner, str(bare), photo, "--class", "cat", "--output", str(tmp_path / "d"))
    assert result.returncode != 0 and "Traceback" not in result.stderr and "no class names" in result.stderr


# --- notebook 02: no ImageNet, "Run all" goes on ------------------------------------------------


def test_notebook_imagenet_cell_skips_without_imagenet(tmp_path, monkeypatch, capsys):
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(os.path.join(ROOT, "notebooks", "02_train_your_own.ipynb"), as_version=4)
    [cell] = [c for c in notebook.cells if c.cell_type == "code" and "imagenet2012" in c.source]
    monkeypatch.setenv("IMAGENET_DIR", str(tmp_path / "no-imagenet"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    import keras
    import tensorflow as tf

    from keras_saliency.data import tfds_dataset
    from keras_saliency import SaliencyModel

    scope = {"os": os, "keras": keras, "tf": tf, "tfds_dataset": tfds_dataset, "FAST": True,
             "SaliencyModel": SaliencyModel}
    exec(cell.source, scope)
    assert "Skipping part 2 (no ImageNet data): no ILSVRC2012 archives" in capsys.readouterr().out
    assert scope["imagenet"] is None and "imagenet_model" not in scope
