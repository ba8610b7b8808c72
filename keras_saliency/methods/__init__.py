"""Saliency methods on the same classifier, for comparison with the learned masker.

Every method is a `SaliencyMethod`: `method(images, class_ids)` -> maps `(N, H, W)` in [0, 1].
`build_method(name, model)` makes one by name (`METHODS`)."""

from keras_saliency.methods.base import ClassifierFunction, SaliencyMethod, normalize_maps
from keras_saliency.methods.baselines import CentreBox, FullImage
from keras_saliency.methods.gradcam import GradCAM
from keras_saliency.methods.gradients import IntegratedGradients, SmoothGrad, VanillaGradient
from keras_saliency.methods.learned import LearnedMasker
from keras_saliency.methods.lrp import LRPEpsilonGammaBox, LRPEpsilonPlusFlat
from keras_saliency.methods.optimisation import MaskOptimisation
from keras_saliency.methods.perturbation import RISE, Occlusion

METHODS = {
    cls.name: cls
    for cls in (
        LearnedMasker,
        VanillaGradient,
        SmoothGrad,
        IntegratedGradients,
        GradCAM,
        LRPEpsilonGammaBox,
        LRPEpsilonPlusFlat,
        Occlusion,
        RISE,
        MaskOptimisation,
        CentreBox,
        FullImage,
    )
}


def build_method(name, model, **options):
    """`name` in `METHODS`; `model` a `SaliencyModel` (required for "masker") or a classifier.

    Args:
        name: the method's name, a key of `METHODS` (e.g. `"gradcam"`, `"masker"`).
        model: a `SaliencyModel`, or a Keras classifier (not for `"masker"`).
        **options: keyword arguments of the method's constructor (e.g. `batch_size`).

    Example:

    ```python
    method = build_method("smoothgrad", model, samples=10)
    maps = method(images, class_ids)  # (N, H, W) in [0, 1]
    ```
    """
    if name not in METHODS:
        raise ValueError(f"Expected a method in {sorted(METHODS)}. Received: {name!r}")
    if name == "masker":
        from keras_saliency.models.model import SaliencyModel

        if not isinstance(model, SaliencyModel):
            raise ValueError(
                f"Expected a SaliencyModel for the 'masker' method. Received: {type(model).__name__}"
            )
    try:
        return METHODS[name](model, **options)
    except TypeError as error:  # an option the method does not take: the caller's value, in one line
        if "unexpected keyword argument" not in str(error):
            raise
        raise ValueError(f"Expected options that {name} takes. Received: {sorted(options)} ({error})") from None


__all__ = ["METHODS", "build_method", "ClassifierFunction", "SaliencyMethod", "normalize_maps"] + [
    cls.__name__ for cls in METHODS.values()
]
