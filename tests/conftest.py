import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")


BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")


def pytest_collection_modifyitems(config, items):
    if BACKEND != "tensorflow":  # only the tests written for every backend
        other = pytest.mark.skip(reason=f"TensorFlow only (KERAS_BACKEND={BACKEND}): not marked backends")
        for item in items:
            if "backends" not in item.keywords:
                item.add_marker(other)
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def shared_data(*parts):
    """Path under ../shared/data, or skip the test with a reason when it is absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real data not available at {path}")
    return path


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """A class folder of 48 synthetic patch images (PNG), one subfolder per stripe class."""
    import numpy as np
    from PIL import Image

    from keras_saliency.testing import PATCH_CLASS_NAMES, patch_images

    root = tmp_path_factory.mktemp("folder")
    images, labels, _ = patch_images(48, seed=0)
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / PATCH_CLASS_NAMES[label]
        folder.mkdir(exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).save(folder / f"{i}.png")
    return str(root)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    """A small untrained masker for 3 classes at 32 x 32 (the square task's), with its class
    names in a run_config.json next to it."""
    import json

    from keras_saliency.models.classifiers import cifar_classifier, scale_taps
    from keras_saliency.testing import SQUARE_CLASS_NAMES
    from keras_saliency.models.model import SaliencyModel

    root = tmp_path_factory.mktemp("model")
    classifier = cifar_classifier(3, 32, base_filters=8, convs_per_scale=(1, 1, 1))
    model = SaliencyModel.from_classifier(classifier, tap_layers=scale_taps(3), seed=0)
    path = root / "model.keras"
    model.save(path)
    (root / "run_config.json").write_text(json.dumps({"class_names": list(SQUARE_CLASS_NAMES)}))
    return str(path)
