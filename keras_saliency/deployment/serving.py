"""The deployed function: image + class id in, mask + "exists" probability out, and for a
masker that classifies too, the classifier's logits and the class explained.

Every export format is made from `serving_function(masker)`. Inputs are named `image`
(float32 RGB pixels in [0, 255], or uint8, NHWC) and `class_id` (int32); outputs are named
`mask` (the masker's resolution, image side / mask_stride, values in [0, 1]) and `exists`
(the probability that the class is in the image). Runtimes upsample the mask for display.

`part="classify"` (a masker with a class gate: it reads the classifier's class layer on the
classifier's own last feature map) runs the classifier's trunk once and returns the classifier's
`logits` as well, and the class explained (`explained_class`): the given one, or for a class id of -1 the
classifier's top-1 class. One pass answers "what is it, and where".
"""

import weakref

import numpy as np

INPUT_DTYPES = ("float32", "uint8")
SIGNATURE_KEY = "serving_default"
INPUT_NAMES = ("image", "class_id")
OUTPUT_NAMES = ("mask", "exists")
CLASSIFY_OUTPUT_NAMES = ("mask", "exists", "logits", "explained_class")
PREDICTED = -1  # the class id that asks a classifying export for the classifier's top-1 class


def as_masker(model):
    """The `Masker` of a `SaliencyModel` (or a `Masker` itself).

    Args:
        model: a `SaliencyModel` or a `Masker`.

    Example:

    ```python
    masker = as_masker(keras_saliency.pretrained.load("cifar10"))
    ```
    """
    from keras_saliency.models.masker import Masker
    from keras_saliency.models.model import SaliencyModel

    if isinstance(model, SaliencyModel):
        return model.masker
    if isinstance(model, Masker):
        return model
    raise TypeError(
        f"Expected a SaliencyModel or a Masker. Received: {type(model).__name__}"
    )


def check_input_dtype(input_dtype):
    """Returns `input_dtype`; raises `ValueError` when it is not in `INPUT_DTYPES`.

    Args:
        input_dtype: "float32" or "uint8".

    Example:

    >>> check_input_dtype("uint8")
    'uint8'
    """
    if input_dtype not in INPUT_DTYPES:
        raise ValueError(f"Expected input_dtype in {INPUT_DTYPES}. Received: {input_dtype!r}")
    return input_dtype


PARTS = ("masker", "encoder", "classify")
_HEADS = weakref.WeakKeyDictionary()  # masker -> its head from the encoder's features on


def can_classify(masker):
    """Whether `part="classify"` applies: the masker has a class gate, which holds the
    classifier's class layer (a Dense after global average pooling, or a 1x1 convolution before
    it) and reads the classifier's own last feature map, so the classifier's logits are that
    layer applied to the mean of the masker's deepest features.

    Args:
        masker: the `Masker`.

    Example:

    ```python
    can_classify(keras_saliency.pretrained.load("imagenet-darknet-tiny").masker)  # True
    ```
    """
    return getattr(masker, "class_gate", "none") != "none"


def classify_parts(masker):
    """`(head, gate)`: the masker from its encoder's feature maps on (a Keras model of
    `[*features, class_id]`, sharing the masker's layers) and its class gate, whose class weights
    give the classifier's logits.

    Args:
        masker: a `Masker` with a class gate (`can_classify`).

    Example:

    ```python
    head, gate = classify_parts(masker)
    features = masker.encoder(images)
    outputs = head([*features, class_ids])  # {"mask", "exists"}, as masker(...) gives
    ```
    """
    import keras

    if not can_classify(masker):
        raise ValueError("Expected a masker with a class gate (it holds the classifier's class layer). "
                         f"Received: class_gate={getattr(masker, 'class_gate', None)!r}")
    if masker not in _HEADS:
        image = masker.input["image"]
        nodes = [node for node in masker.encoder._inbound_nodes
                 if any(tensor is image for tensor in node.input_tensors)] or masker.encoder._inbound_nodes[-1:]
        features = list(nodes[0].output_tensors)
        _HEADS[masker] = keras.Model([*features, masker.input["class_id"]], masker.output, name="masker_head")
    return _HEADS[masker], masker.get_layer("class_gate")


def class_logits(gate, features):
    """The classifier's logits from its last feature map: its class layer (held by the masker's
    class gate) applied to the features' spatial mean.

    Args:
        gate: the masker's `ClassEvidenceGate`.
        features: `(N, h, w, C)` the masker's deepest feature map.

    Example:

    ```python
    logits = class_logits(masker.get_layer("class_gate"), masker.encoder(images)[-1])
    ```
    """
    from keras import ops

    kernel, bias = gate._class_weights()
    return ops.matmul(ops.mean(ops.cast(features, "float32"), axis=(1, 2)), kernel) + bias


