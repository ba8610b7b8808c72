"""Run an exported .onnx masker with ONNX Runtime (CPU, or CUDA / TensorRT execution providers
when onnxruntime-gpu is installed): images, folders, a video or a camera in; overlays (and
masks.npy, masks.csv) or an overlay video out; masks/s printed.

    pip install -r export/requirements-onnx.txt
    python export/onnx_runner.py cifar10.onnx photos/ --class auto --output masks/

No TensorFlow and no keras_saliency needed.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


class OnnxMasker:
    def __init__(self, path, providers=None):
        import onnxruntime

        # Every local provider, best first (CUDA / TensorRT with onnxruntime-gpu), not Azure's remote one.
        local = [p for p in onnxruntime.get_available_providers() if p != "AzureExecutionProvider"]
        self.session = onnxruntime.InferenceSession(path, providers=providers or local)
        image = self.session.get_inputs()[0]
        self.dtype = np.uint8 if image.type == "tensor(uint8)" else np.float32
        self.image_size = int(image.shape[1])
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, images, class_ids):
        feeds = {"image": np.asarray(images, self.dtype), "class_id": np.asarray(class_ids, np.int32)}
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))


if __name__ == "__main__":
    args = common.parse_args(__doc__.splitlines()[0])
    masker = OnnxMasker(args.model)
    print("ONNX Runtime providers:", masker.session.get_providers())
    common.main(masker, masker.image_size, args)
