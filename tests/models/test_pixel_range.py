"""Pixels outside [0, 255] are refused with one "Expected ... Received ..." line on every host-side
entry point (`explain`, `predict`, `__call__`); pixels that all lie in [0, 1] are said once."""

import logging

import numpy as np
import pytest

from keras_saliency import SaliencyModel
from keras_saliency.testing import TINY_TAPS, tiny_classifier


@pytest.fixture(scope="module")
def model():
    return SaliencyModel.from_classifier(tiny_classifier(width=4), tap_layers=TINY_TAPS, seed=0)


def _calls(model, images):
    ids = np.arange(len(images)) % model.num_classes
    return {"explain": lambda: model.explain(images, ids),
            "predict": lambda: model.predict((images, ids), verbose=0),
            "call": lambda: model((images, ids))}


@pytest.mark.parametrize("scale, offset", [(1e4, 0.0), (1.0, -128.0), (2.0, 0.0)])
def test_pixels_outside_0_255_are_refused(model, scale, offset):
    images = np.random.default_rng(0).uniform(0, 255, (2, model.image_size, model.image_size, 3)).astype("float32")
    images = images * scale + offset
    for name, call in _calls(model, images).items():
        with pytest.raises(ValueError, match=r"Expected pixels in \[0, 255\]"):
            call()


def test_unit_pixels_are_said_and_255_pixels_are_not(model, caplog):
    images = np.random.default_rng(1).uniform(0, 255, (2, model.image_size, model.image_size, 3)).astype("float32")
    with caplog.at_level(logging.WARNING, logger="keras_saliency"):
        model.explain(images, [0, 1])
        model.explain(np.zeros_like(images), [0, 1])  # a black image is no [0, 1] image
    assert not [r for r in caplog.records if "multiply [0, 1] images by 255" in r.getMessage()]
    with caplog.at_level(logging.WARNING, logger="keras_saliency"):
        model.explain(images / 255.0, [0, 1])
    assert [r for r in caplog.records if "multiply [0, 1] images by 255" in r.getMessage()]
    model.explain(images.astype("uint8"), [0, 1])  # integer pixels in range pass


@pytest.mark.slow
def test_three_inputs_are_named_and_nested_batches_train(model):
    import tensorflow as tf

    images = np.random.default_rng(2).uniform(0, 255, (4, model.image_size, model.image_size, 3)).astype("float32")
    ids = np.arange(4) % model.num_classes
    with pytest.raises(ValueError, match=r"Expected images, or \(images, class_ids\)\. Received: a tuple of 3 items"):
        model.predict((images, ids, ids), verbose=0)
    model.compile()
    nested = tf.data.Dataset.from_tensor_slices(((images, ids),)).batch(2)  # ((images, labels),) batches
    history = model.fit(nested, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
