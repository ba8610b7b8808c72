"""Alternative images A that replace the masked-out pixels.

preserved = x * m + A * (1 - m);  destroyed = x * (1 - m) + A * m.
Images are float `(batch, height, width, 3)` in pixel units [0, 255].
"""

import math

import keras
from keras import ops

PIXEL_HALF_RANGE = 127.5  # the method's colour/noise figures are for images in [-1, 1]


def gaussian_kernel_1d(size, sigma):
    """The `size` weights of a centred, normalised 1-D Gaussian (they sum to 1).

    Args:
        size: number of taps (odd for a centred kernel).
        sigma: standard deviation in taps.

    Example:

    >>> [round(v, 3) for v in gaussian_kernel_1d(3, 1.0)]
    [0.274, 0.452, 0.274]
    """
    half = (size - 1) / 2.0
    values = [math.exp(-((i - half) ** 2) / (2.0 * sigma**2)) for i in range(size)]
    total = sum(values)
    return [v / total for v in values]


def blur_kernel_size(image_size, kernel_fraction, sigma_fraction):
    """Odd kernel size (at least 3) and sigma scaled to the image side.

    Args:
        image_size: the image side in pixels.
        kernel_fraction: kernel size as a fraction of the side.
        sigma_fraction: Gaussian sigma as a fraction of the side (at least 0.5 px).

    Example:

    >>> blur_kernel_size(224, 55.0 / 224.0, 11.0 / 224.0)
    (55, 11.0)
    """
    size = max(3, int(round(kernel_fraction * image_size)) | 1)
    sigma = max(sigma_fraction * image_size, 0.5)
    return size, sigma


def gaussian_blur(images, kernel_size, sigma):
    """Separable Gaussian blur with reflected borders (no dark frame).

    Args:
        images: float tensor (batch, H, W, C).
        kernel_size: odd kernel size in pixels (smaller than H and W).
        sigma: Gaussian sigma in pixels.

    Example:

    ```python
    smooth = gaussian_blur(images, *blur_kernel_size(224, 55.0 / 224.0, 11.0 / 224.0))
    ```
    """
    images = ops.cast(images, "float32")
    channels = images.shape[-1]
    weights = ops.convert_to_tensor(gaussian_kernel_1d(kernel_size, sigma), dtype="float32")
    pad = kernel_size // 2
    kernel_h = ops.tile(ops.reshape(weights, (kernel_size, 1, 1, 1)), (1, 1, channels, 1))
    kernel_w = ops.tile(ops.reshape(weights, (1, kernel_size, 1, 1)), (1, 1, channels, 1))
    x = ops.pad(images, [[0, 0], [pad, pad], [0, 0], [0, 0]], mode="reflect")
    x = ops.depthwise_conv(x, kernel_h, strides=1, padding="valid")
    x = ops.pad(x, [[0, 0], [0, 0], [pad, pad], [0, 0]], mode="reflect")
    return ops.depthwise_conv(x, kernel_w, strides=1, padding="valid")


def blurred(images, kernel_fraction=55.0 / 224.0, sigma_fraction=11.0 / 224.0):
    """The blurred alternative at the authors' scale (kernel 55, sigma 11 at 224 px), sized to
    the images: what evaluation, the baselines and the per-image optimisation replace pixels with.

    Args:
        images: float tensor (batch, H, W, 3) in [0, 255].
        kernel_fraction: kernel size as a fraction of the side. Defaults to 55 / 224.
        sigma_fraction: Gaussian sigma as a fraction of the side. Defaults to 11 / 224.

    Example:

    ```python
    preserved, destroyed = apply_mask(images, masks, blurred(images))
    ```
    """
    images = ops.cast(images, "float32")
    return gaussian_blur(images, *blur_kernel_size(int(images.shape[1]), kernel_fraction, sigma_fraction))


def colour_noise(images, colour_range=0.66, noise_std=0.11, seed=None):
    """A random constant colour per image and channel plus Gaussian noise, in [0, 255].

    Args:
        images: float tensor (batch, H, W, C); only its shape is used.
        colour_range: colours drawn uniformly in [-colour_range, colour_range] (units of the
            [-1, 1] image range). Defaults to 0.66.
        noise_std: noise standard deviation in the same units. Defaults to 0.11.
        seed: a seed or `keras.random.SeedGenerator`, or `None`.

    Example:

    ```python
    alternatives = colour_noise(images, seed=keras.random.SeedGenerator(0))
    ```
    """
    shape = ops.shape(images)
    batch, channels = shape[0], images.shape[-1]
    colour = keras.random.uniform((batch, 1, 1, channels), -colour_range, colour_range, seed=seed)
    noise = keras.random.normal(ops.shape(images), stddev=noise_std, seed=seed)
    return ops.clip((colour + noise + 1.0) * PIXEL_HALF_RANGE, 0.0, 255.0)


def mixed_alternatives(
    images,
    blur_probability=0.5,
    blur_kernel_fraction=55.0 / 224.0,
    blur_sigma_fraction=11.0 / 224.0,
    colour_range=0.66,
    noise_std=0.11,
    seed=None,
):
    """Per image: a strongly blurred copy with probability `blur_probability`, otherwise a
    random colour plus noise.

    Args:
        images: float tensor (batch, H, W, 3) in [0, 255].
        blur_probability: probability of the blurred alternative per image. Defaults to 0.5.
        blur_kernel_fraction: blur kernel size as a fraction of the side. Defaults to 55 / 224.
        blur_sigma_fraction: blur sigma as a fraction of the side. Defaults to 11 / 224.
        colour_range: range of the random colours (see `colour_noise`). Defaults to 0.66.
        noise_std: standard deviation of the noise (see `colour_noise`). Defaults to 0.11.
        seed: a seed or `keras.random.SeedGenerator`, or `None`.

    Example:

    ```python
    alternatives = mixed_alternatives(images, blur_probability=0.5, seed=0)
    ```
    """
    images = ops.cast(images, "float32")
    size, sigma = blur_kernel_size(
        min(images.shape[1], images.shape[2]), blur_kernel_fraction, blur_sigma_fraction
    )
    blurred = gaussian_blur(images, size, sigma)
    coloured = colour_noise(images, colour_range, noise_std, seed=seed)
    choose_blur = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), seed=seed) < blur_probability
    return ops.where(choose_blur, blurred, coloured)


def apply_mask(images, masks, alternatives):
    """Returns (preserved, destroyed) images for masks `(batch, H, W, 1)` at image size.

    Args:
        images: float tensor (batch, H, W, 3) in [0, 255].
        masks: masks in [0, 1] of shape (batch, H, W, 1) (1 = keep the pixel).
        alternatives: the replacement images, shaped like `images`.

    Example:

    ```python
    preserved, destroyed = apply_mask(images, masks, blurred(images))
    ```
    """
    masks = ops.cast(masks, images.dtype)
    alternatives = ops.cast(alternatives, images.dtype)
    preserved = images * masks + alternatives * (1.0 - masks)
    destroyed = images * (1.0 - masks) + alternatives * masks
    return preserved, destroyed
