"""Gradients on every Keras backend: the one place where the methods differ by backend (with
`keras_saliency.models.compiled` for their compiled steps). Everything else in `methods/` is
`keras.ops`.

| backend | `value_and_gradient` |
|---|---|
| TensorFlow | `tf.GradientTape` |
| JAX | `jax.vjp` |
| PyTorch | `torch.autograd.grad` |
"""

import keras


def value_and_gradient(function, x):
    """`(function(x), d sum(function(x)) / d x)` on the current Keras backend.

    With a `function` whose output for one image depends on that image alone (a classifier in
    inference mode), the gradient of the sum is each image's own gradient.

    Args:
        function: tensor -> tensor, in `keras.ops` or any of the backend's own ops.
        x: the tensor to differentiate at.

    Example:

    ```python
    logits, grads = value_and_gradient(lambda x: classifier(x)[:, 3], images)
    ```
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            y = function(x)
        return y, tape.gradient(y, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    if backend == "jax":
        import jax

        y, pullback = jax.vjp(function, x)
        (gradient,) = pullback(jax.numpy.ones_like(y))
        return y, gradient
    if backend == "torch":
        import torch

        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            y = function(x)
            (gradient,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
        if gradient is None:  # x unused: zero, as on the other backends
            gradient = torch.zeros_like(x)
        return y.detach(), gradient
    raise NotImplementedError(
        f"Expected the Keras backend tensorflow, jax or torch for gradient methods. Received: {backend!r}"
    )
