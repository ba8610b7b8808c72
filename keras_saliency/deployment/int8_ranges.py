"""Activation ranges of an int8 TFLite model: the mean over the calibration images of each
image's minimum and maximum, instead of the extremes over all of them.

TFLite's calibration keeps, for every activation, the lowest and highest value any
calibration image produced; a few outlier pixels then stretch the 256 int8 levels over a
range most images never reach. Averaging each image's extremes (what TensorFlow's
quantization-aware training does with its moving averages) keeps the grid where the values
are; values beyond it are clipped. Measured on the compact Darknet ImageNet masker (int8
LiteRT, 200 held-out imagenet-val-dev photos, top-20% IoU against the float masks): 0.847 with
the extremes, 0.881 with the averages ("speed" float layers); with the encoder's first two
convolution blocks in float too, 0.891 and 0.920. On EfficientNet-Lite0 (ReLU6, bounded
ranges) 0.934 and 0.937.
"""

import numpy as np

INT8_RANGES = ("mean", "minmax")


def averaged_ranges(calibrated, samples):
    """`calibrated` (a TFLite model with TFLite's calibration ranges, as bytes) with every
    activation's range narrowed to the mean over `samples` of each sample's minimum and maximum
    (never widened; a range that held zero still does). Runs the float model once per sample in LiteRT.

    Args:
        calibrated: the calibrated model's flatbuffer (bytes), e.g.
            `tf.lite.experimental.QuantizationDebugger(...).calibrated_model`.
        samples: an iterable of dicts, one per image, keyed by the serving signature's inputs
            (the converter's representative dataset).

    Returns:
        the model's flatbuffer (bytes) with the new ranges, to quantize.

    Example:

    ```python
    debugger.calibrated_model = averaged_ranges(debugger.calibrated_model, representative_dataset())
    ```
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    from tensorflow.lite.tools import flatbuffer_utils

    from keras_saliency.deployment.serving import SIGNATURE_KEY

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    tensors = model.subgraphs[0].tensors
    ranged = [index for index, tensor in enumerate(tensors)
              if tensor.quantization is not None and tensor.quantization.min is not None
              and len(tensor.quantization.min) == 1]
    interpreter = Interpreter(model_content=bytes(calibrated), experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    run = interpreter.get_signature_runner(SIGNATURE_KEY)
    sums = np.zeros((len(ranged), 2))
    counts = np.zeros(len(ranged))
    for sample in samples:
        run(**sample)
        for row, index in enumerate(ranged):
            try:
                value = interpreter.get_tensor(index)
            except ValueError:  # a tensor without data (an unused optional input)
                continue
            if value.size:
                sums[row] += float(value.min()), float(value.max())
                counts[row] += 1
    for row, index in enumerate(ranged):
        if not counts[row]:
            continue
        low, high = sums[row] / counts[row]
        quantization = tensors[index].quantization
        quantization.min = [max(float(quantization.min[0]), min(float(low), 0.0))]
        quantization.max = [min(float(quantization.max[0]), max(float(high), 0.0))]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
