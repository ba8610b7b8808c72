"""Training runs: `train_masker(TrainSpec(...))` does what `keras-saliency train` does.

Example:

```python
from keras_saliency.training import TrainSpec, train_masker

result = train_masker(TrainSpec(dataset="folder", data_dir="photos", epochs=5, output="run"))
```
"""

import importlib

from keras_saliency.training.run import TrainResult, TrainSpec, build_masker, train_masker

# Loaded on first use (PEP 562): `keras_saliency.training.run` needs no TensorFlow, and the command
# line checks its arguments with it before TensorFlow loads.
_LAZY = {
    "MODEL_FILE": "keras_saliency.training.fit",
    "RunFiles": "keras_saliency.training.fit",
    "compile_saliency_model": "keras_saliency.training.fit",
    "fit_saliency_model": "keras_saliency.training.fit",
    "resume_plan": "keras_saliency.training.fit",
    "atomic_save_model": "keras_saliency.training.run_files",
    "fit_classifier": "keras_saliency.training.fit",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# The declared API: one run (`train_masker`), the masker it builds (`build_masker`), and the pieces a recipe of its own composes: the
# resume rule, the fit of a run folder, atomic saves, a classifier's training.
__all__ = [
    "MODEL_FILE", "RunFiles", "TrainResult", "TrainSpec", "atomic_save_model", "build_masker", "compile_saliency_model",
    "fit_classifier", "fit_saliency_model", "resume_plan", "train_masker",
]
