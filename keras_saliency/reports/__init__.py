"""What people read: pictures of masks (`pictures`: panels, grids, overlays) and result tables
(`tables`: CSV and Markdown). NumPy, Pillow and matplotlib only; every layer above may use them.

Example:

```python
from keras_saliency.reports import save_panels, write_csv

save_panels("masks.png", images, masks)
write_csv("results.csv", rows, [("method", "method", "{}")])
```
"""

from keras_saliency.reports.pictures import (
    heatmap,
    overlay,
    panels,
    plot_panels,
    preserved_and_destroyed,
    save_method_grid,
    save_panels,
)
from keras_saliency.reports.tables import markdown_table, present_columns, write_csv

__all__ = [
    "heatmap", "markdown_table", "overlay", "panels", "plot_panels", "present_columns", "preserved_and_destroyed",
    "save_method_grid", "save_panels", "write_csv",
]
