"""Per-image mask optimisation: the iterative approach the learned masker replaces. For each
image the mask is optimised directly (Adam on mask logits, `steps` iterations) to minimise the
same objective the masker is trained with (real class only: area, smoothness, preserver and
destroyer terms of `SaliencyConfig`), with the blurred image as the alternative."""

import tensorflow as tf

from keras_saliency.models import objective
from keras_saliency.models.alternatives import apply_mask, blurred
from keras_saliency.models.config import as_config
from keras_saliency.models.masker import upsample_masks
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
        self._fn = tf.function(self._explain, reduce_retracing=True)

    def _explain(self, images, class_ids):
        size = images.shape[1:3]
        alternatives = blurred(images)
        batch = tf.shape(images)[0]
        real = tf.ones([batch])  # always the true class: no fake labels, no exists head
        logits = tf.zeros([batch, self.resolution, self.resolution, 1])
        m = tf.zeros_like(logits)
        v = tf.zeros_like(logits)
        beta1, beta2 = 0.9, 0.999
        for step in tf.range(1, self.steps + 1):
            with tf.GradientTape() as tape:
                tape.watch(logits)
                masks = tf.sigmoid(logits)
                preserved, destroyed = apply_mask(images, upsample_masks(masks, size), alternatives)
                both = self.classifier(tf.concat([preserved, destroyed], axis=0))
                terms = objective.saliency_objective(
                    masks, both[:batch], both[batch:], class_ids, real, config=self.config
                )
                loss = terms["loss"] * tf.cast(batch, tf.float32)  # the sum of per-image losses
            grad = tape.gradient(loss, logits)
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * tf.square(grad)
            t = tf.cast(step, tf.float32)
            m_hat = m / (1 - beta1**t)
            v_hat = v / (1 - beta2**t)
            logits = logits - self.learning_rate * m_hat / (tf.sqrt(v_hat) + 1e-8)
        return upsample_masks(tf.sigmoid(logits), size)[..., 0]

    def explain_batch(self, images, class_ids):
        return self._fn(images, class_ids)
