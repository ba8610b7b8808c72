"""The one place where the methods differ by Keras backend: gradients of a function of a tensor
and the compiled form of a method's step. Everything else in `methods/` is `keras.ops`.

| backend | `value_and_gradient` | `compiled` |
|---|---|---|
| TensorFlow | `tf.GradientTape` | `tf.function(reduce_retracing=True)` |
| JAX | `jax.vjp` | `jax.jit` |
| PyTorch | `torch.autograd.grad` | the function itself (eager) |
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


def compiled(function):
    """`function` compiled for the current backend (see the module's table); its arguments
    are tensors.

    Args:
        function: tensors -> tensors.

    Example:

    ```python
    step = compiled(lambda images, ids: classifier(images))
    ```
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function, reduce_retracing=True)
    if backend == "jax":
        import jax

        return jax.jit(function)
    return function


def require_tensorflow(method):
    """Refuses, in one line, a method that runs on TensorFlow alone (`method`: its name).

    Args:
        method: the method's name, for the message.

    Example:

    ```python
    require_tensorflow("lrp_epsilon_gamma_box")
    ```
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(
            f"Expected the TensorFlow backend for {method} (its rules are written with "
            f"tf.GradientTape). Received: KERAS_BACKEND={backend}; run it with KERAS_BACKEND=tensorflow"
        )
