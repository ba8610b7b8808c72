"""Ensembles of classifiers: known-answer averages, a masker that taps one member's layers and is
trained against the whole ensemble, saved once, Grad-CAM as the mean of its members'."""

import numpy as np
import pytest

import keras

import keras_saliency  # noqa: F401 (registration)
from keras_saliency.methods import build_method
from keras_saliency.methods.gradcam import GradCAM, last_spatial_layer
from keras_saliency.models import SaliencyModel
from keras_saliency.models.encoders import build_encoder, shared_taps
from keras_saliency.models.ensemble import (
    HorizontalFlip,
    MeanProbabilityLogits,
    ensemble_classifier,
    ensemble_parts,
)
from keras_saliency.models.classifier_layers import nested_layer
from keras_saliency.testing import TINY_TAPS, tiny_classifier


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _images(n=4, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, 32, 32, 3)).astype("float32")


def test_mean_probability_logits_known_answer():
    a = np.array([[2.0, 0.0, -1.0]], "float32")
    b = np.array([[0.0, 3.0, 0.0]], "float32")
    probabilities = _softmax(b)
    out = MeanProbabilityLogits(from_probabilities=[False, True])([a, probabilities])
    np.testing.assert_allclose(_softmax(np.asarray(out)), (_softmax(a) + _softmax(b)) / 2, atol=1e-6)
    # a single member's logits come back as its log-probabilities
    np.testing.assert_allclose(np.asarray(MeanProbabilityLogits()([a])), np.log(_softmax(a)), atol=1e-6)


def test_ensemble_averages_members_and_their_mirrored_views(tmp_path):
    a, b = tiny_classifier(3, name="a"), tiny_classifier(3, name="b")
    ensemble = ensemble_classifier([a, b], flip=True)
    images = _images()
    flipped = images[:, :, ::-1]
    expected = sum(_softmax(np.asarray(m(x))) for m in (a, b) for x in (images, flipped)) / 4
    np.testing.assert_allclose(_softmax(np.asarray(ensemble(images))), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(HorizontalFlip()(images)), flipped)
    members, flip = ensemble_parts(ensemble)
    assert [m.name for m in members] == ["a", "b"] and flip
    assert ensemble_parts(a) is None

    path = str(tmp_path / "ensemble.keras")
    ensemble.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(images)), np.asarray(ensemble(images)), atol=1e-5)


def test_ensemble_refuses_mismatched_members_with_one_line():
    with pytest.raises(ValueError, match="one number of classes"):
        ensemble_classifier([tiny_classifier(3, name="a"), tiny_classifier(4, name="b")])
    with pytest.raises(ValueError, match="distinct names"):
        ensemble_classifier([tiny_classifier(3), tiny_classifier(3)])
    with pytest.raises(ValueError, match="non-empty list"):
        ensemble_classifier([])
    with pytest.raises(ValueError, match="one input shape"):
        ensemble_classifier([tiny_classifier(3, name="a"), tiny_classifier(3, image_size=16, name="b")])
    with pytest.raises(ValueError, match="other than 'image', 'flip' and 'logits'"):
        ensemble_classifier([tiny_classifier(3, name="logits")])


def test_nested_layer_paths():
    ensemble = ensemble_classifier([tiny_classifier(3, name="a"), tiny_classifier(3, name="b")])
    assert nested_layer(ensemble, "b/logits") is ensemble.get_layer("b").get_layer("logits")
    assert nested_layer(ensemble, "logits") is ensemble.layers[-1]
    with pytest.raises(ValueError, match="Expected a layer 'nope' in 'a'"):
        nested_layer(ensemble, "a/nope")


