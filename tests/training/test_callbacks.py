"""`MaskImages`: the masks of a fixed batch in TensorBoard (and as PNGs) during `fit`, alone and
through `keras-saliency train --tensorboard`."""

import glob
import os

import numpy as np
import pytest
from click.testing import CliRunner

import keras
from keras_saliency.models.model import SaliencyModel
from keras_saliency.training import fit as training
from keras_saliency.training.callbacks import MaskImages
from keras_saliency.cli import main
from keras_saliency.testing import PATCH_CLASS_NAMES, TINY_TAPS, patch_images, tiny_classifier


def _summaries(folder):
    """`{tag: [(step, kind), ...]}` of the event files under `folder` (kind: image or scalar)."""
    import tensorflow as tf

    found = {}
    for path in glob.glob(os.path.join(folder, "**", "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                kind = plugin or value.WhichOneof("value")
                found.setdefault(value.tag, []).append((event.step, kind, value))
    return found


def _model():
    keras.utils.set_random_seed(0)
    model = SaliencyModel.from_classifier(tiny_classifier(width=8), tap_layers=TINY_TAPS, seed=0)
    return training.compile_saliency_model(model)


@pytest.mark.slow
def test_fit_writes_masks_to_tensorboard_and_pngs(tmp_path):
    import tensorflow as tf

    from keras_saliency.data import array_dataset

    images, labels, _ = patch_images(16, seed=0)
    dataset = array_dataset(images, labels, batch_size=8, training=True, seed=0)
    log_dir, png_dir = str(tmp_path / "logs"), str(tmp_path / "pngs")
    callback = MaskImages(images[:6], log_dir, class_ids=labels[:6], class_names=PATCH_CLASS_NAMES, every=2,
                          png_dir=png_dir, max_images=4)
    _model().fit(dataset, epochs=3, steps_per_epoch=1, callbacks=[callback], verbose=0)

    written = _summaries(os.path.join(log_dir, "masks"))
    assert [(step, kind) for step, kind, _ in written["masks"]] == [(2, "images")]  # epochs 2 (every=2), not 1 or 3
    value = written["masks"][0][2]
    pictures = tf.make_ndarray(value.tensor)  # [width, height, PNG 1, PNG 2, ...]
    assert len(pictures) == 2 + 4
    first = tf.io.decode_png(pictures[2]).numpy()
    assert first.shape == (128, 4 * 128, 3)  # image | overlay | preserved | destroyed, 32 px scaled x4
    assert sorted(os.listdir(png_dir)) == ["epoch_0002.png"]


def test_mask_images_refuses_bad_arguments():
    images = np.zeros((4, 32, 32, 3), np.float32)
    with pytest.raises(ValueError, match=r"Expected a batch of RGB images .* Received: shape \(32, 32, 3\)"):
        MaskImages(images[0], "logs")
    with pytest.raises(ValueError, match=r"Expected one class id per image \(4\)\. Received: 2 class ids"):
        MaskImages(images, "logs", class_ids=[0, 1])
    with pytest.raises(ValueError, match=r"Expected every >= 1"):
        MaskImages(images, "logs", every=0)
    with pytest.raises(ValueError, match=r"Expected log_dir .* or png_dir"):
        MaskImages(images)


@pytest.mark.slow
def test_train_tensorboard_option(tmp_path, image_folder):
    classifier = str(tmp_path / "classifier.keras")
    tiny_classifier(width=8).save(classifier)
    logs = str(tmp_path / "logs")
    result = CliRunner().invoke(main, [
        "train", "--dataset", "folder", "--data-dir", image_folder, "--classifier", classifier,
        "--tap-layers", ",".join(TINY_TAPS), "--epochs", "2", "--batch-size", "8", "--steps-per-epoch", "1",
        "--output", str(tmp_path / "run"), "--tensorboard", logs,
    ])
    assert result.exit_code == 0, result.output
    masks = _summaries(os.path.join(logs, "masks"))["masks"]
    assert [step for step, _, _ in masks] == [1, 2]
    losses = _summaries(os.path.join(logs, "train"))
    assert any("loss" in tag for tag in losses), sorted(losses)  # keras.callbacks.TensorBoard's
