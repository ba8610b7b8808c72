"""The class gate reads the classifier's own class layer: its weights are held and saved once."""

import zipfile

import h5py
import keras
import numpy as np

from keras_saliency import SaliencyModel
from keras_saliency.models.classifier_layers import nested_layer


def _cnn(classes=40, size=32):
    image = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(image)
    for i, width in enumerate((8, 12, 16)):
        x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv_{i}")(x)
        x = keras.layers.MaxPooling2D(name=f"pool_{i}")(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(image, keras.layers.Dense(classes, name="classes")(x), name="cnn")


def _saved_arrays(path):
    """Every array stored in a .keras file's weights, by its path."""
    arrays = {}
    with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as raw:
        with h5py.File(raw, "r") as weights:
            weights.visititems(lambda name, item: arrays.update({name: item.shape})
                               if isinstance(item, h5py.Dataset) else None)
    return arrays


def test_the_gate_reads_the_classifier_class_layer_and_the_file_holds_it_once(tmp_path):
    keras.utils.set_random_seed(0)
    model = SaliencyModel.from_classifier(_cnn())
    gate = model.masker.get_layer("class_gate")
    assert model.class_layer == "classes"
    assert gate.shared_class_layer is nested_layer(model.classifier, "classes")

    path = tmp_path / "model.keras"
    model.save(path)
    kernels = [name for name, shape in _saved_arrays(path).items() if tuple(shape) == (64, 40)]
    assert len(kernels) == 1, kernels  # the classifier's kernel only, not the gate's copy

    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    ids = np.array([0, 3, 7, 39])
    before = model.explain(images, ids)
    loaded = keras.models.load_model(path)
    after = loaded.explain(images, ids)
    np.testing.assert_allclose(after["mask"], before["mask"], atol=1e-6)
    np.testing.assert_allclose(after["exists"], before["exists"], atol=1e-6)
    # The gate's own copy is refilled from the classifier (standalone copies of the masker use it).
    loaded_gate = loaded.masker.get_layer("class_gate")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded_gate.kernel),
                                  keras.ops.convert_to_numpy(nested_layer(loaded.classifier, "classes").kernel))

    # The gate follows the classifier's layer: change the layer, the masks change.
    layer = nested_layer(loaded.classifier, "classes")
    layer.kernel.assign(-keras.ops.convert_to_numpy(layer.kernel))
    changed = loaded.explain(images, ids)
    assert np.abs(changed["exists"] - after["exists"]).max() > 1e-3


def test_a_file_with_the_gate_copy_still_loads(tmp_path):
    """Files saved before the gate shared the class layer hold the copy and no class_layer."""
    keras.utils.set_random_seed(1)
    model = SaliencyModel.from_classifier(_cnn())
    config = model.get_config()
    config["class_layer"] = None  # the former files: the gate keeps and saves its own copy
    old = SaliencyModel.from_config(config)
    old.set_weights(model.get_weights())
    assert old.masker.get_layer("class_gate").shared_class_layer is None
    path = tmp_path / "old.keras"
    old.save(path)
    assert sum(tuple(shape) == (64, 40) for shape in _saved_arrays(path).values()) == 2

    images = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    ids = np.array([1, 2])
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.explain(images, ids)["mask"], model.explain(images, ids)["mask"], atol=1e-6)
