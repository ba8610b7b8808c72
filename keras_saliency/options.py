"""Command options as data, without click: `KEY=VALUE` assignments (`--set`, `--option`) and
the optional modules a command needs (`missing_modules`).

Example:

>>> parse_assignments(["epochs=3"])
{'epochs': 3}
"""

import json
import os
import re
import sys
import tempfile


def install_hint(extra):
    """How to install one of the package's extras, from PyPI and from a clone of the repository.

    Args:
        extra: the extra's name ("export", "beam", "app", ...).

    Example:

    >>> install_hint("export")
    'pip install "keras-saliency[export]" (from a clone: pip install ".[export]")'
    """
    return f'pip install "keras-saliency[{extra}]" (from a clone: pip install ".[{extra}]")'


def parse_assignments(items, field=None):
    """`["a=1", "b.c=[2, 3]", "d=text"]` -> `{"a": 1, "b.c": [2, 3], "d": "text"}`: values are
    JSON, or plain strings when they are not JSON. `field`: the option named in errors.

    Args:
        items: the `KEY=VALUE` strings.
        field: the parameter named in the `ValueError` raised for an item without `=`
            (default: none).

    Example:

    >>> parse_assignments(["a=1", "b=text"])
    {'a': 1, 'b': 'text'}
    """
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            received = f"`{field}={item}`" if field else repr(item)
            raise ValueError(f"Expected KEY=VALUE. Received: {received}")
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def missing_modules(names):
    """The modules of `names` that cannot be imported (found without importing them).

    Args:
        names: top-level module names, e.g. `["onnx", "tensorrt"]`.

    Example:

    >>> missing_modules(["json", "no_such_module_here"])
    ['no_such_module_here']
    """
    import importlib.util

    missing = []
    for name in names:
        try:
            found = sys.modules[name] is not None if name in sys.modules else importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


# absl's C++ lines from before its InitializeLog() (TF_CPP_MIN_LOG_LEVEL does not hold them back)
# and TensorFlow's own "YYYY-mm-dd hh:mm:ss.ffffff: I ..." lines.
TF_LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] "
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags)"
)


def keras_backend():
    """The Keras backend this process runs ("tensorflow", "jax", "torch"), without importing
    Keras when it is not loaded yet: `KERAS_BACKEND`, else the `backend` of Keras' own
    `keras.json` (in `KERAS_HOME` or `~/.keras`), else "tensorflow".

    Example:

    >>> keras_backend() in ("tensorflow", "jax", "torch", "numpy", "openvino")
    True
    """
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def require_tensorflow_backend(what):
    """Refuses, in one line, work that only TensorFlow does (`what`), on another Keras backend.

    Args:
        what: the work and why, for the message (e.g. "export (TensorFlow's converters)").

    Example:

    ```python
    require_tensorflow_backend("export (SavedModel, LiteRT and ONNX come from TensorFlow's converters)")
    ```
    """
    backend = keras_backend()
    if backend != "tensorflow":
        raise ValueError(
            f"Expected the TensorFlow backend for {what}. Received: KERAS_BACKEND={backend}; a .keras "
            "file saved on any backend loads there: run it again with KERAS_BACKEND=tensorflow"
        )


def import_tensorflow_quietly(write=None, user_level=None):
    """Imports Keras and TensorFlow with TensorFlow's C++ start-up lines dropped from the
    process's stderr (its CPU, oneDNN and CUDA notes); any other line (a real error) is written
    with `write` (default: to stderr). Nothing is dropped when TensorFlow is already imported or
    the user set `TF_CPP_MIN_LOG_LEVEL`. Raises ImportError as `import keras` does.

    Args:
        write: called with each kept line (default: `sys.stderr.write` of the line).
        user_level: whether the user set `TF_CPP_MIN_LOG_LEVEL` (default: whether it is set).

    Example:

    ```python
    import_tensorflow_quietly()  # then `import tensorflow as tf` is instant and quiet
    ```
    """
    if user_level is None:
        user_level = "TF_CPP_MIN_LOG_LEVEL" in os.environ
    if "tensorflow" in sys.modules or user_level:
        import keras  # noqa: F401

        return
    write = write or (lambda line: sys.stderr.write(line + "\n"))
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr file descriptor: nothing to filter
        import keras  # noqa: F401

        return
    lines = []
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # CUDA's start-up lines, now
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines()
    for line in lines:
        if line.strip() and not TF_LOG_LINE.match(line):
            write(line)
