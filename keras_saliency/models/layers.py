"""Custom layers of the masker. Each one is registered and round-trips through `.keras`."""

import keras
from keras import ops

PACKAGE = "keras_saliency"

PREPROCESSING_MODES = (
    "none",  # the model takes pixels in [0, 255] (e.g. it has its own Rescaling layer)
    "unit",  # x / 255
    "symmetric",  # x / 127.5 - 1 (MobileNetV2, Inception)
    "caffe",  # RGB -> BGR, minus the ImageNet mean (ResNet50, VGG)
    "torch",  # x / 255, minus mean, divided by std (DenseNet)
)
_IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package=PACKAGE)
class Preprocessing(keras.layers.Layer):
    """Maps RGB pixels in [0, 255] to what a backbone expects, by name (serialisable).

    Args:
        mode: one of `PREPROCESSING_MODES` (`"none"`, `"unit"`, `"symmetric"`, `"caffe"`,
            `"torch"`). Defaults to `"none"`.
        **kwargs: standard `keras.layers.Layer` arguments (e.g. `name`, `dtype`).

    Example:

    ```python
    x = Preprocessing("symmetric")(images)  # [0, 255] -> [-1, 1]
    ```
    """

    def __init__(self, mode="none", **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise ValueError(
                f"Expected preprocessing mode in {PREPROCESSING_MODES}. Received: mode={mode!r}"
            )
        self.mode = mode

    def call(self, images):
        x = ops.cast(images, self.compute_dtype)
        if self.mode == "none":
            return x
        if self.mode == "unit":
            return x / 255.0
        if self.mode == "symmetric":
            return x / 127.5 - 1.0
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1)
            return x - ops.convert_to_tensor(_IMAGENET_BGR_MEAN, dtype=x.dtype)
        mean = ops.convert_to_tensor(_TORCH_MEAN, dtype=x.dtype)
        std = ops.convert_to_tensor(_TORCH_STD, dtype=x.dtype)
        return (x / 255.0 - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClassSelector(keras.layers.Layer):
    """Selects a class in the deepest feature map.

    `act = sum_channels(features * embedding[c])`; features are gated by
    `sigmoid(act - confidence)`; the spatial mean of `act` is the "exists" logit.
    `confidence` is a non-trainable weight: change it at inference with `set_confidence`
    (low: anything resembling the class, high: only its most salient parts).

    Args:
        num_classes: number of classes (at least 2), the rows of the class embedding.
        confidence: initial value of the gate's threshold. Defaults to 0.0.
        **kwargs: standard `keras.layers.Layer` arguments (e.g. `name`, `dtype`).

    Example:

    ```python
    gated, exists_logit = ClassSelector(num_classes=10)(features, class_ids)
    ```
    """

    def __init__(self, num_classes, confidence=0.0, **kwargs):
        super().__init__(**kwargs)
        if int(num_classes) < 2:
            raise ValueError(f"Expected num_classes >= 2. Received: num_classes={num_classes}")
        self.num_classes = int(num_classes)
        self.initial_confidence = float(confidence)

    def build(self, features_shape, class_ids_shape=None):
        channels = features_shape[-1]
        self.embedding = self.add_weight(
            name="embedding",
            shape=(self.num_classes, channels),
            initializer=keras.initializers.RandomNormal(stddev=channels**-0.5),
        )
        self.confidence = self.add_weight(
            name="confidence",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_confidence),
            trainable=False,
        )

    def set_confidence(self, value):
        self.confidence.assign(float(value))
        self.initial_confidence = float(value)

    def call(self, features, class_ids):
        class_ids = ops.reshape(ops.cast(class_ids, "int32"), (-1,))
        selected = ops.take(ops.cast(self.embedding, features.dtype), class_ids, axis=0)
        act = ops.sum(features * selected[:, None, None, :], axis=-1, keepdims=True)
        gate = ops.sigmoid(act - ops.cast(self.confidence, act.dtype))
        exists_logit = ops.mean(ops.cast(act, "float32"), axis=(1, 2, 3))
        return features * gate, exists_logit

    def compute_output_shape(self, features_shape, class_ids_shape=None):
        return features_shape, (features_shape[0],)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "confidence": self.initial_confidence,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class SubPixelUpsampling(keras.layers.Layer):
    """x2 upsampling: 3x3 conv to 4 * filters channels, batch norm, ReLU, depth_to_space.

    Args:
        filters: number of output channels.
        **kwargs: standard `keras.layers.Layer` arguments (e.g. `name`, `dtype`).

    Example:

    ```python
    y = SubPixelUpsampling(64)(x)  # (B, H, W, C) -> (B, 2H, 2W, 64)
    ```
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        # Sub-layers share this layer's dtype policy (mixed precision included).
        self.conv = keras.layers.Conv2D(
            4 * self.filters, 3, padding="same", use_bias=False, dtype=self.dtype_policy
        )
        self.norm = keras.layers.BatchNormalization(dtype=self.dtype_policy)

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.norm.build(input_shape[:-1] + (4 * self.filters,))

    def call(self, x, training=None):
        x = ops.relu(self.norm(self.conv(x), training=training))
        return ops.depth_to_space(x, 2)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package=PACKAGE)
class BottleneckBlock(keras.layers.Layer):
    """Residual bottleneck: 1x1 (filters / 4), 3x3, 1x1 (filters), each with batch norm;
    a 1x1 projection on the shortcut where the channel count changes.

    Args:
        filters: number of output channels (the inner convolutions use filters / 4, at
            least 4).
        **kwargs: standard `keras.layers.Layer` arguments (e.g. `name`, `dtype`).

    Example:

    ```python
    y = BottleneckBlock(128)(x)  # (B, H, W, C) -> (B, H, W, 128)
    ```
    """

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        inner = max(self.filters // 4, 4)
        policy = self.dtype_policy  # sub-layers share it (mixed precision included)
        self.convs = [
            keras.layers.Conv2D(inner, 1, use_bias=False, dtype=policy),
            keras.layers.Conv2D(inner, 3, padding="same", use_bias=False, dtype=policy),
            keras.layers.Conv2D(self.filters, 1, use_bias=False, dtype=policy),
        ]
        self.norms = [keras.layers.BatchNormalization(dtype=policy) for _ in self.convs]
        self.projection = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv, norm in zip(self.convs, self.norms):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)
        if input_shape[-1] != self.filters:
            self.projection = keras.layers.Conv2D(
                self.filters, 1, use_bias=False, dtype=self.dtype_policy
            )
            self.projection.build(input_shape)

    def call(self, x, training=None):
        shortcut = x if self.projection is None else self.projection(x)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = norm(conv(x), training=training)
            if i < len(self.convs) - 1:
                x = ops.relu(x)
        return ops.relu(x + shortcut)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


MASK_HEADS = ("abs_ratio", "sigmoid")


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskHead(keras.layers.Layer):
    """1x1 conv to the mask. "abs_ratio": two channels a, b and mask = |a| / (|a| + |b|);
    "sigmoid": one channel through a sigmoid. Always computes in float32.

    Args:
        kind: one of `MASK_HEADS` (`"abs_ratio"` or `"sigmoid"`). Defaults to `"abs_ratio"`.
        **kwargs: standard `keras.layers.Layer` arguments (the dtype defaults to float32).

    Example:

    ```python
    masks = MaskHead("sigmoid")(features)  # (B, H, W, 1) in [0, 1]
    ```
    """

    def __init__(self, kind="abs_ratio", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if kind not in MASK_HEADS:
            raise ValueError(f"Expected kind in {MASK_HEADS}. Received: kind={kind!r}")
        self.kind = kind
        self.conv = keras.layers.Conv2D(2 if kind == "abs_ratio" else 1, 1, dtype="float32")

    def build(self, input_shape):
        self.conv.build(input_shape)

    def call(self, x):
        y = self.conv(ops.cast(x, "float32"))
        if self.kind == "sigmoid":
            return ops.sigmoid(y)
        magnitude = ops.abs(y)
        return magnitude[..., :1] / (magnitude[..., :1] + magnitude[..., 1:] + 1e-6)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (1,)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClassEvidenceGate(keras.layers.Layer):
    """The classifier's own per-location evidence for a class, as a gate and an "exists" logit.

    For a classifier that ends in a 1x1 convolution to the classes followed by global average
    pooling (class activation maps), `kernel` and `bias` are that convolution's weights (set
    with `set_from_class_layer`; they stay frozen). At each location the class's log-odds
    against all the other classes, `a_c - logsumexp_{k != c} a_k`, goes through
    `sigmoid(scale * log_odds + offset)` (`scale`, `offset` trained): the gate is near 0 where
    another class dominates, so a class that is not in the image gets an empty mask. The
    "exists" logit is the classifier's own: `logit_c - logsumexp_{k != c} logit_k`, the
    log-odds of its softmax probability, times `exists_scale` plus `exists_offset` (trained).
    With `image_offset` set, the gate is also multiplied by `sigmoid(exists + image_offset)`
    (the classifier's image-level evidence; `image_offset` trained): near 0 for a class the
    classifier gives no chance, whatever the location. Thresholds relative to the mask's
    maximum are unchanged by this factor.

    Call with `(features, class_ids)`; returns `(gate (batch, h, w, 1), exists_logit (batch,))`.

    Args:
        num_classes: the classifier's number of classes.
        scale: initial scale of the per-location log-odds.
        offset: initial offset of the per-location log-odds.
        image_offset: None (no image-level factor) or the initial offset of the image-level
            factor.
        local: the per-location evidence: "log_odds" (as above) or "cam": the class's score map
            divided by its maximum absolute value in the image (in [-1, 1]; the class
            activation map's shape, which localises more of the object than the log-odds).
        rate: a learning-rate multiplier for these few scalars: each is stored divided by
            `rate` and used multiplied by it, so an optimizer step moves it `rate` times as far.

    Example:

    ```python
    gate = ClassEvidenceGate(1000)
    gate.set_from_class_layer(classifier.get_layer("conv2d_16"))
    gates, exists = gate(deepest_features, class_ids)
    ```
    """

    def __init__(self, num_classes, scale=0.5, offset=2.0, image_offset=None, rate=1.0, local="log_odds", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if int(num_classes) < 2:
            raise ValueError(f"Expected num_classes >= 2. Received: num_classes={num_classes}")
        self.num_classes = int(num_classes)
        self.initial_scale = float(scale)
        self.initial_offset = float(offset)
        self.initial_image_offset = None if image_offset is None else float(image_offset)
        if not float(rate) > 0:
            raise ValueError(f"Expected rate > 0. Received: rate={rate}")
        self.rate = float(rate)
        if local not in ("log_odds", "cam"):
            raise ValueError(f"Expected local in ('log_odds', 'cam'). Received: local={local!r}")
        self.local = local

    def build(self, features_shape, class_ids_shape=None):
        channels = features_shape[-1]
        self.kernel = self.add_weight(
            name="kernel", shape=(channels, self.num_classes), initializer="glorot_uniform", trainable=False
        )
        self.bias = self.add_weight(name="bias", shape=(self.num_classes,), initializer="zeros", trainable=False)
        scalar = lambda name, value: self.add_weight(  # noqa: E731
            name=name, shape=(), initializer=keras.initializers.Constant(value / self.rate)
        )
        self.scale = scalar("scale", self.initial_scale)
        self.offset = scalar("offset", self.initial_offset)
        self.exists_scale = scalar("exists_scale", 1.0)
        self.exists_offset = scalar("exists_offset", 0.0)
        if self.initial_image_offset is not None:
            self.image_offset = scalar("image_offset", self.initial_image_offset)

    def set_from_class_layer(self, layer):
        """Copies a 1x1 `Conv2D` (or `Dense`) layer's kernel and bias (classes last)."""
        kernel = ops.convert_to_numpy(layer.kernel)
        kernel = kernel.reshape(kernel.shape[-2], kernel.shape[-1])
        if tuple(kernel.shape) != tuple(self.kernel.shape):
            raise ValueError(
                f"Expected a class layer with a kernel of {tuple(self.kernel.shape)} (channels, classes). "
                f"Received: {tuple(kernel.shape)} from layer {layer.name!r}"
            )
        self.kernel.assign(kernel)
        bias = layer.bias if getattr(layer, "use_bias", False) else None
        self.bias.assign(ops.convert_to_numpy(bias) if bias is not None else ops.zeros((self.num_classes,)))

    def share_class_layer(self, layer):
        """Reads the class layer's own kernel and bias from now on, instead of a copy.

        The gate's copy is then left out of saved files (the classifier's file holds the
        weights once); `SaliencyModel` shares its classifier's class layer this way.

        Args:
            layer: the classifier's class layer (a 1x1 `Conv2D` or a `Dense`, classes last).

        Example:

        ```python
        gate.share_class_layer(classifier.get_layer("predictions"))
        ```
        """
        self.set_from_class_layer(layer)  # checks the shape; keeps the copy equal for standalone copies
        self._shared = _SharedLayer(layer)

    @property
    def shared_class_layer(self):
        """The classifier's class layer this gate reads, or None (it reads its own copy)."""
        shared = getattr(self, "_shared", None)
        return shared.layer if shared is not None else None

    def _class_weights(self):
        layer = self.shared_class_layer
        if layer is None:
            return self.kernel, self.bias
        kernel = ops.reshape(ops.cast(layer.kernel, "float32"), (-1, self.num_classes))
        if getattr(layer, "use_bias", False) and layer.bias is not None:
            return kernel, ops.cast(layer.bias, "float32")
        return kernel, ops.zeros((self.num_classes,), "float32")

    def save_own_variables(self, store):
        # Keras' order (trainable, then not); a shared class layer's copy is not written.
        skipped = (self.kernel, self.bias) if self.shared_class_layer is not None else ()
        for i, variable in enumerate(self._trainable_variables + self._non_trainable_variables):
            if not any(variable is other for other in skipped):
                store[str(i)] = variable

    def load_own_variables(self, store):
        shared = self.shared_class_layer
        keys = set(store.keys())
        missing = []
        for i, variable in enumerate(self._trainable_variables + self._non_trainable_variables):
            if str(i) in keys:
                variable.assign(store[str(i)])
            elif shared is not None and (variable is self.kernel or variable is self.bias):
                missing.append(variable)
            else:
                raise ValueError(
                    f"Expected the saved weights of {self.name!r} to hold variable {i} ({variable.path}). "
                    f"Received: a file with {len(keys)} variables for it"
                )
        if missing:
            self.set_from_class_layer(shared)  # the classifier (loaded before the masker) holds them

    def call(self, features, class_ids):
        class_ids = ops.reshape(ops.cast(class_ids, "int32"), (-1,))
        features = ops.cast(features, "float32")
        chosen = ops.one_hot(class_ids, self.num_classes)  # (b, K)
        kernel, bias = self._class_weights()
        # The class layer is linear, so the image-level scores are the class layer of the mean
        # features, and "cam" needs only the chosen class's column: no (b, h, w, K) scores.
        mean_scores = ops.matmul(ops.mean(features, axis=(1, 2)), kernel) + bias  # (b, K)
        if self.local == "cam":
            column = ops.matmul(chosen, ops.transpose(kernel))  # (b or 1, C): the chosen class's weights
            own = ops.sum(features * column[:, None, None, :], axis=-1) + ops.sum(chosen * bias, axis=-1)[:, None, None]
            local = own / (ops.max(ops.abs(own), axis=(1, 2), keepdims=True) + 1e-6)
        else:
            scores = ops.matmul(features, kernel) + bias  # (b, h, w, K)
            local = _log_odds(scores, chosen[:, None, None, :])
        r = self.rate
        gate = ops.sigmoid(r * self.scale * local + r * self.offset)
        exists = _log_odds(mean_scores, chosen)
        if self.initial_image_offset is not None:
            gate = gate * ops.sigmoid(exists + r * self.image_offset)[:, None, None]
        return gate[..., None], r * self.exists_scale * exists + r * self.exists_offset

    def compute_output_shape(self, features_shape, class_ids_shape=None):
        return tuple(features_shape[:-1]) + (1,), (features_shape[0],)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "scale": self.initial_scale,
            "offset": self.initial_offset,
            "image_offset": self.initial_image_offset,
            "rate": self.rate,
            "local": self.local,
        }


class _SharedLayer:
    """Holds another model's layer without Keras tracking it as this layer's own (its
    weights stay the other model's: counted, trained and saved there)."""

    def __init__(self, layer):
        self.layer = layer


def _log_odds(scores, chosen):
    """`s_c - logsumexp_{k != c} s_k` over the last axis; `chosen` one-hot of c."""
    own = ops.sum(scores * chosen, axis=-1)
    others = ops.logsumexp(scores - 1e9 * chosen, axis=-1)
    return own - others
