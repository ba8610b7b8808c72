"""Frozen multi-scale feature extractors (the masker's encoder).

An encoder is a plain functional `keras.Model`: an `image` input of RGB pixels in [0, 255]
and a list of feature maps at increasing strides (e.g. 2/4/8/16/32). It is built from a
Keras Applications backbone by name, or from any Keras classifier and the names of its tap
layers. The user's model is never modified: the encoder holds a frozen clone.
"""

import dataclasses
from typing import Optional, Sequence

import json

import keras

from keras_saliency.models.layers import Preprocessing


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """A Keras Applications backbone: constructor, tap layers (stride 2..32), preprocessing.

    Args:
        constructor: name of the `keras.applications` constructor (e.g. `"ResNet50"`).
        tap_layers: names of the layers at strides 2, 4, 8, 16 and 32, shallow to deep.
        preprocessing: its `Preprocessing` mode (see `layers.PREPROCESSING_MODES`).

    Example:

    >>> BACKBONES["resnet50"].preprocessing
    'caffe'
    """

    constructor: str
    tap_layers: tuple
    preprocessing: str


BACKBONES = {
    "resnet50": BackboneSpec(
        "ResNet50",
        ("conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
        "caffe",
    ),
    "mobilenet_v2": BackboneSpec(
        "MobileNetV2",
        (
            "block_1_expand_relu",
            "block_3_expand_relu",
            "block_6_expand_relu",
            "block_13_expand_relu",
            "out_relu",
        ),
        "symmetric",
    ),
    "efficientnet_b0": BackboneSpec(
        "EfficientNetB0",
        (
            "block2a_expand_activation",
            "block3a_expand_activation",
            "block4a_expand_activation",
            "block6a_expand_activation",
            "top_activation",
        ),
        "none",  # EfficientNet has its own rescaling and normalisation layers
    ),
}


def _check_backbone_name(name):
    if name not in BACKBONES:
        raise ValueError(f"Expected a backbone name in {sorted(BACKBONES)}. Received: {name!r}")
    return BACKBONES[name]


def application_classifier(name, image_size=224, weights="imagenet", num_classes=1000):
    """A Keras Applications classifier that returns logits (no softmax), and its
    preprocessing mode. `weights="imagenet"` downloads the weights (needs network).

    Args:
        name: a backbone name in `BACKBONES`.
        image_size: input side in pixels. Defaults to 224.
        weights: `"imagenet"`, `None` (random) or a weights file path.
        num_classes: number of output classes (1000 with ImageNet weights).

    Example:

    ```python
    classifier, preprocessing = application_classifier("mobilenet_v2")
    ```
    """
    spec = _check_backbone_name(name)
    constructor = getattr(keras.applications, spec.constructor)
    model = constructor(
        weights=weights,
        input_shape=(image_size, image_size, 3),
        classes=num_classes,
        classifier_activation=None,
    )
    return model, spec.preprocessing


def frozen_clone(model, name=None):
    """A frozen, uncompiled copy of `model` with the same weights; `model` is left untouched.

    The copy is rebuilt from the model's config (`clone_model` would also copy a compiled
    model's optimizer, which a frozen model must not carry into saved files). Models
    without a usable config (some subclassed models) cannot be copied: a clear error says so.

    Args:
        model: a `keras.Model` (functional, Sequential or serialisable).
        name: a new name for the copy, or `None` to keep the model's.

    Example:

    ```python
    classifier = frozen_clone(model, name="classifier")
    ```
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model. Received: {type(model).__name__}")
    try:
        # A model may give a self-contained config for copies (a masker whose encoder shares a
        # classifier's layers saves a reference to them; its copy gets its own encoder).
        config = model.self_contained_config() if hasattr(model, "self_contained_config") else model.get_config()
        clone = type(model).from_config(config)
        clone.set_weights(model.get_weights())
    except Exception as error:  # from_config / set_weights raise several types
        raise ValueError(
            "Expected a functional, Sequential or serialisable Keras model that can be rebuilt "
            f"from its config (the original is never modified). Received: {model.name!r} "
            f"({type(model).__name__}), which failed to copy: {error}"
        ) from error
    clone.trainable = False
    if name:
        clone.name = name
    return clone


def build_encoder(
    backbone,
    tap_layers: Optional[Sequence[str]] = None,
    image_size: Optional[int] = None,
    preprocessing: Optional[str] = None,
    weights="imagenet",
    name="encoder",
    share_weights=False,
):
    """Builds a frozen feature extractor.

    Args:
        backbone: a name in `BACKBONES` ("resnet50", "mobilenet_v2", "efficientnet_b0") or a
            Keras model (e.g. the classifier itself, which then serves as its own encoder).
        tap_layers: names of the layers whose outputs are the features, shallow to deep;
            `"inner/layer"` names a layer of a nested model called on the model's input (e.g.
            one member of `keras_saliency.models.ensemble.ensemble_classifier`).
            Defaults to the backbone's strides 2/4/8/16/32 for named backbones; required for
            a model.
        image_size: input side in pixels (named backbones: default 224; models: taken from
            the model's input shape when it is fixed).
        preprocessing: how pixels in [0, 255] become the backbone's input (see
            `layers.PREPROCESSING_MODES`). Named backbones use their own; models default to
            "none" (the model takes [0, 255] pixels, e.g. it has a Rescaling layer).
        weights: for named backbones, "imagenet" (downloads) or None (random, for tests).
        name: the encoder model's name. Defaults to "encoder".
        share_weights: for a model backbone, whether to tap the model itself (sharing its
            weights, see `shared_taps`) instead of a frozen clone. Defaults to `False`.

    Example:

    ```python
    encoder = build_encoder("mobilenet_v2", image_size=224)
    features = encoder(images)  # 5 feature maps, strides 2 to 32
    ```
    """
    if isinstance(backbone, str):
        spec = _check_backbone_name(backbone)
        image_size = image_size or 224
        constructor = getattr(keras.applications, spec.constructor)
        source = constructor(
            include_top=False, weights=weights, input_shape=(image_size, image_size, 3)
        )
        tap_layers = tuple(tap_layers or spec.tap_layers)
        preprocessing = preprocessing or spec.preprocessing
    else:
        if not tap_layers:
            raise ValueError(
                "Expected tap_layers (names of the model's layers to use as features, shallow to "
                f"deep) when the backbone is a model. Received: tap_layers={tap_layers!r}"
            )
        source = backbone if share_weights else frozen_clone(backbone)
        model_size = source.input_shape[1]
        if image_size is None:
            image_size = model_size
        if image_size is None:
            raise ValueError(
                "Expected image_size: the model's input shape "
                f"{source.input_shape} does not fix it."
            )
        preprocessing = preprocessing or "none"
    source.trainable = False
    tapped, names = _tap_source(source, tap_layers)
    layer_names = [layer.name for layer in tapped.layers]
    missing = [n for n in names if n not in layer_names]
    if missing:
        raise ValueError(
            f"Expected tap layers that exist in {tapped.name!r}. Received unknown names {missing}; "
            f"the model's layers are: {layer_names}"
        )
    taps = keras.Model(
        tapped.inputs,
        [tapped.get_layer(n).output for n in names],
        name=f"{tapped.name}_taps",
    )
    taps.trainable = False
    image = keras.Input((image_size, image_size, 3), name="image")
    x = Preprocessing(preprocessing, name="preprocessing")(image)
    features = taps(x, training=False)
    if not isinstance(features, (list, tuple)):
        features = [features]
    encoder = keras.Model(image, list(features), name=name)
    encoder.trainable = False
    feature_strides(encoder)  # validates the taps
    if share_weights and not isinstance(backbone, str):
        # How to rebuild it from the model it shares (a string: Keras tracks no plain str).
        encoder._shared_taps = json.dumps(
            {"tap_layers": list(tap_layers), "image_size": int(image_size), "preprocessing": preprocessing,
             "name": name}
        )
    return encoder


def _tap_source(model, tap_layers):
    """The (possibly nested) model whose layers `tap_layers` name, and the names within it: taps
    named `"inner/layer"` read a nested model (e.g. one member of an ensemble), all the same one."""
    from keras_saliency.models.classifier_layers import nested_layer

    prefixes = {name.rpartition("/")[0] for name in tap_layers}
    if len(prefixes) != 1:
        raise ValueError(
            "Expected tap layers of one (possibly nested) model: all plain names or all "
            f"'inner_model/layer'. Received: {list(tap_layers)}"
        )
    prefix = prefixes.pop()
    inner = model
    for part in prefix.split("/") if prefix else ():
        outer, inner = inner, nested_layer(inner, part)
        # The taps see the image as the outer model's input: the nested model must be called on
        # that input itself (not after a rescaling layer, which the taps would skip).
        direct = isinstance(inner, keras.Model) and any(
            any(t is outer.inputs[0] for t in node.input_tensors) for node in inner._inbound_nodes
        )
        if not direct:
            raise ValueError(
                f"Expected {part!r} to be a nested model called directly on {outer.name!r}'s input (so that "
                f"its layers can be tapped). Received: {type(inner).__name__} {inner.name!r}, which is not"
            )
    return inner, [name.rpartition("/")[2] for name in tap_layers]


def shared_taps(encoder):
    """How an encoder built with `share_weights=True` is rebuilt from the model it shares (a dict
    of `build_encoder` arguments), or None for a self-contained encoder.

    Args:
        encoder: an encoder from `build_encoder`.

    Example:

    ```python
    shared_taps(build_encoder(classifier, ["scale_3_out"], share_weights=True))["tap_layers"]
    ```
    """
    text = getattr(encoder, "_shared_taps", None)
    return json.loads(text) if text else None


def feature_strides(encoder):
    """Stride of each feature map of `encoder` (image side / feature side).

    Args:
        encoder: an encoder from `build_encoder` (square image input, list of feature maps).

    Example:

    ```python
    feature_strides(build_encoder("resnet50", weights=None))  # [2, 4, 8, 16, 32]
    ```
    """
    size = encoder.input_shape[1]
    strides = []
    for output in encoder.outputs:
        side = output.shape[1]
        if not side or size % side:
            raise ValueError(
                "Expected tap layers whose feature maps divide the image evenly. Received: "
                f"a feature map of shape {output.shape} for a {size}x{size} image"
            )
        strides.append(size // side)
    if strides != sorted(strides):
        raise ValueError(f"Expected tap layers ordered shallow to deep. Received strides {strides}")
    return strides
