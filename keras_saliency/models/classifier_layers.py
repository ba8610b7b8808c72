"""What a masker reads from the user's classifier: its class layer and its tap layers.

A convolutional classifier usually ends in one of two ways, and both give the classifier's own
class evidence at every location (its class activation map), which the masker's class gate and
the initial class selector use:
- global average pooling, then a Dense layer to the classes (ResNet, MobileNetV2, EfficientNet,
  DenseNet, ...): the Dense kernel applied at each location of the pooled features;
- a 1x1 convolution to the classes, then global average pooling (Darknet, SqueezeNet-style).

`find_class_layer` finds it (or says in one line why there is none: a hidden layer after the
pooling, as in MobileNetV3, or no pooling at all, as in a ViT); `automatic_tap_layers` chooses the
encoder's taps by stride: the class layer's input features, and the last layer at each shallower
resolution (the layer just before the resolution halves), as Keras' segmentation and detection
models tap their backbones.
"""

import dataclasses
from typing import Optional

import keras
import numpy as np

# Layers that pass the class scores or the pooled features through unchanged in location.
_TRANSPARENT = (
    keras.layers.Activation,
    keras.layers.Softmax,
    keras.layers.Dropout,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Identity,
)


@dataclasses.dataclass(frozen=True)
class ClassLayer:
    """The classifier's class layer and the features it reads.

    Args:
        name: the class layer's name (a `Dense` after global average pooling or a 1x1
            `Conv2D` before it).
        features: the name of the layer whose output the class layer reads at each location
            (the deepest tap of a gated masker).
        kind: `"dense"` or `"conv"`.

    Example:

    >>> ClassLayer("predictions", "top_relu", "dense").kind
    'dense'
    """

    name: str
    features: str
    kind: str


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history.operation


def _inputs_of(layer):
    nodes = getattr(layer, "_inbound_nodes", [])
    return list(nodes[0].input_tensors) if nodes else []


def _single_input(layer):
    inputs = _inputs_of(layer)
    return _producer(inputs[0]) if len(inputs) == 1 else None


def _skip_transparent(layer):
    while isinstance(layer, _TRANSPARENT):
        layer = _single_input(layer)
    return layer


def _is_pointwise_conv(layer):
    return isinstance(layer, keras.layers.Conv2D) and tuple(layer.kernel_size) == (1, 1) and tuple(
        layer.strides
    ) == (1, 1) and type(layer) is keras.layers.Conv2D


def find_class_layer(classifier):
    """The classifier's class layer, as a `ClassLayer`, or `(None, reason)`.

    Args:
        classifier: a functional Keras classifier (one output of class scores).

    Returns:
        `(ClassLayer, None)`, or `(None, a one-line reason)` when the classifier has no class
        layer a gated masker can read (a hidden layer after the pooling, no global pooling, a
        subclassed model).

    Example:

    ```python
    found, reason = find_class_layer(keras.applications.MobileNetV2(weights=None))
    found.name, found.features  # ('predictions', 'out_relu')
    ```
    """
    outputs = getattr(classifier, "outputs", None)
    if not outputs:
        return None, f"{classifier.name!r} is not a functional model (no graph to read its class layer from)"
    last = _skip_transparent(_producer(outputs[0]))
    num_classes = int(outputs[0].shape[-1])
    if isinstance(last, keras.layers.Dense):
        pooled = _skip_transparent(_single_input(last))
        if isinstance(pooled, keras.layers.GlobalAveragePooling2D):
            features = _single_input(pooled)
            if features is not None and int(last.units) == num_classes:
                return ClassLayer(last.name, features.name, "dense"), None
        what = type(pooled).__name__ if pooled is not None else "several inputs"
        return None, (f"its class layer {last.name!r} reads {what}, not global average pooling "
                      "(a hidden layer after the pooling): no per-location class evidence")
    if isinstance(last, keras.layers.GlobalAveragePooling2D):
        conv = _skip_transparent(_single_input(last))
        if _is_pointwise_conv(conv) and int(conv.filters) == num_classes:
            features = _single_input(conv)
            if features is not None:
                return ClassLayer(conv.name, features.name, "conv"), None
        name = getattr(conv, "name", "?")
        return None, f"the layer before its global pooling ({name!r}) is not a 1x1 convolution to the classes"
    name = getattr(last, "name", "?")
    return None, (f"its output layer {name!r} ({type(last).__name__}) is neither a Dense layer after global "
                  "average pooling nor global pooling of a 1x1 convolution")


