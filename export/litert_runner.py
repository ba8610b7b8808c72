"""Run an exported .tflite masker with LiteRT (ai-edge-litert): images, folders, a video or a
camera in; overlays (and masks.npy, masks.csv) or an overlay video out; masks/s printed.

    pip install -r export/requirements-litert.txt
    python export/litert_runner.py cifar10-int8.tflite photos/ --class 3 --output masks/
    python export/litert_runner.py cifar10.tflite clip.mp4 --class auto --output overlay.mp4

No TensorFlow or Keras needed: this runs `keras_saliency.runtime` from this checkout (or from a
`pip install --no-deps keras-saliency`).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the checkout

from keras_saliency.runtime.command import main  # noqa: E402
from keras_saliency.runtime.runners import LiteRTRuntime  # noqa: E402

if __name__ == "__main__":
    main(LiteRTRuntime, __doc__.splitlines()[0], requirements="export/requirements-litert.txt",
         num_threads=os.cpu_count())
