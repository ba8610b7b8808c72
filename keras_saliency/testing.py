"""Tiny synthetic data and models with known answers, shipped for tests and the demo.

The synthetic task: each image is a cluttered grey background (smooth noise and random
grey rectangles) holding ONE small square patch striped in two random saturated colours;
the stripe pattern is the class (horizontal, vertical, checkerboard, diagonal). A classifier
can only solve it by looking at the patch, and neither a blurred copy nor a flat colour (the
alternative images of the objective) can imitate a pattern, so a faithful mask must find it.
"""

import numpy as np

import keras

PATCH_CLASS_NAMES = ("horizontal", "vertical", "checkerboard", "diagonal")


def _pattern(kind, size, period=2):
    """Binary (size, size) stripe pattern of class `kind`."""
    y, x = np.mgrid[0:size, 0:size]
    return [
        (y // period) % 2,
        (x // period) % 2,
        ((y // period) + (x // period)) % 2,
        ((x + y) // period) % 2,
    ][kind].astype(bool)


def _saturated_colour(rng):
    colour = np.zeros(3, np.float32)
    channels = rng.permutation(3)
    colour[channels[0]] = rng.uniform(200, 255)
    colour[channels[1]] = rng.uniform(0, 255)
    colour[channels[2]] = rng.uniform(0, 40)
    return colour


def _smooth_noise(rng, n, size, cells=4):
    coarse = rng.uniform(0, 1, (n, cells, cells)).astype(np.float32)
    reps = -(-size // cells)
    fine = np.repeat(np.repeat(coarse, reps, axis=1), reps, axis=2)[:, :size, :size]
    # a cheap blur of the blocky noise: average with shifted copies
    return (fine + np.roll(fine, reps // 2, 1) + np.roll(fine, reps // 2, 2) + np.roll(fine, reps // 2, (1, 2))) / 4


def patch_images(n, image_size=32, num_classes=4, patch_size=8, clutter=6, seed=0):
    """Returns `(images float32 (n, S, S, 3) in [0, 255], labels int32 (n,), boxes int32
    (n, 4) as xmin, ymin, xmax, ymax inclusive)`."""
    if not 2 <= num_classes <= len(PATCH_CLASS_NAMES):
        raise ValueError(
            f"Expected num_classes in [2, {len(PATCH_CLASS_NAMES)}]. Received: num_classes={num_classes}"
        )
    if patch_size >= image_size:
        raise ValueError(
            f"Expected patch_size < image_size. Received: patch_size={patch_size}, image_size={image_size}"
        )
    rng = np.random.default_rng(seed)
    grey = 60 + 140 * _smooth_noise(rng, n, image_size)
    images = np.repeat(grey[..., None], 3, axis=-1)
    for i in range(n):
        for _ in range(clutter):  # grey distractor rectangles of any size
            h, w = rng.integers(2, image_size // 2, size=2)
            y, x = rng.integers(0, image_size - h), rng.integers(0, image_size - w)
            images[i, y : y + h, x : x + w] = rng.uniform(20, 235)
    images += rng.normal(0, 8, images.shape)
    labels = rng.integers(0, num_classes, n).astype(np.int32)
    boxes = np.zeros((n, 4), dtype=np.int32)
    for i in range(n):
        y, x = rng.integers(0, image_size - patch_size + 1, size=2)
        pattern = _pattern(labels[i], patch_size)[..., None]
        first, second = _saturated_colour(rng), _saturated_colour(rng)
        images[i, y : y + patch_size, x : x + patch_size] = np.where(pattern, first, second)
        boxes[i] = (x, y, x + patch_size - 1, y + patch_size - 1)
    return np.clip(images, 0, 255).astype(np.float32), labels, boxes


def tiny_classifier(num_classes=4, image_size=32, width=16, name="tiny_classifier"):
    """A small CNN for the synthetic task. Tap layers (strides 1, 2, 4, 8): `TINY_TAPS`."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    for i, filters in enumerate((width, 2 * width, 4 * width, 4 * width)):
        if i:
            x = keras.layers.MaxPooling2D(2)(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


TINY_TAPS = ("conv_0", "conv_1", "conv_2", "conv_3")
