"""Grad-CAM (Selvaraju et al. 2017): the feature maps of a convolutional layer weighted by the
spatial mean of the class logit's gradient, ReLU, bilinearly upsampled to the image."""

import keras
from keras import ops

from keras_saliency.methods.autodiff import value_and_gradient
from keras_saliency.models.compiled import compiled
from keras_saliency.methods.base import SaliencyMethod, as_logits, normalize_maps, select


def last_spatial_layer(classifier):
    """Name of the deepest layer with a 4-D output (the usual Grad-CAM choice).

    Args:
        classifier: a built Keras model.

    Example:

    ```python
    name = last_spatial_layer(keras.applications.MobileNetV2())  # "out_relu"
    ```
    """
    from keras_saliency.models.ensemble import HorizontalFlip, ensemble_parts

    if ensemble_parts(classifier):
        raise ValueError(
            f"Expected a single classifier: {classifier.name} is an ensemble, whose Grad-CAM is its "
            "members' (GradCAM does that). Received: an ensemble; pass layer_name='member/layer' for one member"
        )
    for layer in reversed(classifier.layers):
        if isinstance(layer, HorizontalFlip):
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer):
            return layer.name
    raise ValueError(
        f"Expected a classifier with at least one 4-D (spatial) layer output. Received: "
        f"{classifier.name} has none; pass layer_name"
    )


class GradCAM(SaliencyMethod):
    """Grad-CAM maps of a convolutional layer of the classifier, upsampled to the image.

    Args:
        model: a `SaliencyModel` or a Keras classifier.
        layer_name: the layer whose feature maps are weighted (`"member/layer"` for a layer of
            a nested model called on the input); `None` picks the deepest layer with a 4-D
            output (`last_spatial_layer`). For an ensemble of `ensemble_classifier` and `None`,
            the map is the mean of its members' Grad-CAM maps (each on its own deepest 4-D layer
            and for its own logit, each scaled to a maximum of 1; mirrored views flipped back).
        batch_size: images per batch. Defaults to 64.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    maps = GradCAM(model, layer_name="conv5_block3_out")(images, class_ids)
    ```
    """

    name = "gradcam"

    def __init__(self, model, layer_name=None, batch_size=64, **kwargs):
        from keras_saliency.models.ensemble import ensemble_parts
        from keras_saliency.models.classifier_layers import classifier_output_kind

        super().__init__(model, batch_size, **kwargs)
        classifier = self.classifier.classifier
        parts = ensemble_parts(classifier) if layer_name is None else None
        if parts:
            # An ensemble: the mean of its members' Grad-CAM maps (each on its own deepest 4-D
            # layer and for its own logit), flipped views flipped back, each map scaled to max 1.
            members, self._flip = parts
            self.layer_name = [f"{m.name}/{last_spatial_layer(m)}" for m in members]  # one per member
            self._parts = [(_features_and_outputs(m, last_spatial_layer(m))[0], classifier_output_kind(m)) for m in members]
        else:
            self.layer_name = layer_name or last_spatial_layer(classifier)
            self._flip = False
            self._parts = [_features_and_outputs(classifier, self.layer_name)]
        self._fn = compiled(self._explain)

    def _explain(self, images, class_ids):
        inputs = self.classifier.preprocess(images)
        size = tuple(images.shape[1:3])
        if len(self._parts) == 1 and not self._flip:
            return ops.image.resize(self._cam(*self._parts[0], inputs, class_ids), size, interpolation="bilinear")[..., 0]
        cams = []
        for flipped in (False, True) if self._flip else (False,):
            view = ops.flip(inputs, axis=2) if flipped else inputs
            for features_and_outputs, kind in self._parts:
                one = ops.image.resize(self._cam(features_and_outputs, kind, view, class_ids), size, interpolation="bilinear")
                one = ops.flip(one, axis=2) if flipped else one
                cams.append(normalize_maps(one[..., 0]))
        return sum(cams) / len(cams)

    def _cam(self, features_and_outputs, kind, inputs, class_ids):
        """ReLU(sum of the feature maps weighted by the mean gradient of the class logit)."""
        features, grads = _features_and_gradients(
            features_and_outputs,
            lambda outputs: select(self.classifier.postprocess(outputs) if kind is None else as_logits(outputs, kind), class_ids),
            inputs,
        )
        weights = ops.mean(grads, axis=(1, 2), keepdims=True)
        return ops.relu(ops.sum(weights * ops.cast(features, "float32"), axis=-1, keepdims=True))

    def explain_batch(self, images, class_ids):
        return self._fn(images, class_ids)


def _features_and_gradients(features_and_outputs, score, inputs):
    """`(the layer's feature maps, d score / d features)`. On TensorFlow a tape watches the
    feature maps inside the classifier's graph; on the other backends the graph is split at the
    layer (`(head, tail)`: the feature maps, and the output as a function of them)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            features, outputs = features_and_outputs(inputs, training=False)
            selected = score(outputs)
        return features, tape.gradient(selected, features)
    head, tail = features_and_outputs
    features = head(inputs, training=False)
    return features, value_and_gradient(lambda f: score(tail(f, training=False)), features)[1]


def _features_and_outputs(classifier, layer_name):
    """`(image -> (the layer's feature maps, its model's output), that output's kind)`: a
    `"member/layer"` name taps a nested model called on the classifier's input, explained for its
    own output (None: the classifier's own, postprocessed as usual)."""
    from keras_saliency.models.encoders import _tap_source
    from keras_saliency.models.classifier_layers import classifier_output_kind

    try:
        source, (name,) = _tap_source(classifier, [layer_name])
        layer = source.get_layer(name)
    except ValueError as error:
        raise ValueError(f"Expected a layer of {classifier.name} for Grad-CAM. Received: {layer_name!r}") from error
    kind = None if source is classifier else classifier_output_kind(source)
    if keras.backend.backend() == "tensorflow":
        return keras.Model(source.inputs, [layer.output, source.outputs[0]]), kind
    try:  # JAX and PyTorch differentiate functions: the output as a function of the feature maps
        tail = keras.Model(layer.output, source.outputs[0])
    except ValueError as error:
        raise ValueError(
            f"Expected a layer whose feature maps alone lead to {source.name}'s output (Grad-CAM on "
            f"{keras.backend.backend()} splits the graph there). Received: {layer_name!r} ({error})"
        ) from None
    return (keras.Model(source.inputs, layer.output), tail), kind
