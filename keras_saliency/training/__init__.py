"""Training runs: `train_masker(TrainSpec(...))` does what `keras-saliency train` does.

Example:

```python
from keras_saliency.training import TrainSpec, train_masker

result = train_masker(TrainSpec(dataset="folder", data_dir="photos", epochs=5, output="run"))
```
"""

from keras_saliency.training.run import TrainError, TrainResult, TrainSpec, train_masker

__all__ = ["TrainError", "TrainResult", "TrainSpec", "train_masker"]
