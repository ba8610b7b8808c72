"""Gradient methods: vanilla gradient (Simonyan et al. 2014), SmoothGrad (Smilkov et al. 2017)
and Integrated Gradients (Sundararajan et al. 2017). Maps are the maximum over colour channels
of the absolute attribution."""

import numpy as np
from keras import ops

from keras_saliency.methods.autodiff import value_and_gradient
from keras_saliency.models.compiled import compiled
from keras_saliency.methods.base import SaliencyMethod, select


def class_logit_gradients(classifier, images, class_ids):
    """d logit_c / d image, for [0, 255] images.

    Args:
        classifier: a `ClassifierFunction` (logits of [0, 255] images).
        images: float32 tensor (N, H, W, 3) in [0, 255].
        class_ids: int32 tensor (N,) of the class explained in each image.

    Example:

    ```python
    grads = class_logit_gradients(ClassifierFunction(model), images, class_ids)
    ```
    """
    return value_and_gradient(lambda x: select(classifier(x), class_ids), images)[1]


class VanillaGradient(SaliencyMethod):
    """The absolute gradient of the class logit with respect to the pixels.

    Args:
        model: a `SaliencyModel` or a Keras classifier.
        batch_size: images per batch. Defaults to 64.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    maps = VanillaGradient(model)(images, class_ids)
    ```
    """

    name = "gradient"

    def __init__(self, model, batch_size=64, **kwargs):
        super().__init__(model, batch_size, **kwargs)
        self._fn = compiled(self._explain)

    def _explain(self, images, class_ids):
        grads = class_logit_gradients(self.classifier, images, class_ids)
        return ops.max(ops.abs(grads), axis=-1)

    def explain_batch(self, images, class_ids):
        return self._fn(images, class_ids)


class SmoothGrad(SaliencyMethod):
    """Mean absolute gradient over `samples` noisy copies (noise std `noise_level` x 255).

    Args:
        model: a `SaliencyModel` or a Keras classifier.
        samples: noisy copies per image. Defaults to 25.
        noise_level: noise standard deviation as a fraction of the pixel range. Defaults to 0.15.
        batch_size: images per batch. Defaults to 16.
        seed: seed of the noise. Defaults to 0.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    maps = SmoothGrad(model, samples=50, noise_level=0.1)(images, class_ids)
    ```
    """

    name = "smoothgrad"

    def __init__(self, model, samples=25, noise_level=0.15, batch_size=16, seed=0, **kwargs):
        super().__init__(model, batch_size, **kwargs)
        self.samples, self.noise_level = int(samples), float(noise_level)
        self._rng = np.random.default_rng(seed)  # the noise, drawn on the host: any backend
        self._fn = compiled(self._explain)

    def _explain(self, images, class_ids, noise):
        grads = class_logit_gradients(self.classifier, images + noise, class_ids)
        return ops.max(ops.abs(grads), axis=-1)

    def explain_batch(self, images, class_ids):
        total = 0.0
        for _ in range(self.samples):
            noise = self._rng.normal(0.0, self.noise_level * 255.0, tuple(images.shape)).astype(np.float32)
            total = total + self._fn(images, class_ids, ops.convert_to_tensor(noise))
        return total / self.samples


class IntegratedGradients(SaliencyMethod):
    """(x - x0) times the mean gradient on the straight path from the baseline x0 (black, or a
    blurred copy with `baseline="blur"`), `steps` Riemann midpoints.

    Args:
        model: a `SaliencyModel` or a Keras classifier.
        steps: points on the path (Riemann midpoints). Defaults to 32.
        baseline: `"black"` (all zeros) or `"blur"` (a blurred copy). Defaults to `"black"`.
        batch_size: images per batch. Defaults to 16.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    maps = IntegratedGradients(model, steps=64, baseline="blur")(images, class_ids)
    ```
    """

    name = "integrated_gradients"

    def __init__(self, model, steps=32, baseline="black", batch_size=16, **kwargs):
        super().__init__(model, batch_size, **kwargs)
        if baseline not in ("black", "blur"):
            raise ValueError(f"Expected baseline 'black' or 'blur'. Received: {baseline!r}")
        self.steps, self.baseline = int(steps), baseline
        self._fn = compiled(self._explain)

    def _baseline(self, images):
        if self.baseline == "black":
            return ops.zeros_like(images)
        from keras_saliency.models.alternatives import blurred

        return blurred(images)

    def _explain(self, images, class_ids):
        baseline = self._baseline(images)
        total = ops.zeros_like(images)
        for i in range(self.steps):
            alpha = (i + 0.5) / self.steps
            point = baseline + alpha * (images - baseline)
            total += class_logit_gradients(self.classifier, point, class_ids)
        attribution = (images - baseline) * total / self.steps
        return ops.max(ops.abs(attribution), axis=-1)

    def explain_batch(self, images, class_ids):
        return self._fn(images, class_ids)
