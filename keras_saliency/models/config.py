"""One configuration object for the objective and the training recipe.

The defaults are the values of the authors' code (see method.md, "Code form"). The
config is saved as JSON next to every trained model and embedded in the model itself.
"""

import dataclasses
import json
from typing import Optional, Tuple

OBJECTIVE_FORMS = ("code", "paper", "simplified")
INFILLS = ("mixed", "zero")
PHASES = ("all", "selector")
TARGETS = ("label", "prediction")


@dataclasses.dataclass
class SaliencyConfig:
    """The objective's weights and the masker's training choices (see the comments below).

    Args:
        objective: objective form, one of `OBJECTIVE_FORMS`. Defaults to `"code"`.
        area_weight: weight of the area term. Defaults to 8.0.
        area_power: power of the mean mask in the area term. Defaults to 0.3.
        area_epsilon: added to the mean mask before the power. Defaults to 0.0005.
        smoothness_weight: weight of the total variation (smoothness) term. Defaults to 0.005.
        border_penalty: weight of the squared mask values on the image border in the
            smoothness term. Defaults to 0.3.
        preserver_weight: weight of the preserver term. Defaults to 0.3.
        destroyer_weight: weight of the destroyer term. Defaults to 1.0.
        preserver_confidence: logit margin by which the class should win on the preserved
            image (code form). Defaults to 1.0.
        destroyer_confidence: logit margin by which the class should lose on the destroyed
            image (code form). Defaults to 5.0.
        fake_confidence: margin of the role-swapped terms for fake selectors. Defaults to 1.0.
        destroyer_power: the paper form's power of the destroyed probability. Defaults to 0.3.
        exists_weight: weight of the "exists" head's cross-entropy. Defaults to 1.0.
        fake_area_weight: weight of the mean mask for fake selectors. Defaults to 0.0.
        fake_label_probability: probability of a wrong (fake) class, in [0, 1). Defaults
            to 0.5.
        infill: what replaces removed pixels, one of `INFILLS`. Defaults to `"mixed"`.
        blur_probability: probability of the blurred alternative with "mixed" infill.
            Defaults to 0.5.
        blur_kernel_fraction: blur kernel size as a fraction of the side. Defaults to 55 / 224.
        blur_sigma_fraction: blur sigma as a fraction of the side. Defaults to 11 / 224.
        colour_range: range of the random colours ([-1, 1] units). Defaults to 0.66.
        noise_std: standard deviation of the alternatives' noise. Defaults to 0.11.
        input_noise_std: standard deviation of the noise added to the inputs. Defaults to 0.03.
        phase: which part of the masker trains, one of `PHASES`. Defaults to `"all"`.
        graded_weight: weight of the ranking term (0: off). Defaults to 0.0.
        graded_fractions: the range of the ranking term's top fractions. Defaults to
            `(0.05, 0.5)`.
        target: the class each training image's mask explains, one of `TARGETS`: `"label"`
            (the dataset's label) or `"prediction"` (the frozen classifier's own top-1 class on
            the clean image). Defaults to `"label"`.

    Example:

    >>> SaliencyConfig(area_weight=4.0).replace(phase="selector").phase
    'selector'
    """

    # Objective form: "code" (logit margins, what the authors trained with), "paper"
    # (log-probability preserver, probability-power destroyer) or "simplified" (Phang, Park &
    # Geras 2020: cross-entropy on the preserved image, maximal prediction entropy on the
    # destroyed one, an L1 area penalty applied only where the classifier still classifies the
    # preserved image correctly; use with infill="zero" and smoothness_weight=0.001).
    objective: str = "code"
    area_weight: float = 8.0
    area_power: float = 0.3
    area_epsilon: float = 0.0005
    # The smoothness term is a SUM over mask pixels (the area a mean): 0.5 (the code's generic
    # default) makes it dominate at low mask resolutions - on CIFAR-10 (16x16 masks) the masks
    # collapse to empty (measured: mean 0.004 after 600 steps vs 0.40 with 0.005). 0.005 is the
    # authors' ImageNet training script's value.
    smoothness_weight: float = 0.005
    border_penalty: float = 0.3
    preserver_weight: float = 0.3
    destroyer_weight: float = 1.0
    preserver_confidence: float = 1.0
    destroyer_confidence: float = 5.0
    fake_confidence: float = 1.0
    # Paper form: L = l1*TV + l2*AV - log f_c(preserved) + l3 * f_c(destroyed) ** l4.
    destroyer_power: float = 0.3
    # "exists" head: binary cross-entropy on real/fake selector.
    exists_weight: float = 1.0
    # Weight of the mean mask for FAKE selectors (the selected class is absent, so the mask
    # must be empty). 0 keeps the authors' role-swap terms alone.
    fake_area_weight: float = 0.0
    # Fake labels: probability that the selector is given a wrong class.
    fake_label_probability: float = 0.5
    # What replaces the removed pixels during training: "mixed" (the authors': blurred image
    # or random colour + noise) or "zero" (0 in the [-1, 1] image range: mid-grey 127.5).
    infill: str = "mixed"
    # Alternative images. Fractions are relative to the image side (55 and 11 px at 224 px);
    # colours and noise are in units of the [-1, 1] image range, as in the authors' code.
    blur_probability: float = 0.5
    blur_kernel_fraction: float = 55.0 / 224.0
    blur_sigma_fraction: float = 11.0 / 224.0
    colour_range: float = 0.66
    noise_std: float = 0.11
    input_noise_std: float = 0.03
    # Which part of the masker trains: "selector" (phase 1: the class embedding only) or "all"
    # (phase 2: decoder + selector). The encoder and the classifier are always frozen.
    phase: str = "all"
    # The ranking term: for each real selector one more classifier pass, on the image with its
    # mask's top fraction (drawn from `graded_fractions`) kept or removed, half the images each
    # (`objective.soft_top_fraction`, `objective.graded_ranking`). It trains the order of the
    # pixels beyond the mask's core, which deletion and insertion curves read.
    graded_weight: float = 0.0
    graded_fractions: Tuple[float, float] = (0.05, 0.5)
    # The class a training mask explains: the dataset's label, or the classifier's own top-1
    # class on the clean image. With a classifier that is often wrong, "label" asks the masker to
    # find a class the classifier does not see; with the simplified objective those images then
    # carry no area penalty (the preserved image is never classified correctly), which lets the
    # masks grow everywhere. "prediction" explains what the classifier sees, as `predict` does.
    target: str = "label"

    def __post_init__(self):
        if self.objective not in OBJECTIVE_FORMS:
            raise ValueError(
                f"Expected objective in {OBJECTIVE_FORMS}. Received: objective={self.objective!r}"
            )
        if self.infill not in INFILLS:
            raise ValueError(f"Expected infill in {INFILLS}. Received: infill={self.infill!r}")
        if self.target not in TARGETS:
            raise ValueError(f"Expected target in {TARGETS}. Received: target={self.target!r}")
        if self.phase not in PHASES:
            raise ValueError(f"Expected phase in {PHASES}. Received: phase={self.phase!r}")
        if not 0.0 <= self.fake_label_probability < 1.0:
            raise ValueError(
                "Expected fake_label_probability in [0, 1). "
                f"Received: fake_label_probability={self.fake_label_probability}"
            )
        if not 0.0 <= self.blur_probability <= 1.0:
            raise ValueError(
                f"Expected blur_probability in [0, 1]. Received: blur_probability={self.blur_probability}"
            )

        low, high = (float(v) for v in self.graded_fractions)
        if not 0.0 < low <= high < 1.0:
            raise ValueError(
                f"Expected graded_fractions (low, high) with 0 < low <= high < 1. Received: {self.graded_fractions}"
            )
        self.graded_fractions = (low, high)

    def get_config(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: Optional[dict]):
        config = dict(config or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"Expected SaliencyConfig fields {sorted(known)}. Received unknown keys: {unknown}"
            )
        return cls(**config)

    @classmethod
    def simplified(cls, **changes):
        """The simplified objective of Phang, Park & Geras 2020 with its training choices (zero
        infill, TV weight 0.001) and empty masks for fake selectors."""
        defaults = dict(objective="simplified", infill="zero", smoothness_weight=0.001, area_weight=4.0,
                        fake_area_weight=4.0, preserver_weight=1.0, destroyer_weight=1.0,
                        input_noise_std=0.0)
        return cls(**{**defaults, **changes})

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def save(self, path):
        with open(path, "w") as f:
            json.dump(self.get_config(), f, indent=2, sort_keys=True)

    @classmethod
    def load(cls, path):
        with open(path) as f:
            return cls.from_config(json.load(f))


def as_config(config) -> SaliencyConfig:
    """Accepts a SaliencyConfig, a dict of its fields or None (defaults).

    Args:
        config: a `SaliencyConfig`, a dict of some of its fields, or `None`.

    Example:

    >>> as_config({"area_weight": 4.0}).area_weight
    4.0
    """
    if isinstance(config, SaliencyConfig):
        return config
    if config is None or isinstance(config, dict):
        return SaliencyConfig.from_config(config)
    raise TypeError(
        f"Expected a SaliencyConfig, a dict or None. Received: config of type {type(config).__name__}"
    )
