"""Small classifiers the package can train itself (the black box to explain).

`cifar_classifier` is the authors' CIFAR-10 network: 4 scales of 3 conv-BN-ReLU layers
(base 24 channels, ~1.1M parameters). It serves both as the classifier and as its own
encoder through the tap layers `CIFAR_TAPS` (strides 1, 2, 4, 8).
"""

import keras
import numpy as np

from keras_saliency.models.folding import can_fold, folded_kernel_and_bias

CIFAR_TAPS = ("scale_0_out", "scale_1_out", "scale_2_out", "scale_3_out")


def cifar_classifier(
    num_classes=10,
    image_size=32,
    base_filters=24,
    name="cifar_classifier",
    convs_per_scale=(3, 3, 3, 3),
    max_filters=None,
    dropout=0.3,
):
    """VGG-style classifier for small images; input RGB [0, 255], output logits.

    One scale per entry of `convs_per_scale` (2x2 max-pool between scales), channels doubling
    from `base_filters` (capped at `max_filters`); the last layer of scale i is `scale_i_out`
    (stride 2**i), so the classifier is its own masker encoder.

    Args:
        num_classes: number of classes.
        image_size: input height and width.
        base_filters: channels of the first scale.
        name: the model's name.
        convs_per_scale: conv-BN-ReLU layers at each scale.
        max_filters: a cap on the channels, or None.
        dropout: dropout rate before the last layer.

    Example:

    >>> cifar_classifier(10, base_filters=8, convs_per_scale=(1, 1)).output.shape
    (None, 10)
    """
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    for scale, convs in enumerate(convs_per_scale):
        if scale:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{scale}")(x)
        filters = base_filters * 2**scale
        if max_filters:
            filters = min(filters, max_filters)
        for i in range(convs):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", use_bias=False, name=f"scale_{scale}_conv_{i}"
            )(x)
            x = keras.layers.BatchNormalization(name=f"scale_{scale}_bn_{i}")(x)
            last = i == convs - 1
            x = keras.layers.ReLU(name=f"scale_{scale}_out" if last else f"scale_{scale}_relu_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def fast_cifar_classifier(
    num_classes=10,
    image_size=32,
    widths=(64, 256, 256),
    stem_filters=24,
    name="fast_cifar_classifier",
    batch_norm_momentum=0.9,
):
    """A compute-efficient CIFAR network in the style of the CIFAR-10 speed-runs (K. Jordan's
    `airbench`): a 2x2 stem convolution, then one block per entry of `widths` (conv, 2x2
    max-pool, BN, GELU, conv, BN, GELU), global max pooling and a bias-free linear layer.
    Input RGB [0, 255], output logits. Tap layers `scale_0_out` (the stem, stride 1) to
    `scale_{len(widths)}_out` (stride 2**len(widths)), as for `cifar_classifier`.

    Args:
        num_classes: number of classes.
        image_size: input height and width.
        widths: channels of each block.
        stem_filters: channels of the stem convolution.
        name: the model's name.
        batch_norm_momentum: moving-statistics momentum (Keras convention).

    Example:

    >>> model = fast_cifar_classifier(10, widths=(8, 16, 16), stem_filters=4)
    >>> model.output.shape
    (None, 10)
    """
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(stem_filters, 2, padding="same", name="stem_conv")(x)
    x = keras.layers.Activation("gelu", name="scale_0_out")(x)
    for block, filters in enumerate(widths, start=1):
        for i in range(2):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", use_bias=False, name=f"scale_{block}_conv_{i}"
            )(x)
            if i == 0:
                x = keras.layers.MaxPooling2D(2, name=f"pool_{block}")(x)
            x = keras.layers.BatchNormalization(
                momentum=batch_norm_momentum, name=f"scale_{block}_bn_{i}"
            )(x)
            last = i == 1
            x = keras.layers.Activation(
                "gelu", name=f"scale_{block}_out" if last else f"scale_{block}_act_{i}"
            )(x)
    x = keras.layers.GlobalMaxPooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, use_bias=False, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def transfer_classifier(backbone, num_classes, image_size, input_size=None, feature_layer=None,
                        class_rows=None, dropout=0.0, trainable_from=None, fold_batch_norms=False,
                        name="transfer_classifier"):
    """A pretrained single-chain classifier (e.g. the Darknet ImageNet model) re-headed for
    `num_classes`: the images are resized from `image_size` to `input_size` inside the model, run
    through the backbone's layers up to `feature_layer` (same names, so they can be the masker's
    taps) and a new 1x1 convolution to the classes ("class_conv"), averaged over space ("logits").
    Batch norm layers stay in inference mode (frozen statistics).

    Args:
        backbone: a Keras model whose layers form one chain (each layer reads the previous one).
        num_classes: classes of the new head.
        image_size: side of the images the classifier takes.
        input_size: side the backbone runs at (default `image_size`).
        feature_layer: the last backbone layer kept (default: the one before its last 1x1
            convolution and pooling, i.e. the layer that feeds the backbone's last Conv2D).
        class_rows: optional backbone classes, one entry per new class: the head starts as those
            rows of the backbone's last 1x1 convolution (e.g. ImageNet classes that are also Tiny
            ImageNet classes), so the untrained model already classifies. An entry may list
            several backbone classes: the new class starts as their mean row (e.g. CIFAR-10's
            "cat" from ImageNet's five cats).
        dropout: dropout before the head (default 0).
        trainable_from: the first backbone layer that is fine-tuned; the layers before it are
            frozen (default None: all are fine-tuned).
        fold_batch_norms: fold each batch norm into the convolution before it (a Conv2D with a
            bias, same name; the batch norm layer is dropped): the same function, but weights at
            their natural scale. Unfolded, a frozen batch norm multiplies its kernel's SGD steps
            by (gamma / std)^2 (Darknet's last block: ~76^2), so only tiny learning rates are
            stable; folded, ordinary fine-tuning rates are (default False).
        name: the model's name.

    Raises:
        ValueError: a backbone that is not one chain or has no Conv2D; an unknown
            `feature_layer` / `trainable_from`; `class_rows` that do not fit the backbone's last
            1x1 convolution.

    Returns:
        a functional `keras.Model` (logits) with its own copy of the backbone's layers.

    Example:

    ```python
    darknet = keras.saving.load_model("darknet-tiny-imagenet.keras")
    tiny = transfer_classifier(darknet, 100, 64, input_size=128, class_rows=imagenet_ids)
    ```
    """
    layers = [layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)]
    for before, layer in zip(layers, layers[1:]):
        if len(layer._inbound_nodes) != 1 or before not in _parents(layer):
            raise ValueError("Expected a backbone whose layers form one chain (each layer reads the previous "
                             f"one). Received: layer {layer.name!r} reads {[p.name for p in _parents(layer)]}")
    convs = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"Expected a backbone with Conv2D layers. Received: {backbone.name!r} has none")
    last_conv = layers[convs[-1]]
    names = [layer.name for layer in layers]
    if feature_layer and feature_layer not in names:
        raise ValueError(f"Expected feature_layer to name a layer of the backbone. Received: {feature_layer!r}")
    stop = names.index(feature_layer) if feature_layer else convs[-1] - 1
    if trainable_from and trainable_from not in names[: stop + 1]:
        raise ValueError(f"Expected trainable_from to name a kept backbone layer. Received: {trainable_from!r}")
    first_trainable = names.index(trainable_from) if trainable_from else 0
    if class_rows is not None:
        class_rows = [[int(r)] if np.ndim(r) == 0 else [int(i) for i in r] for r in class_rows]
        flat = [r for group in class_rows for r in group]
        if (len(class_rows) != num_classes or not all(class_rows)
                or not all(0 <= r < last_conv.filters for r in flat)):
            raise ValueError(f"Expected {num_classes} class_rows in [0, {last_conv.filters}), none empty. "
                             f"Received: {len(class_rows)} rows, range {min(flat, default=None)}.."
                             f"{max(flat, default=None)}")
        if tuple(last_conv.kernel_size) != (1, 1) or names.index(last_conv.name) != stop + 1:
            raise ValueError("Expected the backbone's last Conv2D to be a 1x1 convolution reading the feature "
                             f"layer (class_rows copy its rows). Received: {last_conv.name!r}, kernel "
                             f"{tuple(last_conv.kernel_size)}, after {names[names.index(last_conv.name) - 1]!r}")
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = inputs
    if input_size and input_size != image_size:
        x = keras.layers.Resizing(input_size, input_size, interpolation="bilinear", name="input_resize")(x)
    kept = layers[: stop + 1]
    folded = {}
    if fold_batch_norms:
        for conv, norm in zip(kept, kept[1:]):
            if can_fold(conv, norm):  # BN(conv(x)) is one affine convolution
                folded[conv.name] = norm
    gone = {norm.name for norm in folded.values()} & {feature_layer, trainable_from}
    if gone:
        raise ValueError("Expected feature_layer / trainable_from to name a layer that folding keeps. "
                         f"Received: {sorted(gone)}, batch norms folded into the convolution before them")
    for index, original in enumerate(kept):
        if index and original is folded.get(kept[index - 1].name):
            continue  # folded into the convolution before it
        if original.name in folded:
            layer = keras.layers.Conv2D.from_config({**original.get_config(), "use_bias": True})
            x = layer(x)
            layer.set_weights([np.asarray(w) for w in folded_kernel_and_bias(original, folded[original.name])])
        else:
            layer = original.__class__.from_config(original.get_config())  # a copy: the backbone is left as it is
            x = layer(x)
            layer.set_weights(original.get_weights())
        layer.trainable = not (isinstance(layer, keras.layers.BatchNormalization) or index < first_trainable)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    head = keras.layers.Conv2D(num_classes, 1, name="class_conv")
    x = head(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="logits")(x)
    model = keras.Model(inputs, outputs, name=name)
    if class_rows is not None:
        kernel = np.asarray(last_conv.kernel)
        bias = np.asarray(last_conv.bias) if last_conv.use_bias else np.zeros(last_conv.filters)
        head.set_weights([np.stack([kernel[..., group].mean(-1) for group in class_rows], -1),
                          np.array([bias[group].mean() for group in class_rows])])
    return model


