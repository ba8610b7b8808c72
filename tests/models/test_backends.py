"""The model on every Keras backend: `fit` with the classifier frozen, `explain` / `predict`, input
checks, and `.keras` files that cross backends. CI runs this module on TensorFlow and on JAX
(`KERAS_BACKEND=jax pytest -m backends`)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_saliency.models.model import SaliencyModel
from keras_saliency.testing import TINY_TAPS, patch_images, tiny_classifier

pytestmark = pytest.mark.backends
BACKEND = keras.backend.backend()
SIZE = 32


@pytest.fixture(scope="module")
def data():
    images, labels, _ = patch_images(48, seed=0)
    return images.astype("float32"), labels.astype("int32")


@pytest.fixture(scope="module")
def trained(data):
    images, labels = data
    classifier = tiny_classifier()
    model = SaliencyModel.from_classifier(classifier, tap_layers=TINY_TAPS, seed=0)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.classifier.weights]
    model.compile()
    history = model.fit(images, labels, epochs=2, batch_size=16, verbose=0)
    return model, before, history.history


def test_fit_trains_the_masker_and_leaves_the_classifier_bit_identical(trained):
    model, before, history = trained
    after = [keras.ops.convert_to_numpy(w) for w in model.classifier.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert np.isfinite(history["loss"]).all() and len(history["loss"]) == 2
    assert {"area", "preserver", "destroyer", "exists_accuracy"} <= set(history)


def test_explain_predict_and_evaluate(trained, data):
    model, _, _ = trained
    images, labels = data
    out = model.explain(images[:5], labels[:5], batch_size=2)
    assert out["mask"].shape == (5, SIZE, SIZE, 1) and out["exists"].shape == (5,)
    assert 0.0 <= out["mask"].min() and out["mask"].max() <= 1.0
    np.testing.assert_allclose(model.predict((images[:5], labels[:5]), verbose=0), out["mask"], atol=1e-5)
    predicted = model.explain(images[:3])["mask"]  # the classifier's own classes
    assert predicted.shape == (3, SIZE, SIZE, 1)
    scores = model.evaluate(images, labels, verbose=0, return_dict=True)
    assert np.isfinite(scores["loss"])


def test_predict_on_a_dataset_runs_the_traced_step(trained, data):
    import tensorflow as tf

    model, _, _ = trained
    images, labels = data
    dataset = tf.data.Dataset.from_tensor_slices((images[:6], labels[:6])).batch(4)
    masks = model.predict(dataset, verbose=0)
    np.testing.assert_allclose(masks, model.explain(images[:6], labels[:6])["mask"], atol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch((images[:2], labels[:2])), masks[:2], atol=1e-5)


def test_a_tf_data_pipeline_feeds_fit(data):
    import tensorflow as tf

    images, labels = data
    model = SaliencyModel.from_classifier(tiny_classifier(), tap_layers=TINY_TAPS, seed=1)
    model.compile()
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)
    history = model.fit(dataset, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_bad_inputs_are_refused_before_running(trained, data):
    model, _, _ = trained
    images, labels = data
    with pytest.raises(ValueError, match=r"Expected class_ids in \[0, 4\)\. Received: class_ids=\[7\]"):
        model.explain(images[:2], np.array([0, 7]))
    with pytest.raises(ValueError, match=r"Expected class_ids in \[0, 4\)"):
        model((keras.ops.convert_to_tensor(images[:2]), keras.ops.convert_to_tensor(np.array([0, 7]))))
    with pytest.raises(ValueError, match="Expected finite pixel values"):
        model.explain(np.full((1, SIZE, SIZE, 3), np.nan, "float32"))


@pytest.mark.skipif(BACKEND != "jax", reason="a traced JAX call: JAX only")
def test_a_traced_jax_call_of_invalid_inputs_gives_nan(trained, data):
    import jax

    model, _, _ = trained
    images, labels = data
    values = [v.value for v in model.variables]

    def call(values, x, ids):
        with keras.StatelessScope(state_mapping=list(zip(model.variables, values))):
            return model((x, ids))

    traced = jax.jit(call)
    good = np.asarray(traced(values, images[:4], labels[:4]))
    np.testing.assert_allclose(good, model.predict((images[:4], labels[:4]), verbose=0), atol=1e-5)
    assert np.isnan(np.asarray(traced(values, images[:4], np.array([0, 1, 2, 9], "int32")))).all()


@pytest.mark.skipif(BACKEND == "tensorflow", reason="the refusals are for the other backends")
def test_tensorflow_only_work_says_so_in_one_line(tmp_path):
    from keras_saliency.deployment.export_files import check_export
    from keras_saliency.training.distribute import make_strategy

    with pytest.raises(ValueError, match="Expected the TensorFlow backend for export.*run it again with KERAS_BACKEND=tensorflow"):
        check_export(str(tmp_path / "masker.keras"), "onnx")
    with pytest.raises(ValueError, match="Expected the TensorFlow backend for the tf.distribute strategy .mirrored."):
        make_strategy("mirrored")


_LOAD = """
import json, sys
import numpy as np
import keras
from keras_saliency.models.files import load_model_file
model = load_model_file(sys.argv[1])
images = np.load(sys.argv[2])
out = model.explain(images, np.load(sys.argv[3]))
np.save(sys.argv[4], out["mask"])
print(json.dumps({"backend": keras.backend.backend(), "torch loaded": "torch" in sys.modules}))
"""


def _installed(backend):
    import importlib.util

    return importlib.util.find_spec(backend) is not None


OTHERS = [b for b in ("tensorflow", "jax", "torch") if b != BACKEND and _installed(b)]


@pytest.mark.parametrize("other", OTHERS)
def test_a_saved_masker_gives_the_same_masks_on_another_backend(trained, data, tmp_path, other):
    """A `.keras` masker trained here (its optimizer state too) loads on every other installed
    backend with the same masks (max difference <= 1e-4)."""
    model, _, _ = trained
    images, labels = data
    path = tmp_path / "masker.keras"
    model.save(path)
    np.save(tmp_path / "images.npy", images[:8])
    np.save(tmp_path / "labels.npy", labels[:8])
    env = dict(os.environ, KERAS_BACKEND=other, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", _LOAD, str(path), str(tmp_path / "images.npy"), str(tmp_path / "labels.npy"),
         str(tmp_path / "masks.npy")],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # a file saved on PyTorch never loads PyTorch elsewhere (its optimizer is saved under torch's module)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"backend": other, "torch loaded": other == "torch"}
    here = model.explain(images[:8], labels[:8])["mask"]
    there = np.load(tmp_path / "masks.npy")
    assert np.abs(here - there).max() <= 1e-4
    assert here.std() > 0  # not a constant mask on both sides
