"""Known-answer tests of the classic saliency methods: a classifier whose evidence is exactly
a small saturated square (`square_detector_classifier`)."""

import numpy as np
import pytest

from keras_saliency.evaluation.metrics import pointing_game
from keras_saliency.methods import METHODS, build_method
from keras_saliency.testing import square_detector_classifier, square_images

pytestmark = pytest.mark.backends  # CI runs them on TensorFlow and on JAX

# (method, options, minimum pointing-game rate, minimum mean-inside / mean-overall ratio)
CASES = [
    ("gradient", {}, 1.0, 20.0),
    ("smoothgrad", {"samples": 10}, 0.9, 10.0),
    ("integrated_gradients", {"steps": 16}, 1.0, 20.0),
    ("gradcam", {}, 1.0, 20.0),
    ("occlusion", {}, 0.9, 5.0),
    ("rise", {"num_masks": 400}, 0.9, 1.3),
    ("optimisation", {"steps": 100}, 0.9, 5.0),
]


@pytest.fixture(scope="module")
def detector_data():
    images, labels, boxes = square_images(12, seed=3)
    return square_detector_classifier(), images, labels, boxes


def test_detector_is_confident(detector_data):
    from keras import ops

    classifier, images, labels, _ = detector_data
    probabilities = ops.convert_to_numpy(ops.softmax(classifier(images)))
    assert (probabilities.argmax(1) == labels).all()
    assert probabilities[np.arange(len(labels)), labels].min() > 0.99


@pytest.mark.parametrize("name,options,min_pointing,min_ratio", CASES)
def test_method_finds_the_square(detector_data, name, options, min_pointing, min_ratio):
    classifier, images, labels, boxes = detector_data
    maps = build_method(name, classifier, batch_size=5, **options)(images, labels)
    assert maps.shape == images.shape[:3]
    assert maps.min() >= 0.0 and maps.max() <= 1.0 + 1e-6
    assert pointing_game(maps, boxes).mean() >= min_pointing
    inside = np.mean([m[y0 : y1 + 1, x0 : x1 + 1].mean() for m, (x0, y0, x1, y1) in zip(maps, boxes)])
    assert inside / maps.mean() >= min_ratio


def test_method_explains_the_given_class(detector_data):
    # The square's colour is the evidence of its own class only: for the other colour's class
    # the gradient is zero everywhere (the detector is inactive), so the map is all zero.
    classifier, images, labels, _ = detector_data
    maps = build_method("gradient", classifier)(images, 1 - labels)
    assert maps.max() == 0.0


def test_baselines_geometry(detector_data):
    classifier, images, labels, _ = detector_data
    centre = build_method("centre_box", classifier)(images[:2], labels[:2])
    assert abs(centre[0].mean() - 0.5) < 0.05
    assert centre[0, 16, 16] == 1.0 and centre[0, 0, 0] == 0.0
    assert (build_method("full_image", classifier)(images[:2], labels[:2]) == 1.0).all()


def test_build_method_errors(detector_data):
    classifier = detector_data[0]
    with pytest.raises(ValueError, match="Expected a method"):
        build_method("nope", classifier)
    with pytest.raises(ValueError, match="SaliencyModel"):
        build_method("masker", classifier)
    with pytest.raises(ValueError, match=r"Expected options that gradcam takes\. Received: \['bogus'\]"):
        build_method("gradcam", classifier, bogus=1)  # an unknown option: one line, not a TypeError
    with pytest.raises(ValueError, match="Expected one class id per image"):
        build_method("gradient", classifier)(np.zeros((2, 32, 32, 3)), [0])
    assert set(METHODS) >= {"masker", "gradient", "gradcam", "rise", "optimisation"}
