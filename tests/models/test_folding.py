"""Batch norms folded into convolutions for inference (keras_saliency.models.folding)."""

import keras
import numpy as np
import pytest

from keras_saliency import SaliencyModel
from keras_saliency.models.folding import FoldedConv2D, foldable_pairs, folded_inference_model


def _set_random_statistics(model, seed=0):
    """Batch norms with statistics far from the identity, so a wrong fold shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2.0, channels), rng.normal(0, 1, channels),
                               rng.normal(0, 1, channels), rng.uniform(0.1, 3.0, channels)])


def _bn_classifier(num_classes=4, size=32):
    """conv -> BN -> leaky relu twice; a conv tapped before its BN; a conv with an activation."""
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv_a")(x)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.LeakyReLU(0.1, name="act_a")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(16, 3, padding="same", name="conv_b")(x)  # with a bias
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    x = keras.layers.LeakyReLU(0.1, name="act_b")(x)
    x = keras.layers.Conv2D(16, 1, activation="relu", name="conv_relu")(x)  # not linear: stays
    x = keras.layers.BatchNormalization(name="bn_relu")(x)
    x = keras.layers.Conv2D(num_classes, 1, name="class_conv")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="logits")(x)
    model = keras.Model(inputs, outputs, name="bn_classifier")
    _set_random_statistics(model)
    return model


def test_folded_pairs_give_the_same_outputs_with_fewer_ops():
    model = _bn_classifier()
    pairs = foldable_pairs(model)
    assert sorted(conv.name for conv, _ in pairs.values()) == ["conv_a", "conv_b"]
    folded = folded_inference_model(model)
    names = [layer.name for layer in folded.layers]
    assert "conv_a_folded" in names and "conv_b_folded" in names and "conv_relu" in names
    assert sum(isinstance(layer, FoldedConv2D) for layer in folded.layers) == 2
    images = np.random.default_rng(1).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    expected = np.asarray(model(images, training=False))
    np.testing.assert_allclose(np.asarray(folded(images)), expected, rtol=1e-4, atol=1e-4)
    # layers without weights are copied (no second call in the model's graph); others are shared
    stateless = [layer for layer in model.layers if not layer.weights and not isinstance(layer, keras.layers.InputLayer)]
    assert stateless and all(len(layer._inbound_nodes) == 1 for layer in stateless)
    assert folded.get_layer("class_conv") is model.get_layer("class_conv")


def test_a_convolution_read_before_its_batch_norm_is_not_folded():
    model = _bn_classifier()
    taps = keras.Model(model.input, [model.get_layer("conv_a").output, model.get_layer("act_b").output])
    assert sorted(conv.name for conv, _ in foldable_pairs(taps).values()) == ["conv_b"]
    images = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    for got, want in zip(folded_inference_model(taps)(images), taps(images, training=False)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-4)


def test_a_model_with_nothing_to_fold_is_returned_as_is():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, activation="relu")(inputs))
    assert folded_inference_model(model) is model


def test_folded_conv_refuses_a_pair_that_is_not_affine():
    conv = keras.layers.Conv2D(2, 3, activation="relu")
    with pytest.raises(ValueError, match="Expected a linear channels-last Conv2D"):
        FoldedConv2D(conv, keras.layers.BatchNormalization())


def test_the_saliency_model_runs_the_folded_masker_and_follows_the_weights():
    classifier = _bn_classifier()
    model = SaliencyModel.from_classifier(classifier, tap_layers=["act_a", "act_b"], decoder="fpn",
                                          decoder_filters=(8,), head="sigmoid", mask_stride=2)
    fast = model.inference_masker()
    assert fast is model.inference_masker()  # built once
    assert any(isinstance(layer, FoldedConv2D) for layer in _all_layers(fast))
    images = np.random.default_rng(3).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    ids = np.array([0, 1, 2, 3], np.int32)
    want = model.masker({"image": images, "class_id": ids}, training=False)
    got = model.explain(images, ids)
    np.testing.assert_allclose(got["exists"], 1 / (1 + np.exp(-np.asarray(want["exists"]))), rtol=1e-4, atol=1e-5)
    # the inference graph reads the classifier's current weights (e.g. after loading new ones)
    _set_random_statistics(model.classifier, seed=7)
    want = model.masker({"image": images, "class_id": ids}, training=False)
    got = fast({"image": images, "class_id": ids})
    np.testing.assert_allclose(np.asarray(got["mask"]), np.asarray(want["mask"]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(got["exists"]), np.asarray(want["exists"]), rtol=1e-4, atol=1e-4)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def _gated_fpn(classifier):
    return SaliencyModel.from_classifier(classifier, tap_layers=["act_a", "act_b"], decoder="fpn",
                                         decoder_filters=(8,), head="sigmoid", mask_stride=2)


def test_building_the_inference_masker_leaves_the_masker_trainable():
    model = _gated_fpn(_bn_classifier())
    trainable = [v.path for v in model.masker.trainable_variables]
    assert trainable
    model.inference_masker()
    assert [v.path for v in model.masker.trainable_variables] == trainable
    model.compile()
    images = np.random.default_rng(4).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    labels = np.arange(8) % 4
    before = [np.asarray(v).copy() for v in model.masker.trainable_variables]
    model.fit(images, labels, batch_size=4, epochs=1, verbose=0)
    after = [np.asarray(v) for v in model.masker.trainable_variables]
    assert all(not np.allclose(b, a) for b, a in zip(before, after) if b.size > 1)


def test_a_classifier_with_raw_operations_is_folded_around_them():
    inputs = keras.Input((32, 32, 3), name="image")
    x = inputs * (1 / 255.0)  # a raw operation in the graph, not a layer
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv_a")(x)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.ReLU(name="act_a")(x) + 0.1
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv_b")(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    x = keras.layers.ReLU(name="act_b")(x)
    outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 1, name="class_conv")(x))
    classifier = keras.Model(inputs, outputs)
    _set_random_statistics(classifier)
    model = _gated_fpn(classifier)
    images = np.random.default_rng(5).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    ids = np.array([1, 2], np.int32)
    want = model.masker({"image": images, "class_id": ids}, training=False)
    got = model.inference_masker()({"image": images, "class_id": ids})
    assert any(isinstance(layer, FoldedConv2D) for layer in _all_layers(model.inference_masker()))
    np.testing.assert_allclose(np.asarray(got["mask"]), np.asarray(want["mask"]), rtol=1e-4, atol=1e-5)


def test_explain_runs_the_inference_masker_and_follows_a_new_masker():
    model = _gated_fpn(_bn_classifier())
    images = np.random.default_rng(6).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    ids = np.array([0, 3], np.int32)
    first = model.inference_masker()
    # a stand-in inference graph: explain must return what it gives
    model._functions.masker = lambda inputs, training=False: {
        "mask": keras.ops.full((2, 16, 16, 1), 0.25), "exists": keras.ops.zeros((2,))}
    np.testing.assert_allclose(model.explain(images, ids)["mask"], 0.25)
    other = _gated_fpn(_bn_classifier()).masker
    model.masker = other
    rebuilt = model.inference_masker()
    assert rebuilt is not first and model._functions.masker_source is other
    want = other({"image": images, "class_id": ids}, training=False)
    np.testing.assert_allclose(model.explain(images, ids)["exists"],
                               1 / (1 + np.exp(-np.asarray(want["exists"]))), rtol=1e-4, atol=1e-5)
