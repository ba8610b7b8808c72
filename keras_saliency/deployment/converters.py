"""SavedModel, TFLite / LiteRT and ONNX exports of the masker (see `serving.py` for the
signature every format shares)."""

import contextlib
import itertools
import os
import re
import sys
import tempfile
import warnings

import numpy as np

from keras_saliency.options import install_hint
from keras_saliency.deployment.int8_ranges import INT8_RANGES, averaged_ranges
from keras_saliency.deployment.serving import (
    SIGNATURE_KEY,
    check_input_dtype,
    serving_function,
    serving_module,
)

QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")


def export_saved_model(masker, path, input_dtype="float32", part="masker"):
    """A SavedModel with the named `serving_default` signature (TF Serving, `tf.saved_model.load`).

    Returns `path`.

    Args:
        masker: the `Masker`.
        path: the SavedModel folder.
        input_dtype: the `image` input's dtype, "float32" or "uint8".
        part: "masker", or "encoder" (its feature maps only).

    Example:

    ```python
    export_saved_model(model.masker, "export/masker_savedmodel")
    ```
    """
    import tensorflow as tf

    module = serving_module(masker, input_dtype, part=part)
    tf.saved_model.save(module, path, signatures={SIGNATURE_KEY: module.serve}, options=_save_options())
    return path


def _save_options():
    """Serving graphs need no gradients: custom ones (Keras' swish in EfficientNet) would make
    the SavedModel refuse the variables they capture."""
    import tensorflow as tf

    return tf.saved_model.SaveOptions(experimental_custom_gradients=False)