def layer_strides(classifier):
    """`[(layer name, stride)]` of every layer with a square feature map that divides the input
    evenly, in the model's (topological) order; the input layer and preprocessing excluded.

    Args:
        classifier: a functional Keras model with a fixed square input size.

    Example:

    ```python
    dict(layer_strides(classifier))["top_relu"]  # 32
    ```
    """
    size = classifier.input_shape[1]
    found = []
    for layer in classifier.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):  # a layer used several times has no single output
            continue
        if len(shape) != 4 or not shape[1] or shape[1] != shape[2] or size % shape[1] or shape[1] == size:
            continue
        found.append((layer.name, size // shape[1]))
    return found


def automatic_tap_layers(classifier, deepest, count=3):
    """Taps chosen by stride: `deepest` (a layer name), then the last layer at each shallower
    resolution (strides halving), shallow to deep, `count` in all at most.

    Args:
        classifier: a functional Keras model with a fixed square input size.
        deepest: the deepest tap's layer name (for a gated masker, the class layer's features).
        count: how many taps at most (default 3: e.g. strides 8, 16, 32).

    Example:

    ```python
    automatic_tap_layers(darknet, "leaky_re_lu_15")  # ['leaky_re_lu_6', 'leaky_re_lu_10', 'leaky_re_lu_15']
    ```
    """
    strides = layer_strides(classifier)
    names = [name for name, _ in strides]
    if deepest not in names:
        raise ValueError(
            f"Expected a deepest tap layer with a square feature map that divides the input. Received: {deepest!r}"
        )
    position = names.index(deepest)
    stride = dict(strides)[deepest]
    taps = [deepest]
    while len(taps) < count and stride > 1:
        stride //= 2
        earlier = [name for name, s in strides[:position] if s == stride]
        if not earlier:
            break
        taps.insert(0, earlier[-1])
        position = names.index(earlier[-1])
    return taps


def deepest_feature_layer(classifier):
    """The layer feeding the classifier's global pooling (or its last layer with a square feature
    map): the deepest tap of an ungated masker.

    Args:
        classifier: a functional Keras classifier.

    Example:

    ```python
    deepest_feature_layer(keras.applications.MobileNetV3Small(weights=None))
    ```
    """
    for layer in reversed(classifier.layers):  # the head's pooling, not a squeeze-excitation's
        if isinstance(layer, (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)):
            source = _single_input(layer)
            if source is not None and source.name in {other.name for other in classifier.layers}:
                return source.name
            break  # a raw operation (e.g. ConvNeXt's residual add) is no layer: the last square one
    strides = layer_strides(classifier)
    if not strides:
        raise ValueError(
            f"Expected a convolutional classifier with square feature maps. Received: {classifier.name!r}, "
            "which has none (a ViT or a subclassed model: give tap_layers or an encoder backbone)"
        )
    return strides[-1][0]


def class_layer_kernel(layer):
    """The class layer's weights as `(kernel (channels, classes), bias (classes,))`.

    Args:
        layer: a `Dense` or 1x1 `Conv2D` layer.

    Example:

    ```python
    kernel, bias = class_layer_kernel(classifier.get_layer("predictions"))
    ```
    """
    kernel = np.asarray(keras.ops.convert_to_numpy(layer.kernel), np.float32)
    kernel = kernel.reshape(-1, kernel.shape[-1])
    bias = getattr(layer, "bias", None)
    bias = np.zeros(kernel.shape[1], np.float32) if bias is None else np.asarray(keras.ops.convert_to_numpy(bias))
    return kernel, bias


def init_selector_from_class_layer(masker, layer):
    """Sets the masker's class selector to the classifier's class layer: each class's embedding
    is that class's weights over the deepest tapped features, so selecting a class starts as its
    class activation map (CAM).

    Args:
        masker: a `Masker` whose deepest tap is the class layer's input.
        layer: the classifier's class layer (`Dense` or 1x1 `Conv2D`).

    Example:

    ```python
    init_selector_from_class_layer(model.masker, classifier.get_layer("predictions"))
    ```
    """
    kernel, _ = class_layer_kernel(layer)
    embedding = masker.selector.embedding
    if tuple(embedding.shape) != (kernel.shape[1], kernel.shape[0]):
        raise ValueError(
            f"Expected a class layer whose kernel matches the selector {tuple(embedding.shape)} "
            f"(classes, channels). Received: {kernel.shape} (channels, classes) from {layer.name!r}"
        )
    embedding.assign(kernel.T)


def input_size(classifier) -> Optional[int]:
    """The classifier's square input side, or None when it does not fix one.

    Args:
        classifier: a Keras classifier.

    Example:

    ```python
    input_size(keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3)))  # 96
    ```
    """
    shape = getattr(classifier, "input_shape", None)
    if not shape or len(shape) != 4 or shape[1] is None or shape[1] != shape[2]:
        return None
    return int(shape[1])


# Keras Applications that take raw [0, 255] pixels build their own rescaling (EfficientNet,
# EfficientNetV2, ConvNeXt, RegNet, MobileNetV3): no rule, `"none"`. The others, by model name
# (lower case) as `keras.applications` names them, and the mode of their `preprocess_input`.
_APPLICATION_MODES = (
    (("resnet50v2", "resnet101v2", "resnet152v2"), "symmetric"),
    (("resnet50", "resnet101", "resnet152", "vgg16", "vgg19"), "caffe"),
    (("densenet",), "torch"),
    (("mobilenetv2_", "mobilenet_", "xception", "inception_v3", "inception_resnet_v2", "nasnet"), "symmetric"),
)
_RESCALING = (keras.layers.Rescaling, keras.layers.Normalization)


def preprocessing_mode(classifier):
    """How [0, 255] pixels become `classifier`'s input, read from the classifier.

    A model whose first layers rescale the pixels (a `Rescaling` or `Normalization` layer, as
    EfficientNet, ConvNeXt or the ../shared classifiers have) takes [0, 255]: `"none"`. Otherwise
    a Keras Applications model is known by its name (MobileNetV2, Xception, InceptionV3 and
    ResNetV2: `"symmetric"`; ResNet and VGG: `"caffe"`; DenseNet: `"torch"`). Returns
    `(mode, reason)`: `reason` is None for `"none"` by default, else one line saying where the
    mode was read from.

    Args:
        classifier: a Keras classifier.

    Example:

    ```python
    preprocessing_mode(keras.applications.MobileNetV2(weights=None))
    # ("symmetric", "the Keras Applications name 'mobilenetv2_1.00_224'")
    ```
    """
    layers = [layer for layer in getattr(classifier, "layers", [])
              if not isinstance(layer, keras.layers.InputLayer)][:4]
    if any(isinstance(layer, _RESCALING) for layer in layers):
        return "none", None
    name = str(classifier.name).lower()
    for prefixes, mode in _APPLICATION_MODES:
        if name.startswith(prefixes):
            return mode, f"the Keras Applications name {classifier.name!r}"
    return "none", None


def classifier_output_kind(classifier):
    """"probabilities" when the classifier's last layer applies a softmax, else "logits".

    Args:
        classifier: a Keras classifier.

    Example:

    ```python
    classifier_output_kind(keras.applications.ResNet50())  # "probabilities"
    ```
    """
    last = classifier.layers[-1]
    activation = getattr(last, "activation", None)
    if activation is keras.activations.softmax or isinstance(last, keras.layers.Softmax):
        return "probabilities"
    return "logits"


def nested_layer(model, path):
    """The layer `path` of `model`: a layer name, or `"inner_model/layer_name"` for a layer of a
    nested model (e.g. one member of an `ensemble_classifier`).

    Args:
        model: a Keras model.
        path: a layer name, or names joined by "/" through nested models.

    Example:

    ```python
    nested_layer(ensemble, "cifar10_classifier/logits")
    ```
    """
    layer = model
    for part in str(path).split("/"):
        try:
            layer = layer.get_layer(part)
        except (ValueError, AttributeError) as error:
            known = [child.name for child in getattr(layer, "layers", [])]
            raise ValueError(f"Expected a layer {part!r} in {layer.name!r} (path {path!r}). Received none; its layers: {known}") from error
    return layer
