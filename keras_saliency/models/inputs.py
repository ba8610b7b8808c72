"""What `SaliencyModel` accepts, checked before anything runs: RGB images at the model's size in
[0, 255] (a [0, 1] range warns), finite values, one integer class id per image within the
classifier's classes. On the host the checks raise `ValueError("Expected ... Received ...")`;
inside a traced function they are assertions with the same messages (NaN outputs under XLA).

Example:

```python
from keras_saliency.models.inputs import check_inputs

images, class_ids = check_inputs(images, [3, 5], image_size=224, num_classes=1000)
```
"""

import logging

import numpy as np


def split_inputs(inputs):
    """`(images, class_ids)`, `[images, class_ids]`, `{"image", "class_id"}` or images alone
    (class ids then come from the classifier's prediction: returned as None).

    Args:
        inputs: the model's inputs in any of the forms above.

    Example:

    >>> split_inputs({"image": "x", "class_id": 3})
    ('x', 3)
    """
    if isinstance(inputs, dict):
        if "image" not in inputs:
            raise ValueError(
                f"Expected a dict with keys 'image' and 'class_id'. Received keys: {sorted(inputs)}"
            )
        return inputs["image"], inputs.get("class_id")
    if isinstance(inputs, (list, tuple)):
        if len(inputs) == 1:
            return inputs[0], None
        if len(inputs) != 2:
            raise ValueError(
                f"Expected (images, class_ids). Received a sequence of {len(inputs)} elements"
            )
        return inputs[0], inputs[1]
    return inputs, None


# Input validation. `predict` and an eager `call` raise `ValueError("Expected ... Received ...")`
# before any computation; a traced `call` (inside `predict`, `tf.function`, a SavedModel) runs
# the same checks as in-graph assertions (`tf.errors.InvalidArgumentError` with the message).
# Class ids must be integers (floats, even whole ones like 3.0, are refused: cast them), of shape
# (N,) or (N, 1) (squeezed), one per image, in [0, num_classes); the range is checked in the ids'
# own dtype, so an int64 id such as 2**32 + 3 never wraps around into range.

_MAX_SHOWN = 10  # offending values shown in a message


def _shape_text(shape):
    """`(2, 32, 32, 3)`, `(5,)`, `(None, 32)`: a shape as Python prints a tuple."""
    return str(tuple(None if d is None else int(d) for d in shape))


def _dtype_name(dtype):
    try:
        return np.dtype(dtype).name
    except TypeError:
        return getattr(dtype, "name", str(dtype))


def _expected_images(image_size, shape):
    return (
        f"Expected images of shape (N, {image_size}, {image_size}, 3) (N >= 1 RGB images at the "
        f"model input size). Received: images of shape {_shape_text(shape)}"
    )


def _check_static(images_shape, images_dtype, ids_shape, ids_dtype, image_size):
    """Checks of what is known before running: dtypes, ranks and the known dimensions.
    Shapes are tuples (None where unknown), `ids_shape` None when there are no class ids."""
    if _dtype_kind(images_dtype) not in ("f", "i", "u"):
        raise ValueError(
            "Expected images of a numeric dtype (float or integer pixels in [0, 255]). "
            f"Received: images of dtype {_dtype_name(images_dtype)}"
        )
    if images_shape is not None:
        if len(images_shape) != 4 or any(
            d is not None and d != want
            for d, want in zip(images_shape[1:], (image_size, image_size, 3))
        ):
            raise ValueError(_expected_images(image_size, images_shape))
        if images_shape[0] == 0:
            raise ValueError(_expected_images(image_size, images_shape))
    if ids_dtype is None:
        return
    if _dtype_kind(ids_dtype) not in ("i", "u"):
        raise ValueError(
            "Expected integer class_ids (int32 or int64; floats, even whole ones, are refused: "
            f"cast them with .astype('int32')). Received: class_ids of dtype {_dtype_name(ids_dtype)}"
        )
    if ids_shape is not None:
        if len(ids_shape) not in (1, 2) or (len(ids_shape) == 2 and ids_shape[1] not in (None, 1)):
            raise ValueError(
                "Expected class_ids of shape (N,) or (N, 1): one class id per image. "
                f"Received: class_ids of shape {_shape_text(ids_shape)}"
            )
        if images_shape is not None and None not in (images_shape[0], ids_shape[0]) and (
            images_shape[0] != ids_shape[0]
        ):
            raise ValueError(
                f"Expected one class id per image ({images_shape[0]} images). "
                f"Received: {ids_shape[0]} class_ids"
            )


