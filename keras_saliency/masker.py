"""The masking model: frozen encoder, class selector, U-Net decoder, mask head.

`Masker([image, class_id])` returns `{"mask": (batch, H / mask_stride, W / mask_stride, 1),
"exists": (batch,) logit}`. It is what gets deployed: image + class id in, mask out.
"""

import keras
from keras import ops

from keras_saliency.encoders import feature_strides
from keras_saliency.layers import PACKAGE, BottleneckBlock, ClassSelector, MaskHead, SubPixelUpsampling


SELECTOR_LAYERS = ("selector_norm", "class_selector")


@keras.saving.register_keras_serializable(package=PACKAGE)
class Masker(keras.Model):
    """Learned real-time masking model (Dabkowski & Gal, 2017).

    Args:
        encoder: a frozen feature extractor from `keras_saliency.encoders.build_encoder`.
        num_classes: number of classes the selector knows (the classifier's outputs).
        decoder_filters: channels of each upsampling block, deepest first. Only as many
            blocks as needed to reach `mask_stride` are used; the last value repeats.
        mask_stride: the mask's resolution relative to the image (4: 56x56 for 224x224).
        head: "abs_ratio" (|a| / (|a| + |b|), the paper's) or "sigmoid".
        confidence: the selector's gate offset (an inference-time knob, see ClassSelector).
    """

    def __init__(
        self,
        encoder,
        num_classes,
        decoder_filters=(256, 128, 64),
        mask_stride=4,
        head="abs_ratio",
        confidence=0.0,
        **kwargs,
    ):
        strides = feature_strides(encoder)
        deepest = strides[-1]
        mask_stride = int(mask_stride)
        if mask_stride < 1 or deepest % mask_stride or (deepest // mask_stride) & (
            deepest // mask_stride - 1
        ):
            raise ValueError(
                "Expected mask_stride to divide the deepest feature stride by a power of two "
                f"(feature strides: {strides}). Received: mask_stride={mask_stride}"
            )
        encoder.trainable = False
        image_size = encoder.input_shape[1]
        image = keras.Input((image_size, image_size, 3), name="image")
        class_id = keras.Input((), dtype="int32", name="class_id")
        features = encoder(image, training=False)
        if not isinstance(features, (list, tuple)):
            features = [features]
        by_stride = dict(zip(strides, features))

        # The encoder's deepest features can be of any scale (e.g. 0.07 on average for a small
        # ReLU network): normalising them lets the class embedding start at unit-scale scores.
        deepest_features = keras.layers.BatchNormalization(name="selector_norm")(features[-1])
        selector = ClassSelector(num_classes, confidence=confidence, name="class_selector")
        x, exists = selector(deepest_features, class_id)
        stride = deepest
        block = 0
        filters = list(decoder_filters) or [64]
        while stride > mask_stride:
            width = filters[min(block, len(filters) - 1)]
            x = SubPixelUpsampling(width, name=f"upsample_{block}")(x)
            stride //= 2
            if stride in by_stride:
                x = keras.layers.Concatenate(name=f"skip_{block}")([x, by_stride[stride]])
            x = BottleneckBlock(width, name=f"bottleneck_{block}")(x)
            block += 1
        mask = MaskHead(head, name="mask_head")(x)
        outputs = {"mask": mask, "exists": exists}
        super().__init__(inputs={"image": image, "class_id": class_id}, outputs=outputs, **kwargs)

        self.encoder = encoder
        self.num_classes = int(num_classes)
        self.decoder_filters = tuple(int(f) for f in decoder_filters)
        self.mask_stride = mask_stride
        self.head = head
        self.image_size = image_size

    @property
    def selector(self):
        return self.get_layer("class_selector")

    @property
    def confidence(self):
        return float(ops.convert_to_numpy(self.selector.confidence))

    def set_confidence(self, value):
        """Changes the selector's confidence (no retraining needed)."""
        self.selector.set_confidence(value)

    def set_phase(self, phase):
        """"selector": only the class embedding trains (phase 1); "all": decoder and selector
        (phase 2). The encoder stays frozen. Recompile after changing the phase."""
        from keras_saliency.config import PHASES

        if phase not in PHASES:
            raise ValueError(f"Expected phase in {PHASES}. Received: phase={phase!r}")
        for layer in self.layers:
            if layer is self.encoder or isinstance(layer, keras.layers.InputLayer):
                continue
            layer.trainable = phase == "all" or layer.name in SELECTOR_LAYERS
        self.encoder.trainable = False

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "num_classes": self.num_classes,
            "decoder_filters": list(self.decoder_filters),
            "mask_stride": self.mask_stride,
            "head": self.head,
            "confidence": self.selector.initial_confidence,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


def upsample_masks(masks, size):
    """Bilinear upsampling of masks `(batch, h, w, 1)` to `size` (an int or (height, width))."""
    if isinstance(size, int):
        size = (size, size)
    masks = ops.cast(masks, "float32")
    if tuple(masks.shape[1:3]) == tuple(size):
        return masks
    return ops.clip(ops.image.resize(masks, size, interpolation="bilinear"), 0.0, 1.0)
