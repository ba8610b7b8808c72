"""Per-image mask optimisation: the iterative approach the learned masker replaces. For each
image the mask is optimised directly (Adam on mask logits, `steps` iterations) to minimise the
same objective the masker is trained with (real class only: area, smoothness, preserver and
destroyer terms of `SaliencyConfig`), with the blurred image as the alternative."""

from keras import ops

from keras_saliency.models import objective
from keras_saliency.models.alternatives import apply_mask, blurred
from keras_saliency.models.config import as_config
from keras_saliency.models.masker import upsample_masks
from keras_saliency.methods.autodiff import value_and_gradient
from keras_saliency.models.compiled import compiled
from keras_saliency.methods.base import SaliencyMethod


class MaskOptimisation(SaliencyMethod):
    """`steps` Adam steps (learning rate `learning_rate`) on a `resolution` x `resolution`
    mask per image (default: the SaliencyModel's mask resolution, else 1/4 of the side),
    batched. `config`: a `SaliencyConfig` (default: the SaliencyModel's, when one is given,
    else the code defaults).

    Args:
        model: a `SaliencyModel` or a Keras classifier.
        steps: Adam iterations per batch. Defaults to 300.
        learning_rate: Adam's learning rate on the mask logits. Defaults to 0.1.
        resolution: side of the optimised mask in cells, or `None` (see above).
        config: a `SaliencyConfig` (or what `as_config` accepts), or `None` (see above).
        batch_size: images optimised together. Defaults to 64.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    maps = MaskOptimisation(model, steps=100, resolution=8)(images, class_ids)
    ```
    """

    name = "optimisation"
    normalize = False  # a [0, 1] mask like the learned masker's

    def __init__(self, model, steps=300, learning_rate=0.1, resolution=None, config=None, batch_size=64, **kwargs):
        super().__init__(model, batch_size, **kwargs)
        if config is None:
            config = getattr(model, "config", None)
        self.config = as_config(config)
        self.steps, self.learning_rate = int(steps), float(learning_rate)
        size = self.classifier.image_size
        if resolution is None:  # the learned masker's own mask resolution when there is one
            masker = getattr(model, "masker", None)
            resolution = size // masker.mask_stride if masker is not None else max(4, size // 4)
        self.resolution = int(resolution)
        self._step = compiled(self._adam_step)

    def _loss(self, logits, images, alternatives, class_ids):
        """The sum of the per-image objectives of the masks `sigmoid(logits)`."""
        size = tuple(images.shape[1:3])
        batch = ops.shape(images)[0]
        masks = ops.sigmoid(logits)
        preserved, destroyed = apply_mask(images, upsample_masks(masks, size), alternatives)
        both = self.classifier(ops.concatenate([preserved, destroyed], axis=0))
        real = ops.ones_like(class_ids, dtype="float32")  # always the true class: no fake labels, no exists head
        terms = objective.saliency_objective(masks, both[:batch], both[batch:], class_ids, real, config=self.config)
        return terms["loss"] * ops.cast(batch, "float32")

    def _adam_step(self, logits, m, v, t, images, alternatives, class_ids):
        """One Adam step on the mask logits (`t`: the step number, from 1)."""
        beta1, beta2 = 0.9, 0.999
        _, grad = value_and_gradient(lambda x: self._loss(x, images, alternatives, class_ids), logits)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * ops.square(grad)
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        return logits - self.learning_rate * m_hat / (ops.sqrt(v_hat) + 1e-8), m, v

    def explain_batch(self, images, class_ids):
        alternatives = blurred(images)
        logits = ops.zeros((images.shape[0], self.resolution, self.resolution, 1))
        m, v = ops.zeros_like(logits), ops.zeros_like(logits)
        for step in range(1, self.steps + 1):
            t = ops.convert_to_tensor(float(step))
            logits, m, v = self._step(logits, m, v, t, images, alternatives, class_ids)
        return upsample_masks(ops.sigmoid(logits), tuple(images.shape[1:3]))[..., 0]
