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
    with pytest.raises(ValueError, match="class layer's kernel"):
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
