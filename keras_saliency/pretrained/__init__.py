"""Trained models shipped inside the package, loadable offline.

    import keras_saliency
    model = keras_saliency.pretrained.load("cifar10")   # a ready SaliencyModel
    masks = model.predict((images, class_ids))          # images RGB [0, 255]

Each model is `<name>.keras` (the masker and its frozen classifier in one file) with
`<name>.json` next to it: class names, image size, measured accuracy, the recipe and the
commands that trained it (`scripts/train_pretrained.py`, `tools.recipes`).
"""

from keras_saliency.pretrained.loader import load_saliency_model
from keras_saliency.pretrained.shipped import (  # noqa: F401 (HERE, DEFAULT: the files and the default name)
    DEFAULT, HERE, available, check_model, class_names, display_names, info, load,
)

__all__ = ["available", "check_model", "class_names", "display_names", "info", "load", "load_saliency_model"]
