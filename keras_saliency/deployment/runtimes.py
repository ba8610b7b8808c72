"""Run an exported masker with its own runtime: SavedModel, LiteRT, ONNX Runtime, TensorRT.

`load_runtime(path)` picks the runtime from the path (a folder is a SavedModel; `.tflite`,
`.onnx`, `.engine` / `.plan`). Every runtime is called as `runtime(images, class_ids)` and
returns the named outputs (`{"mask", "exists"}`) as numpy arrays. Only the SavedModel runtime
imports TensorFlow; the others live in `keras_saliency.runtime`, which needs neither TensorFlow
nor Keras.
"""

import os

from keras_saliency.options import install_hint

from keras_saliency.runtime.runners import (  # noqa: F401 (re-exported)
    RUNTIMES,
    LiteRTRuntime,
    OnnxRuntime,
    Runtime,
    TensorRTRuntime,
    local_providers,
)


class SavedModelRuntime(Runtime):
    """A SavedModel folder run by TensorFlow through its `serving_default` signature.

    Args:
        path: the SavedModel folder.
        batch_size: images per call of the signature (default 32).

    Example:

    ```python
    runtime = SavedModelRuntime("saliency-exports/cifar10-saved_model")
    masks = runtime(images, class_ids)["mask"]
    ```
    """

    name = "saved_model"

    def __init__(self, path, batch_size=32):
        import tensorflow as tf

        super().__init__(path, batch_size)
        self.function = tf.saved_model.load(path).signatures["serving_default"]
        image = self.function.structured_input_signature[1]["image"]
        self.dtype = image.dtype
        self.image_size = image.shape[1]
        self.classifies = "logits" in self.function.structured_outputs

    def run_batch(self, images, class_ids):
        import tensorflow as tf

        out = self.function(image=tf.constant(images, self.dtype), class_id=tf.constant(class_ids))
        return {key: value.numpy() for key, value in out.items()}


EXPORT_EXTRA = "install the export extra: " + install_hint("export")


SAVEDMODEL_RISK = ("a SavedModel runs whatever graph it holds, file and network operations included "
                   "(.tflite and .onnx files are data only)")


def load_runtime(path, batch_size=32, trust_savedmodel=True, **options):
    """The runtime for an exported model at `path` (see the module docstring).

    Args:
        path: a SavedModel folder or a `.tflite`, `.onnx`, `.engine` or `.plan` file.
        batch_size: images per call of the runtime (default 32).
        trust_savedmodel: run a SavedModel folder's graph (default True, for the SavedModels
            your own code made; False refuses one, as the commands do unless told otherwise).
        **options: options of the file's runtime (e.g. `num_threads` for LiteRT).

    Raises:
        ValueError: a path of no known format, a refused SavedModel, a file its runtime
            cannot open (one line).
        ImportError: the runtime is not installed (the line says how to install it).

    Example:

    ```python
    runtime = load_runtime("export/masker-int8.tflite", num_threads=4)
    outputs = runtime(images, class_ids)  # {"mask", "exists"}
    ```
    """
    from keras_saliency.errors import first_line

    if os.path.isdir(path):
        if not trust_savedmodel:
            raise ValueError(f"{path} is a SavedModel folder and {SAVEDMODEL_RISK}: give `trust_savedmodel=True` "
                             "to run one you made, or export to .tflite / .onnx")
        runtime_class, options = SavedModelRuntime, {}
    else:
        suffix = os.path.splitext(path)[1].lower()
        if suffix not in RUNTIMES:
            raise ValueError(f"Expected a SavedModel folder or a file ending in {sorted(RUNTIMES)}. "
                             f"Received: {path!r}")
        runtime_class = RUNTIMES[suffix]
    try:
        return runtime_class(path, batch_size, **options)
    except ImportError as error:
        line = first_line(error)
        raise ImportError(line if "[export]" in line else f"{line}: {EXPORT_EXTRA}") from None
    except Exception as error:  # the runtimes reject a bad file with their own error types
        raise ValueError(f"could not load the exported model {path}: {first_line(error)}") from None
