"""Deployment: export the masker (SavedModel, TFLite / LiteRT, ONNX, TensorRT), verify every
export against the Keras model, run and benchmark it."""

from keras_saliency.deployment.converters import (
    QUANTIZATIONS,
    export_onnx,
    export_saved_model,
    export_tflite,
)
from keras_saliency.deployment.export import (
    FORMATS,
    EngineNotBuilt,
    ExportRequest,
    export_masker,
)
from keras_saliency.deployment.runtimes import load_runtime
from keras_saliency.deployment.serving import INPUT_NAMES, OUTPUT_NAMES, serving_function
from keras_saliency.deployment.verification import parity

__all__ = [
    "FORMATS", "INPUT_NAMES", "OUTPUT_NAMES", "QUANTIZATIONS", "EngineNotBuilt", "ExportRequest",
    "export_masker", "export_onnx", "export_saved_model", "export_tflite", "load_runtime", "parity",
    "serving_function",
]
