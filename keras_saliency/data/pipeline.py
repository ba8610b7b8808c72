"""Common steps: RGB conversion, resizing, augmentation, batching."""

import tensorflow as tf


def to_rgb(image):
    """Grayscale (1 channel) becomes RGB; RGBA (4 channels) drops alpha.

    Args:
        image: image tensor of shape (H, W, C) with C in 1, 3 or 4.

    Example:

    ```python
    rgb = to_rgb(tf.zeros((32, 32, 1), tf.uint8))  # shape (32, 32, 3)
    ```
    """
    channels = image.shape[-1]
    if channels == 1:
        return tf.image.grayscale_to_rgb(image)
    if channels == 4:
        return image[..., :3]
    if channels is None:  # unknown statically: decide at run time
        image = tf.cond(
            tf.shape(image)[-1] == 1,
            lambda: tf.tile(image, [1, 1, 3]),
            lambda: image[..., :3],
        )
        return tf.ensure_shape(image, [None, None, 3])
    return image


def resize(image, image_size):
    """The whole image squashed to `image_size` x `image_size` (no crop), float32 [0, 255].

    Args:
        image: image tensor of shape (H, W, C) in [0, 255], C in 1, 3 or 4.
        image_size: output side S in pixels.

    Example:

    ```python
    image = resize(tf.io.decode_jpeg(tf.io.read_file("cat.jpg")), 224)  # (224, 224, 3)
    ```
    """
    image = tf.cast(to_rgb(image), tf.float32)
    image = tf.image.resize(image, (image_size, image_size), antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def random_shift(image, padding, seed=None):
    """Pads `padding` pixels on every side (reflect) and crops back to the original size at a
    random offset: the standard translation augmentation for small images.

    Args:
        image: image tensor of shape (H, W, C) with static H and W.
        padding: largest shift in pixels (the reflected border's width).
        seed: seed of the random crop, or `None`.

    Example:

    ```python
    shifted = random_shift(tf.zeros((32, 32, 3)), padding=4, seed=0)
    ```
    """
    height, width = image.shape[0], image.shape[1]
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]], mode="REFLECT")
    return tf.image.random_crop(padded, [height, width, image.shape[-1]], seed=seed)


def random_zoom(image, min_area, seed=None):
    """With probability 1/2, a random square crop covering `min_area` to all of the image, resized
    back to the image's size; otherwise the image. A classifier trained with it still knows an
    object magnified from part of a picture (what the rescaled saliency metric shows it).

    Args:
        image: image tensor of shape (H, W, C) with static H == W, values in [0, 255].
        min_area: the smallest fraction of the image's area a crop covers, in (0, 1].
        seed: seed of the draw, or `None`.

    Example:

    ```python
    zoomed = random_zoom(tf.zeros((32, 32, 3)), min_area=0.35, seed=0)  # (32, 32, 3)
    ```
    """
    if not 0.0 < min_area <= 1.0:
        raise ValueError(f"Expected min_area in (0, 1]. Received: min_area={min_area}")
    # Its own seed: `random_flip_left_right` draws the same uniform with `seed`, which would zoom
    # exactly the images that are not flipped.
    keep = tf.random.uniform((), seed=None if seed is None else seed + 1) < 0.5
    return tf.cond(
        keep,
        lambda: tf.cast(image, tf.float32),  # the crop is only computed for the images it replaces
        lambda: random_resized_crop(image, image.shape[0], scale=(min_area, 1.0), ratio=(1.0, 1.0), seed=seed),
    )


def prepare(
    dataset, image_size, batch_size, training=False, seed=None, shuffle_buffer=1024, shift=0, zoom=0.0
):
    """Maps `(image, label)` pairs to resized float images and int32 labels, then shuffles
    (training), flips, zooms (`random_zoom`, training, when `zoom`) and shifts by up to `shift`
    pixels (training), batches and prefetches.

    Args:
        dataset: a `tf.data.Dataset` of `(image, label)` pairs, images (H, W, C) in [0, 255].
        image_size: output side S in pixels.
        batch_size: images per batch.
        training: whether to shuffle, flip, zoom (with `zoom`) and shift. Defaults to `False`.
        seed: seed of the shuffle and the augmentation, or `None`.
        shuffle_buffer: shuffle buffer size when training (0: no shuffle). Defaults to 1024.
        shift: largest random translation in pixels when training (0: none).
        zoom: the smallest area fraction of `random_zoom`'s crops when training (0: no zoom).

    Example:

    ```python
    batches = prepare(tf.data.Dataset.from_tensor_slices((x, y)), 32, 128, training=True)
    ```
    """

    def _map(image, label):
        return resize(image, image_size), tf.cast(label, tf.int32)

    if training and shuffle_buffer:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(_map, num_parallel_calls=tf.data.AUTOTUNE)
    if training:
        dataset = dataset.map(
            lambda x, y: (tf.image.random_flip_left_right(x, seed=seed), y),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        if zoom:
            dataset = dataset.map(
                lambda x, y: (random_zoom(x, zoom, seed=seed), y),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        if shift:
            dataset = dataset.map(
                lambda x, y: (random_shift(x, shift, seed=seed), y),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
    return dataset.batch(batch_size, drop_remainder=False).prefetch(tf.data.AUTOTUNE)


def random_resized_crop(image, image_size, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3), seed=None):
    """A random crop covering `scale` of the image's area with an aspect ratio in `ratio`,
    resized to `image_size` (the usual ImageNet training augmentation).

    Args:
        image: image tensor of shape (H, W, C) in [0, 255].
        image_size: output side S in pixels.
        scale: `(min, max)` fraction of the image's area that the crop covers.
        ratio: `(min, max)` aspect ratio (width / height) of the crop.
        seed: seed of the crop, or `None` (then a fixed non-zero seed is used).

    Example:

    ```python
    crop = random_resized_crop(image, 224, scale=(0.35, 1.0), seed=42)  # (224, 224, 3)
    ```
    """
    begin, size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        min_object_covered=0.0,
        aspect_ratio_range=ratio,
        area_range=scale,
        max_attempts=20,
        use_image_if_no_bounding_boxes=True,
        # Non-zero: TensorFlow's op determinism (train.set_seed) refuses seed 0 here.
        seed=seed or 1,
    )
    crop = tf.slice(image, begin, size)
    return resize(crop, image_size)
