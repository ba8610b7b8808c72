"""NumPy arrays as a dataset."""

import numpy as np
import tensorflow as tf

from keras_saliency.data.pipeline import prepare


def array_dataset(
    images, labels, image_size=None, batch_size=32, training=False, seed=None, shift=0, zoom=0.0
):
    """`images` (N, H, W, C) in [0, 255] (C in 1, 3, 4) and integer `labels` (N,).

    Args:
        images: array of shape (N, H, W, C), values in [0, 255], C in 1, 3 or 4.
        labels: integer class ids of shape (N,).
        image_size: output side S in pixels; `None` keeps the arrays' height H.
        batch_size: images per batch. Defaults to 32.
        training: whether to shuffle, flip, zoom (with `zoom`) and shift (augmentation). Defaults to `False`.
        seed: seed of the shuffle and the augmentation, or `None`.
        shift: largest random translation in pixels when training (0: none).
        zoom: the smallest area fraction of the random zoom crops when training (0: none; see
            `pipeline.random_zoom`).

    Example:

    ```python
    (x, y), _ = keras.datasets.cifar10.load_data()
    dataset = array_dataset(x, y.ravel(), batch_size=128, training=True, shift=4)
    ```
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"Expected images of shape (N, H, W, 1|3|4). Received: shape={images.shape}"
        )
    if labels.shape != (images.shape[0],):
        raise ValueError(
            f"Expected labels of shape ({images.shape[0]},). Received: shape={labels.shape}"
        )
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    return prepare(
        dataset,
        image_size or images.shape[1],
        batch_size,
        training=training,
        seed=seed,
        shuffle_buffer=len(images),
        shift=shift,
        zoom=zoom,
    )
