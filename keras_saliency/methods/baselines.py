"""Baselines that ignore the image: a centred box and the full image."""

import numpy as np
from keras import ops

from keras_saliency.methods.base import SaliencyMethod


class CentreBox(SaliencyMethod):
    """A centred box covering `area_fraction` of the image (default one half).

    Args:
        model: a `SaliencyModel` or a Keras classifier (only its input size is used).
        area_fraction: share of the image's area the box covers, in (0, 1]. Defaults to 0.5.
        batch_size: images per batch. Defaults to 256.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    maps = CentreBox(model, area_fraction=0.25)(images, class_ids)
    ```
    """

    name = "centre_box"

    def __init__(self, model, area_fraction=0.5, batch_size=256, **kwargs):
        super().__init__(model, batch_size, **kwargs)
        if not 0.0 < area_fraction <= 1.0:
            raise ValueError(f"Expected area_fraction in (0, 1]. Received: {area_fraction}")
        self.area_fraction = float(area_fraction)

    def explain_batch(self, images, class_ids):
        size = int(images.shape[1])
        side = max(1, int(round(size * self.area_fraction**0.5)))
        start = (size - side) // 2
        box = np.pad(np.ones([side, side], np.float32), [[start, size - side - start]] * 2)
        return ops.tile(ops.convert_to_tensor(box)[None], [ops.shape(images)[0], 1, 1])


class FullImage(SaliencyMethod):
    """The whole image as salient: every map is all ones.

    Args:
        model: a `SaliencyModel` or a Keras classifier (only its input size is used).
        batch_size: images per batch. Defaults to 256.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    maps = FullImage(model)(images, class_ids)  # all ones
    ```
    """

    name = "full_image"

    def __init__(self, model, batch_size=256, **kwargs):
        super().__init__(model, batch_size, **kwargs)

    def explain_batch(self, images, class_ids):
        return ops.ones(ops.shape(images)[:3])
