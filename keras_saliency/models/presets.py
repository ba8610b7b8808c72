"""Masker presets: named designs and objectives as plain dicts (the KerasHub way).

A preset holds everything that makes a masker besides the classifier: the decoder, the mask
head, the class gate, the mask's resolution, the objective and its weights, how the class
selector starts, and the training schedule it was measured with. `SaliencyModel.from_classifier(
classifier, preset=...)`, `TrainSpec(preset=...)` and `keras-saliency train --preset NAME` use
them; every field can still be given explicitly, and the resolved fields are saved in the
model's config and the run's `run_config.json`.

- `"gated-fpn"` (the default): the light feature pyramid over the classifier's own layers, a
  sigmoid mask head, 28x28 masks at 224 px, the mask gated by the classifier's own class
  evidence (its class activation map and its image-level log-odds), the class selector started
  from the classifier's class layer; the simplified objective of Phang, Park & Geras 2020 with
  area weight 20, each training image explaining the classifier's own top-1 class. The design of
  the shipped ImageNet maskers (docs/IMAGENET.md has the figures that chose it); the shipped Darknet
  masker is this preset as it is. Chosen on 214 calibration photos of imagenet-val-dev (thresholds
  on the other 215; no test photo), 16,000 training passes each, for compact masks: with the
  Darknet classifier, area weight 3 / 10 / 20 gave mass in boxes 0.575 / 0.717 / 0.764 (Grad-CAM
  0.777), the lit share of the image 0.66 / 0.32 / 0.22 (Grad-CAM 0.15) and localisation error
  30.8% / 36.0% / 31.8% (Grad-CAM 32.7%); with EfficientNet-Lite0, area weight 3 / 10 / 20 gave
  mass in boxes 0.718 / 0.772 / 0.797 (Grad-CAM 0.738), the lit share 0.45 / 0.29 / 0.18 (Grad-CAM
  0.29) and localisation error 39.3% / 36.4% / 36.9% (Grad-CAM 37.4%), but MaxBoxAccV2 65.4% at 10
  against 63.7% at 20: the shipped EfficientNet-Lite0 masker keeps 10
  (`--objective-option area_weight=10`). Explaining the classifier's prediction rather than the
  label changed neither figure (0.575 / 0.66 with area weight 3) but took "exists" for an absent
  class from 0.06 to 0.01.
- `"paper"`: the authors' design for reproduction (Dabkowski & Gal 2017): a U-Net decoder,
  the |a| / (|a| + |b|) head, 56x56 masks at 224 px, no class gate, the authors' objective.
"""

import copy

MASKER_PRESETS = {
    "gated-fpn": {
        "description": "light feature pyramid, mask gated by the classifier's own class evidence "
        "(needs a class layer: a Dense after global average pooling or a 1x1 convolution before it)",
        "decoder": "fpn",
        "decoder_filters": [32],
        "mask_stride": 8,
        "head": "sigmoid",
        "class_gate": "classifier_image",
        "gate_options": {"local": "cam", "scale": 6.0, "offset": -1.0, "rate": 10.0},
        "selector_init": "class_layer",
        "objective": {"objective": "simplified", "area_weight": 20.0, "target": "prediction"},
        "schedule": {"epochs": 10, "steps_per_epoch": 50, "batch_size": 32, "learning_rate": 1e-3,
                     "crop_scale": 0.35},
        # Without a usable class layer (a hidden layer after the pooling, a ViT): the same decoder
        # and objective without the gate.
        "ungated": {"class_gate": "none", "selector_init": "random"},
    },
    "paper": {
        "description": "the authors' design (Dabkowski & Gal 2017): U-Net decoder, |a| / (|a| + |b|) "
        "head, no class gate, the authors' objective",
        "decoder": "unet",
        "decoder_filters": None,  # by image size (models.model.default_decoder_filters)
        "mask_stride": 4,
        "head": "abs_ratio",
        "class_gate": "none",
        "gate_options": {},
        "selector_init": "random",
        "objective": {"objective": "code"},
        "schedule": {"epochs": 10, "steps_per_epoch": None, "batch_size": 64, "learning_rate": 1e-3,
                     "crop_scale": 0.0},
    },
}
DEFAULT_PRESET = "gated-fpn"
DESIGN_FIELDS = ("decoder", "decoder_filters", "mask_stride", "head", "class_gate", "gate_options",
                 "selector_init")


def masker_preset(name=None):
    """A copy of the preset `name` (default: `DEFAULT_PRESET`), a plain dict.

    Args:
        name: a name in `MASKER_PRESETS`, or None for the default.

    Returns:
        the preset's dict (a copy: changing it changes nothing else), with its `"name"`.

    Example:

    >>> masker_preset("paper")["decoder"]
    'unet'
    """
    name = DEFAULT_PRESET if name is None else name
    if name not in MASKER_PRESETS:
        raise ValueError(f"Expected a masker preset in {sorted(MASKER_PRESETS)}. Received: preset={name!r}")
    return {"name": name, **copy.deepcopy(MASKER_PRESETS[name])}


def preset_mask_stride(preset, image_size, deepest_stride):
    """The preset's mask stride for an image size: its own at 128 px and above (28x28 masks at
    224 px for "gated-fpn"), finer for small images (at least 8x8 masks), never coarser than the
    deepest tap.

    Args:
        preset: a preset dict (`masker_preset`).
        image_size: the classifier's input side.
        deepest_stride: the stride of the encoder's deepest tap.

    Example:

    >>> preset_mask_stride(masker_preset(), 32, 8)
    4
    """
    stride = int(preset["mask_stride"])
    while stride > 1 and image_size // stride < 8:
        stride //= 2
    return max(1, min(stride, int(deepest_stride)))


def resolved_preset(name, **explicit):
    """The preset's design fields, with the explicitly given (not None) ones taking precedence.

    Args:
        name: a preset name, or None for the default.
        **explicit: `DESIGN_FIELDS` given by the caller (None: from the preset).

    Example:

    >>> resolved_preset("gated-fpn", head="abs_ratio")["head"]
    'abs_ratio'
    """
    preset = masker_preset(name)
    unknown = sorted(set(explicit) - set(DESIGN_FIELDS))
    if unknown:
        raise ValueError(f"Expected design fields in {DESIGN_FIELDS}. Received: {unknown}")
    for key, value in explicit.items():
        if value is not None:
            preset[key] = value
    return preset


def objective_config(fields):
    """A `SaliencyConfig` from a preset's objective dict (its `"objective"` form and weights): the
    simplified form starts from `SaliencyConfig.simplified()`'s training choices.

    Args:
        fields: `SaliencyConfig` fields, e.g. `{"objective": "simplified", "area_weight": 10.0}`.

    Example:

    >>> objective_config(masker_preset()["objective"]).infill
    'zero'
    """
    from keras_saliency.models.config import SaliencyConfig

    fields = dict(fields)
    if fields.get("objective") == "simplified":
        return SaliencyConfig.simplified(**fields)
    return SaliencyConfig(**fields)
