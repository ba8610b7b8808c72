"""One-line errors a user can fix, raised by the library functions behind each command.

`CommandError.kind` says what went wrong, so that the command line can answer as click does
(`keras_saliency.cli.console` maps it): "usage" (the call itself is wrong), "parameter" (the value
of one option, `field`), "refused" (nothing was done: an unusable input, a missing extra, an
output it will not overwrite) or "failed" (it ran and failed). The package needs no click.

Example:

```python
from keras_saliency.errors import CommandError

try:
    rows = explain_inputs(["photo.jpg"], model="cifar10", class_name="zebra")
except CommandError as error:
    print(error)  # expected a class id in [0, 10) or a class name ...
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


class CommandError(ValueError):
    """A command refused or stopped for a reason the user can fix, in one line.

    Args:
        message: the line.
        kind: "usage", "parameter" (a bad value of `field`), "refused" or "failed".
        field: the option at fault (`class_name`, `quantize`, ...), if any.
        exit_code: the process's exit status on the command line (default: 2 for "usage",
            "parameter" and "refused", 1 for "failed").

    Example:

    ```python
    raise CommandError("int8 needs calibration images", kind="parameter", field="quantize")
    ```
    """

    def __init__(self, message, kind="failed", field=None, exit_code=None):
        super().__init__(message)
        if kind not in ("usage", "parameter", "refused", "failed"):
            raise ValueError(
                f"Expected kind 'usage', 'parameter', 'refused' or 'failed'. Received: {kind!r}"
            )
        self.kind = kind
        self.field = field
        self.exit_code = exit_code if exit_code is not None else (1 if kind == "failed" else 2)
