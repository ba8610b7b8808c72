"""Small classifiers the package can train itself (the black box to explain).

`cifar_classifier` is the authors' CIFAR-10 network: 4 scales of 3 conv-BN-ReLU layers
(base 24 channels, ~1.1M parameters). It serves both as the classifier and as its own
encoder through the tap layers `CIFAR_TAPS` (strides 1, 2, 4, 8).
"""

import keras

CIFAR_TAPS = ("scale_0_out", "scale_1_out", "scale_2_out", "scale_3_out")


def cifar_classifier(num_classes=10, image_size=32, base_filters=24, name="cifar_classifier"):
    """VGG-style classifier for small images; input RGB [0, 255], output logits."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    for scale in range(4):
        if scale:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{scale}")(x)
        filters = base_filters * 2**scale
        for i in range(3):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", use_bias=False, name=f"scale_{scale}_conv_{i}"
            )(x)
            x = keras.layers.BatchNormalization(name=f"scale_{scale}_bn_{i}")(x)
            x = keras.layers.ReLU(name=f"scale_{scale}_out" if i == 2 else f"scale_{scale}_relu_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="keras_saliency")
def smoothed_sparse_crossentropy(labels, logits, label_smoothing=0.0):
    """Cross-entropy from logits on integer labels, with label smoothing (keeps logits
    moderate, which suits the masking objective's margins)."""
    num_classes = logits.shape[-1]
    labels = keras.ops.cast(keras.ops.reshape(labels, (-1,)), "int32")
    one_hot = keras.ops.one_hot(labels, num_classes)
    return keras.losses.categorical_crossentropy(
        one_hot, logits, from_logits=True, label_smoothing=label_smoothing
    )


def compile_classifier(model, learning_rate=1e-3, steps=None):
    """Adam (cosine decay over `steps` when given), smoothed cross-entropy, accuracy."""
    schedule = learning_rate
    if steps:
        schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=smoothed_sparse_crossentropy,
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model
