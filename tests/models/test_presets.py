"""Masker presets and what the masker reads from the user's classifier (class layer, taps)."""

import logging
import os

import keras
import numpy as np
import pytest

from keras_saliency import SaliencyModel
from keras_saliency.models import classifier_layers
from keras_saliency.models.presets import DEFAULT_PRESET, MASKER_PRESETS, masker_preset, preset_mask_stride


def _cnn(head="dense", size=32, classes=5):
    """A small functional CNN with feature maps at strides 2, 4, 8 and a known head."""
    image = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(image)
    for i, width in enumerate((8, 12, 16)):
        x = keras.layers.Conv2D(width, 3, padding="same", name=f"conv_{i}")(x)
        x = keras.layers.ReLU(name=f"relu_{i}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool_{i}")(x)
    x = keras.layers.Conv2D(24, 3, padding="same", activation="relu", name="features")(x)
    if head == "dense":
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
        x = keras.layers.Dropout(0.2)(x)
        x = keras.layers.Dense(classes, name="classes")(x)
    elif head == "conv":
        x = keras.layers.Conv2D(classes, 1, name="classes")(x)
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    else:  # a hidden layer after the pooling
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
        x = keras.layers.Dense(16, activation="relu", name="hidden")(x)
        x = keras.layers.Dense(classes, name="classes")(x)
    return keras.Model(image, x, name=f"cnn_{head}")


def test_the_class_layer_is_found_for_both_heads_and_refused_with_a_reason():
    found, reason = classifier_layers.find_class_layer(_cnn("dense"))
    assert reason is None and found == classifier_layers.ClassLayer("classes", "features", "dense")
    found, reason = classifier_layers.find_class_layer(_cnn("conv"))
    assert reason is None and found == classifier_layers.ClassLayer("classes", "features", "conv")
    found, reason = classifier_layers.find_class_layer(_cnn("hidden"))
    assert found is None and "hidden layer after the pooling" in reason


def test_taps_are_chosen_by_stride():
    model = _cnn("dense")
    assert dict(classifier_layers.layer_strides(model))["features"] == 8
    # The class layer's features (stride 8), then the last layer at strides 4 and 2.
    taps = classifier_layers.automatic_tap_layers(model, "features")
    strides = dict(classifier_layers.layer_strides(model))
    assert [strides[t] for t in taps] == [2, 4, 8]
    assert taps == ["relu_1", "relu_2", "features"]  # the last layer at each resolution, before it halves
    assert classifier_layers.deepest_feature_layer(_cnn("hidden")) == "features"
    with pytest.raises(ValueError, match="Expected a deepest tap layer"):
        classifier_layers.automatic_tap_layers(model, "gap")


def test_presets_are_plain_dicts_and_unknown_names_are_refused():
    assert DEFAULT_PRESET == "gated-fpn" and set(MASKER_PRESETS) == {"gated-fpn", "paper"}
    preset = masker_preset()
    preset["decoder"] = "changed"
    assert masker_preset()["decoder"] == "fpn"  # a copy
    with pytest.raises(ValueError, match="Expected a masker preset in"):
        masker_preset("best")
    # 28x28 masks at 224 px, at least 8x8 on small images, never coarser than the deepest tap.
    assert preset_mask_stride(preset, 224, 32) == 8
    assert preset_mask_stride(preset, 32, 8) == 4
    assert preset_mask_stride(preset, 224, 4) == 4


def test_the_cli_knows_the_library_presets():
    from keras_saliency.cli import PRESET_NAMES

    assert set(PRESET_NAMES) == set(MASKER_PRESETS) and PRESET_NAMES[0] == DEFAULT_PRESET


