"""Bad inputs to `SaliencyModel.predict` / `call` raise "Expected ... Received ..." instead of
returning silently wrong masks: eagerly (`ValueError`, before any computation) and traced
(`tf.function`, datasets: in-graph assertions raising `InvalidArgumentError`)."""

import re

import numpy as np
import pytest

import keras
import tensorflow as tf

from keras_saliency.models.masker import Masker
from keras_saliency.testing import TINY_TAPS, patch_images, tiny_classifier
from keras_saliency.models.model import SaliencyModel

NUM_CLASSES = 4
SIZE = 32

IMAGES, LABELS, _ = patch_images(6, image_size=SIZE, num_classes=NUM_CLASSES, seed=0)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return SaliencyModel.from_classifier(tiny_classifier(NUM_CLASSES, SIZE, width=4), tap_layers=TINY_TAPS, seed=0)


def _nan_images():
    images = IMAGES[:2].copy()
    images[1, 3, 4, 0] = np.nan
    return images


def _inf_images():
    images = IMAGES[:2].copy()
    images[0, 0, 0, 2] = -np.inf
    return images


CLASS_ERROR = r"Expected class_ids in \[0, 4\)\. Received: class_ids=\["
IMAGE_ERROR = r"Expected images of shape \(N, 32, 32, 3\) \(N >= 1 RGB images at the model input size\)\. Received"

# (name, images, class_ids, message of the error)
BAD_INPUTS = [
    ("negative id", IMAGES[:2], np.array([1, -1]), CLASS_ERROR),
    ("id = num_classes", IMAGES[:2], np.array([4, 0]), CLASS_ERROR),
    ("id 10", IMAGES[:2], np.array([10, 10]), CLASS_ERROR),
    ("int64 2**32 + 3 (3 once wrapped)", IMAGES[:2], np.array([2**32 + 3, 1], np.int64), CLASS_ERROR),
    ("uint64 2**63", IMAGES[:2], np.array([2**63, 1], np.uint64), CLASS_ERROR),
    ("float id 3.7", IMAGES[:2], np.array([3.7, 1.0]), "Expected integer class_ids"),
    ("whole float id 3.0", IMAGES[:2], np.array([3.0, 1.0], np.float32), "Expected integer class_ids"),
    ("bool ids", IMAGES[:2], np.array([True, False]), "Expected integer class_ids"),
    ("ids (N, 2)", IMAGES[:2], np.zeros((2, 2), np.int32), r"Expected class_ids of shape \(N,\) or \(N, 1\)"),
    ("scalar id", IMAGES[:1], np.int32(1), r"Expected class_ids of shape \(N,\) or \(N, 1\)"),
    ("more images than ids", IMAGES[:3], LABELS[:2], r"Expected one class id per image \(3 images\)\. Received: 2"),
    ("more ids than images", IMAGES[:2], LABELS[:3], r"Expected one class id per image \(2 images\)\. Received: 3"),
    ("64x64 images", np.zeros((2, 64, 64, 3), np.float32), LABELS[:2], IMAGE_ERROR),
    ("16x32 images", np.zeros((2, 16, 32, 3), np.float32), LABELS[:2], IMAGE_ERROR),
    ("1-channel images", IMAGES[:2, ..., :1], LABELS[:2], IMAGE_ERROR),
    ("4-channel images", np.concatenate([IMAGES[:2], IMAGES[:2, ..., :1]], -1), LABELS[:2], IMAGE_ERROR),
    ("one image without batch axis", IMAGES[0], LABELS[:1], IMAGE_ERROR),
    ("empty batch", IMAGES[:0], LABELS[:0], IMAGE_ERROR),
    ("NaN pixel", _nan_images(), LABELS[:2], "Expected finite pixel values. Received: 1 NaN"),
    ("inf pixel", _inf_images(), LABELS[:2], "Expected finite pixel values"),
    ("bool images", IMAGES[:2] > 100, LABELS[:2], "Expected images of a numeric dtype"),
    ("string images", np.full((2, 32, 32, 3), "a"), LABELS[:2], "Expected images of a numeric dtype"),
]
IDS = [case[0] for case in BAD_INPUTS]


