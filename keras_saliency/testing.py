"""Tiny synthetic data and models with known answers, shipped for tests and the demo.

The synthetic task: each image is a cluttered grey background (smooth noise and random
grey rectangles) holding ONE small square patch striped in a random saturated colour and its inverse;
the stripe pattern is the class (horizontal, vertical, checkerboard, diagonal). A classifier
can only solve it by looking at the patch, and neither a blurred copy nor a flat colour (the
alternative images of the objective) can imitate a pattern, so a faithful mask must find it.
"""

import numpy as np

import keras

PATCH_CLASS_NAMES = ("horizontal", "vertical", "checkerboard", "diagonal")
NO_PATCH = "none"  # the label num_classes of images without a patch (see empty_fraction)


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


def patch_images(n, image_size=32, num_classes=4, patch_size=8, clutter=6, seed=0, empty_fraction=0.0):
    """Returns `(images float32 (n, S, S, 3) in [0, 255], labels int32 (n,), boxes int32
    (n, 4) as xmin, ymin, xmax, ymax inclusive)`.

    With `empty_fraction` > 0 that share of the images has no patch, label `num_classes`
    ("none") and box (-1, -1, -1, -1). A classifier trained with them has no class to fall
    back on once the patch is removed; one trained without them often answers some pattern
    class for a patch-less image, and then the faithful mask for that class is empty (the
    destroyed image keeps its class whatever is removed).

    Args:
        n: number of images.
        image_size: the side S of the square images, in pixels (default 32).
        num_classes: number of stripe patterns used, 2 to 4 (default 4).
        patch_size: the side of the striped patch, in pixels; smaller than `image_size`
            (default 8).
        clutter: grey distractor rectangles per image (default 6).
        seed: seed of the random generator (default 0).
        empty_fraction: share of the images without a patch, labelled `num_classes`
            (default 0.0).

    Example:

    ```python
    images, labels, boxes = patch_images(64, image_size=32, num_classes=4)
    ```
    """
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
    labels[rng.uniform(size=n) < empty_fraction] = num_classes
    boxes = np.full((n, 4), -1, dtype=np.int32)
    for i in range(n):
        if labels[i] == num_classes:
            continue
        y, x = rng.integers(0, image_size - patch_size + 1, size=2)
        pattern = _pattern(labels[i], patch_size)[..., None]
        first = _saturated_colour(rng)
        second = 255.0 - first  # the inverse colour: the stripes always contrast
        images[i, y : y + patch_size, x : x + patch_size] = np.where(pattern, first, second)
        boxes[i] = (x, y, x + patch_size - 1, y + patch_size - 1)
    return np.clip(images, 0, 255).astype(np.float32), labels, boxes


def tiny_classifier(num_classes=4, image_size=32, width=16, name="tiny_classifier"):
    """A small CNN for the synthetic task. Tap layers (strides 1, 2, 4, 8): `TINY_TAPS`.

    Args:
        num_classes: number of logits (default 4).
        image_size: the side of the square RGB input, in pixels (default 32).
        width: filters of the first convolution; later ones use 2x and 4x (default 16).
        name: the model's name.

    Example:

    ```python
    classifier = tiny_classifier(num_classes=4, image_size=32)
    logits = classifier(images)  # (n, 4)
    ```
    """
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


# A classifier whose evidence is known exactly, for known-answer tests of saliency methods:
# class 0 = "a saturated red square is present", 1 = the same for blue, 2 = "none" (constant).
SQUARE_CLASS_NAMES = ("red", "blue", "none")
_SQUARE_COLOURS = {0: (220.0, 30.0, 30.0), 1: (30.0, 30.0, 220.0)}


def square_detector_classifier(image_size=32, threshold=150.0, gain=20.0, none_logit=6.0):
    """logit_red = gain x mean(relu(R - G/2 - B/2 - threshold)), the same for blue, and a
    constant `none_logit`. Only pixels of a saturated square pass the threshold, so the true
    saliency of an image is exactly its square. The last 4-D layer is "detector".

    Args:
        image_size: the side of the square RGB input, in pixels (default 32).
        threshold: what a pixel's R - G/2 - B/2 (or B - R/2 - G/2) must exceed to count
            (default 150.0).
        gain: the weight of the detector's mean response in its class's logit (default 20.0).
        none_logit: the constant logit of the third ("none") class (default 6.0).

    Example:

    ```python
    classifier = square_detector_classifier(image_size=32)
    logits = classifier(square_images(8)[0])  # (8, 3): red, blue, none
    ```
    """
    import keras

    inputs = keras.Input((image_size, image_size, 3), name="image")
    detector = keras.layers.Conv2D(2, 1, activation="relu", name="detector")
    features = detector(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    head = keras.layers.Dense(3, name="logits")
    logits = head(pooled)
    detector.set_weights(
        [
            np.array([[[[1.0, -0.5], [-0.5, -0.5], [-0.5, 1.0]]]], np.float32),
            np.array([-threshold, -threshold], np.float32),
        ]
    )
    head.set_weights(
        [
            np.array([[gain, 0.0, 0.0], [0.0, gain, 0.0]], np.float32),
            np.array([0.0, 0.0, none_logit], np.float32),
        ]
    )
    return keras.Model(inputs, logits, name="square_detector")


def square_images(n, image_size=32, square=4, seed=0, noise=8.0):
    """Grey noisy images with one red or blue `square` x `square` patch away from the border.
    Returns `(images float32 [0, 255], labels (0 red / 1 blue), boxes (n, 4) inclusive)`.

    Args:
        n: number of images.
        image_size: the side of the square images, in pixels (default 32).
        square: the side of the coloured square, in pixels (default 4).
        seed: seed of the random generator (default 0).
        noise: standard deviation of the grey background's Gaussian noise (default 8.0).

    Example:

    ```python
    images, labels, boxes = square_images(16, image_size=32, square=4)
    ```
    """
    rng = np.random.default_rng(seed)
    images = np.clip(128.0 + rng.normal(0.0, noise, (n, image_size, image_size, 3)), 0, 255)
    labels = rng.integers(0, 2, n).astype(np.int32)
    boxes = np.zeros((n, 4), np.int32)
    for i in range(n):
        y, x = rng.integers(4, image_size - square - 4, 2)
        images[i, y : y + square, x : x + square] = _SQUARE_COLOURS[int(labels[i])]
        boxes[i] = (x, y, x + square - 1, y + square - 1)
    return images.astype(np.float32), labels, boxes