def _dtype_kind(dtype):
    """"f" (floats, bfloat16 included), "i", "u", or another NumPy kind ("b", "O", "U", "c"...)."""
    name = _dtype_name(dtype)
    if name in ("bfloat16", "float8_e4m3fn", "float8_e5m2"):
        return "f"
    try:
        return np.dtype(dtype).kind
    except TypeError:
        return None


def _out_of_range_message(bad, num_classes):
    shown = [int(v) for v in bad[:_MAX_SHOWN]]
    more = f" and {len(bad) - _MAX_SHOWN} more" if len(bad) > _MAX_SHOWN else ""
    return f"Expected class_ids in [0, {num_classes}). Received: class_ids={shown}{more}"


def _non_finite_message(count, shape):
    return (
        f"Expected finite pixel values. Received: {count} NaN or infinite values in images of "
        f"shape {_shape_text(shape)}"
    )


def _check_pixel_range(minimum, maximum, shape):
    """Pixels outside [0, 255] are refused; pixels that all lie in [0, 1] are said (once per call)
    to be most likely scaled already: both give wrong masks and "exists" without a word."""
    if minimum < -0.5 or maximum > 255.5:
        raise ValueError(
            f"Expected pixels in [0, 255] (RGB, as read from an image file). Received: values in "
            f"[{minimum:.4g}, {maximum:.4g}] in images of shape {_shape_text(shape)}: give the images "
            "before any preprocessing (the model applies the classifier's own)"
        )
    if 0 < maximum <= 1.0:
        logging.getLogger("keras_saliency").warning(
            "Every pixel lies in [0, %g]: keras-saliency models take [0, 255] pixels; multiply [0, 1] "
            "images by 255, or the masks and \"exists\" are wrong.", maximum)