def _parents(layer):
    """The layers whose outputs `layer` reads (its first call)."""
    node = layer._inbound_nodes[0]
    return [t._keras_history.operation for t in node.input_tensors]


def scale_taps(num_scales):
    """The tap layer names of a `cifar_classifier` (or `fast_cifar_classifier`) with
    `num_scales` scales.

    Args:
        num_scales: the number of scales.

    Example:

    >>> scale_taps(2)
    ('scale_0_out', 'scale_1_out')
    """
    return tuple(f"scale_{i}_out" for i in range(num_scales))


@keras.saving.register_keras_serializable(package="keras_saliency")
def smoothed_sparse_crossentropy(labels, logits, label_smoothing=0.0):
    """Cross-entropy from logits on integer labels, with label smoothing (keeps logits
    moderate, which suits the masking objective's margins).

    Args:
        labels: `(N,)` or `(N, 1)` integer classes.
        logits: `(N, K)` logits.
        label_smoothing: the weight moved to the uniform distribution.

    Example:

    >>> float(smoothed_sparse_crossentropy(keras.ops.array([1]), keras.ops.array([[0.0, 0.0]]))[0])  # log 2
    0.6931...
    """
    num_classes = logits.shape[-1]
    labels = keras.ops.cast(keras.ops.reshape(labels, (-1,)), "int32")
    one_hot = keras.ops.one_hot(labels, num_classes)
    return keras.losses.categorical_crossentropy(
        one_hot, logits, from_logits=True, label_smoothing=label_smoothing
    )


