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
    import inspect

    accepted = inspect.signature(METHODS[name]).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        unknown = sorted(set(options) - set(accepted) - {"self"})
        if unknown:
            known = sorted(key for key in accepted if key not in ("self", "model"))
            raise ValueError(f"Expected options of {name} in {known}. Received: {unknown}")
    return METHODS[name](model, **options)


__all__ = ["METHODS", "build_method", "ClassifierFunction", "SaliencyMethod", "normalize_maps"] + [
    cls.__name__ for cls in METHODS.values()
]
