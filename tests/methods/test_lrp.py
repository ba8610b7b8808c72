"""LRP: hand-computed relevance of a tiny dense net, conservation, graphs, shipped classifiers."""

import keras
import numpy as np
import pytest

from keras_saliency.methods import build_method
from keras_saliency.methods.lrp import Composite, LayerwiseRelevance, epsilon_gamma_box, epsilon_plus_flat

pytestmark = pytest.mark.backends  # LRP's known answers on every backend
_np = keras.ops.convert_to_numpy

# Relevance sums to the logit within this relative tolerance (float32, stabilisers 1e-6) for
# bias-free layers under the conserving rules.
CONSERVATION_RTOL = 1e-4


def _dense_net(softmax=False):
    """x (2) -> Dense(2, relu, no bias) -> Dense(2, no bias): logits [2, -1] for x = [1, 2]."""
    inputs = keras.Input((2,))
    hidden = keras.layers.Dense(2, use_bias=False, activation="relu")(inputs)
    outputs = keras.layers.Dense(2, use_bias=False, activation="softmax" if softmax else None)(hidden)
    model = keras.Model(inputs, outputs)
    model.layers[1].set_weights([np.array([[2.0, -1.0], [1.0, 1.0]], np.float32)])
    model.layers[2].set_weights([np.array([[1.0, -1.0], [-2.0, 3.0]], np.float32)])
    return model


@pytest.mark.parametrize(
    "composite, expected",
    [
        # epsilon: R_h = h * w_k * logit / z = [4, -2]; R_x = x_j sum_k w_jk R_k / z_k = [4, -2]
        (Composite("epsilon", "epsilon", "epsilon"), [4.0, -2.0]),
        # z+: R_h = [2, 0] (only h_0 w_00 = 4 is positive); R_x = [2, 2] * 2 / 4 = [1, 1]
        (Composite("zplus", "zplus", "zplus"), [1.0, 1.0]),
        # flat on the first layer: the hidden relevance [4, -2] spread evenly over 2 inputs
        (Composite("flat", "epsilon", "epsilon"), [1.0, 1.0]),
        # z^B with bounds [0, 255]: k0 terms [2, 2] share 4; k1 terms [-1 + 255, 2] share -2
        (Composite("zbox", "epsilon", "epsilon"), [2 - 2 * 254 / 256, 2 - 2 * 2 / 256]),
    ],
)
def test_known_answer_dense(composite, expected):
    lrp = LayerwiseRelevance(_dense_net(), composite)
    relevance, logit = lrp(np.array([[1.0, 2.0]], np.float32), np.array([0]))
    np.testing.assert_allclose(_np(logit), [2.0], rtol=1e-6)
    np.testing.assert_allclose(_np(relevance)[0], expected, rtol=1e-5, atol=1e-5)


def test_gamma_rule_known_answer():
    # gamma 0.25, class 0 (logit 2): top layer positive contributions h_0 * 1.25 = 5 and
    # h_1 * (-2) = -2 share 2: R_h = [2 * 5 / 3, 2 * -2 / 3]; first layer (z > 0 for both units):
    # unit 0 weights [2.5, 1.25] -> x w = [2.5, 2.5]; unit 1 weights [-1, 1.25] -> [-1, 2.5].
    lrp = LayerwiseRelevance(_dense_net(), Composite("gamma", "gamma", "gamma", gamma=0.25))
    relevance, _ = lrp(np.array([[1.0, 2.0]], np.float32), np.array([0]))
    r_h = np.array([10 / 3, -4 / 3])
    expected = np.array([2.5, 2.5]) / 5 * r_h[0] + np.array([-1.0, 2.5]) / 1.5 * r_h[1]
    np.testing.assert_allclose(_np(relevance)[0], expected, rtol=1e-5)


def test_relevance_starts_at_the_logit_before_softmax():
    lrp = LayerwiseRelevance(_dense_net(softmax=True), Composite("epsilon", "epsilon", "epsilon"))
    relevance, logit = lrp(np.array([[1.0, 2.0]], np.float32), np.array([0]))
    np.testing.assert_allclose(_np(logit), [2.0], rtol=1e-6)
    np.testing.assert_allclose(_np(relevance)[0], [4.0, -2.0], rtol=1e-5)


