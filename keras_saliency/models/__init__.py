"""The Keras core: the masker, its layers and encoders, the `SaliencyModel` that pairs it with a
frozen classifier, the objective (pure functions) and its configuration, and the small
classifiers the package trains itself. Every custom object is registered for `.keras` files.

Example:

```python
import keras
from keras_saliency.models import SaliencyModel

classifier = keras.applications.MobileNetV2(weights=None)
model = SaliencyModel.from_classifier(classifier)
model.compile()
```
"""

from keras_saliency.models.classifier_layers import find_class_layer
from keras_saliency.models.classifiers import (
    cifar_classifier,
    compile_classifier,
    fast_cifar_classifier,
    scale_taps,
    transfer_classifier,
)
from keras_saliency.models.config import SaliencyConfig
from keras_saliency.models.encoders import build_encoder, shared_taps
from keras_saliency.models.ensemble import ensemble_classifier
from keras_saliency.models.masker import Masker, upsample_masks
from keras_saliency.models.model import SaliencyModel
from keras_saliency.models.presets import MASKER_PRESETS, masker_preset

# The declared API: the masking model, and what building one for your own classifier uses.
__all__ = [
    "MASKER_PRESETS", "Masker", "SaliencyConfig", "SaliencyModel", "build_encoder", "cifar_classifier",
    "compile_classifier", "ensemble_classifier", "fast_cifar_classifier", "find_class_layer", "masker_preset",
    "scale_taps", "shared_taps", "transfer_classifier", "upsample_masks",
]
