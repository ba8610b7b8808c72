import os

import numpy as np
import pytest

import keras

from keras_saliency.models.config import SaliencyConfig
from keras_saliency.models.encoders import build_encoder, feature_strides
from keras_saliency.models.layers import BottleneckBlock, ClassSelector, MaskHead, Preprocessing, SubPixelUpsampling
from keras_saliency.models.masker import Masker
from keras_saliency.models.model import SaliencyModel
from keras_saliency.testing import TINY_TAPS, patch_images, tiny_classifier
from keras_saliency.training.fit import compile_saliency_model


@pytest.fixture(scope="module")
def data():
    return patch_images(64, seed=0)


def small_model(**kwargs):
    keras.utils.set_random_seed(0)
    return SaliencyModel.from_classifier(tiny_classifier(width=8), tap_layers=TINY_TAPS, seed=0, **kwargs)


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet50", "efficientnet_b0"])
def test_named_encoders_tap_strides_2_to_32(name):
    encoder = build_encoder(name, image_size=64, weights=None)
    assert feature_strides(encoder) == [2, 4, 8, 16, 32]
    assert not encoder.trainable_weights
    features = encoder(np.zeros((1, 64, 64, 3), np.float32))
    assert [f.shape[1] for f in features] == [32, 16, 8, 4, 2]


def test_encoder_from_model_never_modifies_it():
    classifier = tiny_classifier()
    before = [w.copy() for w in classifier.get_weights()]
    encoder = build_encoder(classifier, TINY_TAPS)
    assert feature_strides(encoder) == [1, 2, 4, 8]
    assert classifier.trainable and all(layer.trainable for layer in classifier.layers)
    assert all(np.array_equal(a, b) for a, b in zip(before, classifier.get_weights()))
    with pytest.raises(ValueError, match="Expected tap layers that exist"):
        build_encoder(classifier, ["conv_0", "nope"])
    with pytest.raises(ValueError, match="Expected tap_layers"):
        build_encoder(classifier)


def test_masker_outputs_and_options(data):
    images, labels, _ = data
    encoder = build_encoder(tiny_classifier(width=8), TINY_TAPS)
    for stride, side in ((8, 4), (4, 8), (2, 16), (1, 32)):
        masker = Masker(encoder, 4, decoder_filters=(16, 8), mask_stride=stride)
        out = masker({"image": images[:3], "class_id": labels[:3]})
        assert out["mask"].shape == (3, side, side, 1) and out["exists"].shape == (3,)
        mask = out["mask"].numpy()
        assert mask.min() >= 0 and mask.max() <= 1
    sigmoid = Masker(encoder, 4, decoder_filters=(16,), head="sigmoid")
    assert sigmoid({"image": images[:2], "class_id": labels[:2]})["mask"].shape == (2, 8, 8, 1)
    with pytest.raises(ValueError, match="mask_stride"):
        Masker(encoder, 4, mask_stride=3)


def test_confidence_is_an_inference_knob(data):
    images, labels, _ = data
    masker = Masker(build_encoder(tiny_classifier(width=8), TINY_TAPS), 4, decoder_filters=(8,))
    before = masker({"image": images[:4], "class_id": labels[:4]})["mask"].numpy()
    masker.set_confidence(8.0)
    assert masker.confidence == 8.0
    after = masker({"image": images[:4], "class_id": labels[:4]})["mask"].numpy()
    assert not np.allclose(before, after)
    assert Masker.from_config(masker.get_config()).confidence == 8.0


@pytest.mark.parametrize(
    "layer",
    [
        Preprocessing("caffe"),
        ClassSelector(5, confidence=2.0),
        SubPixelUpsampling(8),
        BottleneckBlock(12),
        MaskHead("sigmoid"),
    ],
)
def test_layers_round_trip_config(layer):
    clone = layer.__class__.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(restored) is type(layer)


