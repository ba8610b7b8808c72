"""The models shipped inside the package: their names, metadata and files (no TensorFlow until
`load`)."""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = "cifar10"


def available():
    """Names of the shipped models.

    Example:

    ```python
    keras_saliency.pretrained.available()  # e.g. ["cifar10", "imagenet-darknet-tiny", ...]
    ```
    """
    return sorted(f[: -len(".keras")] for f in os.listdir(HERE) if f.endswith(".keras"))


def check_model(name_or_path):
    """Refuses (`ValueError`, one line) what is neither a shipped model's name nor an existing
    file, without loading TensorFlow.

    Args:
        name_or_path: a shipped model's name or a masker's `.keras` file.

    Example:

    ```python
    keras_saliency.pretrained.check_model("imagenet-darknet-tiny")
    ```
    """
    if name_or_path not in available() and not os.path.exists(name_or_path):
        raise ValueError(f"Expected a shipped model name ({', '.join(available())}) or a masker's .keras file. "
                         f"Received: {name_or_path!r}, which does not exist")


def _path(name, extension):
    names = available()
    if name not in names:
        raise ValueError(f"Expected a pretrained model name in {names}. Received: {name!r}")
    return os.path.join(HERE, name + extension)


def info(name=DEFAULT):
    """The model's metadata (class names, image size, accuracy, recipe, commands).

    Args:
        name: a shipped model's name, one of `available()` (default "cifar10").

    Example:

    ```python
    meta = keras_saliency.pretrained.info("cifar10")
    meta["class_names"]
    ```
    """
    with open(_path(name, ".json")) as f:
        return json.load(f)


def class_names(name=DEFAULT):
    """Class names as the training folders name them (e.g. WordNet ids).

    Args:
        name: a shipped model's name, one of `available()` (default "cifar10").

    Example:

    ```python
    names = keras_saliency.pretrained.class_names("tiny-imagenet-100")
    ```
    """
    return list(info(name)["class_names"])


def display_names(name=DEFAULT):
    """Readable class names (e.g. "goldfish, Carassius auratus").

    Args:
        name: a shipped model's name, one of `available()` (default "cifar10"). Models
            without display names give their `class_names`.

    Example:

    ```python
    names = keras_saliency.pretrained.display_names("imagenet-darknet-tiny")
    ```
    """
    meta = info(name)
    return list(meta.get("display_names") or meta["class_names"])


def load(name=DEFAULT, confidence=None):
    """The shipped `SaliencyModel` `name` (see `available()`). `confidence`: the class selector's
    threshold (higher: only the most salient parts); default: as trained. Loaded like any
    untrusted file (`keras_saliency.models.files.load_model_file`: size limits, safe mode).

    Args:
        name: a shipped model's name, one of `available()` (default "cifar10").
        confidence: the class selector's threshold, or None to keep the trained one.

    Example:

    ```python
    model = keras_saliency.pretrained.load("cifar10", confidence=0.5)
    masks = model.predict((images, class_ids))
    ```
    """
    from keras_saliency.models.files import load_model_file

    model = load_model_file(_path(name, ".keras"))
    if not model.class_names:  # files shipped before the names were saved inside: from the JSON
        model.class_names = model._checked_class_names(display_names(name))
    if confidence is not None:
        model.masker.set_confidence(confidence)
    return model
