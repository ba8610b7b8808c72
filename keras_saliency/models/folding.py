"""Batch norms folded into the convolutions before them, for inference.

A frozen `BatchNormalization` after a linear `Conv2D` is an affine map per channel, so the pair is
one convolution with a scaled kernel and a shifted bias. Keras runs them as two ops (the batch
norm a separate pass over the activations); folded, the masker's encoder (a classifier's own
layers) does the same work in fewer passes: on the shipped Darknet ImageNet masker's encoder, 2 CPU
cores, about a quarter more images per second.

`folded_inference_model(model)` builds that graph over the model's own layers: nothing is copied,
the folded kernels are computed from the current weights of the convolution and the batch norm at
each call, so the model's weights stay the one source (trained, saved and loaded as usual) and the
folded graph is never saved.
"""

import keras
from keras import ops


class FoldedConv2D(keras.layers.Layer):
    """`norm(conv(x))` in inference mode as one convolution, from the two layers' current weights.

    The two layers are referenced, not owned: this layer has no weights of its own and is never
    saved (it only appears in `folded_inference_model`'s graph, rebuilt on demand).

    Args:
        conv: a linear, channels-last `keras.layers.Conv2D` (groups 1).
        norm: the `keras.layers.BatchNormalization` (last axis) that reads it.
        **kwargs: standard layer arguments.

    Example:

    ```python
    folded = FoldedConv2D(model.get_layer("conv2d_1"), model.get_layer("batch_normalization_1"))
    y = folded(x)  # == model.get_layer("batch_normalization_1")(conv(x), training=False)
    ```
    """

    def __init__(self, conv, norm, **kwargs):
        kwargs.setdefault("name", f"{conv.name}_folded")
        super().__init__(trainable=False, **kwargs)
        if not can_fold(conv, norm):
            raise ValueError(
                "Expected a linear channels-last Conv2D (groups 1) followed by a last-axis "
                f"BatchNormalization. Received: {type(conv).__name__} {conv.name!r}, "
                f"{type(norm).__name__} {norm.name!r}"
            )
        self._pair = _Refs(conv, norm)  # not tracked: the weights stay the original layers'

    def call(self, inputs, training=None, mask=None):
        conv = self._pair.conv
        kernel, bias = folded_kernel_and_bias(conv, self._pair.norm)
        outputs = ops.conv(
            ops.cast(inputs, "float32"), kernel, strides=conv.strides, padding=conv.padding,
            data_format="channels_last", dilation_rate=conv.dilation_rate,
        )
        return ops.cast(outputs + bias, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return self._pair.conv.compute_output_shape(input_shape)


def folded_kernel_and_bias(conv, norm):
    """`(kernel, bias)` (float32 tensors) of the one convolution equal to `norm(conv(x))` in
    inference mode, from the two layers' current weights (see `can_fold`).

    Args:
        conv: a linear `keras.layers.Conv2D`.
        norm: the `keras.layers.BatchNormalization` that reads it.

    Example:

    ```python
    kernel, bias = folded_kernel_and_bias(model.get_layer("conv2d_1"), model.get_layer("batch_normalization_1"))
    ```
    """
    factor = ops.rsqrt(ops.cast(norm.moving_variance, "float32") + norm.epsilon)
    if norm.scale:
        factor = factor * ops.cast(norm.gamma, "float32")
    kernel = ops.cast(conv.kernel, "float32") * factor
    bias = -ops.cast(norm.moving_mean, "float32")
    if conv.use_bias:
        bias = bias + ops.cast(conv.bias, "float32")
    bias = bias * factor
    if norm.center:
        bias = bias + ops.cast(norm.beta, "float32")
    return kernel, bias


def _stateless_copy(layer):
    """A copy of a layer without weights (so the original gets no second call in its graph), or
    the layer itself where its config does not rebuild it."""
    try:
        return layer.__class__.from_config(layer.get_config())
    except Exception:  # e.g. a Lambda of a local function: sharing it is as good
        return layer


class _FoldedAway(keras.layers.Layer):
    """Where a folded batch norm was: passes its input on (takes the batch norm's call arguments)."""

    def call(self, inputs, training=None, mask=None):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape


class _Refs:
    """A plain holder (Keras does not track its attributes)."""

    def __init__(self, conv, norm):
        self.conv, self.norm = conv, norm


def can_fold(conv, norm):
    """Whether `norm(conv(x))` in inference mode is one convolution (see `FoldedConv2D`).

    Args:
        conv: a layer (folds if a plain linear channels-last `Conv2D`, groups 1).
        norm: a layer (folds if a plain last-axis `BatchNormalization`).

    Example:

    ```python
    can_fold(model.get_layer("conv2d_1"), model.get_layer("batch_normalization_1"))  # True
    ```
    """
    return (
        type(conv) is keras.layers.Conv2D
        and conv.get_config().get("activation") == "linear"
        and conv.data_format == "channels_last"
        and int(getattr(conv, "groups", 1)) == 1
        and type(norm) is keras.layers.BatchNormalization
        and norm.axis in (-1, 3, [-1], [3])
    )


def foldable_pairs(model):
    """`{id(conv): (conv, norm)}` for each Conv2D of the functional `model`'s own graph whose only
    use is one call of a batch norm that can fold into it (its output is not a model output).

    Args:
        model: a functional `keras.Model` (nested models are not entered).

    Example:

    ```python
    [conv.name for conv, _ in foldable_pairs(classifier).values()]  # e.g. ["conv2d_1", ...]
    ```
    """
    nodes = [node for depth in model._nodes_by_depth.values() for node in depth
             if node.operation is not None and not node.is_input]
    uses, calls = {}, {}
    for node in nodes:
        calls[id(node.operation)] = calls.get(id(node.operation), 0) + 1
        for tensor in node.input_tensors:
            uses[id(tensor)] = uses.get(id(tensor), 0) + 1
    outputs = {id(tensor) for tensor in model.outputs}
    pairs = {}
    for node in nodes:
        norm = node.operation
        if type(norm) is not keras.layers.BatchNormalization or len(node.input_tensors) != 1:
            continue
        tensor = node.input_tensors[0]
        conv = tensor._keras_history.operation
        if (can_fold(conv, norm) and uses.get(id(tensor)) == 1 and id(tensor) not in outputs
                and calls.get(id(conv)) == 1 and calls.get(id(norm)) == 1):
            pairs[id(conv)] = (conv, norm)
    return pairs


def folded_inference_model(model):
    """The functional `model` (nested functional models included) with every foldable
    Conv2D + BatchNormalization pair run as one `FoldedConv2D`, for inference only.

    Every other layer with weights is the model's own (shared, not copied, so each build adds a call
    to it; layers without weights are copied), so the result follows the model's weights; it is the same function as `model(x, training=False)` up to float rounding. It is not
    meant to be trained or saved. A model with nothing to fold is returned as it is.

    Args:
        model: a functional `keras.Model` (e.g. a `Masker`, whose encoder is a classifier's layers).

    Returns:
        a functional `keras.Model` with the same inputs and outputs, or `model` itself.

    Example:

    ```python
    fast = folded_inference_model(model.masker)
    outputs = fast({"image": images, "class_id": class_ids})  # as model.masker(..., training=False)
    ```
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_nodes_by_depth"):
        return model
    pairs = foldable_pairs(model)
    norms = {id(norm) for _, norm in pairs.values()}
    nested = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model) and hasattr(layer, "_nodes_by_depth"):
            folded = folded_inference_model(layer)
            if folded is not layer:
                nested[id(layer)] = folded
    if not pairs and not nested:
        return model

    def replace(layer):
        if id(layer) in pairs:
            conv, norm = pairs[id(layer)]
            return FoldedConv2D(conv, norm, dtype=norm.dtype_policy)
        if id(layer) in norms:
            return _FoldedAway(name=f"{layer.name}_folded", dtype=layer.dtype_policy)
        if id(layer) in nested:
            return nested[id(layer)]
        if not isinstance(layer, keras.layers.Layer) or layer.weights or isinstance(layer, keras.Model):
            return layer  # a raw operation (e.g. `x + 1`), or a layer with weights: shared
        return _stateless_copy(layer)

    # Not `folded.trainable = False`: Keras would pass it on to the shared layers, freezing the
    # model's own decoder for training.
    return keras.models.clone_model(model, clone_function=replace)