@pytest.mark.slow
def test_from_classifier_alone_builds_the_default_preset_from_the_classifier(tmp_path):
    classifier = _cnn("dense")
    model = SaliencyModel.from_classifier(classifier)
    assert model.preset == "gated-fpn"
    assert model.masker.decoder == "fpn" and model.masker.class_gate == "classifier_image"
    assert model.masker.mask_stride == 4  # 8x8 masks at 32 px
    assert model.config.objective == "simplified" and model.config.target == "prediction"
    # The class selector starts as the class layer: each class's CAM.
    kernel = classifier.get_layer("classes").kernel.numpy()
    np.testing.assert_allclose(model.masker.selector.embedding.numpy(), kernel.T)
    model.compile()
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    ids = np.arange(4) % 5
    model.fit(images, ids, epochs=1, verbose=0)
    # Images alone (an array or a dataset of image batches): the classifier's own classes.
    import tensorflow as tf

    before = [w.copy() for w in model.masker.get_weights()]
    model.fit(images, epochs=1, batch_size=2, verbose=0)
    model.fit(tf.data.Dataset.from_tensor_slices(images).batch(2), epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.masker.get_weights()))
    masks = model.predict((images, ids), verbose=0)
    assert masks.shape == (4, 32, 32, 1)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.preset == "gated-fpn"
    np.testing.assert_allclose(loaded.predict((images, ids), verbose=0), masks, atol=1e-5)


def test_a_classifier_without_a_class_layer_gets_the_ungated_design_and_one_line(caplog):
    with caplog.at_level(logging.WARNING, logger="keras_saliency"):
        model = SaliencyModel.from_classifier(_cnn("hidden"))
    assert model.masker.class_gate == "none" and model.preset == "gated-fpn"
    lines = [r.getMessage() for r in caplog.records if "ungated design" in r.getMessage()]
    assert len(lines) == 1 and "hidden layer after the pooling" in lines[0] and "\n" not in lines[0]


def test_the_paper_preset_and_explicit_fields():
    model = SaliencyModel.from_classifier(_cnn("conv"), preset="paper")
    assert model.masker.decoder == "unet" and model.masker.head == "abs_ratio"
    assert model.masker.class_gate == "none" and model.config.objective == "code"
    model = SaliencyModel.from_classifier(_cnn("conv"), preset="gated-fpn", head="abs_ratio")
    assert model.masker.head == "abs_ratio" and model.masker.class_gate == "classifier_image"
    # With tap layers and no preset: the authors' design, as before.
    model = SaliencyModel.from_classifier(_cnn("conv"), tap_layers=["relu_1", "features"])
    assert model.preset is None and model.masker.decoder == "unet"


@pytest.mark.slow
def test_train_with_a_classifier_file_reads_its_size_and_records_the_preset(tmp_path, image_folder):
    from keras_saliency.training import TrainSpec, train_masker

    path = str(tmp_path / "classifier.keras")
    _cnn("dense", size=48, classes=4).save(path)
    result = train_masker(TrainSpec(dataset="folder", data_dir=str(image_folder), classifier=path, epochs=1,
                                    steps_per_epoch=2, batch_size=8, output=str(tmp_path / "run"),
                                    objective_options={"area_weight": 7.0}), log=lambda _: None)
    assert result.model.image_size == 48 and result.model.preset == "gated-fpn"
    import json

    with open(os.path.join(result.output, "run_config.json")) as f:
        config = json.load(f)
    assert config["preset"] == "gated-fpn" and config["image_size"] == 48 and config["crop_scale"] == 0.35
    assert config["masker"]["class_gate"] == "classifier_image"
    assert config["objective_config"]["target"] == "prediction"
    assert config["objective_config"]["area_weight"] == 7.0 and result.model.config.area_weight == 7.0
    assert config["tap_layers"] == ["relu_1", "relu_2", "features"]


def test_train_refuses_an_unknown_objective_option_in_one_line(tmp_path, image_folder):
    from click.testing import CliRunner

    from keras_saliency.cli import main

    path = str(tmp_path / "classifier.keras")
    _cnn("dense", size=32, classes=4).save(path)
    result = CliRunner().invoke(main, ["train", "--dataset", "folder", "--data-dir", str(image_folder),
                                       "--classifier", path, "--objective-option", "area_wieght=3",
                                       "--output", str(tmp_path / "run")])
    assert result.exit_code == 2 and "Expected --objective-option that the objective has" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()
