"""Run a TensorRT engine built by `keras-saliency export --trt` on an NVIDIA GPU: images,
folders, a video or a camera in; overlays (and masks.npy, masks.csv) or an overlay video out;
masks/s printed. GPU buffers are PyTorch CUDA tensors.

    pip install -r export/requirements-trt.txt
    python export/trt_runner.py cifar10.engine photos/ --class 3 --output masks/

No TensorFlow or Keras needed: this runs `keras_saliency.runtime` from this checkout (or from a
`pip install --no-deps keras-saliency`). An engine only runs on the TensorRT version (and GPU
family) that built it.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout

from keras_saliency.runtime.command import main  # noqa: E402
from keras_saliency.runtime.runners import TensorRTRuntime  # noqa: E402

if __name__ == "__main__":
    main(TensorRTRuntime, __doc__.splitlines()[0], requirements="export/requirements-trt.txt")
