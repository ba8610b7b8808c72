"""Loading `.keras` model files that may come from strangers, within limits.

Which formats are safe to load from someone you do not trust:

- `.keras` (a zip: config.json, metadata.json, model.weights.h5): yes, through
  `load_model_file`, which checks the zip's directory against size limits before Keras opens it
  and keeps Keras' `safe_mode` on (a file with a `Lambda` layer or other Python code is refused).
- `.tflite` and `.onnx` exports: data only (a graph of known operators, no Python); still load
  them within your own memory limits.
- A TensorFlow SavedModel folder (and legacy `.h5`/pickled models): no. A SavedModel runs
  arbitrary TensorFlow graphs (file and network operations included): load only your own.
"""

import os
import stat
import zipfile
import zlib

MAX_CONFIG_BYTES = 64 << 20  # config.json / metadata.json, uncompressed
MAX_UNCOMPRESSED_BYTES = 4 << 30  # all members together, uncompressed
# uncompressed / file size, beyond MIN_EXPANSION_BUDGET: Keras stores weights uncompressed (the
# shipped files: 1.0), and Keras may unpack the weights to TMPDIR while it loads them.
MAX_EXPANSION = 10
MIN_EXPANSION_BUDGET = 256 << 20  # any file may unpack to this much
MAX_MEMBERS = 1000

_JSON_MEMBERS = ("config.json", "metadata.json")


def _size(count):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024


def _expected(path, received):
    return ValueError(f"Expected a Keras model file (.keras zip). Received: {path} {received}")


def check_model_file(
    path,
    max_config_bytes=MAX_CONFIG_BYTES,
    max_uncompressed_bytes=MAX_UNCOMPRESSED_BYTES,
    max_expansion=MAX_EXPANSION,
    max_members=MAX_MEMBERS,
):
    """Raises a one-line `ValueError` unless `path` is a regular file holding a zip whose
    directory lists at most `max_members` members, a `config.json` (and any `metadata.json`) of
    at most `max_config_bytes`, and members that unpack to at most
    `min(max_uncompressed_bytes, max(256 MiB, max_expansion x the file's size))` together.
    Reads only the zip's directory (Python's zipfile then enforces the sizes it declares).

    Args:
        path: the model file (a path or path-like object).
        max_config_bytes: largest uncompressed `config.json` / `metadata.json` in bytes.
        max_uncompressed_bytes: largest uncompressed size of all members together in bytes,
            or `None` for no cap besides `max_expansion`.
        max_expansion: largest ratio of the uncompressed size to the file's size (beyond
            256 MiB).
        max_members: largest number of zip members.

    Example:

    ```python
    check_model_file("masker.keras", max_uncompressed_bytes=1 << 30)
    ```
    """
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except OSError as error:
        raise _expected(path, f"cannot be read ({error.strerror or error})") from None
    if stat.S_ISDIR(info.st_mode):
        raise _expected(path, "is a folder (a SavedModel runs arbitrary graphs: load only your own, "
                              "with tf.saved_model.load)")
    if not stat.S_ISREG(info.st_mode):
        raise _expected(path, "is not a regular file")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head.startswith(b"\x89HDF"):
                raise _expected(path, "is a legacy HDF5 model (not checked: if you trust it, load it with "
                                      "keras.saving.load_model and save it as .keras)")
            f.seek(0)
            with zipfile.ZipFile(f) as archive:
                members = archive.infolist()
    except ValueError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError) as error:
        raise _expected(path, f"is corrupt (bad zip: {error})") from None
    if len(members) > max_members:
        raise _expected(path, f"has {len(members)} zip members (more than {max_members})")
    names = {m.filename for m in members}
    if "config.json" not in names:
        raise _expected(path, "has no config.json member (not a Keras model file)")
    for member in members:
        if member.filename in _JSON_MEMBERS and member.file_size > max_config_bytes:
            raise _expected(
                path, f"has a {_size(member.file_size)} {member.filename} (more than {_size(max_config_bytes)}; "
                      "pass max_config_bytes= if you trust it)")
    total = sum(m.file_size for m in members)
    budget = max(MIN_EXPANSION_BUDGET, max_expansion * info.st_size)
    if max_uncompressed_bytes is not None:
        budget = min(budget, max_uncompressed_bytes)
    if total > budget:
        raise _expected(
            path, f"unpacks to {_size(total)} from {_size(info.st_size)} (more than {_size(budget)}; "
                  "pass max_uncompressed_bytes= / max_expansion= if you trust it)")


def load_model_file(
    path,
    custom_objects=None,
    compile=True,
    max_config_bytes=MAX_CONFIG_BYTES,
    max_uncompressed_bytes=MAX_UNCOMPRESSED_BYTES,
    max_expansion=MAX_EXPANSION,
    max_members=MAX_MEMBERS,
):
    """`keras.saving.load_model(path, safe_mode=True)` after `check_model_file` (the limits:
    see there), with a one-line `ValueError` for a file that is no `.keras` zip or is corrupt.

    Safe to use on files from strangers within those limits: Keras' safe mode stays on, so a
    model with a `Lambda` layer (Python code) is refused. `.tflite` / `.onnx` exports are data
    only; a SavedModel runs arbitrary graphs (load only your own). Registers keras_saliency's
    custom objects first.

    Args:
        path: the `.keras` file (a path or path-like object).
        custom_objects: extra custom objects for Keras, or `None`.
        compile: whether to compile the model as saved. Defaults to `True`.
        max_config_bytes: largest uncompressed `config.json` / `metadata.json` in bytes.
        max_uncompressed_bytes: largest uncompressed size of all members together in bytes.
        max_expansion: largest ratio of the uncompressed size to the file's size.
        max_members: largest number of zip members.

    Example:

    ```python
    from keras_saliency.models.files import load_model_file
    model = load_model_file("masker.keras")
    ```
    """
    import keras

    from keras_saliency import models  # noqa: F401  (registers the custom objects)

    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise _expected(path, "does not end in .keras")
    check_model_file(path, max_config_bytes, max_uncompressed_bytes, max_expansion, max_members)
    try:
        return keras.saving.load_model(path, custom_objects=custom_objects, compile=compile, safe_mode=True)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise _expected(path, f"is corrupt (bad zip: {error})") from None
    except OSError as error:  # h5py: a damaged model.weights.h5
        raise _expected(path, f"is corrupt ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})") from None
