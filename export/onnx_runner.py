"""Run an exported .onnx masker with ONNX Runtime (CPU, or CUDA / TensorRT execution providers
when onnxruntime-gpu is installed): images, folders, a video or a camera in; overlays (and
masks.npy, masks.csv) or an overlay video out; masks/s printed.

    pip install -r export/requirements-onnx.txt
    python export/onnx_runner.py cifar10.onnx photos/ --class auto --output masks/

No TensorFlow or Keras needed: this runs `keras_saliency.runtime` from this checkout (or from a
`pip install --no-deps keras-saliency`).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout

from keras_saliency.runtime.command import main  # noqa: E402
from keras_saliency.runtime.runners import OnnxRuntime  # noqa: E402

if __name__ == "__main__":
    main(OnnxRuntime, __doc__.splitlines()[0], requirements="export/requirements-onnx.txt")
