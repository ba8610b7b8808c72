"""ONNX models that carry their precision, for TensorRT's strongly typed networks: float16
weights and activations, or int8 Q/DQ nodes calibrated on real images (ONNX Runtime's static
quantization, symmetric int8 as TensorRT requires)."""

import numpy as np


def float16_onnx(source, destination):
    """`source` with float16 weights and compute; inputs and outputs keep their types.

    Returns `destination`.

    Args:
        source: the float32 `.onnx` file.
        destination: the float16 `.onnx` file to write.

    Example:

    ```python
    float16_onnx("export/masker.onnx", "export/masker.float16.onnx")
    ```
    """
    import onnx
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16

    # Kept float32, with casts around them: IsInf (in the class gate's log-sum-exp: no float16
    # version before ONNX opset 20) and Resize (the converter breaks its scales / sizes inputs).
    model = convert_float_to_float16(
        onnx.load(source), keep_io_types=True, op_block_list=list(DEFAULT_OP_BLOCK_LIST) + ["IsInf", "Resize"]
    )
    onnx.save(model, destination)
    return destination


def float_nodes(graph, float_layers):
    """Names of the ONNX nodes of the Keras layers `float_layers`, and every Div. tf2onnx keeps
    the TF scope in most node names; the ops it creates itself (e.g. "Conv__223", a convolution
    with its batch norm folded in) are counted in when all their consumers are.

    Args:
        graph: the ONNX model's `GraphProto` (`onnx.load(path).graph`).
        float_layers: Keras layer names.

    Example:

    ```python
    excluded = float_nodes(onnx.load("masker.onnx").graph, ["mask_head"])
    ```
    """
    import re

    from keras_saliency.deployment.converters import layer_name_pattern

    pattern = layer_name_pattern(float_layers)
    excluded = {n.name for n in graph.node if n.op_type == "Div" or pattern.search("/" + n.name)}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.name)
    changed = True
    while changed:
        changed = False
        for node in graph.node:
            if node.name in excluded or not re.search(r"__\d+$", node.name):
                continue
            users = [u for out in node.output for u in consumers.get(out, [])]
            if users and all(u in excluded for u in users):
                excluded.add(node.name)
                changed = True
    return sorted(excluded)


def int8_qdq_onnx(source, destination, images, class_ids, float_layers, input_dtype="float32"):
    """`source` with QuantizeLinear / DequantizeLinear pairs (per-channel int8 weights, int8
    activations), calibrated on `images` and `class_ids`. The ops of the Keras layers
    `float_layers` and every Div stay in float (see `converters.int8_float_layers`).

    Returns `destination`.

    Args:
        source: the float32 `.onnx` file.
        destination: the int8 `.onnx` file to write.
        images: `(N, S, S, 3)` calibration images in [0, 255].
        class_ids: `(N,)` their classes.
        float_layers: Keras layer names kept in float.
        input_dtype: the `image` input's dtype, "float32" or "uint8".

    Example:

    ```python
    int8_qdq_onnx("masker.onnx", "masker.int8.onnx", images, class_ids,
                  int8_float_layers(masker, whole_decoder=True))
    ```
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if images is None or len(images) == 0:
        raise ValueError("Expected calibration images for an int8 ONNX model. Received: none")

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(
                {"image": image[None].astype(input_dtype), "class_id": np.asarray([c], np.int32)}
                for image, c in zip(images, class_ids)
            )

        def get_next(self):
            return next(self.items, None)

    excluded = float_nodes(onnx.load(source).graph, float_layers)
    quantize_static(
        source,
        destination,
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=excluded,
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
    )
    return destination
