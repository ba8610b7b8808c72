"""transfer_classifier: a pretrained chain re-headed; with class_rows the new head IS the
backbone's head restricted to those classes (a known answer), and the model round-trips."""

import numpy as np
import pytest

import keras

from keras_saliency.models.classifiers import transfer_classifier


def _backbone(classes=6):
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv_a")(x)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.LeakyReLU(0.1, name="act_a")(x)
    x = keras.layers.Conv2D(classes, 1, name="classes")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    model.get_layer("bn_a").set_weights([rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4)])
    return model


def test_the_head_starts_as_the_backbones_rows(tmp_path):
    backbone = _backbone()
    model = transfer_classifier(backbone, 2, 8, input_size=16, class_rows=[4, 1])
    images = np.random.default_rng(1).uniform(0, 255, (3, 8, 8, 3)).astype("float32")
    resized = keras.ops.convert_to_numpy(keras.layers.Resizing(16, 16)(images))
    expected = backbone.predict(resized, verbose=0)[:, [4, 1]]
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, rtol=1e-4, atol=1e-5)
    taps = keras.Model(model.inputs, model.get_layer("act_a").output)  # the backbone's names: the masker's taps
    assert taps.predict(images, verbose=0).shape == (3, 16, 16, 4)  # resized to 16 px inside the model
    assert not model.get_layer("bn_a").trainable  # frozen statistics
    assert backbone.get_layer("bn_a").trainable and model.get_layer("bn_a") is not backbone.get_layer("bn_a")
    path = str(tmp_path / "transfer.keras")
    model.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path).predict(images, verbose=0), expected, rtol=1e-4, atol=1e-5)


def test_a_class_from_several_backbone_classes_starts_as_their_mean_logit():
    backbone = _backbone()
    model = transfer_classifier(backbone, 2, 16, class_rows=[[0, 2, 5], 3])
    images = np.random.default_rng(2).uniform(0, 255, (3, 16, 16, 3)).astype("float32")
    logits = backbone.predict(images, verbose=0)
    expected = np.stack([logits[:, [0, 2, 5]].mean(-1), logits[:, 3]], -1)  # a linear head: the mean row
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="none empty"):
        transfer_classifier(backbone, 2, 16, class_rows=[[], 3])


def test_folded_batch_norms_compute_the_same_function(tmp_path):
    backbone = _backbone()
    unfolded = transfer_classifier(backbone, 2, 8, input_size=16, class_rows=[4, 1])
    folded = transfer_classifier(backbone, 2, 8, input_size=16, class_rows=[4, 1], fold_batch_norms=True)
    names = [layer.name for layer in folded.layers]
    assert "bn_a" not in names and "act_a" in names and folded.get_layer("conv_a").use_bias
    images = np.random.default_rng(3).uniform(0, 255, (3, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(folded.predict(images, verbose=0), unfolded.predict(images, verbose=0),
                               rtol=1e-4, atol=1e-4)
    path = str(tmp_path / "folded.keras")
    folded.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path).predict(images, verbose=0),
                               unfolded.predict(images, verbose=0), rtol=1e-4, atol=1e-4)


def test_only_linear_convolutions_are_folded():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inputs)
    x = keras.layers.BatchNormalization(name="bn_a")(x)  # BN(relu(conv)): not one convolution
    x = keras.layers.Conv2D(4, 1, use_bias=False, name="conv_b")(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    x = keras.layers.Conv2D(3, 1, name="classes")(x)
    backbone = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    rng = np.random.default_rng(4)
    for name in ("bn_a", "bn_b"):
        backbone.get_layer(name).set_weights([rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4),
                                              rng.uniform(0.5, 2, 4)])
    folded = transfer_classifier(backbone, 3, 16, class_rows=[0, 1, 2], fold_batch_norms=True)
    names = [layer.name for layer in folded.layers]
    assert "bn_a" in names and "bn_b" not in names
    images = np.random.default_rng(5).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(folded.predict(images, verbose=0), backbone.predict(images, verbose=0), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="Expected feature_layer / trainable_from to name a layer that folding keeps"):
        transfer_classifier(backbone, 3, 16, trainable_from="bn_b", fold_batch_norms=True)


def test_a_new_head_and_a_named_feature_layer():
    model = transfer_classifier(_backbone(), 3, 16, feature_layer="conv_a")
    assert model.output.shape == (None, 3)
    assert "act_a" not in [layer.name for layer in model.layers]
    frozen = transfer_classifier(_backbone(), 3, 16, trainable_from="act_a")
    assert not frozen.get_layer("conv_a").trainable and frozen.get_layer("class_conv").trainable
    with pytest.raises(ValueError, match="Expected trainable_from"):
        transfer_classifier(_backbone(), 3, 16, trainable_from="classes")
    with pytest.raises(ValueError, match=r"Expected 3 class_rows in \[0, 6\)"):
        transfer_classifier(_backbone(), 3, 16, class_rows=[0, 9, 1])


def test_a_backbone_that_is_not_a_chain_is_refused():
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(2, 1, name="a")(inputs)
    b = keras.layers.Conv2D(2, 1, name="b")(inputs)
    merged = keras.layers.Add(name="add")([a, b])
    outputs = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(3, 1)(merged))
    with pytest.raises(ValueError, match="Expected a backbone whose layers form one chain"):
        transfer_classifier(keras.Model(inputs, outputs), 2, 8)
    with pytest.raises(ValueError, match="Expected feature_layer to name a layer"):
        transfer_classifier(_backbone(), 3, 16, feature_layer="nope")
