"""How the `keras-saliency` commands run in a terminal: TensorFlow loaded quietly, the library's
log on stderr, and every error a user can cause (a bad file, a full or read-only disk, a
library error of a known type, see `EXIT_STATUS`) ended with one line and its exit status, never a
traceback.

Only click and the standard library load here, so `--help` and `--version` are instant.

Example:

```python
import click
from keras_saliency.cli.console import command

@click.command()
@command
def hello():
    click.echo("TensorFlow is loaded, quietly")
```
"""

import errno
import functools
import logging
import os
import sys
import warnings

import click

from keras_saliency.errors import EngineNotBuilt, ParityError, first_line
from keras_saliency.flags import as_flags
from keras_saliency.options import import_tensorflow_quietly, missing_modules, parse_assignments  # noqa: F401

logger = logging.getLogger("keras_saliency")

# Set before TensorFlow loads (it reads it once); a user's own setting shows TensorFlow's lines.
_USER_TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL" in os.environ
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _EchoHandler(logging.Handler):
    """The library's log messages on click's current stderr (which CliRunner replaces), with
    their parameter names as flags."""

    def emit(self, record):
        click.echo(as_flags(self.format(record)), err=True)


def setup_logging():
    """The library's log messages (INFO and above) on click's stderr.

    Example:

    ```python
    setup_logging()
    logging.getLogger("keras_saliency").info("shown on stderr")
    ```
    """
    if not any(isinstance(h, _EchoHandler) for h in logger.handlers):
        logger.addHandler(_EchoHandler())
    logger.setLevel(logging.INFO)


def load_tensorflow():
    """Imports TensorFlow (its C++ start-up lines filtered out of the process's stderr), quiets
    its and absl's Python loggers and registers keras_saliency's custom objects (the command
    line skips that on import).

    Example:

    ```python
    load_tensorflow()  # then `import tensorflow as tf` is instant and quiet
    ```
    """
    if "tensorflow" not in sys.modules and not _USER_TF_LOG_LEVEL:
        import_tensorflow_quietly(write=lambda line: click.echo(line, err=True), user_level=False)
    # Keras' fit warns that it does not shuffle a tf.data.Dataset (ours are shuffled already)
    warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed, but will be ignored")
    if not _USER_TF_LOG_LEVEL:
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:
            pass
    from keras_saliency.models import classifiers, layers, masker, model  # noqa: F401 (registration)


_OS_ERROR_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space or give --output on another disk",
    getattr(errno, "EDQUOT", -1): "the disk quota is exceeded: free some space or give --output on another disk",
    errno.EROFS: "the file system is read-only: give --output on a writable disk",
    errno.EACCES: "permission denied: check the file's permissions, or give --output in a folder you can write",
    errno.EPERM: "operation not permitted: check the file's permissions, or give --output in a folder you can write",
}
_TF_FILE_ERRORS = {"No space left on device": errno.ENOSPC, "Read-only file system": errno.EROFS,
                   "Permission denied": errno.EACCES, "Disk quota exceeded": getattr(errno, "EDQUOT", -1)}


def os_error_line(error):
    """One line for an OSError: what failed, on which file, and what to do.

    Args:
        error: the `OSError` (its `strerror`, `filename` and `errno` are used when set).

    Example:

    ```python
    os_error_line(OSError(errno.ENOSPC, "No space left on device", "run/model.keras"))
    ```
    """
    text = str(error).strip()
    what = error.strerror or (text.splitlines()[0] if text else type(error).__name__)
    where = f" ({error.filename})" if getattr(error, "filename", None) else ""
    advice = _OS_ERROR_ADVICE.get(getattr(error, "errno", None))
    return f"{what}{where}" + (f"; {advice}" if advice else "")


# The one table from the library's exception types to the command line: the exit status of each
# (first match wins). 2: nothing was done, the call or its input must change (a bad value, a file
# that is missing or would be overwritten, a missing extra); 1: the work ran and failed; 3: an
# export written that missed its parity goals.
EXIT_STATUS = (
    (ParityError, 3),  # the export is written, its report says what missed
    (EngineNotBuilt, 2),  # the ONNX model is written
    (FileExistsError, 2),
    (FileNotFoundError, 2),
    (IsADirectoryError, 2),
    (NotADirectoryError, 2),
    (ImportError, 2),
    (ValueError, 2),
    (OSError, 1),
    (RuntimeError, 1),
)