@pytest.mark.parametrize("name, images, class_ids, message", BAD_INPUTS, ids=IDS)
def test_predict_refuses_bad_inputs_before_running(model, monkeypatch, name, images, class_ids, message):
    model.predict((IMAGES[:2], LABELS[:2]), verbose=0)  # traced once already: no stale trace helps
    calls = []
    monkeypatch.setattr(Masker, "__call__", lambda *a, **k: calls.append(1))
    with pytest.raises(ValueError, match=message) as info:
        model.predict((images, class_ids), verbose=0)
    assert "\n" not in str(info.value)
    assert not calls  # raised before any computation
    if not isinstance(class_ids, np.ndarray) or class_ids.ndim:
        with pytest.raises(ValueError, match=message):
            model.predict({"image": images, "class_id": class_ids}, verbose=0)


@pytest.mark.parametrize("name, images, class_ids, message", BAD_INPUTS, ids=IDS)
def test_eager_call_refuses_bad_inputs_before_running(model, monkeypatch, name, images, class_ids, message):
    calls = []
    monkeypatch.setattr(Masker, "__call__", lambda *a, **k: calls.append(1))
    with pytest.raises(ValueError, match=message):
        model((images, class_ids))
    assert not calls


TRACED = [case for case in BAD_INPUTS if case[0] not in ("bool ids", "bool images", "string images")]


@pytest.mark.parametrize("name, images, class_ids, message", TRACED, ids=[c[0] for c in TRACED])
def test_traced_call_checks_every_call(model, name, images, class_ids, message):
    """Shapes unknown when traced: the checks are in the graph and run on every call."""
    ids_dtype = tf.as_dtype(np.asarray(class_ids).dtype)
    traced = tf.function(
        lambda x, y: model((x, y)),
        input_signature=[tf.TensorSpec(None, tf.as_dtype(images.dtype)), tf.TensorSpec(None, ids_dtype)],
    )
    if ids_dtype.is_floating:  # a dtype is known when tracing: refused then
        with pytest.raises(ValueError, match=message):
            traced(images, class_ids)
        return
    valid_images = IMAGES[: len(np.atleast_1d(class_ids))].astype(images.dtype)
    if len(valid_images) and np.ndim(class_ids) == 1 and np.isfinite(valid_images).all():
        ok = traced(valid_images, np.asarray(LABELS[: len(valid_images)], ids_dtype.as_numpy_dtype))
        assert ok.shape == (len(valid_images), SIZE, SIZE, 1)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        traced(images, class_ids)
    assert re.search(message, _assertion_text(info.value)), info.value


def _assertion_text(error):
    """An in-graph assertion's message as one line: Assert prints its text and values as
    `[text] [values]` items."""
    return error.message.replace("=] [", "=[").replace("] [", "")


