"""keras-saliency: real-time saliency masks for Keras classifiers (Dabkowski & Gal, 2017).

Importing the package registers every custom object, so `keras.saving.load_model` can load
saved models after `import keras_saliency`.
"""

import os
import sys

if os.path.basename(sys.argv[0] if sys.argv else "") == "keras-saliency":
    # The command line: TensorFlow's C++ INFO / WARNING logs off before TensorFlow loads (it
    # reads this once; setting it in the CLI itself is too late). Set it yourself to see them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_saliency import classifiers, layers, masker, model  # noqa: E402,F401 (registration)
from keras_saliency import pretrained  # noqa: E402
from keras_saliency.config import SaliencyConfig  # noqa: E402
from keras_saliency.masker import Masker, upsample_masks  # noqa: E402
from keras_saliency.model import SaliencyModel  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Masker", "SaliencyConfig", "SaliencyModel", "pretrained", "upsample_masks"]