def echo(line):
    """Prints a library progress line (a `log=` callback of the library), its parameter names as
    flags (`as_flags`).

    Args:
        line: the line.

    Example:

    ```python
    train_masker(spec, log=echo)
    ```
    """
    click.echo(as_flags(line))


def click_error(error):
    """A library error as the click exception that says the same in one line, its exit status
    from `EXIT_STATUS` and its parameter names as flags (`as_flags`); None for an exception type
    the table does not hold (a bug: its traceback is shown).

    Args:
        error: the exception.

    Example:

    ```python
    raise click_error(ValueError("Expected a class name. Received: `class_name=zebra`"))
    ```
    """
    if isinstance(error, ImportError) and (getattr(error, "name", None) or "").startswith("keras_saliency"):
        return None  # the package's own import failed: a bug, shown with its traceback
    for kind, status in EXIT_STATUS:
        if isinstance(error, kind):
            line = os_error_line(error) if isinstance(error, OSError) and error.strerror else first_line(error)
            exception = click.ClickException(as_flags(line))
            exception.exit_code = status
            return exception
    return None


def command(function=None, *, before=None):
    """Runs a command with TensorFlow loaded quietly (after `before(options)`, a check that
    needs no TensorFlow); an error of a type in `EXIT_STATUS` (a full, read-only or forbidden
    disk and TensorFlow's file errors included) ends it with one line and that exit status.

    Args:
        function: the click command's function, when used as a bare `@command` decorator.
        before: optional check called with the command's options (a dict) before TensorFlow
            loads; it may raise any error of `EXIT_STATUS`.

    Example:

    ```python
    @click.command()
    @command(before=lambda options: None)
    def train(**options): ...
    ```
    """

    def decorate(function):
        @functools.wraps(function)
        def run(**options):
            try:
                if before is not None:
                    before(options)
                load_tensorflow()
                return function(**options)
            except click.ClickException:
                raise
            except Exception as error:
                if isinstance(error, OSError):
                    _note_full_disk(getattr(error, "errno", None))
                tf = sys.modules.get("tensorflow")
                if tf is not None and isinstance(error, tf.errors.OpError):
                    message = error.message or str(error)
                    for text, number in _TF_FILE_ERRORS.items():
                        if text in message:
                            _note_full_disk(number)
                            line = message.strip().splitlines()[0][:300]
                            raise click.ClickException(f"{line}; {_OS_ERROR_ADVICE[number]}") from error
                exception = click_error(error)
                if exception is None:
                    raise
                raise exception from None

        return run

    return decorate(function) if function is not None else decorate


FULL_DISK = {"seen": False}  # `launcher.main` ends the process at once after a full disk


def _note_full_disk(number):
    """h5py's objects of a file that could not be written try to flush again when Python frees
    them, printing tracebacks (or worse) after the one-line error: after a full disk the entry
    point ends the process without that clean-up (the files were closed or left as they were)."""
    if number in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        FULL_DISK["seen"] = True


def require_extra(module, message):
    """A `command(before=...)` check: refuses (one line, exit status 2) when `module` is missing.

    Args:
        module: the module the command needs (e.g. "gradio").
        message: the one line that says how to install it.

    Example:

    ```python
    @command(before=require_extra("gradio", 'the web demo needs gradio: pip install "keras-saliency[app]"'))
    def serve(**options): ...
    ```
    """
    def check(options):
        if missing_modules([module]):
            raise ImportError(message)

    return check


class _FiniteFloat(click.ParamType):
    """A float flag that refuses nan and infinities (click's FloatRange lets nan through)."""

    name = "float"

    def convert(self, value, param, ctx):
        import math

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number.", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


FINITE = _FiniteFloat()


def checks(*functions, model="model_name"):
    """A `command(before=...)` check made of `functions` (each called with the options), after
    the option `model` (a shipped name or a `.keras` file, when given) is checked to exist: the
    usage errors answer before TensorFlow loads.

    Args:
        *functions: more checks, each called with the command's options (a dict).
        model: the option holding the model, or None.

    Example:

    ```python
    @command(before=checks(require_extra("gradio", "...")))
    def serve(model_name, **options): ...
    ```
    """
    def check(options):
        from keras_saliency import pretrained

        if model and options.get(model):
            pretrained.check_model(options[model])
        for function in functions:
            function(options)

    return check


def counted(count, noun):
    """ "1 image", "3 images".

    Args:
        count: how many.
        noun: the singular.

    Example:

    >>> counted(1, "image")
    '1 image'
    """
    return f"{count} {noun}{'' if count == 1 else 's'}"
