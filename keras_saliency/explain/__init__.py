"""Explanations for people: masks of image files written as pictures (`files`), overlay video (`video`), bulk runs on Apache Beam (`bulk`, extra
`[beam]`) and the live web demo (`app`, extra `[app]`). Submodules load on first use.

Example:

```python
from keras_saliency.explain import files
from keras_saliency.pretrained import load_saliency_model

model, class_names, _ = load_saliency_model("imagenet-darknet-tiny")
rows = files.explain_files(model, ["cat.jpg"], "out", class_names=class_names)
```
"""

import importlib

_SUBMODULES = ("app", "bulk", "files", "video")
# The declared API, each name loaded from its submodule on first use (PEP 562): Beam, Gradio and
# OpenCV load only with the part that needs them.
_NAMES = {
    "explain_files": "files", "explain_inputs": "files",
    "explain_video": "video", "explain_video_file": "video",
    "LiveExplainer": "app", "build_app": "app", "serve": "app",
    "ExplainImages": "bulk", "ExportedMaskerHandler": "bulk", "SaliencyModelHandler": "bulk",
    "explain_bulk": "bulk", "run_bulk": "bulk",
}
__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
