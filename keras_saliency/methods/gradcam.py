"""Grad-CAM (Selvaraju et al. 2017): the feature maps of a convolutional layer weighted by the
spatial mean of the class logit's gradient, ReLU, bilinearly upsampled to the image."""

import keras
import tensorflow as tf

from keras_saliency.methods.base import SaliencyMethod


def last_spatial_layer(classifier):
    """Name of the deepest layer with a 4-D output (the usual Grad-CAM choice).

    Args:
        classifier: a built Keras model.

    Example:

    ```python
    name = last_spatial_layer(keras.applications.MobileNetV2())  # "out_relu"
    ```
    """
    for layer in reversed(classifier.layers):
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
        layer_name: the layer whose feature maps are weighted; `None` picks the deepest
            layer with a 4-D output (`last_spatial_layer`).
        batch_size: images per batch. Defaults to 64.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    maps = GradCAM(model, layer_name="conv5_block3_out")(images, class_ids)
    ```
    """

    name = "gradcam"

    def __init__(self, model, layer_name=None, batch_size=64, **kwargs):
        super().__init__(model, batch_size, **kwargs)
        classifier = self.classifier.classifier
        self.layer_name = layer_name or last_spatial_layer(classifier)
        try:
            layer = classifier.get_layer(self.layer_name)
        except ValueError as error:
            raise ValueError(
                f"Expected a layer of {classifier.name} for Grad-CAM. Received: {self.layer_name!r}"
            ) from error
        self._features_and_outputs = keras.Model(classifier.inputs, [layer.output, classifier.outputs[0]])
        self._fn = tf.function(self._explain, reduce_retracing=True)

    def _explain(self, images, class_ids):
        with tf.GradientTape() as tape:
            features, outputs = self._features_and_outputs(
                self.classifier.preprocess(images), training=False
            )
            logits = self.classifier.postprocess(outputs)
            selected = tf.gather(logits, class_ids, batch_dims=1)
        grads = tape.gradient(selected, features)
        weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(features, tf.float32), axis=-1, keepdims=True))
        cam = tf.image.resize(cam, tf.shape(images)[1:3], method="bilinear")
        return cam[..., 0]

    def explain_batch(self, images, class_ids):
        return self._fn(images, class_ids)
