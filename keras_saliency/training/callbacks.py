"""Keras callbacks for watching a masker learn."""

import os

import numpy as np

import keras

from keras_saliency.reports.pictures import panels, save_panels

MASKS_RUN = "masks"  # the TensorBoard run (sub-folder of log_dir) the pictures go to


class MaskImages(keras.callbacks.Callback):
    """Writes the masks of a fixed batch of images to TensorBoard every `every` epochs of `fit`,
    so the masker can be watched as it learns (TensorBoard's Images tab, one slider step per
    written epoch).

    Each image becomes one row: image | mask heat map over it | preserved | destroyed
    (`keras_saliency.reports.pictures.panels`), under the tag `masks` of the run `log_dir/masks`, next
    to the `train` and `validation` runs `keras.callbacks.TensorBoard(log_dir)` writes. With
    `png_dir`, the same rows are also saved as `png_dir/epoch_0001.png` and so on.

    The callback works with the model being fitted (`self.model`: a `SaliencyModel`); it is
    not saved with the model (Keras does not serialise callbacks), and the arrays of its batch
    would not belong in a config anyway.

    Args:
        images: the fixed batch, RGB in [0, 255], shape (N, S, S, 3) at the model's size.
        log_dir: the TensorBoard log folder (None: PNGs only, then `png_dir` is needed).
        class_ids: the class to explain per image (N,) (default: the classifier's prediction).
        class_names: names of the classes, for the PNGs' row titles.
        every: write after every `every`-th epoch (1: after each).
        png_dir: also save the rows as PNG files in this folder.
        max_images: write at most this many images of the batch.

    Example:

    ```python
    from keras_saliency.training.callbacks import MaskImages

    images, labels = next(iter(validation))
    model.fit(train, epochs=10, callbacks=[
        keras.callbacks.TensorBoard("logs"),
        MaskImages(images[:8], "logs", class_ids=labels[:8], every=2),
    ])
    # tensorboard --logdir logs
    ```
    """

    def __init__(self, images, log_dir=None, class_ids=None, class_names=None, every=1, png_dir=None,
                 max_images=8):
        super().__init__()
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
            raise ValueError(f"Expected a batch of RGB images of shape (N, S, S, 3). Received: shape {images.shape}")
        if int(every) < 1 or int(max_images) < 1:
            raise ValueError(f"Expected every >= 1 and max_images >= 1. Received: every={every}, "
                             f"max_images={max_images}")
        if log_dir is None and png_dir is None:
            raise ValueError("Expected log_dir (TensorBoard) or png_dir (PNG files). Received: neither")
        self.images = images[: int(max_images)]
        self.class_ids = None
        if class_ids is not None:
            class_ids = np.asarray(class_ids).reshape(-1)[: int(max_images)]
            if len(class_ids) != len(self.images):
                raise ValueError(f"Expected one class id per image ({len(self.images)}). "
                                 f"Received: {len(class_ids)} class ids")
            self.class_ids = class_ids.astype(np.int32)
        self.class_names = class_names
        self.log_dir = log_dir
        self.every = int(every)
        self.png_dir = png_dir
        self._writer = None

    def on_train_begin(self, logs=None):
        if self.log_dir is not None and self._writer is None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, MASKS_RUN))

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every == 0:
            self.write(done)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def masks(self):
        """The masks of the batch now, (N, S, S, 1) in [0, 1], and the explained class ids."""
        model = self.model
        class_ids = self.class_ids
        if class_ids is None:
            class_ids = np.argmax(keras.ops.convert_to_numpy(model.classifier_logits(self.images)), axis=-1)
        outputs = model.predict((self.images, class_ids.astype(np.int32)), verbose=0)
        masks = outputs["mask"] if isinstance(outputs, dict) else outputs
        return np.asarray(masks, np.float32), class_ids

    def write(self, step):
        """Writes the masks of the batch as TensorBoard step `step` (and `epoch_{step:04d}.png`)."""
        masks, class_ids = self.masks()
        if self._writer is not None:
            import tensorflow as tf

            rows = panels(self.images, masks)
            scale = max(1, 128 // rows.shape[1])  # small images stay visible
            rows = np.repeat(np.repeat(rows, scale, axis=1), scale, axis=2)
            with self._writer.as_default():
                tf.summary.image(
                    "masks", rows, step=step, max_outputs=len(rows),
                    description="image | mask over it | preserved | destroyed, for the class "
                                + ("given" if self.class_ids is not None else "predicted") + " per image")
            self._writer.flush()
        if self.png_dir is not None:
            titles = [self.class_names[c] if self.class_names is not None else str(int(c)) for c in class_ids]
            save_panels(os.path.join(self.png_dir, f"epoch_{step:04d}.png"), self.images, masks, titles=titles)
