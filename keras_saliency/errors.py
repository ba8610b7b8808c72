"""The library's own exception types, for what no built-in type says. Everything else is a
built-in type, as in Keras: `ValueError` for a value or input that cannot be used (the message
says "Expected ... Received ..." and names the parameter as `name`), `FileNotFoundError` /
`FileExistsError` for files, `ImportError` for a missing extra (the line says how to install it),
`RuntimeError` and `OSError` for work that ran and failed. The command line maps each type to its
exit status in one table (`keras_saliency.cli.console.EXIT_STATUS`). The standard library only.

Example:

```python
from keras_saliency.errors import ParityError

try:
    report = export_file("cifar10", "tflite", "int8", calibration_data="photos/")
except ParityError as error:
    print(error)  # the export missed its parity goals ...
```
"""


def first_line(error):
    """The first line of an error's message (its type's name when it has none), at most 300
    characters.

    Args:
        error: any exception.

    Example:

    >>> first_line(ValueError("Expected a file.\\nTraceback ..."))
    'Expected a file.'
    """
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


class EngineNotBuilt(RuntimeError):
    """A TensorRT engine was asked for but TensorRT (or a GPU) is missing; the ONNX model was
    written.

    Args:
        message: what is missing, in one line.

    Example:

    ```python
    raise EngineNotBuilt("tensorrt is not installed")
    ```
    """


class ParityError(RuntimeError):
    """An export that missed its parity goals against the Keras model (its report is written).

    Args:
        message: the line, with the report's path.

    Example:

    ```python
    raise ParityError("the export missed its parity goals (see m.onnx.report.json)")
    ```
    """
