import csv
import json
import os
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import keras

from keras_saliency.cli import main
from keras_saliency.testing import PATCH_CLASS_NAMES, TINY_TAPS, patch_images, tiny_classifier
from keras_saliency.models.model import SaliencyModel
from keras_saliency.training import fit as training


def _log_epochs(output):
    with open(os.path.join(output, training.LOG_FILE)) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.slow
def test_train_on_a_folder_then_continue(tmp_path, image_folder):
    output = str(tmp_path / "run")
    args = [
        "train", "--dataset", "folder", "--data-dir", image_folder, "--epochs", "1",
        "--classifier-epochs", "1", "--batch-size", "8", "--steps-per-epoch", "2",
        "--output", output,
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "training the small CIFAR-style classifier first" in result.output
    assert "48 images in 4 classes, 0 files skipped" in result.output  # the folder's summary
    for name in ("model.keras", "classifier.keras", "config.json", "run_config.json", "training_log.csv", "overlays.png"):
        assert os.path.exists(os.path.join(output, name)), name
    model = keras.saving.load_model(os.path.join(output, "model.keras"), safe_mode=True)
    images = np.zeros((3, 32, 32, 3), np.float32)
    assert model.predict((images, np.array([0, 1, 2])), verbose=0).shape == (3, 32, 32, 1)
    run_config = json.load(open(os.path.join(output, "run_config.json")))
    assert run_config["class_names"] == sorted(PATCH_CLASS_NAMES) and run_config["image_size"] == 32
    assert _log_epochs(output) == [0]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = CliRunner().invoke(main, args)  # same output: continues, never overwrites
    assert result.exit_code == 0, result.output
    # the model's optimizer state is restored, and nothing else carries one
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    assert "Continuing the model" in result.output
    assert _log_epochs(output) == [0, 1]
    assert len(json.load(open(os.path.join(output, "run_config.json")))["runs"]) == 2


class _Kill(keras.callbacks.Callback):
    def __init__(self, epoch=1):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("killed")


@pytest.mark.slow
def test_killed_run_resumes_where_it_stopped(tmp_path):
    from keras_saliency.data import array_dataset

    images, labels, _ = patch_images(32, seed=0)
    dataset = array_dataset(images, labels, batch_size=16, training=True, seed=0)
    output = str(tmp_path / "run")

    def fresh():
        keras.utils.set_random_seed(0)
        model = SaliencyModel.from_classifier(tiny_classifier(width=8), tap_layers=TINY_TAPS, seed=0)
        return training.compile_saliency_model(model)

    with pytest.raises(KeyboardInterrupt):
        training.fit_saliency_model(
            fresh(), dataset, epochs=4, output_dir=output, callbacks=[_Kill()], verbose=0
        )
    assert os.path.isdir(os.path.join(output, training.BACKUP_DIR))
    assert not os.path.exists(os.path.join(output, training.MODEL_FILE))
    history = training.fit_saliency_model(fresh(), dataset, epochs=4, output_dir=output, verbose=0)
    # killed at the end of epoch 1 before it was backed up: epochs 1 to 3 are run again, not 0
    assert len(history.history["loss"]) == 3
    assert _log_epochs(output) == [0, 1, 2, 3]
    assert os.path.exists(os.path.join(output, training.MODEL_FILE))


@pytest.mark.slow
def test_train_cifar10_through_tfds(tmp_path):
    import tensorflow_datasets as tfds

    output = str(tmp_path / "cifar")
    with tfds.testing.mock_data(num_examples=16):
        result = CliRunner().invoke(
            main,
            ["train", "--dataset", "cifar10", "--epochs", "1", "--classifier-epochs", "1",
             "--batch-size", "8", "--steps-per-epoch", "1", "--output", output],
        )
    assert result.exit_code == 0, result.output
    assert len(json.load(open(os.path.join(output, "run_config.json")))["class_names"]) == 10
    assert os.path.exists(os.path.join(output, "model.keras"))


@pytest.mark.slow
def test_train_with_a_given_classifier_and_taps(tmp_path, image_folder):
    path = str(tmp_path / "clf.keras")
    tiny_classifier(width=8).save(path)
    output = str(tmp_path / "run")
    result = CliRunner().invoke(
        main,
        ["train", "--dataset", "folder", "--data-dir", image_folder, "--classifier", path,
         "--tap-layers", ",".join(TINY_TAPS), "--epochs", "1", "--batch-size", "8",
         "--output", output],
    )
    assert result.exit_code == 0, result.output
    # a folder's epoch is ceil(files / batch) batches, known to the progress bar: 44 / 8 -> 6
    assert "6/6" in result.output
    assert not os.path.exists(os.path.join(output, "classifier.keras"))


def test_train_errors_are_clear(tmp_path):
    result = CliRunner().invoke(main, ["train", "--dataset", "folder", "--output", str(tmp_path)])
    assert result.exit_code != 0 and "--data-dir" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(
        main, ["train", "--dataset", "folder", "--data-dir", str(empty), "--output", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "Expected class subfolders" in result.output  # a ValueError


@pytest.mark.slow
def test_demo_quick(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--quick", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert os.path.exists(tmp_path / "overlays.png")
    assert json.load(open(tmp_path / "results.json"))["test_images"] == 64


@pytest.mark.slow
def test_killed_continued_run_keeps_its_epoch_range(tmp_path):
    from keras_saliency.data import array_dataset

    images, labels, _ = patch_images(32, seed=0)
    dataset = array_dataset(images, labels, batch_size=16, training=True, seed=0)
    output = str(tmp_path / "run")
    model = training.compile_saliency_model(
        SaliencyModel.from_classifier(tiny_classifier(width=8), tap_layers=TINY_TAPS, seed=0)
    )
    training.fit_saliency_model(model, dataset, epochs=1, output_dir=output, verbose=0)
    path = os.path.join(output, training.MODEL_FILE)
    with pytest.raises(KeyboardInterrupt):  # continue for 3 more epochs, killed in the 2nd
        training.fit_saliency_model(
            keras.saving.load_model(path), dataset, epochs=3, output_dir=output,
            callbacks=[_Kill(epoch=2)], verbose=0,
        )
    training.fit_saliency_model(keras.saving.load_model(path), dataset, epochs=3, output_dir=output, verbose=0)
    assert _log_epochs(output) == [0, 1, 2, 3]  # 1 + 3 epochs, not 1 + 2 + 3
    assert not os.path.exists(os.path.join(output, training.FIT_STATE_FILE))
