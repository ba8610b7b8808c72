"""Grad-CAM (Selvaraju et al. 2017): the feature maps of a convolutional layer weighted by the
spatial mean of the class logit's gradient, ReLU, bilinearly upsampled to the image."""

import keras
import tensorflow as tf

from keras_saliency.methods.base import SaliencyMethod, as_logits


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
        self._fn = tf.function(self._explain, reduce_retracing=True)

    def _explain(self, images, class_ids):
        inputs = self.classifier.preprocess(images)
        size = tf.shape(images)[1:3]
        if len(self._parts) == 1 and not self._flip:
            return tf.image.resize(self._cam(*self._parts[0], inputs, class_ids), size, method="bilinear")[..., 0]
        cams = []
        for flipped in (False, True) if self._flip else (False,):
            view = tf.reverse(inputs, axis=[2]) if flipped else inputs
            for features_and_outputs, kind in self._parts:
                one = tf.image.resize(self._cam(features_and_outputs, kind, view, class_ids), size, method="bilinear")
                one = tf.reverse(one, axis=[2]) if flipped else one
                cams.append(tf.math.divide_no_nan(one, tf.reduce_max(one, axis=[1, 2, 3], keepdims=True)))
        return (tf.add_n(cams) / len(cams))[..., 0]

    def _cam(self, features_and_outputs, kind, inputs, class_ids):
        """ReLU(sum of the feature maps weighted by the mean gradient of the class logit)."""
        with tf.GradientTape() as tape:
            features, outputs = features_and_outputs(inputs, training=False)
            logits = self.classifier.postprocess(outputs) if kind is None else as_logits(outputs, kind)
            selected = tf.gather(logits, class_ids, batch_dims=1)
        grads = tape.gradient(selected, features)
        weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * tf.cast(features, tf.float32), axis=-1, keepdims=True))

    def explain_batch(self, images, class_ids):
        return self._fn(images, class_ids)


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
    return keras.Model(source.inputs, [layer.output, source.outputs[0]]), kind
