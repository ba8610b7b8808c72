"""The recipe stages that trained the shipped models, end to end on a tiny folder."""

import json

import numpy as np
import pytest
from PIL import Image

from tools import recipes
from keras_saliency.testing import SQUARE_CLASS_NAMES, square_images


@pytest.mark.slow
def test_recipe_stages_train_and_package(tmp_path):
    data_root = tmp_path / "data"
    images, labels, _ = square_images(60, seed=0)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = data_root / "squares" / SQUARE_CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(folder / f"{i}.png")
    recipe = recipes.Recipe(
        name="squares", data="squares", image_size=32, base_filters=8, convs_per_scale=(1, 1, 1),
        classifier_epochs=1, classifier_batch_size=16, masker_epochs=1, masker_batch_size=16,
    )
    output = tmp_path / "run"
    splits = recipes.recipe_splits(recipe, str(data_root), progress=False)
    (train_x, _), (val_x, _), class_names = splits
    assert len(train_x) + len(val_x) == 60 and len(val_x) == 6 and class_names == ["blue", "red"]
    _, accuracy = recipes.train_classifier_stage(recipe, str(output), splits=splits)
    assert 0.0 <= accuracy <= 1.0
    saved = json.loads((output / recipes.RECIPE_FILE).read_text())
    assert saved["classifier_accuracy"] == accuracy and saved["class_names"] == ["blue", "red"]
    model = recipes.train_masker_stage(recipe, str(output), splits=splits)
    assert model.num_classes == 2
    destination = tmp_path / "package"
    destination.mkdir()
    path = recipes.package_model(recipe, str(output), destination=str(destination), data_root=str(data_root))
    meta = json.loads((destination / "squares.json").read_text())
    assert meta["classifier_accuracy"] == accuracy and meta["image_size"] == 32
    assert meta["display_names"] == ["blue", "red"] and meta["commands"][1].startswith("keras-saliency train")
    import keras

    loaded = keras.saving.load_model(path, safe_mode=True)
    masks = loaded.predict((images[:2], np.array([0, 1])), verbose=0)
    assert masks.shape == (2, 32, 32, 1)
    # A second call finds the finished stages and trains nothing more...
    again, _ = recipes.train_classifier_stage(recipe, str(output), splits=splits)
    assert again.count_params() > 0
    from keras_saliency.training.fit import completed_epochs

    masker_dir = str(output / recipes.MASKER_DIR)
    recipes.train_masker_stage(recipe, str(output), splits=splits)
    assert completed_epochs(masker_dir) == 1
    # ... and a recipe asking for more masker epochs continues the finished masker.
    import dataclasses

    recipes.train_masker_stage(dataclasses.replace(recipe, masker_epochs=2), str(output), splits=splits)
    assert completed_epochs(masker_dir) == 2


@pytest.mark.slow
def test_the_masker_stage_is_its_keras_saliency_train_command(tmp_path):
    """The recipe's masker stage on its folder is `keras-saliency train` run with the command line
    that the shipped model's JSON records: the same masker design and objective as the stage."""
    import shlex

    import keras
    from click.testing import CliRunner

    from keras_saliency.cli import main
    from keras_saliency.testing import TINY_TAPS, tiny_classifier

    data_root = tmp_path / "data"
    images, labels, _ = square_images(24, seed=1)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = data_root / "squares" / SQUARE_CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(folder / f"{i}.png")
    recipe = recipes.Recipe(name="squares", data="squares", image_size=32, tap_layers=TINY_TAPS, masker_epochs=1,
                            masker_batch_size=8, masker_options={"mask_stride": 2},
                            objective_options={"area_weight": 5.0, "target": "label"})
    for run in ("stage", "command"):
        (tmp_path / run).mkdir()
        tiny_classifier(num_classes=2, width=8).save(tmp_path / run / recipes.CLASSIFIER_FILE)
    staged = recipes.train_masker_stage(recipe, str(tmp_path / "stage"), data_root=str(data_root))
    command = recipes.train_command(recipe, output=str(tmp_path / "command"), data_root=str(data_root))
    assert command.startswith("keras-saliency train ") and "--masker-option mask_stride=2" in command
    result = CliRunner().invoke(main, shlex.split(command)[1:])
    assert result.exit_code == 0, result.output
    commanded = keras.saving.load_model(tmp_path / "command" / recipes.MASKER_DIR / "model.keras")
    for model in (staged, commanded):
        assert model.masker.mask_stride == 2 and model.preset == "gated-fpn"
        assert model.config.area_weight == 5.0 and model.config.target == "label"
    assert staged.get_config()["masker"] == commanded.get_config()["masker"]
    # A second call finds the stage finished and trains nothing more.
    from keras_saliency.training.fit import completed_epochs

    recipes.train_masker_stage(recipe, str(tmp_path / "stage"), data_root=str(data_root))
    assert completed_epochs(str(tmp_path / "stage" / recipes.MASKER_DIR)) == 1
