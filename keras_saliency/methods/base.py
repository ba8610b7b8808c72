"""What every saliency method shares: the classifier as a function of [0, 255] images, batching,
and per-image normalisation of the maps to [0, 1]."""

import numpy as np
from keras import ops


class ClassifierFunction:
    """The classifier to explain, as `logits = f(images)` on RGB [0, 255] float images.

    Accepts a `SaliencyModel` (its frozen classifier and preprocessing) or a Keras classifier
    with a `preprocessing` mode of `keras_saliency.models.layers.Preprocessing`.

    Args:
        model: a `SaliencyModel` or a Keras classifier (logits or probabilities output).
        preprocessing: the classifier's `Preprocessing` mode, used for a plain Keras
            classifier only (a `SaliencyModel` brings its own). Defaults to `"none"`.

    Example:

    ```python
    f = ClassifierFunction(keras.applications.ResNet50(), preprocessing="caffe")
    logits = f(images)  # images (N, 224, 224, 3) RGB in [0, 255]
    ```
    """

    def __init__(self, model, preprocessing="none"):
        from keras_saliency.models.layers import Preprocessing
        from keras_saliency.models.classifier_layers import classifier_output_kind
        from keras_saliency.models.model import SaliencyModel

        if isinstance(model, SaliencyModel):
            self.classifier = model.classifier
            self.preprocess = model.classifier_preprocessor
            self.output_kind = model.classifier_output
        else:
            self.classifier = model
            self.preprocess = Preprocessing(preprocessing)
            self.output_kind = classifier_output_kind(model)
        self.image_size = int(self.classifier.input_shape[1])
        self.num_classes = int(self.classifier.outputs[0].shape[-1])

    def postprocess(self, outputs):
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0]
        return as_logits(outputs, self.output_kind)

    def __call__(self, images):
        return self.postprocess(self.classifier(self.preprocess(images), training=False))

    def probabilities(self, images, class_ids):
        """Softmax probability of `class_ids` (one per image)."""
        return select(ops.softmax(self(images), axis=-1), class_ids)


def as_logits(outputs, kind):
    """A classifier's outputs as float32 logits: the log of `"probabilities"`, `"logits"` as they are.

    Args:
        outputs: the classifier's output tensor.
        kind: "probabilities" or "logits" (`classifier_output_kind`).

    Example:

    ```python
    logits = as_logits(keras.applications.ResNet50()(images), "probabilities")
    ```
    """
    outputs = ops.cast(outputs, "float32")
    return ops.log(ops.clip(outputs, 1e-12, 1.0)) if kind == "probabilities" else outputs


def select(scores, class_ids):
    """Each row's score of its class: `scores[i, class_ids[i]]`.

    Args:
        scores: (N, classes) tensor.
        class_ids: (N,) integer class ids.

    Example:

    ```python
    chosen = select(logits, class_ids)  # (N,)
    ```
    """
    ids = ops.reshape(ops.cast(class_ids, "int32"), (-1, 1))
    return ops.take_along_axis(scores, ids, axis=-1)[:, 0]


def as_classifier_function(model, preprocessing="none"):
    """`model` as a `ClassifierFunction` (returned as is when it already is one).

    Args:
        model: a `ClassifierFunction`, a `SaliencyModel` or a Keras classifier.
        preprocessing: the classifier's `Preprocessing` mode, for a plain Keras classifier.

    Example:

    ```python
    f = as_classifier_function(model)
    probabilities = f.probabilities(images, class_ids)
    ```
    """
    return model if isinstance(model, ClassifierFunction) else ClassifierFunction(model, preprocessing)


def normalize_maps(maps):
    """Per image: negative values clipped to 0 and the map divided by its maximum, so that 1 is
    the most salient pixel (an all-zero map stays zero).

    Args:
        maps: saliency maps of shape (N, H, W), any real values.

    Example:

    ```python
    maps = normalize_maps(np.random.normal(size=(4, 32, 32)))  # (4, 32, 32) in [0, 1]
    ```
    """
    maps = ops.maximum(ops.cast(maps, "float32"), 0.0)
    peak = ops.max(maps, axis=(1, 2), keepdims=True)
    return ops.where(peak > 0, maps / ops.where(peak > 0, peak, 1.0), 0.0)


class SaliencyMethod:
    """A method maps `(images (N, H, W, 3) in [0, 255], class_ids (N,))` to saliency maps
    `(N, H, W)` in [0, 1] (1 = most salient). Subclasses implement `explain_batch`.

    Args:
        model: a `SaliencyModel`, a Keras classifier or a `ClassifierFunction`.
        batch_size: images per call of `explain_batch`. Defaults to 32.
        preprocessing: the classifier's `Preprocessing` mode, for a plain Keras classifier.
            Defaults to `"none"`.

    Example:

    ```python
    class Blank(SaliencyMethod):
        def explain_batch(self, images, class_ids):
            return ops.zeros(ops.shape(images)[:3])
    ```
    """

    name = "method"
    # Maps divided by their maximum; False for methods whose output already is a [0, 1] mask.
    normalize = True

    def __init__(self, model, batch_size=32, preprocessing="none"):
        self.classifier = as_classifier_function(model, preprocessing)
        self.batch_size = int(batch_size)

    def explain_batch(self, images, class_ids):
        raise NotImplementedError

    def __call__(self, images, class_ids, progress=None):
        images = np.asarray(images, np.float32)
        class_ids = np.asarray(class_ids, np.int32).reshape(-1)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"Expected images (N, H, W, 3). Received: shape={images.shape}")
        if len(class_ids) != len(images):
            raise ValueError(
                f"Expected one class id per image ({len(images)}). Received: {len(class_ids)}"
            )
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = ops.convert_to_tensor(images[start : start + self.batch_size])
            ids = ops.convert_to_tensor(class_ids[start : start + self.batch_size])
            maps = self.explain_batch(batch, ids)
            out.append(ops.convert_to_numpy(normalize_maps(maps) if self.normalize else ops.cast(maps, "float32")))
            if progress is not None:
                progress(len(batch))
        return np.concatenate(out, axis=0)
