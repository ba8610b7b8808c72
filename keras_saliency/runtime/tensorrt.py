"""TensorRT for running a serialized engine: `import_tensorrt` (with one install hint) and
`EngineRunner` (GPU buffers are PyTorch CUDA tensors). Needs neither TensorFlow nor Keras."""


class TensorRTUnavailable(RuntimeError):
    """TensorRT or a CUDA GPU is missing: the message says which.

    Args:
        *args: the message (one line saying what is missing and how to install it).

    Example:

    ```python
    try:
        trt = import_tensorrt()
    except TensorRTUnavailable as error:
        print(error)
    ```
    """


def import_tensorrt():
    """The `tensorrt` module, or `TensorRTUnavailable` with an install hint.

    Example:

    ```python
    trt = import_tensorrt()
    print(trt.__version__)
    ```
    """
    try:
        import tensorrt
    except ImportError as error:
        raise TensorRTUnavailable(
            "the `tensorrt` Python package is not installed (pip install tensorrt; it needs an "
            f"NVIDIA GPU with a CUDA driver): {error}"
        ) from None
    return tensorrt


class EngineRunner:
    """Runs a serialized engine: `runner(images, class_ids) -> {"mask", "exists"}` (numpy).
    GPU buffers are PyTorch CUDA tensors.

    Args:
        engine_path: a `.engine` / `.plan` file built by this TensorRT version.
        trt: the `tensorrt` module (default: imported).

    Example:

    ```python
    runner = EngineRunner("cifar10.engine")
    outputs = runner(images, class_ids)  # images (N, S, S, 3), class_ids (N,) int32
    ```
    """

    def __init__(self, engine_path, trt=None):
        import torch

        self.torch = torch
        self.trt = trt = trt or import_tensorrt()
        logger = trt.Logger(trt.Logger.WARNING)
        with open(engine_path, "rb") as f:
            self.engine = trt.Runtime(logger).deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise RuntimeError(
                f"Expected a TensorRT engine built by TensorRT {trt.__version__}. Received: {engine_path!r}"
            )
        self.context = self.engine.create_execution_context()
        self.names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in self.names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in self.names if n not in self.inputs]
        self.image_size = int(self.engine.get_tensor_shape("image")[1])

    def _torch_dtype(self, name):
        trt, torch = self.trt, self.torch
        table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32,
                 trt.int8: torch.int8, trt.uint8: torch.uint8}
        return table[self.engine.get_tensor_dtype(name)]

    def __call__(self, images, class_ids):
        import numpy as np

        torch = self.torch
        feeds = {"image": np.ascontiguousarray(images), "class_id": np.asarray(class_ids, np.int32)}
        keep = []
        for name in self.inputs:
            tensor = torch.from_numpy(feeds[name].copy()).to("cuda", self._torch_dtype(name)).contiguous()
            keep.append(tensor)
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        results = {}
        for name in self.outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            results[name] = torch.empty(shape, dtype=self._torch_dtype(name), device="cuda")
            self.context.set_tensor_address(name, results[name].data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return {name: value.float().cpu().numpy() for name, value in results.items()}
