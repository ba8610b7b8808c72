"""The recipe stages that trained the shipped models, end to end on a tiny folder."""

import json
import os

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
    assert meta["display_names"] == ["blue", "red"] and "--stage masker" in meta["commands"][1]
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
def test_final_epochs_train_with_their_overrides(tmp_path, monkeypatch):
    import keras

    from keras_saliency.testing import TINY_TAPS, tiny_classifier
    from keras_saliency.training.fit import completed_epochs

    images, labels, _ = square_images(24, seed=1)
    recipe = recipes.Recipe(
        name="squares", data="squares", image_size=32, tap_layers=TINY_TAPS, masker_epochs=2,
        masker_batch_size=8, objective="simplified", masker_overrides={"area_weight": 5.0},
        masker_final_epochs=1, masker_final_overrides={"graded_weight": 1.0},
    )
    output = tmp_path / "run"
    output.mkdir()
    tiny_classifier(num_classes=2, width=8).save(output / recipes.CLASSIFIER_FILE)
    splits = ((images[:16], labels[:16]), (images[16:], labels[16:]), ["blue", "red"])
    recipes.train_masker_stage(recipe, str(output), splits=splits)
    masker_dir = output / recipes.MASKER_DIR
    assert completed_epochs(str(masker_dir)) == 2
    rows = (masker_dir / "training_log.csv").read_text().splitlines()
    column = rows[0].split(",").index("graded")
    graded = [row.split(",")[column] for row in rows[1:]]
    assert graded[0] == "NA" and float(graded[1]) != 0.0  # logged only while the term is on
    saved = keras.saving.load_model(masker_dir / "model.keras")
    assert saved.config.graded_weight == 1.0 and saved.config.area_weight == 5.0
    # Run again when both phases are done: the finished masker is loaded once, not once per phase.
    loads, real_load = [], keras.saving.load_model

    def counting_load(path, *args, **kwargs):
        loads.append(str(path))
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", counting_load)
    again = recipes.train_masker_stage(recipe, str(output), splits=splits)
    assert sum(path.endswith(os.path.join(recipes.MASKER_DIR, "model.keras")) for path in loads) == 1, loads
    assert again.config.graded_weight == 1.0 and completed_epochs(str(masker_dir)) == 2


def test_final_epochs_cannot_exceed_the_masker_epochs():
    import dataclasses

    recipe = recipes.get_recipe("cifar10-ensemble")
    with pytest.raises(ValueError, match="Expected masker_final_epochs between 0 and masker_epochs"):
        dataclasses.replace(recipe, masker_final_epochs=recipe.masker_epochs + 1)
    assert dataclasses.replace(recipe, masker_final_epochs=recipe.masker_epochs).masker_final_epochs == recipe.masker_epochs
