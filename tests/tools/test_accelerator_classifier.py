"""`scripts/accelerator_classifier.py`: pack a recipe here, train it in any Keras backend there."""

import importlib.util
import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_saliency.testing import SQUARE_CLASS_NAMES, square_images
from tools import recipes

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "accelerator_classifier.py")


def _script():
    spec = importlib.util.spec_from_file_location("accelerator_classifier", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_schedule_known_answers():
    schedule = _script()._CosineWithWarmup(0.2, warmup=10, total=110)
    assert schedule(0) == 0.0 and schedule(5) == pytest.approx(0.1)
    assert schedule(10) == pytest.approx(0.2) and schedule(60) == pytest.approx(0.1)
    assert schedule(110) == pytest.approx(0.0, abs=1e-12) and schedule(500) == pytest.approx(0.0, abs=1e-12)


def test_zoom_changes_about_half_and_keeps_shapes():
    images = np.random.default_rng(0).integers(0, 255, (64, 16, 16, 3)).astype(np.uint8)
    out = _script()._zoom(images, np.random.default_rng(1), 0.3)
    assert out.shape == images.shape and out.dtype == np.uint8
    changed = sum(not np.array_equal(a, b) for a, b in zip(out, images))
    assert 16 <= changed <= 48
    np.testing.assert_array_equal(_script()._zoom(images, np.random.default_rng(1), 1.0), images)


def test_build_recipe_classifier_architectures():
    recipe = recipes.Recipe(name="squares", data="squares", image_size=16, base_filters=4, convs_per_scale=(1, 1))
    assert recipes.build_recipe_classifier(recipe, ["a", "b"]).output.shape == (None, 2)
    import dataclasses

    with pytest.raises(ValueError, match="Expected architecture"):
        recipes.build_recipe_classifier(dataclasses.replace(recipe, architecture="resnet"), ["a", "b"])


def test_pack_then_train_with_a_time_budget(tmp_path):
    """A from-scratch recipe packs as its architecture alone; training plans its epochs after the
    warm-up, logs validation accuracy per epoch and leaves a loadable model."""
    import keras

    images, labels, _ = square_images(40, seed=0)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = tmp_path / "data" / "squares" / SQUARE_CLASS_NAMES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(folder / f"{i}.png")
    script = _script()
    recipes.RECIPES["squares-test"] = recipes.Recipe(
        name="squares-test", data="squares", image_size=32, base_filters=4, convs_per_scale=(1, 1),
        classifier_epochs=3, classifier_batch_size=8, classifier_warmup_epochs=1, zoom=0.5,
    )
    try:
        script.pack("squares-test", str(tmp_path / "packed"), [], data_root=str(tmp_path / "data"))
    finally:
        del recipes.RECIPES["squares-test"]
    packed = sorted(os.listdir(tmp_path / "packed"))
    assert packed == ["accelerator_recipe.json", "init.json", "part0.npz", "part1.npz", "validation.npz"]
    rates = []
    original = script._CosineWithWarmup.__call__
    script._CosineWithWarmup.__call__ = lambda self, step: rates.append(original(self, step)) or rates[-1]
    try:
        script.train(str(tmp_path / "packed"), seconds=600, output=str(tmp_path / "out"))
    finally:
        script._CosineWithWarmup.__call__ = original
    run = json.loads((tmp_path / "out" / "accelerator_run.json").read_text())
    assert run["epochs"] == 3 and run["images"] == 36
    log = (tmp_path / "out" / "classifier_log.csv").read_text().splitlines()
    assert "val_accuracy" in log[0] and len(log) == 4
    # 5 steps per epoch (36 images, batch 8): a linear warm-up over the first epoch, then the cosine
    # over the other two, continuing across the second `fit`.
    assert len(rates) == 15 and rates[:5] == pytest.approx([0.0, 0.01, 0.02, 0.03, 0.04])
    assert rates[5] == pytest.approx(0.05) and rates[5:] == sorted(rates[5:], reverse=True) and rates[-1] > 0
    # A budget the warm-up already spends: one epoch more, and a log of this run only.
    script.train(str(tmp_path / "packed"), seconds=1e-3, output=str(tmp_path / "out"))
    assert json.loads((tmp_path / "out" / "accelerator_run.json").read_text())["epochs"] == 2
    assert len((tmp_path / "out" / "classifier_log.csv").read_text().splitlines()) == 3
    with pytest.raises(SystemExit, match="more epochs than"):
        script.train(str(tmp_path / "packed"), epochs=1, seconds=600, output=str(tmp_path / "out"))
    model = keras.saving.load_model(tmp_path / "out" / "classifier.keras")
    assert not getattr(model, "optimizer", None)  # uncompiled: no backend-specific optimizer to import
    assert model.predict(images[:2].astype("float32"), verbose=0).shape == (2, 2)


def test_augment_shifts_are_crops_of_the_reflected_image():
    """Each output is a window of the reflect-padded image or of its mirror image (the flip)."""
    script = _script()
    images = np.random.default_rng(0).integers(0, 255, (16, 8, 8, 3)).astype(np.uint8)
    out = script._augment(images, np.random.default_rng(2), 0.0, 2)
    assert out.shape == images.shape
    for image, shifted in zip(images, out):
        padded = np.pad(image, ((2, 2), (2, 2), (0, 0)), mode="reflect")
        candidates = [padded[dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
        flipped = np.pad(image[:, ::-1], ((2, 2), (2, 2), (0, 0)), mode="reflect")
        candidates += [flipped[dy:dy + 8, dx:dx + 8] for dy in range(5) for dx in range(5)]
        assert any(np.array_equal(shifted, c) for c in candidates)
    # Same generator seed, same batch.
    np.testing.assert_array_equal(script._augment(images, np.random.default_rng(5), 0.5, 2),
                                  script._augment(images, np.random.default_rng(5), 0.5, 2))
