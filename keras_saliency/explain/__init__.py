"""Explanations for people: masks of image files written as pictures (`files`), heat-map
panels (`pictures`), overlay video (`video`), bulk runs on Apache Beam (`bulk`, extra
`[beam]`) and the live web demo (`app`, extra `[app]`). Submodules load on first use.

Example:

```python
from keras_saliency.explain import files

rows = files.explain_files(["cat.jpg"], files.load_saliency_model("imagenet-darknet-tiny"), "out")
```
"""

import importlib

_SUBMODULES = ("app", "bulk", "files", "pictures", "video")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