@pytest.mark.slow
def test_saliency_model_keras_round_trip(tmp_path, data):
    images, labels, _ = data
    model = small_model(config=SaliencyConfig(objective="paper", area_weight=4.0))
    compile_saliency_model(model)
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    expected = model.predict((images[:8], labels[:8]), verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, SaliencyModel)
    assert loaded.config == model.config
    np.testing.assert_allclose(loaded.predict((images[:8], labels[:8]), verbose=0), expected, atol=1e-5)
    # the classifier travels inside the file, with its weights
    for a, b in zip(model.classifier.get_weights(), loaded.classifier.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_classifier_never_changes_bit_for_bit(data):
    images, labels, _ = data
    user_classifier = tiny_classifier(width=8)
    user_weights = [w.copy() for w in user_classifier.get_weights()]
    model = SaliencyModel.from_classifier(user_classifier, tap_layers=TINY_TAPS, seed=0)
    frozen_before = [w.copy() for w in model.classifier.get_weights()]
    encoder_before = [w.copy() for w in model.masker.encoder.get_weights()]
    decoder_before = model.masker.get_layer("mask_head").get_weights()[0].copy()
    compile_saliency_model(model, 1e-2)
    history = model.fit(images, labels, batch_size=16, epochs=2, verbose=0)
    assert set(history.history) == {
        "loss", "area", "fake_area", "smoothness", "preserver", "destroyer", "exists", "exists_accuracy"
    }  # "graded" only while the ranking term is on
    for a, b in zip(frozen_before, model.classifier.get_weights()):
        assert np.array_equal(a, b)
    for a, b in zip(encoder_before, model.masker.encoder.get_weights()):
        assert np.array_equal(a, b)
    for a, b in zip(user_weights, user_classifier.get_weights()):
        assert np.array_equal(a, b)
    assert user_classifier.trainable
    assert not np.array_equal(decoder_before, model.masker.get_layer("mask_head").get_weights()[0])
    evaluation = model.evaluate(images, labels, batch_size=16, verbose=0, return_dict=True)
    assert np.isfinite(evaluation["loss"]) and 0 <= evaluation["exists_accuracy"] <= 1


def test_selector_phase_trains_only_the_selector(data):
    images, labels, _ = data
    model = small_model(config=SaliencyConfig(phase="selector"))
    names = {v.path.split("/")[0] for v in model.trainable_variables}
    assert names == {"selector_norm", "class_selector"}
    head = model.masker.get_layer("mask_head").get_weights()[0].copy()
    embedding = model.masker.selector.embedding.numpy().copy()
    compile_saliency_model(model, 1e-2)
    model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
    assert np.array_equal(head, model.masker.get_layer("mask_head").get_weights()[0])
    assert not np.array_equal(embedding, model.masker.selector.embedding.numpy())
    model.set_phase("all")
    assert len(model.trainable_variables) > 3


@pytest.mark.slow
def test_set_objective_switches_on_the_ranking_term_between_fits(data):
    images, labels, _ = data
    model = small_model(config=SaliencyConfig.simplified())
    compile_saliency_model(model, 1e-2)
    first = model.fit(images, labels, batch_size=16, epochs=1, verbose=0).history
    assert "graded" not in first  # off: not logged
    model.set_objective(graded_weight=1.0)
    second = model.fit(images, labels, batch_size=16, epochs=1, verbose=0).history
    assert second["graded"][0] != 0.0 and np.isfinite(second["loss"][0])
    assert model.get_config()["config"]["graded_weight"] == 1.0


def test_predict_input_forms_and_errors(data):
    images, labels, _ = data
    model = small_model()
    by_tuple = model.predict((images[:4], labels[:4]), verbose=0)
    assert by_tuple.shape == (4, 32, 32, 1)
    by_dict = model.predict({"image": images[:4], "class_id": labels[:4]}, verbose=0)
    np.testing.assert_allclose(by_tuple, by_dict, atol=1e-6)
    predicted = np.argmax(model.classifier(images[:4]), axis=-1)
    np.testing.assert_allclose(model(images[:4]), model((images[:4], predicted)), atol=1e-6)
    out = model.explain(images[:4], labels[:4])  # the one way to ask for "exists"
    assert set(out) == {"mask", "exists"} and 0 <= float(np.min(out["exists"])) <= 1
    assert out["exists"].shape == (4,)
    np.testing.assert_allclose(out["mask"], by_tuple, atol=1e-6)
    assert not hasattr(model, "with_outputs") and not hasattr(model, "return_exists")
    with pytest.raises(ValueError, match=r"Expected class_ids in \[0, 4\)"):
        model((images[:2], np.array([1, 7])))


def test_softmax_classifier_is_detected():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, padding="same", name="c")(inputs))
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = SaliencyModel.from_classifier(keras.Model(inputs, outputs), tap_layers=["c"])
    assert model.classifier_output == "probabilities"


