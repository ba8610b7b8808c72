"""Run an exported .tflite masker with LiteRT (ai-edge-litert): images, folders, a video or a
camera in; overlays (and masks.npy, masks.csv) or an overlay video out; masks/s printed.

    pip install -r export/requirements-litert.txt
    python export/litert_runner.py cifar10-int8.tflite photos/ --class 3 --output masks/
    python export/litert_runner.py cifar10.tflite clip.mp4 --class auto --output overlay.mp4

No TensorFlow and no keras_saliency needed.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


class LiteRTMasker:
    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner("serving_default")
        image = self.runner.get_input_details()["image"]
        self.dtype = image["dtype"]
        self.image_size = int(image["shape_signature"][1])

    def __call__(self, images, class_ids):
        out = self.runner(image=np.asarray(images, self.dtype), class_id=np.asarray(class_ids, np.int32))
        return {"mask": out["mask"], "exists": out["exists"]}


if __name__ == "__main__":
    args = common.parse_args(__doc__.splitlines()[0])
    masker = LiteRTMasker(args.model, num_threads=os.cpu_count())
    common.main(masker, masker.image_size, args)
