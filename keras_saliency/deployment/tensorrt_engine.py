"""TensorRT engines from the exported ONNX model, with the `tensorrt` Python API.

This module imports neither TensorFlow nor Keras, so it also runs on GPU machines that only
have TensorRT; running an engine is `keras_saliency.runtime.tensorrt.EngineRunner`.

TensorRT <= 10 builds "weakly typed" networks: FP16 / INT8 are builder flags (INT8 from the
Q/DQ nodes of an explicitly quantized ONNX model). TensorRT 11 removed those flags: networks
are strongly typed and take their precision from the ONNX model itself (a float16 model, or
Q/DQ nodes for INT8). `build_engine` handles both; the package prepares the ONNX model of the
asked precision (`keras_saliency.deployment.onnx_precision`).
"""

import os

from keras_saliency.runtime.tensorrt import (  # noqa: F401 (re-exported)
    EngineRunner,
    TensorRTUnavailable,
    import_tensorrt,
)

PRECISIONS = ("float32", "float16", "int8")


def major_version(trt):
    """The major version of the `tensorrt` module `trt`, as an int.

    Args:
        trt: the imported `tensorrt` module.

    Example:

    ```python
    major_version(import_tensorrt())  # e.g. 10
    ```
    """
    return int(str(trt.__version__).split(".")[0])


def strongly_typed(trt):
    """True when precision comes from the network (TensorRT 11+: no FP16/INT8 builder flags).

    Args:
        trt: the imported `tensorrt` module.

    Example:

    ```python
    strongly_typed(import_tensorrt())  # True on TensorRT 11
    ```
    """
    return not hasattr(trt.BuilderFlag, "FP16")


def new_builder(trt, logger):
    """A `trt.Builder`; raises `TensorRTUnavailable` when TensorRT cannot start one (no CUDA GPU
    or driver).

    Args:
        trt: the imported `tensorrt` module.
        logger: the `trt.Logger`.

    Example:

    ```python
    builder = new_builder(trt, trt.Logger(trt.Logger.WARNING))
    ```
    """
    try:
        builder = trt.Builder(logger)
    except Exception as error:  # no GPU / driver: TensorRT raises several types
        raise TensorRTUnavailable(f"TensorRT cannot start a builder (no CUDA GPU or driver?): {error}") from None
    if builder is None:
        raise TensorRTUnavailable("TensorRT cannot start a builder (no CUDA GPU or driver?)")
    return builder


def tensorrt_status(trt=None):
    """None when TensorRT and a GPU are usable, else one line saying what is missing.

    Args:
        trt: the imported `tensorrt` module (default: imported here).

    Example:

    ```python
    missing = tensorrt_status()
    if missing:
        print(missing)
    ```
    """
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
    dimension is dynamic from 1 to `max_batch_size` (optimised for `opt_batch_size`).

    Args:
        onnx_path: the ONNX model.
        engine_path: the engine file to write.
        precision: "float32", "float16" or "int8" (default "float16").
        max_batch_size: the largest batch of the engine (default 32).
        opt_batch_size: the batch the engine is optimised for (default `max_batch_size`).
        workspace_bytes: TensorRT's workspace memory limit, in bytes (default 1 GiB).
        trt: the imported `tensorrt` module (default: imported here).

    Example:

    ```python
    info = build_engine("export/masker.float16.onnx", "export/masker.engine", "float16")
    ```
    """
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
