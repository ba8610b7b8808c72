"""Run an exported masker with its own runtime: LiteRT (`.tflite`), ONNX Runtime (`.onnx`),
TensorRT (`.engine` / `.plan`). Needs numpy and the runtime's own package, never TensorFlow.

Every runtime is called as `runtime(images, class_ids)` (images (N, S, S, 3) RGB in [0, 255],
class ids (N,)) and returns the model's named outputs (`{"mask", "exists"}`) as numpy arrays,
`batch_size` images at a time; `runtime.image_size` is the model's input size S. An export that
classifies too (`runtime.classifies`) also returns `logits` and `explained_class`, and takes a
class id of -1 for the classifier's top-1 class.
"""

import os

import numpy as np


class Runtime:
    """Base: runs `batch_size` images at a time through `run_batch`.

    Args:
        path: the exported model.
        batch_size: images per call of the runtime.

    Example:

    ```python
    class EchoRuntime(Runtime):
        def run_batch(self, images, class_ids):
            return {"mask": images[..., :1] / 255.0, "exists": np.ones(len(images))}
    ```
    """

    name = "runtime"
    image_size = None
    classifies = False  # the export returns the classifier's logits and the class explained too

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
        outputs = {key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]}
        for key, value in outputs.items():
            bad = int(np.count_nonzero(~np.isfinite(value))) if value.dtype.kind == "f" else 0
            if bad:  # a damaged file (flipped weight bytes) still loads and runs: the run failed
                raise RuntimeError(
                    f"Expected finite outputs from {self.path}. Received: {bad} non-finite values of {key!r}: "
                    "the file is damaged or not a keras-saliency export; export it again"
                )
        return outputs


def _usable_cores():
    """The CPU cores this process may run on (its affinity where the OS tells it, else all)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class LiteRTRuntime(Runtime):
    """A `.tflite` masker run by LiteRT (`ai-edge-litert`) through its serving signature.

    Args:
        path: the `.tflite` file.
        batch_size: images per call of the interpreter. Defaults to 32.
        num_threads: CPU threads of the interpreter. Defaults to `None`: every core this
            process may use; LiteRT's own default (-1) runs the convolutions on one.

    Example:

    ```python
    runtime = LiteRTRuntime("cifar10-int8.tflite", num_threads=4)
    masks = runtime(images, class_ids)["mask"]
    ```
    """

    name = "litert"

    def __init__(self, path, batch_size=32, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        super().__init__(path, batch_size)
        self.interpreter = Interpreter(model_path=path, num_threads=num_threads or _usable_cores())
        self.runner = self.interpreter.get_signature_runner("serving_default")
        image = self.runner.get_input_details()["image"]
        self.dtype = image["dtype"]
        self.image_size = int(image["shape_signature"][1])
        self.classifies = "logits" in self.runner.get_output_details()

    def run_batch(self, images, class_ids):
        out = self.runner(image=images.astype(self.dtype), class_id=class_ids)
        return {key: np.asarray(value) for key, value in out.items()}


def local_providers(onnxruntime):
    """ONNX Runtime's local execution providers, best first (not Azure's remote one).

    Args:
        onnxruntime: the imported `onnxruntime` module.

    Example:

    ```python
    import onnxruntime

    local_providers(onnxruntime)  # e.g. ["CUDAExecutionProvider", "CPUExecutionProvider"]
    ```
    """
    return [p for p in onnxruntime.get_available_providers() if p != "AzureExecutionProvider"]


class OnnxRuntime(Runtime):
    """An `.onnx` masker run by ONNX Runtime (every local provider, best first: CUDA / TensorRT
    with onnxruntime-gpu).

    Args:
        path: the `.onnx` file.
        batch_size: images per call of the session. Defaults to 32.
        providers: ONNX Runtime execution providers, or `None` for `local_providers`.
        num_threads: intra-op CPU threads, or `None` for ONNX Runtime's default.

    Example:

    ```python
    runtime = OnnxRuntime("cifar10.onnx")
    masks = runtime(images, class_ids)["mask"]
    ```
    """

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
        image = self.session.get_inputs()[0]
        self.dtype = {"tensor(uint8)": np.uint8}.get(image.type, np.float32)
        self.image_size = int(image.shape[1])
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.classifies = "logits" in self.output_names

    def run_batch(self, images, class_ids):
        feeds = {"image": images.astype(self.dtype), "class_id": class_ids}
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))


class TensorRTRuntime(Runtime):
    """A serialized TensorRT engine (needs `tensorrt` and a CUDA GPU; buffers via PyTorch).

    Args:
        path: the `.engine` / `.plan` file, built by the installed TensorRT version.
        batch_size: images per call of the engine. Defaults to 32.

    Example:

    ```python
    runtime = TensorRTRuntime("cifar10.engine")
    masks = runtime(images, class_ids)["mask"]
    ```
    """

    name = "tensorrt"

    def __init__(self, path, batch_size=32):
        from keras_saliency.runtime.tensorrt import EngineRunner

        super().__init__(path, batch_size)
        self.engine = EngineRunner(path)
        self.image_size = self.engine.image_size
        self.classifies = "logits" in self.engine.outputs

    def run_batch(self, images, class_ids):
        return self.engine(images, class_ids)


# The runtime of each exported file, by its suffix.
RUNTIMES = {".tflite": LiteRTRuntime, ".onnx": OnnxRuntime, ".engine": TensorRTRuntime, ".plan": TensorRTRuntime}


def load_runtime(path, batch_size=32, **options):
    """The runtime for the exported file at `path`, chosen by its suffix (`RUNTIMES`).

    Args:
        path: a `.tflite`, `.onnx`, `.engine` or `.plan` file.
        batch_size: images per call of the runtime.
        **options: passed to the runtime (`num_threads`, `providers`).

    Example:

    ```python
    runtime = load_runtime("cifar10.onnx")
    outputs = runtime(images, class_ids)  # {"mask", "exists"}
    ```
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in RUNTIMES:
        raise ValueError(f"Expected an exported file ending in {sorted(RUNTIMES)}. Received: {path!r}")
    return RUNTIMES[suffix](path, batch_size, **options)