@pytest.mark.slow
def test_mixed_precision_training_is_finite(data):
    images, labels, _ = data
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = small_model()
        compile_saliency_model(model)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        history = model.fit(images, labels, batch_size=16, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][-1])
        assert model.predict((images[:2], labels[:2]), verbose=0).dtype == np.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_frozen_copy_of_a_compiled_classifier_carries_no_optimizer(tmp_path, data):
    from keras_saliency.models.classifiers import compile_classifier

    images, labels, _ = data
    classifier = compile_classifier(tiny_classifier(width=8))
    classifier.fit(images, labels, epochs=1, verbose=0)
    model = SaliencyModel.from_classifier(classifier, tap_layers=TINY_TAPS)
    assert classifier.compiled and not model.classifier.compiled
    assert not keras.saving.serialize_keras_object(model.classifier).get("compile_config")


def test_class_names_travel_inside_the_keras_file(tmp_path):
    from keras_saliency.pretrained import load_saliency_model
    from keras_saliency.testing import TINY_TAPS, tiny_classifier
    from keras_saliency.models.model import SaliencyModel

    model = SaliencyModel.from_classifier(tiny_classifier(3), tap_layers=list(TINY_TAPS[:3]), decoder_filters=(8,),
                                 mask_stride=4)
    with pytest.raises(ValueError, match="Expected class_names to be 3 strings"):
        model.set_class_names(["a", "b"])
    model.set_class_names(["cat", "dog", "fox"])
    path = str(tmp_path / "named" / "masker.keras")
    os.makedirs(os.path.dirname(path))
    model.save(path)
    loaded, names, info = load_saliency_model(path)  # no run_config.json next to it
    assert loaded.class_names == ["cat", "dog", "fox"] and names == ["cat", "dog", "fox"] and info == {}
    with pytest.raises(ValueError, match="which does not exist"):
        load_saliency_model(str(tmp_path / "missing.keras"))


@pytest.mark.slow
def test_from_classifier_compile_auto_and_explain(tmp_path, data):
    images, labels, _ = data
    keras.utils.set_random_seed(0)
    model = SaliencyModel.from_classifier(tiny_classifier(width=8), tap_layers=TINY_TAPS, seed=0,
                                          class_names=["a", "b", "c", "d"])
    assert model.class_names == ["a", "b", "c", "d"]
    model.compile()  # "auto": the recipe's Adam(1e-3)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert np.isclose(float(model.optimizer.learning_rate), 1e-3)
    model.compile(learning_rate=1e-4, weight_decay=1e-4)  # phase 2: AdamW
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    compile_saliency_model(model, 1e-3)  # the function is model.compile's recipe
    assert type(model.optimizer) is keras.optimizers.Adam
    model.fit(images[:16], labels[:16], batch_size=8, epochs=1, verbose=0)

    out = model.explain(images[:5], labels[:5], batch_size=2)  # never changes the model
    assert set(out) == {"mask", "exists"}
    assert out["mask"].shape == (5, 32, 32, 1) and out["exists"].shape == (5,)
    assert 0 <= out["exists"].min() and out["exists"].max() <= 1
    np.testing.assert_allclose(out["mask"], model.predict((images[:5], labels[:5]), verbose=0), atol=1e-5)
    predicted = np.argmax(model.classifier(images[:5]), axis=-1).astype("int32")
    np.testing.assert_allclose(model.explain(images[:5])["mask"], model.explain(images[:5], predicted)["mask"],
                               atol=1e-5)
    with pytest.raises(ValueError, match=r"Expected class_ids in \[0, 4\)"):
        model.explain(images[:2], np.array([1, 7]))

    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # the optimizer comes back with the model
    assert isinstance(loaded.optimizer, keras.optimizers.Adam) and loaded.class_names == ["a", "b", "c", "d"]
    np.testing.assert_allclose(loaded.explain(images[:5], labels[:5])["mask"], out["mask"], atol=1e-5)
