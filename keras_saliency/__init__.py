"""keras-saliency: real-time saliency masks for Keras classifiers (Dabkowski & Gal, 2017).

Importing the package registers every custom object, so `keras.saving.load_model` can load
saved models after `import keras_saliency`. Two exceptions, where `keras_saliency.Masker` and the
like resolve on first use (PEP 562) instead:

- the `keras-saliency` command imports what each command needs (its --help and --version load
  no TensorFlow);
- without Keras and TensorFlow installed, nothing is registered and `keras_saliency.runtime`
  (the LiteRT / ONNX Runtime / TensorRT runners, which need neither) still imports.
"""

import importlib
import os
import sys

__version__ = "0.1.0"
__all__ = ["Masker", "SaliencyConfig", "SaliencyModel", "TrainSpec", "pretrained", "train_masker", "upsample_masks"]

_ATTRIBUTES = {
    "Masker": "keras_saliency.models.masker",
    "SaliencyConfig": "keras_saliency.models.config",
    "SaliencyModel": "keras_saliency.models.model",
    "upsample_masks": "keras_saliency.models.masker",
    "TrainSpec": "keras_saliency.training",
    "train_masker": "keras_saliency.training",
}
_SUBMODULES = ("data", "deployment", "evaluation", "explain", "methods", "models", "pretrained", "reports", "runtime",
               "training")


def __getattr__(name):
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _keras_installed():
    import importlib.util

    try:  # without Keras, nothing else of the package is imported (keras_saliency.runtime needs none)
        if sys.modules.get("keras", 0) is None or importlib.util.find_spec("keras") is None:
            return False
    except (ImportError, ValueError):
        return False
    from keras_saliency.options import import_tensorflow_quietly

    try:
        import_tensorflow_quietly()  # TensorFlow's C++ start-up lines are not the user's business
    except ImportError:  # a runtime-only install: keras_saliency.runtime needs no Keras
        return False
    return True


if (os.path.splitext(os.path.basename(sys.argv[0] if sys.argv else ""))[0] != "keras-saliency"
        and _keras_installed()):
    from keras_saliency.models import classifiers, layers, masker, model  # noqa: E402,F401 (registration)
    from keras_saliency import models  # noqa: E402,F401
    from keras_saliency import pretrained  # noqa: E402
    from keras_saliency.models.config import SaliencyConfig  # noqa: E402
    from keras_saliency.models.masker import Masker, upsample_masks  # noqa: E402
    from keras_saliency.models.model import SaliencyModel  # noqa: E402
