"""The scale-dependence study on known answers: a classifier that reads the image's overall
brightness is unchanged by a rescaled crop of a uniform image, and one that detects a small
centred square loses it when the crop does not contain it."""

import numpy as np
import pytest

import keras

from keras_saliency.evaluation.artefacts import centre_box, scale_dependence


def _brightness_classifier():
    inputs = keras.Input((16, 16, 3))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    logits = keras.layers.Dense(2)(mean)
    model = keras.Model(inputs, logits)
    model.layers[-1].set_weights([np.array([[-0.1], [-0.1], [-0.1]]).repeat(2, 1) * [[1, -1]], np.array([19.1, -19.1])])
    return model


def test_centre_box():
    assert centre_box(16, 1.0) == (0, 0, 15, 15)
    assert centre_box(16, 0.25) == (4, 4, 11, 11)
    with pytest.raises(ValueError, match="Expected an area"):
        centre_box(16, 0.0)


def test_a_uniform_image_is_scale_invariant():
    model = _brightness_classifier()  # dark (< 63.7) -> class 0, bright -> class 1
    images = np.concatenate([np.full((4, 16, 16, 3), 20.0), np.full((4, 16, 16, 3), 200.0)]).astype("float32")
    labels = np.array([0] * 4 + [1] * 4)
    rows = scale_dependence(model, images, labels, areas=(1.0, 0.25), variants=("rescaled",))
    assert [r["accuracy"] for r in rows] == [1.0, 1.0]
    assert rows[0]["probability"] == pytest.approx(rows[1]["probability"], abs=1e-5)


def test_a_crop_that_misses_the_object_loses_it():
    inputs = keras.Input((16, 16, 3))
    corner = keras.layers.Cropping2D(((0, 14), (0, 14)))(inputs)  # the top-left 2x2 pixels
    logits = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(corner))
    model = keras.Model(inputs, logits)
    model.layers[-1].set_weights([np.array([[1.0, -1.0]] * 3), np.array([-300.0, 300.0])])
    images = np.zeros((4, 16, 16, 3), np.float32)
    images[:, :2, :2] = 255.0  # class 0: bright top-left corner
    rows = scale_dependence(model, images, np.zeros(4, int), areas=(1.0, 0.25))
    by = {(r["area"], r["variant"]): r["accuracy"] for r in rows}
    assert by[(1.0, "rescaled")] == 1.0 and by[(1.0, "in place")] == 1.0
    assert by[(0.25, "rescaled")] == 0.0  # the crop leaves out the corner


def test_the_corrected_metric_adds_the_log_of_the_expected_probability():
    from keras_saliency.evaluation.artefacts import corrected_saliency_metric
    from keras_saliency.evaluation.metrics import saliency_metric
    from keras_saliency.methods import ClassifierFunction

    classifier = ClassifierFunction(_brightness_classifier())
    images = np.full((2, 16, 16, 3), 20.0, np.float32)
    boxes = np.array([[0, 0, 15, 15], [4, 4, 11, 11]])  # areas 1 and 0.25
    curve = (np.array([1.0, 0.25]), np.array([0.8, 0.2]))
    published = saliency_metric(classifier, images, [0, 0], boxes)
    corrected = corrected_saliency_metric(classifier, images, [0, 0], boxes, curve)
    np.testing.assert_allclose(corrected - published, np.log([0.8, 0.2]), rtol=1e-5)
    flat = corrected_saliency_metric(classifier, images, [0, 0], boxes, (np.array([1.0, 0.04]), np.array([0.5, 0.5])))
    np.testing.assert_allclose(flat - published, np.log([0.5, 0.5]), rtol=1e-5)  # a scale-invariant classifier
