"""Heat-map overlays with numpy and Pillow only (no matplotlib): the runners' pictures and
videos. (`keras_saliency.reports.pictures` draws the package's panels with matplotlib's colour maps.)"""

import numpy as np
from PIL import Image


def jet(values):
    """The 'jet' colour map of values in [0, 1] -> RGB uint8 (`values.shape + (3,)`).

    Args:
        values: array of any shape, clipped to [0, 1].

    Example:

    >>> jet(np.array([0.0, 1.0])).tolist()
    [[0, 0, 127], [127, 0, 0]]
    """
    v = np.clip(values, 0.0, 1.0)[..., None]
    rgb = np.concatenate([1.5 - np.abs(4 * v - 3), 1.5 - np.abs(4 * v - 2), 1.5 - np.abs(4 * v - 1)], -1)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def upsample(mask, height, width):
    """A mask (h, w) in [0, 1] resized (bilinear) to (height, width), float32.

    Args:
        mask: array of shape (h, w).
        height: output height in pixels.
        width: output width in pixels.

    Example:

    ```python
    heat = upsample(outputs["mask"][0, ..., 0], photo.shape[0], photo.shape[1])
    ```
    """
    picture = Image.fromarray(np.asarray(mask, np.float32), mode="F")
    return np.asarray(picture.resize((width, height), Image.BILINEAR))


def overlay(image, mask, opacity=0.5):
    """The RGB uint8 image (H, W, 3) with the mask's heat map over it (the mask (h, w) in
    [0, 1] is resized to the image).

    Args:
        image: RGB uint8 image of shape (H, W, 3).
        mask: mask of shape (h, w) in [0, 1].
        opacity: weight of the heat map in the blend, in [0, 1]. Defaults to 0.5.

    Example:

    ```python
    picture = overlay(photo, outputs["mask"][0, ..., 0])
    ```
    """
    heat = jet(upsample(mask, image.shape[0], image.shape[1]))
    return ((1 - opacity) * image + opacity * heat).astype(np.uint8)