def _conv_net(activation="relu", batch_norm=False, bias=False, seed=0):
    """A tiny bias-free CNN with Rescaling to [-1, 1], max and average pooling (He-normal
    weights: activations and logits of order 1, far above the 1e-6 stabilisers)."""
    keras.utils.set_random_seed(seed)
    conv = lambda *a, **k: keras.layers.Conv2D(*a, use_bias=bias, kernel_initializer="he_normal", **k)  # noqa: E731
    act = (lambda: keras.layers.LeakyReLU(0.1)) if activation == "leaky" else (lambda: keras.layers.ReLU())
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = conv(4, 3, padding="same")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    x = act()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = conv(6, 3, padding="same")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    x = act()(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = conv(6, 1)(x)
    x = act()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(3, use_bias=bias, kernel_initializer="he_normal")(x)
    return keras.Model(inputs, outputs)


def _images(n=4, size=8, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype(np.float32)


def _positive_class(model, images):
    """The class with the largest logit (positive for these random nets)."""
    return _np(model(images)).argmax(1)


@pytest.mark.parametrize(
    "composite, activation",
    [
        (epsilon_gamma_box(), "relu"),
        (epsilon_gamma_box(), "leaky"),  # negative inputs: the generalised gamma rule
        (epsilon_plus_flat(), "relu"),
        (Composite("epsilon", "epsilon", "epsilon"), "leaky"),
    ],
)
def test_conservation_bias_free_conv_net(composite, activation):
    model = _conv_net(activation)
    images = _images()
    ids = _positive_class(model, images)
    relevance, logits = LayerwiseRelevance(model, composite)(images, ids)
    np.testing.assert_allclose(_np(logits), _np(model(images)).max(1), rtol=1e-5)
    np.testing.assert_allclose(_np(relevance).sum(axis=(1, 2, 3)), _np(logits), rtol=CONSERVATION_RTOL)


def test_box_bounds_follow_the_rescaling():
    lrp = LayerwiseRelevance(_conv_net(), epsilon_gamma_box())
    first = [s for s in lrp.steps if s.first]
    assert len(first) == 1 and first[0].rule == "zbox"
    low, high = (_np(b) for b in first[0].bounds)
    np.testing.assert_allclose(low, -1.0)
    np.testing.assert_allclose(high, 1.0)
    assert [s.rule for s in lrp.steps if s.kind == "linear"] == ["zbox", "gamma", "gamma", "epsilon"]


def test_batch_norm_folded_into_the_convolution():
    model = _conv_net(batch_norm=True, bias=True)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # non-trivial statistics
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2, c)])
    lrp = LayerwiseRelevance(model, epsilon_gamma_box())
    assert not any(isinstance(s.layer, keras.layers.BatchNormalization) for s in lrp.steps)
    assert sum(s.batch_norm is not None for s in lrp.steps) == 2
    images = _images()
    _, logits = lrp(images, np.zeros(4, np.int32))
    np.testing.assert_allclose(_np(logits), _np(model(images))[:, 0], rtol=1e-4, atol=1e-5)


def test_residual_and_nested_graph():
    block_in = keras.Input((8, 8, 4))
    block = keras.Sequential(
        [keras.layers.Conv2D(4, 3, padding="same", use_bias=False), keras.layers.ReLU()], name="block"
    )
    block(block_in)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Add()([x, block(x)])
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2, use_bias=False)(x)
    model = keras.Model(inputs, outputs)
    images = _images()
    ids = _positive_class(model, images)
    relevance, logits = LayerwiseRelevance(model, epsilon_plus_flat())(images, ids)
    np.testing.assert_allclose(_np(logits), _np(model(images)).max(1), rtol=1e-5)
    np.testing.assert_allclose(_np(relevance).sum(axis=(1, 2, 3)), _np(logits), rtol=CONSERVATION_RTOL)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_conservation_through_resizing(interpolation):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Resizing(16, 16, interpolation=interpolation)(inputs)  # as in transfer classifiers
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, kernel_initializer="he_normal")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.UpSampling2D(2)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, use_bias=False, kernel_initializer="he_normal")(x))
    images = _images()
    ids = _positive_class(model, images)
    relevance, logits = LayerwiseRelevance(model, Composite("epsilon", "epsilon", "epsilon"))(images, ids)
    assert relevance.shape == (4, 8, 8, 3)
    np.testing.assert_allclose(_np(relevance).sum(axis=(1, 2, 3)), _np(logits), rtol=CONSERVATION_RTOL)


def test_resizing_with_negative_weights_is_refused():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Resizing(16, 16, interpolation="bicubic", name="cubic")(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(x)))
    with pytest.raises(ValueError, match="Received: layer 'cubic' of class Resizing"):
        LayerwiseRelevance(keras.Model(inputs, outputs))


def test_unsupported_layer_is_named():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.LayerNormalization(name="odd_norm")(x)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    with pytest.raises(ValueError, match="Expected layers that LRP supports .*Received: layer 'odd_norm' of class LayerNormalization"):
        LayerwiseRelevance(keras.Model(inputs, outputs))


def test_unknown_rule():
    with pytest.raises(ValueError, match="Expected first in"):
        Composite(first="alpha2beta1")


def test_method_maps_on_the_shipped_cifar10_classifier():
    from keras_saliency import pretrained

    model = pretrained.load("cifar10")
    images = _images(2, size=model.image_size)
    ids = _np(model.classifier_logits(images)).argmax(1)
    method = build_method("lrp_epsilon_gamma_box", model)
    maps = method(images, ids)
    assert maps.shape == (2, 32, 32)
    assert np.isfinite(maps).all() and maps.min() >= 0 and np.isclose(maps.max(), 1.0)
    relevance, logits = method.relevance(images, ids)
    np.testing.assert_allclose(logits, _np(model.classifier_logits(images))[np.arange(2), ids], rtol=1e-4)
    assert relevance.shape == (2, 32, 32, 3)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cifar10", "tiny-imagenet-100", "imagenet-darknet-tiny"])
@pytest.mark.parametrize("method_name", ["lrp_epsilon_gamma_box", "lrp_epsilon_plus_flat"])
def test_every_shipped_classifier(name, method_name):
    from keras_saliency import pretrained

    model = pretrained.load(name)
    images = _images(2, size=model.image_size)
    ids = _np(model.classifier_logits(images)).argmax(1)
    maps = build_method(method_name, model)(images, ids)
    assert maps.shape == (2, model.image_size, model.image_size)
    assert np.isfinite(maps).all() and maps.max() > 0


@pytest.mark.slow
def test_darknet_keras_file():
    from tests.conftest import SHARED_DATA

    import os

    path = os.path.join(os.path.dirname(SHARED_DATA), "models", "darknet-tiny-imagenet.keras")
    if not os.path.exists(path):
        pytest.skip(f"model not available at {path}")
    classifier = keras.saving.load_model(path)
    images = _images(2, size=224)
    maps = build_method("lrp_epsilon_gamma_box", classifier)(images, np.array([1, 2]))
    assert maps.shape == (2, 224, 224) and np.isfinite(maps).all()
