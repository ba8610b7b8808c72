"""TensorRT engines from the exported ONNX model, with the `tensorrt` Python API.

This module imports neither TensorFlow nor the rest of the package, so it also runs on GPU
machines that only have TensorRT (and PyTorch for the runner's GPU buffers).

TensorRT <= 10 builds "weakly typed" networks: FP16 / INT8 are builder flags (INT8 from the
Q/DQ nodes of an explicitly quantized ONNX model). TensorRT 11 removed those flags: networks
are strongly typed and take their precision from the ONNX model itself (a float16 model, or
Q/DQ nodes for INT8). `build_engine` handles both; the package prepares the ONNX model of the
asked precision (`keras_saliency.deployment.onnx_precision`).
"""

import os

PRECISIONS = ("float32", "float16", "int8")


class TensorRTUnavailable(RuntimeError):
    """TensorRT or a CUDA GPU is missing: the message says which."""


def import_tensorrt():
    try:
        import tensorrt
    except ImportError as error:
        raise TensorRTUnavailable(
            "the `tensorrt` Python package is not installed (pip install tensorrt; it needs an "
            f"NVIDIA GPU with a CUDA driver): {error}"
        ) from None
    return tensorrt


def major_version(trt):
    return int(str(trt.__version__).split(".")[0])


def strongly_typed(trt):
    """True when precision comes from the network (TensorRT 11+: no FP16/INT8 builder flags)."""
    return not hasattr(trt.BuilderFlag, "FP16")


def new_builder(trt, logger):
    try:
        builder = trt.Builder(logger)
    except Exception as error:  # no GPU / driver: TensorRT raises several types
        raise TensorRTUnavailable(f"TensorRT cannot start a builder (no CUDA GPU or driver?): {error}") from None
    if builder is None:
        raise TensorRTUnavailable("TensorRT cannot start a builder (no CUDA GPU or driver?)")
    return builder


def tensorrt_status(trt=None):
    """None when TensorRT and a GPU are usable, else one line saying what is missing."""
    try:
        trt = trt or import_tensorrt()
        new_builder(trt, trt.Logger(trt.Logger.ERROR))
    except TensorRTUnavailable as error:
        return str(error)
    return None


def build_engine(onnx_path, engine_path, precision="float16", max_batch_size=32, opt_batch_size=None,
                 workspace_bytes=1 << 30, trt=None):
    """Builds and writes a serialized engine; returns a dict describing the build.

    `onnx_path` must already carry the precision on TensorRT 11 (float16 weights, or Q/DQ
    nodes for int8); on TensorRT <= 10 the FP16 / INT8 flags are set as well. The batch
    dimension is dynamic from 1 to `max_batch_size` (optimised for `opt_batch_size`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"Expected precision in {PRECISIONS}. Received: {precision!r}")
    trt = trt or import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = new_builder(trt, logger)
    typed = strongly_typed(trt)
    flags = 0
    if typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    elif major_version(trt) < 10:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(os.fspath(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError(f"Expected an ONNX model TensorRT can parse. Received {onnx_path!r}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_bytes))
    if not typed:
        if precision in ("float16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)
        if precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
    opt = int(opt_batch_size or max_batch_size)
    profile = builder.create_optimization_profile()
    shapes = {}
    for index in range(network.num_inputs):
        tensor = network.get_input(index)
        rest = tuple(tensor.shape)[1:]
        shapes[tensor.name] = [(1,) + rest, (opt,) + rest, (int(max_batch_size),) + rest]
        profile.set_shape(tensor.name, *shapes[tensor.name])
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build an engine from {onnx_path!r} (see its log above)")
    os.makedirs(os.path.dirname(os.path.abspath(engine_path)), exist_ok=True)
    with open(engine_path, "wb") as f:
        f.write(bytes(serialized))
    return {
        "engine": os.fspath(engine_path),
        "tensorrt_version": str(trt.__version__),
        "precision": precision,
        "strongly_typed": typed,
        "input_shapes": {name: [list(s) for s in value] for name, value in shapes.items()},
    }


class EngineRunner:
    """Runs a serialized engine: `runner(images, class_ids) -> {"mask", "exists"}` (numpy).
    GPU buffers are PyTorch CUDA tensors."""

    def __init__(self, engine_path, trt=None):
        import torch

        self.torch = torch
        self.trt = trt = trt or import_tensorrt()
        logger = trt.Logger(trt.Logger.WARNING)
        with open(engine_path, "rb") as f:
            self.engine = trt.Runtime(logger).deserialize_cuda_engine(f.read())
        if self.engine is None:
            raise RuntimeError(f"Expected a TensorRT engine built by this TensorRT version. Received: {engine_path!r}")
        self.context = self.engine.create_execution_context()
        self.names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.inputs = [n for n in self.names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in self.names if n not in self.inputs]

    def _torch_dtype(self, name):
        trt, torch = self.trt, self.torch
        table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32,
                 trt.int8: torch.int8, trt.uint8: torch.uint8}
        return table[self.engine.get_tensor_dtype(name)]

    def __call__(self, images, class_ids):
        torch = self.torch
        feeds = {"image": images, "class_id": class_ids}
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
