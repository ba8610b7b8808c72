"""A masker whose encoder is the classifier's own layers holds and saves the classifier's weights
once, and round-trips through `.keras` with the sharing intact."""

import os

import numpy as np

import keras

import keras_saliency  # noqa: F401 (registration)
from keras_saliency.models import SaliencyModel
from keras_saliency.models.classifiers import cifar_classifier, scale_taps
from keras_saliency.models.encoders import build_encoder, shared_taps
from keras_saliency.models.masker import Masker


def _classifier():
    return cifar_classifier(4, 32, base_filters=16, convs_per_scale=(1, 1, 1))


def test_the_classifier_is_saved_once(tmp_path):
    classifier = _classifier()
    model = SaliencyModel.from_classifier(classifier, tap_layers=scale_taps(3), seed=0)
    classifier_bytes = sum(w.size for w in classifier.get_weights()) * 4
    masker_own = sum(int(np.prod(w.shape)) for w in model.masker.weights) * 4 - classifier_bytes
    path = str(tmp_path / "model.keras")
    model.save(path)
    # one copy of the classifier's weights, plus the masker's own and the zip's overhead
    assert os.path.getsize(path) < 1.3 * classifier_bytes + masker_own + 200_000

    loaded = keras.saving.load_model(path)
    taps = loaded.masker.encoder.get_layer(f"{loaded.classifier.name}_taps")
    assert any(layer is loaded.classifier.get_layer("scale_2_conv_0") for layer in taps.layers)
    images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    ids = np.array([0, 1, 3])
    for key in ("mask", "exists"):
        np.testing.assert_allclose(loaded.explain(images, ids)[key], model.explain(images, ids)[key], atol=1e-6)
    np.testing.assert_allclose(loaded.classifier(images), model.classifier(images), atol=1e-5)


def test_a_self_contained_encoder_still_round_trips(tmp_path):
    classifier = _classifier()
    encoder = build_encoder(classifier, scale_taps(3))  # a frozen copy, saved in full
    assert shared_taps(encoder) is None
    model = SaliencyModel(Masker(encoder, 4, decoder_filters=(8, 8), mask_stride=2), classifier)
    path = str(tmp_path / "copy.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    images = np.full((1, 32, 32, 3), 128.0, "float32")
    np.testing.assert_allclose(loaded.explain(images, [2])["mask"], model.explain(images, [2])["mask"], atol=1e-6)


def test_a_masker_with_a_shared_encoder_alone_is_refused_with_one_line():
    classifier = _classifier()
    model = SaliencyModel.from_classifier(classifier, tap_layers=scale_taps(3))
    try:
        Masker.from_config(model.masker.get_config())
    except ValueError as error:
        assert "Load the whole SaliencyModel" in str(error)
    else:
        raise AssertionError("expected a ValueError")


def test_a_copy_of_a_masker_with_a_shared_encoder_is_self_contained():
    from keras_saliency.models.encoders import frozen_clone

    model = SaliencyModel.from_classifier(_classifier(), tap_layers=scale_taps(3))
    copy = frozen_clone(model.masker)
    assert shared_taps(copy.encoder) is None
    images = np.full((2, 32, 32, 3), 100.0, "float32")
    ids = np.array([1, 2])
    np.testing.assert_allclose(copy({"image": images, "class_id": ids})["mask"],
                               model.masker({"image": images, "class_id": ids})["mask"], atol=1e-6)