def test_ids_of_shape_n_1_give_the_same_masks(model):
    expected = model.predict((IMAGES[:3], LABELS[:3]), verbose=0)
    assert expected.shape == (3, SIZE, SIZE, 1)
    np.testing.assert_allclose(model.predict((IMAGES[:3], LABELS[:3, None]), verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(model((IMAGES[:3], LABELS[:3, None])), expected, atol=1e-6)
    traced = tf.function(lambda x, y: model((x, y)))
    np.testing.assert_allclose(traced(IMAGES[:3], LABELS[:3, None]), expected, atol=1e-6)


def test_masks_keep_the_image_size_after_relaxed_retraces(model):
    """A retrace with unknown sizes used to skip the upsampling (16x16 masks)."""
    traced = tf.function(lambda x, y: model((x, y)), reduce_retracing=True)
    for n in (1, 2, 3, 4, 5):
        assert traced(IMAGES[:n], LABELS[:n]).shape == (n, SIZE, SIZE, 1)
    for n in (1, 3, 5, 2):
        assert model.predict((IMAGES[:n], LABELS[:n]), verbose=0).shape == (n, SIZE, SIZE, 1)
        assert model.predict((IMAGES[:n], LABELS[:n, None]), verbose=0).shape == (n, SIZE, SIZE, 1)
    with pytest.raises(ValueError, match=IMAGE_ERROR):
        model.predict((np.zeros((2, 64, 64, 3), np.float32), LABELS[:2]), verbose=0)
    assert model.predict((IMAGES[:2], LABELS[:2]), verbose=0).shape == (2, SIZE, SIZE, 1)


def test_valid_inputs_of_other_dtypes_and_forms(model):
    expected = model.predict((IMAGES[:3], LABELS[:3]), verbose=0)
    for ids in (LABELS[:3].astype(np.int64), LABELS[:3].astype(np.uint8), list(LABELS[:3].tolist()),
                tf.constant(LABELS[:3])):
        np.testing.assert_allclose(model.predict((IMAGES[:3], ids), verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(model.predict((tf.constant(IMAGES[:3]), LABELS[:3]), verbose=0), expected, atol=1e-6)
    pixels = np.round(IMAGES[:3]).astype(np.uint8)  # integer pixels are accepted
    assert model.predict((pixels, LABELS[:3]), verbose=0).shape == (3, SIZE, SIZE, 1)
    assert model(images := IMAGES[:3]).shape == (3, SIZE, SIZE, 1)  # predicted classes
    assert model.predict(images, verbose=0).shape == (3, SIZE, SIZE, 1)
    with pytest.raises(ValueError, match="Expected finite pixel values"):
        model.predict(_nan_images(), verbose=0)  # images alone are checked too


def test_dataset_batches_are_checked_in_the_graph(model):
    good = tf.data.Dataset.from_tensor_slices((IMAGES[:4], LABELS[:4])).batch(2)
    assert model.predict(good, verbose=0).shape == (4, SIZE, SIZE, 1)
    bad = tf.data.Dataset.from_tensor_slices((IMAGES[:4], np.array([0, 1, 2, 9]))).batch(2)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Expected class_ids in \[0, 4\)"):
        model.predict(bad, verbose=0)
    wrapped = tf.data.Dataset.from_tensor_slices((IMAGES[:2], np.array([2**32 + 3, 1], np.int64))).batch(2)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Expected class_ids in \[0, 4\)"):
        model.predict(wrapped, verbose=0)
    nan = tf.data.Dataset.from_tensor_slices((_nan_images(), LABELS[:2])).batch(2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Expected finite pixel values"):
        model.predict(nan, verbose=0)


def test_explain_is_checked_too(model):
    out = model.explain(IMAGES[:2], LABELS[:2])
    assert out["mask"].shape == (2, SIZE, SIZE, 1) and out["exists"].shape == (2,)
    with pytest.raises(ValueError, match=CLASS_ERROR):
        model.explain(IMAGES[:2], np.array([-1, 0]))


def test_xla_never_returns_plausible_masks_for_bad_inputs(model):
    """XLA drops assertions: `predict` is never XLA-compiled, and a jit-compiled call of the
    model returns NaN for invalid inputs."""
    expected = model.predict((IMAGES[:4], LABELS[:4]), verbose=0)
    traced = tf.function(lambda x, y: model((x, y)), jit_compile=True)
    np.testing.assert_allclose(traced(IMAGES[:4], LABELS[:4]), expected, atol=1e-4)
    for ids in (np.array([0, 1, 2, 9], np.int32), np.array([0, -1, 2, 3], np.int32),
                np.array([0, 1, 2, 2**32 + 3], np.int64)):
        assert np.isnan(traced(IMAGES[:4], ids)).all()
    nan = np.concatenate([_nan_images(), IMAGES[2:4]])
    assert np.isnan(traced(nan, LABELS[:4])).all()
    jit_compile = model.jit_compile
    model.jit_compile, model.predict_function = True, None
    try:
        bad = tf.data.Dataset.from_tensor_slices((IMAGES[:4], np.array([0, 1, 2, 9]))).batch(2)
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"Expected class_ids in \[0, 4\)"):
            model.predict(bad, verbose=0)
    finally:
        model.jit_compile, model.predict_function = jit_compile, None


def test_messages_show_what_was_received(model):
    with pytest.raises(ValueError, match=r"Received: images of shape \(2, 32, 32, 1\)$"):
        model.predict((IMAGES[:2, ..., :1], LABELS[:2]), verbose=0)
    with pytest.raises(ValueError, match=r"Received: class_ids=\[-1, 7\]$"):
        model.predict((IMAGES[:3], np.array([-1, 0, 7])), verbose=0)
    many = np.arange(20, 34)  # 14 bad ids: 10 shown
    with pytest.raises(ValueError, match=r"class_ids=\[20, 21, .*, 29\] and 4 more$"):
        model.predict((np.repeat(IMAGES[:1], 14, 0), many), verbose=0)
    with pytest.raises(ValueError, match=r"Received: class_ids of dtype float64$"):
        model.predict((IMAGES[:2], np.array([3.7, 1.0])), verbose=0)
