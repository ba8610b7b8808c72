"""Gradients on every Keras backend: the one place where the methods differ by backend (with
`keras_saliency.models.compiled` for their compiled steps). Everything else in `methods/` is
`keras.ops`.

| backend | `value_and_gradient`, `vector_jacobian` |
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


def vector_jacobian(function, inputs, cotangent):
    """The gradients of `sum(function(*inputs) * cotangent)` with respect to each of `inputs`
    (zeros for an input the output does not depend on), on the current Keras backend.

    Args:
        function: tensors -> one tensor.
        inputs: the list of tensors to differentiate at.
        cotangent: a tensor shaped like `function`'s output (1.0 for a scalar output).

    Example:

    ```python
    dx, dw = vector_jacobian(lambda x, w: keras.ops.matmul(x, w), [x, w], upstream)
    ```
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = function(*inputs)
        return tape.gradient(y, inputs, output_gradients=tf.cast(cotangent, y.dtype),
                             unconnected_gradients=tf.UnconnectedGradients.ZERO)
    if backend == "jax":
        import jax

        y, pullback = jax.vjp(function, *inputs)
        return list(pullback(jax.numpy.broadcast_to(jax.numpy.asarray(cotangent, y.dtype), y.shape)))
    if backend == "torch":
        import torch

        with torch.enable_grad():
            leaves = [x.detach().requires_grad_(True) for x in inputs]
            y = function(*leaves)
            grads = torch.autograd.grad(y, leaves, grad_outputs=torch.as_tensor(cotangent, dtype=y.dtype,
                                        device=y.device).expand_as(y), allow_unused=True)
        return [torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads)]
    raise NotImplementedError(
        f"Expected the Keras backend tensorflow, jax or torch for gradient methods. Received: {backend!r}"
    )
