"""Run exported maskers without TensorFlow or Keras: LiteRT (`.tflite`), ONNX Runtime (`.onnx`)
and TensorRT (`.engine`) runners, image discovery and reading, heat-map overlays and class
names. Needs numpy and Pillow, plus the runtime's own package (`ai-edge-litert`, `onnxruntime`,
`tensorrt` and `torch`); OpenCV for video.

Example:

```python
from keras_saliency.runtime import load_runtime, overlay, read_image

runtime = load_runtime("cifar10.onnx")
original, image = read_image("cat.jpg", runtime.image_size)
outputs = runtime(image[None], [3])  # {"mask", "exists"}
picture = overlay(original, outputs["mask"][0, ..., 0])
```
"""

from keras_saliency.runtime.classes import load_metadata, resolve_class
from keras_saliency.runtime.images import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    UnreadableImageError,
    find_images,
    load_image,
    read_image,
)
from keras_saliency.runtime.overlays import jet, overlay
from keras_saliency.runtime.runners import (
    RUNTIMES,
    LiteRTRuntime,
    OnnxRuntime,
    Runtime,
    TensorRTRuntime,
    load_runtime,
)

__all__ = [
    "IMAGE_EXTENSIONS", "RUNTIMES", "VIDEO_EXTENSIONS", "LiteRTRuntime", "OnnxRuntime", "Runtime",
    "TensorRTRuntime", "UnreadableImageError", "find_images", "jet", "load_image", "load_metadata",
    "load_runtime", "overlay", "read_image", "resolve_class",
]
