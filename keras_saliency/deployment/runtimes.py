"""Run an exported masker with its own runtime: SavedModel, LiteRT, ONNX Runtime, TensorRT.

`load_runtime(path)` picks the runtime from the path (a folder is a SavedModel; `.tflite`,
`.onnx`, `.engine` / `.plan`). Every runtime is called as `runtime(images, class_ids)` and
returns the named outputs (`{"mask", "exists"}`) as numpy arrays. Only the SavedModel runtime imports TensorFlow.
(The standalone runners in the repository's `export/` folder do the same without this package.)
"""

import os

import numpy as np


class Runtime:
    """Base: runs `batch_size` images at a time through `run_batch`."""

    name = "runtime"

    def __init__(self, path, batch_size=32):
        self.path = path
        self.batch_size = int(batch_size)

    def run_batch(self, images, class_ids):
        raise NotImplementedError

    def __call__(self, images, class_ids):
        images = np.asarray(images)
        class_ids = np.asarray(class_ids, np.int32).reshape(-1)
        if len(images) != len(class_ids):
            raise ValueError(
                f"Expected one class id per image. Received {len(images)} images and "
                f"{len(class_ids)} class ids"
            )
        outputs = [
            self.run_batch(images[s : s + self.batch_size], class_ids[s : s + self.batch_size])
            for s in range(0, len(images), self.batch_size)
        ]
        return {key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]}


class SavedModelRuntime(Runtime):
    name = "saved_model"

    def __init__(self, path, batch_size=32):
        import tensorflow as tf

        super().__init__(path, batch_size)
        self.function = tf.saved_model.load(path).signatures["serving_default"]
        self.dtype = self.function.structured_input_signature[1]["image"].dtype

    def run_batch(self, images, class_ids):
        import tensorflow as tf

        out = self.function(image=tf.constant(images, self.dtype), class_id=tf.constant(class_ids))
        return {key: value.numpy() for key, value in out.items()}


class LiteRTRuntime(Runtime):
    name = "litert"

    def __init__(self, path, batch_size=32, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        super().__init__(path, batch_size)
        self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner("serving_default")
        details = self.runner.get_input_details()
        self.dtype = details["image"]["dtype"]

    def run_batch(self, images, class_ids):
        out = self.runner(image=images.astype(self.dtype), class_id=class_ids)
        return {key: np.asarray(value) for key, value in out.items()}


def local_providers(onnxruntime):
    """ONNX Runtime's local execution providers, best first (not Azure's remote one)."""
    return [p for p in onnxruntime.get_available_providers() if p != "AzureExecutionProvider"]


class OnnxRuntime(Runtime):
    name = "onnxruntime"

    def __init__(self, path, batch_size=32, providers=None, num_threads=None):
        import onnxruntime

        super().__init__(path, batch_size)
        options = onnxruntime.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = int(num_threads)
        self.session = onnxruntime.InferenceSession(
            path, options, providers=providers or local_providers(onnxruntime)
        )
        self.dtype = {"tensor(uint8)": np.uint8}.get(self.session.get_inputs()[0].type, np.float32)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run_batch(self, images, class_ids):
        feeds = {"image": images.astype(self.dtype), "class_id": class_ids}
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))


class TensorRTRuntime(Runtime):
    """A serialized TensorRT engine (needs `tensorrt` and a CUDA GPU; buffers via PyTorch)."""

    name = "tensorrt"

    def __init__(self, path, batch_size=32):
        from keras_saliency.deployment.tensorrt_engine import EngineRunner

        super().__init__(path, batch_size)
        self.engine = EngineRunner(path)

    def run_batch(self, images, class_ids):
        return self.engine(images, class_ids)


def load_runtime(path, batch_size=32, **options):
    """The runtime for an exported model at `path` (see the module docstring)."""
    if os.path.isdir(path):
        return SavedModelRuntime(path, batch_size)
    suffix = os.path.splitext(path)[1].lower()
    classes = {".tflite": LiteRTRuntime, ".onnx": OnnxRuntime, ".engine": TensorRTRuntime, ".plan": TensorRTRuntime}
    if suffix not in classes:
        raise ValueError(
            "Expected a SavedModel folder or a file ending in "
            f"{sorted(classes)}. Received: {path!r}"
        )
    return classes[suffix](path, batch_size, **options)
