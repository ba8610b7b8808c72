"""Run a TensorRT engine built by `keras-saliency export --trt` on an NVIDIA GPU: images,
folders, a video or a camera in; overlays (and masks.npy, masks.csv) or an overlay video out;
masks/s printed. GPU buffers are PyTorch CUDA tensors.

    pip install -r export/requirements-trt.txt
    python export/trt_runner.py cifar10.engine photos/ --class 3 --output masks/

No TensorFlow and no keras_saliency needed. An engine only runs on the TensorRT version (and
GPU family) that built it.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402


class TensorRTMasker:
    def __init__(self, path):
        import tensorrt as trt
        import torch

        self.trt, self.torch = trt, torch
        logger = trt.Logger(trt.Logger.WARNING)
        with open(path, "rb") as f:
            self.engine = trt.Runtime(logger).deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise SystemExit(f"Expected an engine built by TensorRT {trt.__version__}. Received: {path!r}")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if n not in self.inputs]
        self.image_size = int(self.engine.get_tensor_shape("image")[1])
        self.dtypes = {
            trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32,
            trt.int8: torch.int8, trt.uint8: torch.uint8,
        }

    def __call__(self, images, class_ids):
        torch = self.torch
        feeds = {"image": np.ascontiguousarray(images), "class_id": np.asarray(class_ids, np.int32)}
        tensors = {}
        for name in self.inputs:
            dtype = self.dtypes[self.engine.get_tensor_dtype(name)]
            tensors[name] = torch.from_numpy(feeds[name]).to("cuda", dtype).contiguous()
            self.context.set_input_shape(name, tuple(tensors[name].shape))
        for name in self.outputs:
            dtype = self.dtypes[self.engine.get_tensor_dtype(name)]
            tensors[name] = torch.empty(tuple(self.context.get_tensor_shape(name)), dtype=dtype, device="cuda")
        for name, tensor in tensors.items():
            self.context.set_tensor_address(name, tensor.data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return {name: tensors[name].float().cpu().numpy() for name in self.outputs}


if __name__ == "__main__":
    args = common.parse_args(__doc__.splitlines()[0])
    masker = TensorRTMasker(args.model)
    common.main(masker, masker.image_size, args)