def frozen_saved_model(masker, path, input_dtype="float32", part="masker"):
    """A SavedModel of the serving signature with every weight folded into a constant.

    The TFLite converter keeps Keras 3 variables of a plain SavedModel as VAR_HANDLE /
    READ_VARIABLE ops (unfused batch norm; int8 calibration fails on them): freezing first
    gives a graph of built-in ops only.

    Returns `path`.

    Args:
        masker: the `Masker`.
        path: the SavedModel folder.
        input_dtype: the `image` input's dtype, "float32" or "uint8".
        part: "masker", or "encoder" (its feature maps only).

    Example:

    ```python
    converter = tf.lite.TFLiteConverter.from_saved_model(frozen_saved_model(masker, "tmp/frozen"))
    ```
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    serve = serving_function(masker, input_dtype, part=part)
    concrete = serve.get_concrete_function()
    frozen = convert_variables_to_constants_v2(concrete)

    def frozen_serve(image, class_id):
        # The frozen function returns a flat list: restore the named outputs.
        flat = tf.nest.flatten(frozen(image, class_id))
        return tf.nest.pack_sequence_as(concrete.structured_outputs, flat)

    module = tf.Module()
    module.serve = tf.function(frozen_serve, input_signature=serve.input_signature)
    tf.saved_model.save(module, path, signatures={SIGNATURE_KEY: module.serve}, options=_save_options())
    return path


INT8_FLOAT = ("parity", "speed")


def int8_float_layers(masker, whole_decoder=False, preset="parity", through=None):
    """The layers an int8 masker keeps in float.

    Default (TFLite): the mask head, whose |a| / (|a| + |b|) divides by values that int8
    rounds to zero, and the decoder block feeding it. Measured on the shipped CIFAR-10 masker
    (100 real images): all-int8 but the head's ops gives top-20% IoU 0.64 and rank correlation
    0.87; with the last block in float 0.93 and 0.99.
    A masker with a class gate keeps every layer but the encoder in float, and the encoder up to
    its first (shallowest) feature map: quantisation error made early reaches every feature map
    and the class evidence, and the gated sigmoid masks are flat near 1 over large regions, so
    small errors reorder their top pixels. Measured on the Tiny ImageNet-100 masker (100 held-out
    images, top-20% IoU): 0.800 with only the gate and head in float, 0.806 with the whole
    decoder, 0.813 with the encoder from its stride-16 block on too, 0.841 / 0.865 / 0.881 /
    0.905 with the encoder up to its stride 1 / 2 / 4 (first conv) / 4 (first feature map).
    `preset="speed"` keeps only the gate, the mask head and the decoder block feeding it in float: on the
    shipped ImageNet masker, int8 LiteRT at 4.28x Grad-CAM's masks/s instead of 1.89x, top-20%
    IoU 0.83 instead of 0.91 (1,429 ImageNet photos), localisation error 31.0-32.9% (500 or 200
    calibration photos) against 31.7% in float.
    `whole_decoder=True` (ONNX Q/DQ for TensorRT, whose int8 activations are symmetric): every
    layer but the encoder; with only the tail in float the same test gives IoU 0.89.
    `through=LAYER` also keeps the encoder's layers up to LAYER in float: on the compact Darknet
    masker with TFLite's own ranges, "speed" with `through="leaky_re_lu_3"` (its first three
    convolutions) reached top-20% IoU 0.90 at 3.0x Grad-CAM's masks/s (Intel Xeon), between
    "speed" (0.84, 4.5x) and "parity" (0.92, 2.0x); with averaged ranges (`int8_ranges`),
    through its second convolution block (`leaky_re_lu_2`) reaches 0.91 (1,429 ImageNet photos).

    Args:
        masker: the `Masker`.
        whole_decoder: keep every layer but the encoder in float (default False).
        preset: for a gated masker, "parity" (default) or "speed" (see above).
        through: None (default), or the name of a layer of the encoder: it and the encoder's
            layers before it stay in float too.

    Example:

    ```python
    int8_float_layers(model.masker)  # e.g. ["bottleneck_3", "mask_head"]
    ```
    """
    import keras

    if preset not in INT8_FLOAT:
        raise ValueError(f"Expected preset in {INT8_FLOAT}. Received: preset={preset!r}")
    decoder = [layer.name for layer in masker.layers
               if layer is not masker.encoder and not isinstance(layer, keras.layers.InputLayer)]
    if whole_decoder:
        return decoder
    names = {layer.name for layer in masker.layers}
    gate = [name for name in ("class_gate", "gate_up", "gated_mask") if name in names]
    if gate and preset == "parity":
        chosen = decoder + encoder_through_first_output(masker.encoder)
    else:
        blocks = sorted(
            (layer.name for layer in masker.layers if layer.name.startswith("bottleneck_")),
            key=lambda name: int(name.rsplit("_", 1)[1]),
        )
        chosen = blocks[-1:] + ["mask_head"] + gate
    if through:
        chosen += [name for name in encoder_through_first_output(masker.encoder, through) if name not in chosen]
    return chosen


def encoder_through_first_output(encoder, last=None):
    """Names of the layers of a functional `encoder` (nested models entered) up to the layer
    that makes its first output (or the layer named `last`), in order.

    Args:
        encoder: a functional Keras model whose first output is its shallowest feature map.
        last: None (default: the first output's layer) or the name of the last layer wanted.

    Example:

    ```python
    encoder_through_first_output(masker.encoder)  # e.g. ["preprocessing", ..., "leaky_re_lu_6"]
    ```
    """
    import keras

    names = []

    def walk(model):
        first = model.outputs[0]._keras_history.operation
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if isinstance(layer, keras.Model) and (last is not None or layer is first):
                if walk(layer) or last is None:  # the first output's model, or the one holding `last`
                    return True
                continue  # a nested model before `last`: all of it precedes `last`
            names.append(layer.name)
            if (layer is first) if last is None else (layer.name == last):
                return True
        return False

    found = walk(encoder)
    if last is not None and not found:
        raise ValueError(f"Expected the name of a layer of the masker's encoder. Received: `int8_float_through={last}`")
    return names


INT8_AUTO_STEPS = 3


def encoder_float_steps(encoder, limit=INT8_AUTO_STEPS):
    """The layers that end the first `limit` convolution blocks of `encoder` (a convolution and
    the batch norms and activations right after it), up to its first output: the `through`
    values that `int8_float="auto"` tries in turn, shallowest first. The first convolutions
    (the highest resolutions) carry most of an int8 masker's error: on the compact Darknet
    masker, keeping them in float moved the top-20% IoU from 0.84 to 0.89 (two) and 0.90 (three)
    where the whole decoder or the stride-4 stage moved it by 0.01 or less.

    Args:
        encoder: a functional Keras model whose first output is its shallowest feature map.
        limit: how many blocks (default `INT8_AUTO_STEPS`).

    Example:

    ```python
    encoder_float_steps(masker.encoder)  # e.g. ["leaky_re_lu_1", "leaky_re_lu_2", "leaky_re_lu_3"]
    ```
    """
    import keras

    layers = {}

    def collect(model):
        for layer in model.layers:
            layers[layer.name] = layer
            if isinstance(layer, keras.Model):
                collect(layer)

    collect(encoder)
    convolution = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    follows = (keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.LeakyReLU,
               keras.layers.Activation, keras.layers.ELU, keras.layers.PReLU)
    steps, block_end = [], None
    for name in encoder_through_first_output(encoder):
        layer = layers.get(name)
        if isinstance(layer, convolution):
            if block_end is not None:
                steps.append(block_end)
            block_end = name
        elif block_end is not None and isinstance(layer, follows):
            block_end = name
        elif block_end is not None:
            steps.append(block_end)
            block_end = None
    if block_end is not None:
        steps.append(block_end)
    return steps[:limit]


def layer_name_pattern(layers):
    """A regex matching the graph names of the ops of Keras layers `layers` (TF scopes them as
    `.../<layer>_<n>/...`).

    Args:
        layers: Keras layer names.

    Example:

    >>> bool(layer_name_pattern(["mask_head"]).search("masker/mask_head_1/Conv2D"))
    True
    """
    import re

    return re.compile(r"/(%s)(_\d+)?/" % "|".join(re.escape(name) for name in layers))


def float_tensor_names(converter, layers, known_layers=None):
    """Names of the tensors that `layers` (Keras layer names) produce in the converted model.

    TF scopes an op as `.../<layer>_<n>/...`, so with auto-generated Keras names ("conv2d",
    "conv2d_1", ...) a scope can read as two layers: "conv2d_1" is the scope of layer "conv2d".
    Given `known_layers` (every layer name of the model), each scope belongs to the layer it names
    once its call suffix is removed (or, without a suffix, to the layer of that name).

    Args:
        converter: the `tf.lite.TFLiteConverter` (converted once in float here).
        layers: Keras layer names.
        known_layers: every layer name of the converted model (nested models included), or None
            (then any scope that spells one of `layers` counts).

    Example:

    ```python
    names = float_tensor_names(converter, int8_float_layers(masker), model_layer_names(masker))
    ```
    """
    import re

    from ai_edge_litert.interpreter import Interpreter

    pattern = layer_name_pattern(layers)
    optimizations, converter.optimizations = converter.optimizations, []
    try:
        interpreter = Interpreter(model_content=converter.convert())  # float: original names
    finally:
        converter.optimizations = optimizations
    names = {t["name"] for t in interpreter.get_tensor_details() if pattern.search(t["name"])}
    if known_layers is None:
        return sorted(names)
    wanted, known = set(layers), set(known_layers) | set(layers)

    def owner(scope):  # TF suffixes each call's scope: "conv2d_1" is layer "conv2d", "conv2d_1_2" "conv2d_1"
        stem = re.fullmatch(r"(.+)_\d+", scope)
        if stem and stem.group(1) in known:
            return stem.group(1)
        return scope if scope in known else None

    return sorted(n for n in names if any(owner(scope) in wanted for scope in n.split("/")))


def model_layer_names(model):
    """Every layer name of a Keras model, nested models included.

    Args:
        model: a Keras model (or layer).

    Example:

    ```python
    "leaky_re_lu_6" in model_layer_names(masker)  # a layer of the nested encoder
    ```
    """
    names = []
    for layer in getattr(model, "layers", []):
        names.append(layer.name)
        names += model_layer_names(layer)
    return names


def selectively_quantized(converter, float_names, ranges="minmax"):
    """int8 conversion keeping the tensors `float_names` (and every DIV) in float, through
    TFLite's quantization debugger (its documented route to selective quantization).

    Returns the `.tflite` flatbuffer (bytes).

    Args:
        converter: the `tf.lite.TFLiteConverter`, with its int8 settings and
            representative dataset.
        float_names: names of the tensors kept in float (`float_tensor_names`).
        ranges: the activation ranges, "minmax" (default, TFLite's: the extremes over all
            images) or "mean" (the mean of each calibration image's extremes,
            `int8_ranges.averaged_ranges`).

    Example:

    ```python
    flatbuffer = selectively_quantized(converter, float_tensor_names(converter, ["mask_head"]))
    ```
    """
    import tensorflow as tf

    options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_ops=["DIV"], denylisted_nodes=list(float_names)
    )
    samples = converter.representative_dataset  # the converter wraps it in an object as it converts
    with warnings.catch_warnings():  # the debugger uses the deprecated tf.lite.Interpreter
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter,
            debug_dataset=lambda: itertools.islice(samples(), 1),
            debug_options=options,
        )
        if ranges == "mean":
            debugger.calibrated_model = averaged_ranges(debugger.calibrated_model, samples())
        return debugger.get_nondebug_quantized_model()


def representative_dataset(images, class_ids, input_dtype="float32"):
    """A TFLite representative dataset: one dict per image, keyed by the signature's input
    names (a list would be fed in the wrong order).

    Args:
        images: `(N, S, S, 3)` calibration images in [0, 255].
        class_ids: `(N,)` their classes.
        input_dtype: the `image` input's dtype (default "float32").

    Example:

    ```python
    converter.representative_dataset = representative_dataset(images, class_ids)
    ```
    """
    images = np.asarray(images)
    class_ids = np.asarray(class_ids, np.int32)

    def generate():
        for image, class_id in zip(images, class_ids):
            yield {"image": image[None].astype(input_dtype), "class_id": class_id[None]}

    return generate


def export_tflite(
    masker,
    path,
    quantize="float32",
    calibration_images=None,
    calibration_class_ids=None,
    input_dtype="float32",
    float_layers=None,
    part="masker",
    int8_float="parity",
    int8_float_through=None,
    int8_ranges="minmax",
):
    """A LiteRT (.tflite) model using TFLite built-in ops only (no Flex / SELECT_TF_OPS), so it
    runs in `ai-edge-litert` without TensorFlow.

    quantize: "float32", "float16" (float16 weights), "dynamic" (int8 weights, float
        activations) or "int8" (weights and activations; calibrated on `calibration_images`
        and `calibration_class_ids`). Inputs and outputs stay float32 / int32 in every case.
    float_layers: for "int8", the masker layers kept in float (default
        `int8_float_layers(masker, preset=int8_float)`).
    part: "masker", or "encoder" (its feature maps only; a speed reference).

    Args:
        masker: the `Masker`.
        path: the `.tflite` file; returned.
        quantize: see above (default "float32").
        calibration_images: `(N, S, S, 3)` images in [0, 255], needed for "int8".
        calibration_class_ids: `(N,)` their classes (default: zeros).
        input_dtype: the `image` input's dtype, "float32" or "uint8".
        float_layers: see above.
        part: see above.
        int8_float: "parity" (default) or "speed": `int8_float_layers`' preset.
        int8_float_through: None, or an encoder layer: `int8_float_layers`' `through`.
        int8_ranges: "minmax" (default) or "mean": `selectively_quantized`'s `ranges`.

    Example:

    ```python
    export_tflite(masker, "export/masker-int8.tflite", "int8", images, class_ids)
    ```
    """

    import tensorflow as tf

    check_input_dtype(input_dtype)
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"Expected quantize in {QUANTIZATIONS}. Received: quantize={quantize!r}")
    if int8_ranges not in INT8_RANGES:
        raise ValueError(f"Expected int8_ranges in {INT8_RANGES}. Received: int8_ranges={int8_ranges!r}")
    if not str(path).endswith(".tflite"):
        raise ValueError(f"Expected a path ending in .tflite. Received: {path!r}")
    if quantize == "int8" and (calibration_images is None or len(calibration_images) == 0):
        raise ValueError(
            "Expected calibration images for quantize='int8' (real images of the kind the model "
            "will see; 100-500 is plenty). Received: none"
        )
    with tempfile.TemporaryDirectory() as tmp, converter_lines_dropped():
        converter = tf.lite.TFLiteConverter.from_saved_model(
            frozen_saved_model(masker, os.path.join(tmp, "frozen"), input_dtype, part),
            signature_keys=[SIGNATURE_KEY],
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantize == "int8":
            if calibration_class_ids is None:
                calibration_class_ids = np.zeros(len(calibration_images), np.int32)
            converter.representative_dataset = representative_dataset(
                calibration_images, calibration_class_ids, input_dtype
            )
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                tf.lite.OpsSet.TFLITE_BUILTINS,
            ]
            if float_layers is None:
                float_layers = int8_float_layers(masker, preset=int8_float, through=int8_float_through)
            flatbuffer = selectively_quantized(
                converter, float_tensor_names(converter, float_layers, model_layer_names(masker)), int8_ranges)
        else:
            flatbuffer = converter.convert()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(flatbuffer)
    return path


# What the TFLite converter and LiteRT print on the process's stderr (C++, past Python's logging)
# as they work: progress notes, not messages for the user.
_CONVERTER_NOISE = re.compile(
    r"^(fully_quantize: |INFO: Created TensorFlow Lite|WARNING: All log messages before absl"
    r"|[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]|Estimated count of arithmetic ops)"
)


@contextlib.contextmanager
def converter_lines_dropped():
    """The converter's and LiteRT's own progress lines (printed by C++ on the process's stderr)
    are dropped for the block; anything else written there (a real error) is shown after it.

    Example:

    ```python
    with converter_lines_dropped():
        flatbuffer = converter.convert()
    ```
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr file descriptor (some embedded interpreters): nothing to drop
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode("utf-8", "replace").splitlines()
                    if line.strip() and not _CONVERTER_NOISE.match(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


def export_onnx(masker, path, input_dtype="float32", opset=17, part="masker"):
    """An ONNX model (tf2onnx) with inputs `image`, `class_id` and outputs `mask`, `exists`.

    Returns `path`.

    Args:
        masker: the `Masker`.
        path: the `.onnx` file.
        input_dtype: the `image` input's dtype, "float32" or "uint8".
        opset: the ONNX opset (default 17).
        part: "masker", or "encoder" (its feature maps only).

    Example:

    ```python
    export_onnx(model.masker, "export/masker.onnx")
    ```
    """
    try:
        import tf2onnx
    except ImportError as error:
        raise ImportError(
            "Expected tf2onnx for ONNX export: " + install_hint("export")
        ) from error
    function = serving_function(masker, input_dtype, part=part)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    model_proto, _ = tf2onnx.convert.from_function(
        function,
        input_signature=function.input_signature,
        opset=opset,
        output_path=path,
    )
    return path
