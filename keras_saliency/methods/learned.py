"""The learned masking model as a `SaliencyMethod` (one forward pass per batch)."""

from keras import ops

from keras_saliency.methods.base import SaliencyMethod


class LearnedMasker(SaliencyMethod):
    """The masks of a trained `SaliencyModel`, at image size and not renormalised.

    Args:
        model: a `SaliencyModel` built with `upsample=True`.
        batch_size: images per forward pass. Defaults to 64.
        **kwargs: passed to `SaliencyMethod`.

    Example:

    ```python
    maps = LearnedMasker(keras_saliency.pretrained.load("cifar10"))(images, class_ids)
    ```
    """

    name = "masker"
    normalize = False  # masks are already in [0, 1] and comparable across images

    def __init__(self, model, batch_size=64, **kwargs):
        super().__init__(model, batch_size, **kwargs)
        if not getattr(model, "upsample", True):
            raise ValueError("Expected a SaliencyModel with upsample=True (masks at image size)")
        self.model = model

    def explain_batch(self, images, class_ids):
        # the model's own compiled `explain` step, on any backend
        masks = self.model.explain(ops.convert_to_numpy(images), ops.convert_to_numpy(class_ids), self.batch_size)["mask"]
        return masks[..., 0]