@pytest.mark.slow
def test_masker_taps_one_member_saves_it_once_and_round_trips(tmp_path):
    a, b = tiny_classifier(3, name="a"), tiny_classifier(3, width=8, name="b")
    ensemble = ensemble_classifier([a, b], flip=True)
    model = SaliencyModel.from_classifier(
        ensemble, tap_layers=[f"a/{name}" for name in TINY_TAPS], decoder="fpn", decoder_filters=(8,),
        head="sigmoid", class_gate="classifier_image", class_layer="a/logits",
        gate_options={"local": "cam", "image_offset": -1.0}, mask_stride=2, seed=0,
    )
    # the gate starts from the member's class layer
    np.testing.assert_allclose(
        np.asarray(model.masker.get_layer("class_gate").kernel), np.asarray(a.get_layer("logits").kernel)
    )
    images, ids = _images(3), np.array([0, 2, 1])
    before = model.explain(images, ids)
    assert shared_taps(model.masker.encoder)["tap_layers"] == [f"a/{name}" for name in TINY_TAPS]
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    # the encoder still taps the loaded classifier's member itself (its weights are saved once)
    taps = loaded.masker.encoder.get_layer("a_taps")
    assert any(layer is nested_layer(loaded.classifier, "a/conv_3") for layer in taps.layers)
    after = loaded.explain(images, ids)
    for key in ("mask", "exists"):
        np.testing.assert_allclose(after[key], before[key], atol=1e-6)
    np.testing.assert_allclose(np.asarray(loaded.classifier(images)), np.asarray(ensemble(images)), atol=1e-5)
    with pytest.raises(ValueError, match="one \\(possibly nested\\) model"):
        SaliencyModel.from_classifier(ensemble, tap_layers=["a/conv_0", "b/conv_1"])

    # one training step against the whole ensemble: finite losses
    model.compile()
    history = model.fit(images, ids, batch_size=3, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])


def test_gradcam_of_an_ensemble_is_the_mean_of_its_members():
    a, b = tiny_classifier(3, name="a"), tiny_classifier(3, width=8, name="b")
    images, ids = _images(4), np.array([0, 1, 2, 0])

    def normalised(maps):
        return maps / np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-12)

    single = GradCAM(ensemble_classifier([a]))(images, ids)
    np.testing.assert_allclose(single, GradCAM(a)(images, ids), atol=1e-5)  # one member: its own map

    maps = build_method("gradcam", ensemble_classifier([a, b], flip=True))(images, ids)
    members = [GradCAM(m) for m in (a, b)]
    mirrored = images[:, :, ::-1]
    expected = sum(normalised(g(images, ids)) + normalised(g(mirrored, ids))[:, :, ::-1] for g in members) / 4
    np.testing.assert_allclose(maps, normalised(expected), atol=1e-4)


def test_taps_of_a_nested_model_after_preprocessing_are_refused():
    # the taps would skip the outer model's rescaling: refused rather than silently wrong
    inner = tiny_classifier(3, name="inner")
    image = keras.Input((32, 32, 3))
    outer = keras.Model(image, inner(keras.layers.Rescaling(1.0)(image)), name="outer")
    with pytest.raises(ValueError, match="called directly on 'outer'"):
        build_encoder(outer, ["inner/conv_0"], share_weights=True)


def test_gradcam_of_an_ensemble_inside_a_saliency_model_and_of_one_member():
    a, b = tiny_classifier(3, name="a"), tiny_classifier(3, width=8, name="b")
    ensemble = ensemble_classifier([a, b], flip=True)
    model = SaliencyModel.from_classifier(
        ensemble, tap_layers=[f"a/{name}" for name in TINY_TAPS], classifier_preprocessing="symmetric", seed=0
    )
    images, ids = _images(3), np.array([0, 1, 2])
    through_model = build_method("gradcam", model)(images, ids)  # the model's preprocessing, then the ensemble
    direct = GradCAM(ensemble, preprocessing="symmetric")(images, ids)
    np.testing.assert_allclose(through_model, direct, atol=1e-4)
    assert not np.allclose(direct, GradCAM(ensemble)(images, ids), atol=1e-3)  # the preprocessing matters
    # one member by its path: that member's own Grad-CAM
    np.testing.assert_allclose(
        GradCAM(ensemble, layer_name="b/conv_3")(images, ids), GradCAM(b, layer_name="conv_3")(images, ids), atol=1e-5
    )
    with pytest.raises(ValueError, match="is an ensemble"):
        last_spatial_layer(ensemble)
