"""The masking model: frozen encoder, class selector, U-Net decoder, mask head.

`Masker([image, class_id])` returns `{"mask": (batch, H / mask_stride, W / mask_stride, 1),
"exists": (batch,) logit}`. It is what gets deployed: image + class id in, mask out.
"""

import keras
from keras import ops

from keras_saliency.models.encoders import feature_strides, shared_taps
from keras_saliency.models.layers import (
    PACKAGE,
    BottleneckBlock,
    ClassEvidenceGate,
    ClassSelector,
    MaskHead,
    SubPixelUpsampling,
)


SELECTOR_LAYERS = ("selector_norm", "class_selector")
DECODERS = ("unet", "fpn", "none")
CLASS_GATES = ("none", "classifier", "classifier_image")


@keras.saving.register_keras_serializable(package=PACKAGE)
class Masker(keras.Model):
    """Learned real-time masking model (Dabkowski & Gal, 2017).

    Args:
        encoder: a frozen feature extractor from `keras_saliency.models.encoders.build_encoder`.
        num_classes: number of classes the selector knows (the classifier's outputs).
        decoder_filters: channels of each upsampling block, deepest first. Only as many
            blocks as needed to reach `mask_stride` are used; the last value repeats.
        mask_stride: the mask's resolution relative to the image (4: 56x56 for 224x224).
        head: "abs_ratio" (|a| / (|a| + |b|), the paper's) or "sigmoid" (a sigmoid of a
            logit: no flat regions at exactly 1).
        confidence: the selector's gate offset (an inference-time knob, see ClassSelector).
        decoder: "unet" (the paper's: sub-pixel upsampling, skip concatenation and a residual
            bottleneck per scale), "fpn" (a light feature pyramid after Phang et al. 2020: 1x1
            lateral convolutions of the encoder's features added to the bilinearly upsampled
            class-gated features, one 3x3 convolution at the mask's resolution;
            `decoder_filters[0]` channels) or "none" (the mask head reads the class-gated deepest
            features: `mask_stride` must be the deepest stride).
        class_gate: "none" (the paper's: the class only enters through the selector),
            "classifier" (the mask is multiplied by `ClassEvidenceGate`: the classifier's own
            per-location log-odds of the class, read from the deepest features with the
            classifier's last 1x1 convolution, set with `set_class_gate_from`; "exists" is the
            classifier's log-odds of the class) or "classifier_image" (the same, times the
            classifier's image-level evidence for the class, so that a class it gives no
            chance gets an empty mask). For classifiers that end in a 1x1
            convolution to the classes and global average pooling, with the deepest tapped
            features as that convolution's input.
        gate_options: extra arguments of `ClassEvidenceGate` (e.g. `{"rate": 10}`).

    Example:

    ```python
    encoder = keras_saliency.models.encoders.build_encoder(classifier, ["block2", "block3"])
    masker = Masker(encoder, num_classes=10, decoder="fpn", decoder_filters=(32,), head="sigmoid")
    outputs = masker({"image": images, "class_id": class_ids})  # {"mask", "exists"}
    ```
    """

    def __init__(
        self,
        encoder,
        num_classes,
        decoder_filters=(256, 128, 64),
        mask_stride=4,
        head="abs_ratio",
        confidence=0.0,
        decoder="unet",
        class_gate="none",
        gate_options=None,
        **kwargs,
    ):
        if class_gate not in CLASS_GATES:
            raise ValueError(f"Expected class_gate in {CLASS_GATES}. Received: class_gate={class_gate!r}")
        if decoder not in DECODERS:
            raise ValueError(f"Expected decoder in {DECODERS}. Received: decoder={decoder!r}")
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
        filters = list(decoder_filters) or [64]
        if decoder == "unet":
            x = _unet_decoder(x, by_stride, deepest, mask_stride, filters)
        elif decoder == "fpn":
            x = _fpn_decoder(x, by_stride, deepest, mask_stride, filters[0])
        elif mask_stride != deepest:
            raise ValueError(
                "Expected mask_stride equal to the deepest feature stride with decoder='none'. "
                f"Received: mask_stride={mask_stride}, feature strides {strides}"
            )
        mask = MaskHead(head, name="mask_head")(x)
        if class_gate != "none":
            # With the image-level factor, a lenient local gate: sigmoid(0.25 x log-odds + 3).
            options = dict(scale=0.25, offset=3.0, image_offset=3.0) if class_gate == "classifier_image" else {}
            options.update(gate_options or {})
            gate, exists = ClassEvidenceGate(num_classes, name="class_gate", **options)(features[-1], class_id)
            if deepest != mask_stride:
                gate = keras.layers.UpSampling2D(
                    deepest // mask_stride, interpolation="bilinear", dtype="float32", name="gate_up"
                )(gate)
            mask = keras.layers.Multiply(dtype="float32", name="gated_mask")([mask, gate])
        outputs = {"mask": mask, "exists": exists}
        super().__init__(inputs={"image": image, "class_id": class_id}, outputs=outputs, **kwargs)

        self.encoder = encoder
        self.num_classes = int(num_classes)
        self.decoder_filters = tuple(int(f) for f in decoder_filters)
        self.mask_stride = mask_stride
        self.head = head
        self.decoder = decoder
        self.class_gate = class_gate
        self.gate_options = dict(gate_options or {})
        self.image_size = image_size

    @property
    def selector(self):
        return self.get_layer("class_selector")

    def set_class_gate_from(self, class_layer):
        """Copies the classifier's last 1x1 convolution (a layer) into the class gate."""
        if self.class_gate == "none":
            raise ValueError(f"Expected a masker with a class gate (class_gate in {CLASS_GATES[1:]}). Received: {self.class_gate!r}")
        self.get_layer("class_gate").set_from_class_layer(class_layer)

    @property
    def confidence(self):
        return float(ops.convert_to_numpy(self.selector.confidence))

    def set_confidence(self, value):
        """Changes the selector's confidence (no retraining needed)."""
        self.selector.set_confidence(value)

    def set_phase(self, phase):
        """"selector": only the class embedding trains (phase 1); "all": decoder and selector
        (phase 2). The encoder stays frozen. Recompile after changing the phase."""
        from keras_saliency.models.config import PHASES

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
            # An encoder made of the classifier's own layers is saved as how to rebuild it
            # (`SaliencyModel.from_config` does), so that the classifier's weights are stored once.
            "encoder": (
                {"shared_taps_of_classifier": shared_taps(self.encoder)}
                if shared_taps(self.encoder)
                else keras.saving.serialize_keras_object(self.encoder)
            ),
            "num_classes": self.num_classes,
            "decoder_filters": list(self.decoder_filters),
            "mask_stride": self.mask_stride,
            "head": self.head,
            "decoder": self.decoder,
            "class_gate": self.class_gate,
            "gate_options": self.gate_options,
            "confidence": self.selector.initial_confidence,
        }

    def self_contained_config(self):
        """`get_config` with the encoder's full config even when it shares a classifier's layers
        (for a standalone copy of the masker, e.g. `encoders.frozen_clone`).

        Example:

        ```python
        copy = Masker.from_config(masker.self_contained_config())
        ```
        """
        return {**self.get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = config["encoder"]
        if isinstance(encoder, dict) and "shared_taps_of_classifier" in encoder:
            raise ValueError(
                "Expected the SaliencyModel that holds this masker: its encoder is made of the "
                "classifier's own layers. Load the whole SaliencyModel (keras.saving.load_model)."
            )
        if not isinstance(encoder, keras.Model):
            config["encoder"] = keras.saving.deserialize_keras_object(encoder)
        return cls(**config)


def _unet_decoder(x, by_stride, stride, mask_stride, filters):
    block = 0
    while stride > mask_stride:
        width = filters[min(block, len(filters) - 1)]
        x = SubPixelUpsampling(width, name=f"upsample_{block}")(x)
        stride //= 2
        if stride in by_stride:
            x = keras.layers.Concatenate(name=f"skip_{block}")([x, by_stride[stride]])
        x = BottleneckBlock(width, name=f"bottleneck_{block}")(x)
        block += 1
    return x


def _fpn_decoder(x, by_stride, stride, mask_stride, width):
    x = keras.layers.Conv2D(width, 1, name="top_lateral")(x)
    block = 0
    while stride > mask_stride:
        x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"up_{block}")(x)
        stride //= 2
        if stride in by_stride:
            lateral = keras.layers.Conv2D(width, 1, name=f"lateral_{block}")(by_stride[stride])
            x = keras.layers.Add(name=f"merge_{block}")([x, lateral])
        block += 1
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, name="refine_conv")(x)
    x = keras.layers.BatchNormalization(name="refine_norm")(x)
    return keras.layers.ReLU(name="refine_relu")(x)


def upsample_masks(masks, size):
    """Bilinear upsampling of masks `(batch, h, w, 1)` to `size` (an int or (height, width)).

    Args:
        masks: masks in [0, 1] of shape (batch, h, w, 1).
        size: the output side (int) or `(height, width)`; returned unchanged if already so.

    Example:

    ```python
    full = upsample_masks(masks, 224)  # (batch, 224, 224, 1), clipped to [0, 1]
    ```
    """
    if isinstance(size, int):
        size = (size, size)
    masks = ops.cast(masks, "float32")
    if tuple(masks.shape[1:3]) == tuple(size):
        return masks
    return ops.clip(ops.image.resize(masks, size, interpolation="bilinear"), 0.0, 1.0)
