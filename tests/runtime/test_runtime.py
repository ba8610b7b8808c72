"""keras_saliency.runtime: class names from an export's report, `--class` values, overlays and the
runtime chosen by suffix (the runners themselves: tests/test_runners.py)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_saliency.runtime import jet, load_metadata, load_runtime, overlay, resolve_class
from keras_saliency.runtime.images import IMAGE_EXTENSIONS

NAMES = ["airplane", "Cat", "goldfish, Carassius auratus"]


def test_resolve_class_by_id_and_by_name():
    assert resolve_class("auto", NAMES) == "auto"
    assert resolve_class("2", NAMES) == 2
    assert resolve_class("Cat", NAMES) == 1 and resolve_class("cat", NAMES) == 1
    assert resolve_class("Goldfish", NAMES) == 2
    assert resolve_class("7", None, num_classes=10) == 7
    with pytest.raises(ValueError, match=r"Expected a class id in \[0, 3\)\. Received: `class_name=3`"):
        resolve_class("3", NAMES)
    with pytest.raises(ValueError, match="one of the model's 3 class names"):
        resolve_class("dog", NAMES)
    with pytest.raises(ValueError, match="no class names"):
        resolve_class("dog")
    cranes = ["crane, bird", "cat", "crane, machine"]  # ImageNet has two classes called crane
    with pytest.raises(ValueError, match="Received: `class_name=crane`, which names classes 0, 2 \\(give the id\\)"):
        resolve_class("crane", cranes)
    assert resolve_class("crane, machine", cranes) == 2


def test_metadata_comes_from_the_report_next_to_the_model(tmp_path):
    report = {"num_classes": 3, "class_names": NAMES}
    (tmp_path / "m.onnx.report.json").write_text(json.dumps(report))
    assert load_metadata(tmp_path / "m.onnx") == report
    assert load_metadata(str(tmp_path / "m.float16.engine")) == report  # an engine: its ONNX model's report
    assert load_metadata(tmp_path / "other.tflite") == {}
    (tmp_path / "bad.tflite.report.json").write_text("{")
    with pytest.raises(ValueError, match="Expected a readable JSON report"):
        load_metadata(tmp_path / "bad.tflite")


def test_overlay_resizes_the_mask_to_the_image():
    assert jet(np.array([0.0, 1.0])).tolist() == [[0, 0, 127], [127, 0, 0]]
    image = np.full((20, 30, 3), 100, np.uint8)
    picture = overlay(image, np.ones((5, 5), np.float32))
    assert picture.shape == (20, 30, 3) and picture.dtype == np.uint8
    assert picture[..., 0].min() > picture[..., 2].max()  # red where the mask is 1


def test_load_runtime_names_the_suffixes():
    with pytest.raises(ValueError, match=r"Expected an exported file ending in \['.engine', '.onnx'"):
        load_runtime("model.pb")
    assert ".webp" in IMAGE_EXTENSIONS


@pytest.mark.slow
def test_importing_the_package_still_registers_the_custom_objects():
    """With Keras installed, `import keras_saliency` alone lets Keras load a saved masker (the
    runtime-only install skips that: tests/test_runners.py)."""
    import keras_saliency

    path = os.path.join(os.path.dirname(keras_saliency.__file__), "pretrained", "cifar10.keras")
    code = ("import keras_saliency, keras; "
            f"model = keras.saving.load_model({path!r}); print(type(model).__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-1] == "SaliencyModel"