@keras.saving.register_keras_serializable(package="keras_saliency")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """`smoothed_sparse_crossentropy` as a serialisable loss with its `label_smoothing`.

    Args:
        label_smoothing: the weight moved from the true class to the uniform distribution.

    Example:

    >>> loss = SmoothedSparseCrossentropy(label_smoothing=0.2)
    >>> float(loss(keras.ops.array([0]), keras.ops.array([[10.0, -10.0]]))) > 0.1
    True
    """

    def __init__(self, label_smoothing=0.0, name="smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        return smoothed_sparse_crossentropy(y_true, y_pred, self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def compile_classifier(
    model, learning_rate=1e-3, steps=None, optimizer="adam", weight_decay=None, warmup_steps=0,
    label_smoothing=0.0,
):
    """Adam or SGD with Nesterov momentum (`optimizer`), cosine decay over `steps` when given
    (after a linear warm-up of `warmup_steps`), cross-entropy (with `label_smoothing`), accuracy.

    Args:
        model: the classifier (logits output).
        learning_rate: the peak learning rate.
        steps: training steps of the cosine decay, or None for a constant rate.
        optimizer: "adam" or "sgd".
        weight_decay: decoupled weight decay, or None.
        warmup_steps: steps of the linear warm-up.
        label_smoothing: the cross-entropy's label smoothing.

    Example:

    ```python
    compile_classifier(model, 0.2, steps=12 * 88, optimizer="sgd", weight_decay=2.5e-3, label_smoothing=0.2)
    ```
    """

    schedule = learning_rate
    if steps:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup_steps else learning_rate,
            max(1, steps - warmup_steps),
            warmup_target=learning_rate if warmup_steps else None,
            warmup_steps=warmup_steps,
        )
    if optimizer == "adam":
        optimizer = keras.optimizers.Adam(schedule, weight_decay=weight_decay)
    elif optimizer == "sgd":
        optimizer = keras.optimizers.SGD(
            schedule, momentum=0.9, nesterov=True, weight_decay=weight_decay
        )
    else:
        raise ValueError(f"Expected optimizer 'adam' or 'sgd'. Received: {optimizer!r}")
    model.compile(
        optimizer=optimizer,
        loss=(
            SmoothedSparseCrossentropy(label_smoothing)
            if label_smoothing
            else smoothed_sparse_crossentropy
        ),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model
