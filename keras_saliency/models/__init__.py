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

from keras_saliency.models.config import SaliencyConfig
from keras_saliency.models.masker import Masker, upsample_masks
from keras_saliency.models.model import SaliencyModel

__all__ = ["Masker", "SaliencyConfig", "SaliencyModel", "upsample_masks"]