def serving_function(masker, input_dtype="float32", batch_size=None, part="masker", jit_compile=False):
    """A `tf.function` with the named serving signature (see the module docstring).

    `batch_size=None` leaves the batch dimension dynamic. `part="encoder"`: the same signature
    but only the masker's frozen encoder, returning its deepest feature map (`features`; the
    whole backbone runs, without copying out the large shallow maps): the reference the
    masker's speed is measured against. `part="classify"`: the classifier's `logits` and the
    class explained (`explained_class`) as well (class id -1: the top-1 class), the trunk run once
    (`can_classify`).
    `jit_compile`: compile with XLA.

    Args:
        masker: the `Masker`.
        input_dtype: the `image` input's dtype, "float32" or "uint8" (default "float32").
        batch_size: a fixed batch size, or None.
        part: "masker", "encoder" or "classify" (default "masker").
        jit_compile: compile the function with XLA (default False).

    Example:

    ```python
    serve = serving_function(masker)
    outputs = serve(image=images, class_id=class_ids)  # {"mask", "exists"}
    ```
    """
    import tensorflow as tf

    check_input_dtype(input_dtype)
    if part not in PARTS:
        raise ValueError(f"Expected part in {PARTS}. Received: part={part!r}")
    size = masker.image_size
    signature = [
        tf.TensorSpec([batch_size, size, size, 3], getattr(tf, input_dtype), name="image"),
        tf.TensorSpec([batch_size], tf.int32, name="class_id"),
    ]

    @tf.function(input_signature=signature, jit_compile=jit_compile)
    def serve_encoder(image, class_id):
        del class_id  # same signature as the masker
        features = tf.nest.flatten(masker.encoder(tf.cast(image, tf.float32), training=False))
        return {"features": tf.cast(features[-1], tf.float32)}

    @tf.function(input_signature=signature, jit_compile=jit_compile)
    def serve(image, class_id):
        outputs = masker({"image": tf.cast(image, tf.float32), "class_id": class_id}, training=False)
        return {
            "mask": tf.cast(outputs["mask"], tf.float32),
            "exists": tf.sigmoid(tf.cast(outputs["exists"], tf.float32)),
        }

    if part == "classify":
        head, gate = classify_parts(masker)

        @tf.function(input_signature=signature, jit_compile=jit_compile)
        def serve_classify(image, class_id):
            features = tf.nest.flatten(masker.encoder(tf.cast(image, tf.float32), training=False))
            with tf.name_scope("class_logits"):
                logits = class_logits(gate, features[-1])
                chosen = tf.where(class_id < 0, tf.argmax(logits, axis=-1, output_type=tf.int32), class_id)
            outputs = head([*features, chosen], training=False)
            return {
                "mask": tf.cast(outputs["mask"], tf.float32),
                "exists": tf.sigmoid(tf.cast(outputs["exists"], tf.float32)),
                "logits": tf.cast(logits, tf.float32),
                "explained_class": chosen,
            }

        return serve_classify
    return serve if part == "masker" else serve_encoder


def serving_module(masker, input_dtype="float32", batch_size=None, part="masker"):
    """A `tf.Module` that tracks the masker's variables and holds `serve`.

    Args:
        masker: the `Masker`.
        input_dtype: the `image` input's dtype, "float32" or "uint8" (default "float32").
        batch_size: a fixed batch size, or None for a dynamic one.
        part: "masker", "encoder" (its deepest feature map only) or "classify".

    Example:

    ```python
    module = serving_module(masker)
    tf.saved_model.save(module, "export/masker", signatures={"serving_default": module.serve})
    ```
    """
    import tensorflow as tf

    module = tf.Module()
    module.masker = masker
    gate = next((layer for layer in masker.layers if layer.name == "class_gate"), None)
    if getattr(gate, "shared_class_layer", None) is not None:
        module.class_layer = gate.shared_class_layer  # the classifier's layer the gate reads
    module.serve = serving_function(masker, input_dtype, batch_size, part)
    return module


def reference_outputs(masker, images, class_ids, batch_size=64, classify=False):
    """The Keras masker's own outputs (the reference every export is compared with).

    Returns `{"mask", "exists"}` numpy arrays, "exists" as a probability; with `classify`, also
    the classifier's `logits` read from the masker's features (`class_logits`) and the
    class explained (`explained_class`).

    Args:
        masker: the `Masker`.
        images: `(N, S, S, 3)` in [0, 255].
        class_ids: `(N,)` the explained classes.
        batch_size: images per call (default 64).
        classify: add `logits` and `explained_class` (a masker with a class gate).

    Example:

    ```python
    reference = reference_outputs(masker, images, class_ids)
    ```
    """
    images = np.asarray(images, np.float32)
    class_ids = np.asarray(class_ids, np.int32)
    masks, exists, logits = [], [], []
    for start in range(0, len(images), batch_size):
        out = masker(
            {"image": images[start : start + batch_size], "class_id": class_ids[start : start + batch_size]},
            training=False,
        )
        masks.append(np.asarray(out["mask"], np.float32))
        exists.append(1.0 / (1.0 + np.exp(-np.asarray(out["exists"], np.float32))))
        if classify:
            features = masker.encoder(images[start : start + batch_size], training=False)
            features = features[-1] if isinstance(features, (list, tuple)) else features
            logits.append(np.asarray(class_logits(masker.get_layer("class_gate"), features), np.float32))
    reference = {"mask": np.concatenate(masks), "exists": np.concatenate(exists)}
    if classify:
        reference.update(logits=np.concatenate(logits), explained_class=class_ids)
    return reference
