"""Ensembles of classifiers: one Keras classifier that averages the class probabilities of several
trained classifiers (and, optionally, of each on the horizontally flipped image), for a more
accurate classifier to explain.

The ensemble is a functional model whose members are nested models: the masker can tap one
member's layers (`"member_name/layer_name"`, see `classifier_layers.nested_layer`), and Grad-CAM explains it as the
mean of its members' Grad-CAM maps (`ensemble_parts`).

Example:

```python
classifier = ensemble_classifier([vgg, darknet_transfer], flip=True)
probabilities = keras.ops.softmax(classifier(images))  # its outputs are logits
```
"""

import keras
from keras import ops

from keras_saliency.models.classifier_layers import classifier_output_kind
from keras_saliency.models.layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class HorizontalFlip(keras.layers.Layer):
    """Mirrors images left to right (always; not an augmentation).

    Args:
        **kwargs: `keras.layers.Layer` arguments (e.g. `name`).

    Example:

    ```python
    flipped = HorizontalFlip()(images)  # images[:, :, ::-1]
    ```
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("autocast", False)  # the same dtype as the unflipped branch
        super().__init__(**kwargs)

    def call(self, images):
        return ops.flip(images, axis=2)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanProbabilityLogits(keras.layers.Layer):
    """The log of the mean of several softmax distributions: logits whose softmax is the average
    of the inputs' class probabilities.

    Args:
        from_probabilities: per input, whether it is already probabilities (else logits).
            Defaults to all logits.
        **kwargs: `keras.layers.Layer` arguments (e.g. `name`).

    Example:

    ```python
    logits = MeanProbabilityLogits()([logits_a, logits_b])  # softmax(logits) = mean of the two
    ```
    """

    def __init__(self, from_probabilities=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.from_probabilities = None if from_probabilities is None else [bool(p) for p in from_probabilities]

    def call(self, inputs):
        kinds = self.from_probabilities or [False] * len(inputs)
        if len(kinds) != len(inputs):
            raise ValueError(f"Expected {len(kinds)} inputs (one per from_probabilities). Received: {len(inputs)}")
        logs = []
        for values, probabilities in zip(inputs, kinds):
            values = ops.cast(values, "float32")
            logs.append(ops.log(ops.clip(values, 1e-12, 1.0)) if probabilities else ops.log_softmax(values, axis=-1))
        return ops.logsumexp(ops.stack(logs, axis=0), axis=0) - ops.log(float(len(logs)))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "from_probabilities": self.from_probabilities}


def ensemble_classifier(members, flip=False, name="ensemble_classifier"):
    """One classifier averaging the class probabilities of `members` (and, with `flip`, of each
    member on the mirrored image too). Its output is logits (log of the mean probabilities).

    Args:
        members: trained Keras classifiers with the same input shape and number of classes and
            distinct names (logits or softmax outputs). They are used as they are (not copied).
        flip: also average each member's probabilities on the horizontally flipped image (the
            usual test-time augmentation for classes that do not depend on left and right).
        name: the ensemble's name.

    Example:

    ```python
    classifier = ensemble_classifier([vgg, darknet_transfer], flip=True)
    model = SaliencyModel.from_classifier(classifier, tap_layers=["cifar10_classifier/scale_0_out", ...])
    ```
    """

    members = list(members)
    if not members or not all(isinstance(m, keras.Model) for m in members):
        raise ValueError(f"Expected a non-empty list of keras.Model members. Received: {members!r}")
    shapes = {tuple(m.input_shape[1:]) for m in members}
    classes = {int(m.outputs[0].shape[-1]) for m in members}
    names = [m.name for m in members]
    if len(shapes) != 1 or len(classes) != 1:
        raise ValueError(
            "Expected members with one input shape and one number of classes. Received: input shapes "
            f"{sorted(shapes)}, classes {sorted(classes)}"
        )
    if len(set(names)) != len(names) or {"image", "flip", "logits"} & set(names):
        raise ValueError(
            "Expected members with distinct names other than 'image', 'flip' and 'logits' (the "
            f"ensemble's own layers; rename with `model.name = ...`). Received: {names}"
        )
    image = keras.Input(next(iter(shapes)), name="image")
    views = [image, HorizontalFlip(name="flip")(image)] if flip else [image]
    outputs, kinds = [], []
    for view in views:
        for member in members:
            outputs.append(member(view, training=False))
            kinds.append(classifier_output_kind(member) == "probabilities")
    logits = MeanProbabilityLogits(from_probabilities=kinds, name="logits")(outputs)
    return keras.Model(image, logits, name=name)


def ensemble_parts(classifier):
    """The members of an `ensemble_classifier` and whether it also averages flipped images, as
    `(members, flip)`; `None` for any other classifier.

    Args:
        classifier: a Keras classifier.

    Example:

    ```python
    members, flip = ensemble_parts(ensemble_classifier([a, b], flip=True))  # [a, b], True
    ```
    """
    layers = getattr(classifier, "layers", None) or []
    if not layers or not isinstance(layers[-1], MeanProbabilityLogits):
        return None
    members = [layer for layer in classifier.layers if isinstance(layer, keras.Model)]
    flip = any(isinstance(layer, HorizontalFlip) for layer in classifier.layers)
    return members, flip


