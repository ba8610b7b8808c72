"""Perturbation methods, black-box: occlusion (Zeiler & Fergus 2014) and RISE (Petsiuk et al.
2018). Both only evaluate the classifier on perturbed copies of the image."""

import numpy as np
from keras import ops

from keras_saliency.models import alternatives
from keras_saliency.models.compiled import compiled
from keras_saliency.methods.base import SaliencyMethod


class Occlusion(SaliencyMethod):
    """Slides a `patch` x `patch` square (default 1/4 of the side) with `stride` (default patch
    / 2) and replaces it with the blurred image; the map is the mean drop of the class
    probability over the positions covering each pixel.

    Args:
        model: a `SaliencyModel` or a Keras classifier.
        patch: side of the occluding square in pixels, or `None` (1/4 of the side).
        stride: step between positions in pixels, or `None` (half the patch).
        batch_size: images per batch. Defaults to 16.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    maps = Occlusion(model, patch=8, stride=4)(images, class_ids)
    ```
    """

    name = "occlusion"

    def __init__(self, model, patch=None, stride=None, batch_size=16, **kwargs):
        super().__init__(model, batch_size, **kwargs)
        size = self.classifier.image_size
        self.patch = int(patch or max(2, size // 4))
        self.stride = int(stride or max(1, self.patch // 2))
        starts = list(range(0, size - self.patch + 1, self.stride))
        if starts[-1] != size - self.patch:
            starts.append(size - self.patch)
        windows = np.zeros((len(starts) ** 2, size, size, 1), np.float32)
        for k, (y, x) in enumerate((y, x) for y in starts for x in starts):
            windows[k, y : y + self.patch, x : x + self.patch] = 1.0
        self.windows = windows
        self.coverage = np.maximum(windows.sum(0), 1.0)[..., 0]
        self._fn = compiled(self._explain)

    def _explain(self, images, class_ids):
        blurred = alternatives.blurred(images)
        base = self.classifier.probabilities(images, class_ids)
        n_windows = self.windows.shape[0]
        total = ops.zeros(ops.shape(images)[:3])
        for k in range(n_windows):
            window = ops.convert_to_tensor(self.windows[k])
            occluded = images * (1.0 - window) + blurred * window
            drop = base - self.classifier.probabilities(occluded, class_ids)
            total += drop[:, None, None] * window[None, :, :, 0]
        return total / ops.convert_to_tensor(self.coverage)

    def explain_batch(self, images, class_ids):
        return self._fn(images, class_ids)


class RISE(SaliencyMethod):
    """Randomised input sampling: `num_masks` random binary `grid` x `grid` masks (keep
    probability `keep`), bilinearly upsampled with random shifts; the map is the mean of the
    masks weighted by the class probability of the masked image (masked pixels set to 0, as
    in the paper).

    Args:
        model: a `SaliencyModel` or a Keras classifier.
        num_masks: random masks per image. Defaults to 1000.
        grid: side of each random binary grid in cells. Defaults to 7.
        keep: probability that a cell is kept. Defaults to 0.5.
        chunk: masked copies classified per call. Defaults to 250.
        seed: seed of the masks. Defaults to 0.
        batch_size: images per batch. Defaults to 1.
        **kwargs: passed to `SaliencyMethod` (e.g. `preprocessing`).

    Example:

    ```python
    maps = RISE(model, num_masks=2000, grid=8)(images, class_ids)
    ```
    """

    name = "rise"

    def __init__(self, model, num_masks=1000, grid=7, keep=0.5, chunk=250, seed=0, batch_size=1, **kwargs):
        super().__init__(model, batch_size, **kwargs)
        size = self.classifier.image_size
        rng = np.random.default_rng(seed)
        cell = int(np.ceil(size / grid))
        up = (grid + 1) * cell
        grids = (rng.random((num_masks, grid, grid, 1)) < keep).astype(np.float32)
        upsampled = ops.convert_to_numpy(ops.image.resize(grids, (up, up), interpolation="bilinear"))
        shifts = rng.integers(0, cell, size=(num_masks, 2))
        masks = np.stack([upsampled[i, y : y + size, x : x + size] for i, (y, x) in enumerate(shifts)])
        self.masks = masks
        self.keep, self.chunk = float(keep), int(chunk)
        self._fn = compiled(self._explain_chunk)

    def _explain_chunk(self, image, class_id, masks):
        """The sum over `masks` of each mask weighted by the class probability of the masked image."""
        ids = ops.zeros_like(masks[:, 0, 0, 0], dtype="int32") + ops.cast(class_id, "int32")
        probs = self.classifier.probabilities(image[None] * masks, ids)
        return ops.sum(probs[:, None, None] * masks[..., 0], axis=0)

    def _explain_one(self, image, class_id):
        num = self.masks.shape[0]
        total = sum(
            self._fn(image, class_id, ops.convert_to_tensor(self.masks[start : start + self.chunk]))
            for start in range(0, num, self.chunk)
        )
        return total / (num * self.keep)

    def explain_batch(self, images, class_ids):
        return ops.stack([self._explain_one(images[i], class_ids[i]) for i in range(int(images.shape[0]))])
