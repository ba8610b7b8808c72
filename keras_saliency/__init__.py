"""keras-saliency: real-time saliency masks for Keras classifiers (Dabkowski & Gal, 2017).

Importing the package registers every custom object, so `keras.saving.load_model` can load
saved models after `import keras_saliency`.
"""

from keras_saliency import classifiers, layers, masker, model  # noqa: F401 (registration)
from keras_saliency import pretrained
from keras_saliency.config import SaliencyConfig
from keras_saliency.masker import Masker, upsample_masks
from keras_saliency.model import SaliencyModel

__version__ = "0.1.0"
__all__ = ["Masker", "SaliencyConfig", "SaliencyModel", "pretrained", "upsample_masks"]
