"""What people read: pictures of masks (`pictures`: panels, grids, overlays) and result tables
(`tables`: CSV and Markdown). NumPy, Pillow and matplotlib only; every layer above may use them.

Example:

```python
from keras_saliency.reports import pictures, tables

pictures.save_panels("masks.png", images, masks)
tables.write_csv("results.csv", rows, [("method", "method", "{}")])
```
"""

import importlib

_SUBMODULES = ("pictures", "tables")
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
