"""The ImageNet masker recipe on a tiny stand-in: readable names from `<wnid>_<name>` files, the
class selector initialised from the classifier's 1x1 class convolution (CAM), crops of the right size."""

import dataclasses

import keras
import numpy as np
import pytest
from PIL import Image

from tools import imagenet_recipe


def cam_classifier(num_classes=5):
    """Conv taps at strides 2 and 4, then a 1x1 convolution to the classes and global pooling
    (the Darknet classifier's shape, small)."""
    image = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(image)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="tap_a")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="tap_b")(x)
    x = keras.layers.Conv2D(num_classes, 1, name="class_conv")(x)
    return keras.Model(image, keras.layers.GlobalAveragePooling2D(name="logits")(x))


RECIPE = dataclasses.replace(
    imagenet_recipe.ImageNetMaskerRecipe(), image_size=32, load_size=40, tap_layers=("tap_a", "tap_b"),
    class_layer="class_conv", decoder_filters=(8,), mask_stride=2, batch_size=4,
)


def test_selector_starts_as_the_class_activation_map():
    classifier = cam_classifier()
    model = imagenet_recipe.build_model(RECIPE, classifier)
    kernel = np.asarray(classifier.get_layer("class_conv").kernel)[0, 0]  # (16 channels, 5 classes)
    np.testing.assert_allclose(np.asarray(model.masker.selector.embedding), kernel.T)
    with pytest.raises(ValueError, match="Expected a class layer"):
        imagenet_recipe.build_model(dataclasses.replace(RECIPE, class_layer="tap_b"), classifier)


def test_readable_names_and_training_crops(tmp_path):
    for wnid, name in [("n01443537", "goldfish"), ("n01440764", "tench")]:
        (tmp_path / wnid).mkdir()
        Image.new("RGB", (50, 40)).save(tmp_path / wnid / f"{wnid}_{name}.JPEG")
    assert imagenet_recipe.imagenet_class_names(str(tmp_path)) == (["n01440764", "n01443537"], ["tench", "goldfish"])
    images = np.random.default_rng(0).integers(0, 255, (6, 40, 40, 3)).astype("uint8")
    batch, labels = next(iter(imagenet_recipe.training_dataset(images, np.arange(6, dtype="int32"), RECIPE)))
    assert batch.shape == (4, 32, 32, 3) and batch.dtype == "float32"
    assert float(batch.numpy().min()) >= 0 and float(batch.numpy().max()) <= 255


def test_averaged_snapshot_weights_are_the_mean_of_the_snapshots(tmp_path):
    model = imagenet_recipe.build_model(RECIPE, cam_classifier())
    (tmp_path / "snapshots").mkdir()
    base = model.get_weights()
    for epoch, offset in ((1, 1.0), (2, 2.0), (3, 6.0)):
        model.set_weights([w + offset for w in base])
        model.save_weights(str(tmp_path / "snapshots" / f"epoch-{epoch:03d}.weights.h5"))
    averaged = imagenet_recipe.averaged_snapshot_weights(str(tmp_path), [1, 2, 3], model)
    for got, want in zip(averaged, base):
        np.testing.assert_allclose(got, want + 3.0, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="at least one snapshot"):
        imagenet_recipe.averaged_snapshot_weights(str(tmp_path), [], model)


def test_extra_photos_fill_their_fraction_of_each_batch_with_imagenet_labels(tmp_path):
    wnids = ["n01440764", "n01443537", "n01484850"]
    for wnid in wnids[1:]:  # the extra folder holds two of the three classes, 64 px photos
        (tmp_path / wnid).mkdir()
        for i in range(3):
            Image.new("RGB", (64, 64), (40 * i, 0, 0)).save(tmp_path / wnid / f"{wnid}_{i}.JPEG")
    recipe = dataclasses.replace(RECIPE, extra_data="extra", steps_per_epoch=2, batch_size=64, extra_fraction=0.25)
    (tmp_path / "extra").mkdir()
    for wnid in wnids[1:]:
        (tmp_path / wnid).rename(tmp_path / "extra" / wnid)
    extra_images, extra_labels = imagenet_recipe.load_extra_data(recipe, str(tmp_path), wnids)
    assert extra_images.shape == (6, 64, 64, 3) and sorted(extra_labels.tolist()) == [1, 1, 1, 2, 2, 2]
    images = np.zeros((5, 40, 40, 3), "uint8")
    labels = np.full(5, 7, "int32")  # label 7: from the main photos
    batches = list(imagenet_recipe.training_dataset(images, labels, recipe, (extra_images, extra_labels)).take(8))
    assert all(batch.shape == (64, 32, 32, 3) for batch, _ in batches)
    from_extra = np.mean([np.mean(label.numpy() != 7) for _, label in batches])
    assert 0.15 < from_extra < 0.35  # 25% expected, 512 draws
    with pytest.raises(ValueError, match="steps_per_epoch"):
        imagenet_recipe.training_dataset(images, labels, dataclasses.replace(recipe, steps_per_epoch=0), (extra_images, extra_labels))
    with pytest.raises(ValueError, match="ImageNet wnids"):
        imagenet_recipe.load_extra_data(recipe, str(tmp_path), wnids[:2])
