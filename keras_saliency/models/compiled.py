"""A function compiled for the current Keras backend: `tf.function(reduce_retracing=True)` on
TensorFlow, `jax.jit` on JAX, the function itself (eager) on PyTorch."""

import keras


def compiled(function):
    """`function` compiled for the current Keras backend (see the module's docstring); its
    arguments are tensors.

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