def is_array_like(value):
    """NumPy arrays, eager tensors, numbers and nested lists of them (what `predict` can check
    on the host); not datasets, generators or symbolic tensors."""
    if isinstance(value, (np.ndarray, np.generic, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(is_array_like(v) for v in value)
    return hasattr(value, "numpy") and hasattr(value, "shape") and hasattr(value, "dtype")


def check_inputs(images, class_ids, image_size, num_classes, chunk=256):
    """Host-side validation of `(images, class_ids)` given as NumPy arrays (or eager tensors,
    or nested lists). Returns `(images, class_ids)`: the images unchanged (as an array) and the
    class ids as int32 of shape (N,), or None. Raises `ValueError("Expected ... Received ...")`.

    Args:
        images: images of shape (N, image_size, image_size, 3).
        class_ids: integer class ids of shape (N,) or (N, 1), or `None`.
        image_size: the model's input side in pixels.
        num_classes: number of classes (ids must lie in [0, num_classes)).
        chunk: images checked for non-finite values at a time. Defaults to 256.

    Example:

    ```python
    images, class_ids = check_inputs(images, [3, 5], image_size=32, num_classes=10)
    ```
    """
    try:
        images = np.asarray(images)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Expected images as an array of shape (N, {image_size}, {image_size}, 3). "
            f"Received: {type(images).__name__} that is not an array ({error})"
        ) from None
    ids = None
    if class_ids is not None:
        try:
            ids = np.asarray(class_ids)
        except (ValueError, TypeError) as error:
            raise ValueError(
                "Expected class_ids as an integer array of shape (N,). "
                f"Received: {type(class_ids).__name__} that is not an array ({error})"
            ) from None
    _check_static(
        images.shape, images.dtype, None if ids is None else ids.shape,
        None if ids is None else ids.dtype, image_size,
    )
    if images.dtype.kind in "fiu" and images.size:
        count, low, high = 0, np.inf, -np.inf
        for start in range(0, len(images), chunk):  # no full-size temporary for big arrays
            part = images[start : start + chunk]
            if images.dtype.kind == "f":
                count += int(np.count_nonzero(~np.isfinite(part)))
            if not count:
                low, high = min(low, float(part.min())), max(high, float(part.max()))
        if count:
            raise ValueError(_non_finite_message(count, images.shape))
        _check_pixel_range(low, high, images.shape)
    if ids is None:
        return images, None
    ids = ids.reshape(-1)
    # compare in the ids' own dtype (or Python ints): no wrap-around of int64/uint64 ids
    bad = ids[(ids >= num_classes) | ((ids < 0) if ids.dtype.kind == "i" else False)]
    if bad.size:
        raise ValueError(_out_of_range_message(bad, num_classes))
    return images, ids.astype(np.int32)



def _check_class_ids(class_ids, image_size, num_classes, num_images=None):
    """Host-side check of class ids (NumPy or eager): integer dtype, shape (N,) or (N, 1),
    `num_images` of them when given, in [0, num_classes). Returns them as int32 (N,)."""
    ids = np.asarray(class_ids)
    shape = (num_images, image_size, image_size, 3)
    _check_static(shape, "float32", ids.shape, ids.dtype, image_size)
    ids = ids.reshape(-1)
    bad = ids[(ids >= num_classes) | ((ids < 0) if ids.dtype.kind == "i" else False)]
    if bad.size:
        raise ValueError(_out_of_range_message(bad, num_classes))
    return ids.astype(np.int32)

def validate(images, class_ids, image_size, num_classes):
    """`(images float32 (N, S, S, 3), class_ids int32 (N,) or None, valid)` from a model call's
    inputs, or an error before any computation: `ValueError` when the values are at hand (eager
    TensorFlow, NumPy, PyTorch, concrete JAX arrays). Traced by TensorFlow, the checks are
    in-graph assertions (they raise `tf.errors.InvalidArgumentError` with the same message);
    where assertions cannot stop a computation (XLA, a traced JAX function) `valid` is a boolean
    scalar, and the caller makes the outputs of invalid inputs NaN, never plausible masks.
    `valid` is None when the values were checked on the host.

    Args:
        images: the images (an array or a tensor, eager or traced).
        class_ids: the class ids, or None.
        image_size: the model's image size S.
        num_classes: the classifier's number of classes.

    Example:

    ```python
    images, class_ids, valid = validate(images, class_ids, 224, 1000)
    ```
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        return _validate_tensorflow(images, class_ids, image_size, num_classes)
    return _validate_other(images, class_ids, image_size, num_classes)


def _is_traced(value):
    """Whether `value` is a JAX tracer (its values unknown until the traced function runs)."""
    import keras

    if keras.backend.backend() != "jax" or value is None:
        return False
    import jax

    return isinstance(value, jax.core.Tracer)


def _validate_other(images, class_ids, size, num_classes):
    """`validate` on JAX and PyTorch: host checks for values at hand, else static checks and a
    `valid` flag (finite pixels in range, class ids in range)."""
    from keras import ops

    if not (_is_traced(images) or _is_traced(class_ids)):
        images = ops.convert_to_numpy(images) if not isinstance(images, np.ndarray) else images
        if class_ids is not None and not isinstance(class_ids, np.ndarray):
            class_ids = ops.convert_to_numpy(class_ids)
        images, class_ids = check_inputs(images, class_ids, size, num_classes)
        images = ops.convert_to_tensor(images.astype(np.float32, copy=False))
        return images, None if class_ids is None else ops.convert_to_tensor(class_ids), None

    def dtype(value):
        return getattr(getattr(value, "dtype", None), "name", str(getattr(value, "dtype", "")))

    _check_static(
        tuple(images.shape), dtype(images),
        None if class_ids is None else tuple(class_ids.shape),
        None if class_ids is None else dtype(class_ids), size,
    )
    images = ops.cast(images, "float32")
    valid = ops.all(ops.isfinite(images)) & (ops.min(images) >= -0.5) & (ops.max(images) <= 255.5)
    if class_ids is not None:
        class_ids = ops.reshape(class_ids, (-1,))
        in_range = (class_ids >= 0) & (class_ids < num_classes)
        valid = valid & ops.all(in_range)
        class_ids = ops.cast(ops.where(in_range, class_ids, 0), "int32")
    return images, class_ids, valid


def _validate_tensorflow(images, class_ids, image_size, num_classes):
    import tensorflow as tf

    size = image_size
    try:
        images = tf.convert_to_tensor(images)
        if class_ids is not None:
            class_ids = tf.convert_to_tensor(class_ids)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Expected images (N, {size}, {size}, 3) and integer class_ids (N,) as arrays or "
            f"tensors. Received: inputs that are not ({error})"
        ) from None

    def static(tensor):
        return None if tensor.shape.rank is None else tuple(tensor.shape.as_list())

    _check_static(
        static(images), images.dtype.name,
        None if class_ids is None else static(class_ids),
        None if class_ids is None else class_ids.dtype.name, size,
    )
    eager = tf.executing_eagerly() and hasattr(images, "numpy") and (
        class_ids is None or hasattr(class_ids, "numpy")
    )
    if eager:  # every shape is known here: only the values remain
        if images.dtype.is_floating:
            count = int(tf.math.count_nonzero(~tf.math.is_finite(images)))
            if count:
                raise ValueError(_non_finite_message(count, tuple(images.shape)))
        if (images.dtype.is_floating or images.dtype.is_integer) and images.shape.num_elements():
            _check_pixel_range(float(tf.reduce_min(images)), float(tf.reduce_max(images)), tuple(images.shape))
        if class_ids is not None:
            class_ids = tf.constant(_check_class_ids(class_ids.numpy(), size, num_classes, images.shape[0]))
        return tf.cast(images, "float32"), class_ids, None
    return _graph_checks(images, class_ids, size, num_classes)

def _graph_checks(images, class_ids, size, num_classes):
    import tensorflow as tf

    conditions = []

    def check(condition, template, values):
        """An assertion of `condition`; `values()` gives what the message shows."""
        conditions.append(condition)
        # The message as Assert's data, text and tensors in turn (no StringFormat: XLA, which
        # drops the assertion, cannot compile it)
        data = []
        for text, value in zip(template.split("{}"), [*values(), None]):
            if text:
                data.append(text)
            if value is not None:
                data.append(value)
        return tf.debugging.Assert(condition, data, summarize=_MAX_SHOWN)

    image_shape = tf.shape(images)
    expected_images = (
        f"Expected images of shape (N, {size}, {size}, 3) (N >= 1 RGB images at the "
        "model input size). Received: images of shape {}"
    )
    padded = tf.concat([image_shape, [0, 0, 0, 0]], 0)  # indexable whatever the rank
    checks = [
        check(
            tf.logical_and(
                tf.equal(tf.size(image_shape), 4),
                tf.reduce_all(tf.equal(padded[1:4], [size, size, 3])) & (padded[0] > 0),
            ),
            expected_images,
            lambda: (image_shape,),
        )
    ]
    batch = padded[0]
    if images.dtype.is_floating:
        # Flattened first: the count never depends on the (possibly wrong) rank.
        non_finite = tf.reduce_sum(tf.cast(~tf.math.is_finite(tf.reshape(images, [-1])), tf.int64))
        checks.append(
            check(
                tf.equal(non_finite, 0),
                "Expected finite pixel values. Received: {} NaN or infinite values in images "
                "of shape {}",
                lambda: (non_finite, image_shape),
            )
        )
    if class_ids is not None:
        ids_shape = tf.shape(class_ids)
        rank = tf.size(ids_shape)
        checks.append(
            check(
                tf.logical_or(
                    tf.equal(rank, 1),
                    tf.logical_and(tf.equal(rank, 2), tf.equal(tf.concat([ids_shape, [1, 1]], 0)[1], 1)),
                ),
                "Expected class_ids of shape (N,) or (N, 1): one class id per image. "
                "Received: class_ids of shape {}",
                lambda: (ids_shape,),
            )
        )
        flat = tf.reshape(class_ids, [-1])
        checks.append(
            check(
                tf.equal(tf.size(flat), batch),
                "Expected one class id per image ({} images). Received: {} class_ids",
                lambda: (batch, tf.size(flat)),
            )
        )
        # compared in the ids' own dtype: an int64 2**32 + 3 must not wrap into range
        dtype = class_ids.dtype
        in_range = tf.ones_like(flat, dtype="bool")
        if num_classes <= dtype.max:
            in_range = tf.logical_and(in_range, flat < tf.constant(num_classes, dtype))
        if not dtype.is_unsigned:
            in_range = tf.logical_and(in_range, flat >= tf.constant(0, dtype))
        checks.append(
            check(
                tf.reduce_all(in_range),
                f"Expected class_ids in [0, {num_classes}). Received: class_ids={{}}",
                lambda: (tf.boolean_mask(flat, tf.logical_not(in_range)),),
            )
        )
    with tf.control_dependencies(checks):
        images = tf.ensure_shape(tf.identity(images), (None, size, size, 3))
        if class_ids is not None:
            class_ids = tf.reshape(tf.identity(class_ids), [-1])
            # gathered within range under XLA (which drops the assertion; the outputs are NaN)
            class_ids = tf.where(in_range, class_ids, tf.zeros_like(class_ids))
            class_ids = tf.cast(class_ids, "int32")
    # XLA drops assertions: the caller turns the outputs of invalid inputs into NaN with
    # `valid` (no cost that matters: one reduction of a few booleans per batch)
    valid = tf.reduce_all(tf.stack(conditions))
    return tf.cast(images, "float32"), class_ids, valid
