"""The deployed function: image + class id in, mask + "exists" probability out.

Every export format is made from `serving_function(masker)`. Inputs are named `image`
(float32 RGB pixels in [0, 255], or uint8, NHWC) and `class_id` (int32); outputs are named
`mask` (the masker's resolution, image side / mask_stride, values in [0, 1]) and `exists`
(the probability that the class is in the image). Runtimes upsample the mask for display.
"""

import numpy as np

INPUT_DTYPES = ("float32", "uint8")
SIGNATURE_KEY = "serving_default"
INPUT_NAMES = ("image", "class_id")
OUTPUT_NAMES = ("mask", "exists")


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


PARTS = ("masker", "encoder")


def serving_function(masker, input_dtype="float32", batch_size=None, part="masker", jit_compile=False):
    """A `tf.function` with the named serving signature (see the module docstring).

    `batch_size=None` leaves the batch dimension dynamic. `part="encoder"`: the same signature
    but only the masker's frozen encoder, returning its deepest feature map (`features`; the
    whole backbone runs, without copying out the large shallow maps): the reference the
    masker's speed is measured against. `jit_compile`: compile with XLA.

    Args:
        masker: the `Masker`.
        input_dtype: the `image` input's dtype, "float32" or "uint8" (default "float32").
        batch_size: a fixed batch size, or None.
        part: "masker" or "encoder" (default "masker").
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

    return serve if part == "masker" else serve_encoder


def serving_module(masker, input_dtype="float32", batch_size=None, part="masker"):
    """A `tf.Module` that tracks the masker's variables and holds `serve`.

    Args:
        masker: the `Masker`.
        input_dtype: the `image` input's dtype, "float32" or "uint8" (default "float32").
        batch_size: a fixed batch size, or None for a dynamic one.
        part: "masker", or "encoder" (its deepest feature map only).

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


def reference_outputs(masker, images, class_ids, batch_size=64):
    """The Keras masker's own outputs (the reference every export is compared with).

    Returns `{"mask", "exists"}` numpy arrays, "exists" as a probability.

    Args:
        masker: the `Masker`.
        images: `(N, S, S, 3)` in [0, 255].
        class_ids: `(N,)` the explained classes.
        batch_size: images per call (default 64).

    Example:

    ```python
    reference = reference_outputs(masker, images, class_ids)
    ```
    """
    images = np.asarray(images, np.float32)
    class_ids = np.asarray(class_ids, np.int32)
    masks, exists = [], []
    for start in range(0, len(images), batch_size):
        out = masker(
            {"image": images[start : start + batch_size], "class_id": class_ids[start : start + batch_size]},
            training=False,
        )
        masks.append(np.asarray(out["mask"], np.float32))
        exists.append(1.0 / (1.0 + np.exp(-np.asarray(out["exists"], np.float32))))
    return {"mask": np.concatenate(masks), "exists": np.concatenate(exists)}
