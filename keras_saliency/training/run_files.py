"""Files of a run folder that survive crashes: atomic writes and a per-folder lock.

Every file is written to a temporary file in the same folder, flushed to disk and then
`os.replace`d over its name, so a reader (or the next run after a kill -9 or a full disk) sees
either the previous file or the new one, never half of one. A failed write removes its
temporary file and raises `RunFileWriteError` (an `OSError` with a one-line message); the
previous file is left as it was.

`output_lock(folder)` holds `folder/.lock` (an exclusive `fcntl.flock`, the holder's pid
written in it) while a run writes there: a second run on the same folder is refused at once
with `OutputInUseError` ("... is in use by process N"). The lock is released by the kernel when
its process dies, so a killed run never leaves a stale lock behind.

Example:

```python
with output_lock("runs/cifar"):
    atomic_write_json("runs/cifar/config.json", {"seed": 0})
    atomic_save_model(model, "runs/cifar/model.keras")
```
"""

import contextlib
import errno
import json
import os
import re
import threading

LOCK_FILE = ".lock"
TEMP_MARKER = ".tmp-"  # temporary names: ".<name>.tmp-<pid>-<n><suffix>"

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, runs are not protected from each other
    fcntl = None


class RunFilesError(OSError):
    """Base class of the one-line errors about a run folder's files. An `OSError` (so a
    command-line tool that reports OSErrors in one line reports these too) whose `str()` and
    `strerror` are the whole message, "Expected ... Received ..." and what to do.

    Args:
        message: the whole one-line message.
        error_number: the `errno`, if any (default None).

    Example:

    ```python
    raise RunFilesError("Expected a run folder. Received: runs/x is a file.")
    ```
    """

    def __init__(self, message, error_number=None):
        super().__init__(error_number, message)
        self.message = message

    def __str__(self):
        return self.message


class RunFileWriteError(RunFilesError):
    """A file could not be written (full disk, read-only folder...): the previous file is
    unchanged. `errno` is the original error's (ENOSPC, EROFS...).

    Args:
        message: the whole one-line message.
        error_number: the original error's `errno` (default None).

    Example:

    ```python
    raise RunFileWriteError("Expected to write the model runs/model.keras. ...", errno.ENOSPC)
    ```
    """


class OutputInUseError(RunFilesError):
    """Another process holds the run folder's lock (`errno` is EBUSY).

    Args:
        message: the whole one-line message.
        error_number: `errno.EBUSY` as raised by `output_lock` (default None).

    Example:

    ```python
    raise OutputInUseError("Expected an output folder that no other run is using. ...", errno.EBUSY)
    ```
    """


_counter = iter(range(1 << 62))
_held = {}  # realpath of a locked folder -> [fd, depth]: the lock is re-entrant in a process
_held_guard = threading.Lock()


# errnos that only a write gives: an OSError with one of these comes from writing run files
WRITE_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS})


def error_number(error):
    """`error.errno`, or the "errno = N" that h5py writes in its messages (it raises OSErrors
    without errno).

    Args:
        error: an `OSError`.

    Example:

    >>> error_number(OSError("Unable to create file (errno = 28, error message = ...)"))
    28
    """
    if error.errno is not None:
        return error.errno
    found = re.search(r"errno\s*=\s*(\d+)", str(error))
    return int(found.group(1)) if found else None


def _reason(error):
    number = error_number(error)
    if number is not None and number != error.errno:
        error = OSError(number, os.strerror(number))
    if error.errno == errno.ENOSPC:
        return "no space left on device"
    if error.errno == getattr(errno, "EDQUOT", None):
        return "disk quota exceeded"
    if error.errno == errno.EROFS:
        return "read-only file system"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return (error.strerror or str(error) or type(error).__name__).splitlines()[0]


def write_error(error, path, what="file", keeps=True):
    """A `RunFileWriteError` for an `OSError` raised while writing `path`.

    Args:
        error: the `OSError` raised by the write.
        path: the file being written.
        what: what the file is, in the message (default "file").
        keeps: say that the previous `path` is unchanged when it exists (default True).

    Example:

    ```python
    except OSError as error:
        raise write_error(error, "runs/model.keras", "model") from error
    ```
    """
    kept = f" The previous {os.path.basename(path)} is unchanged." if keeps and os.path.exists(path) else ""
    number = error_number(error)
    return RunFileWriteError(
        f"Expected to write the {what} {path}. Received: {_reason(error)} "
        f"(errno {errno.errorcode.get(number, number)}).{kept} "
        "Free space or fix the folder's permissions and run again.",
        number,
    )


def folder_write_error(error, folder, kept="Files already written are unchanged."):
    """A one-line `RunFileWriteError` for a write that failed somewhere in `folder` (e.g. a
    callback's log), or None when `error` is not a write error (`WRITE_ERRNOS`).

    Args:
        error: the exception raised by the write.
        folder: the run folder.
        kept: the sentence about the files kept.

    Example:

    ```python
    failure = folder_write_error(error, "runs/masker")
    if failure is not None:
        raise failure from error
    ```
    """
    number = error_number(error)
    if isinstance(error, RunFilesError) or number not in WRITE_ERRNOS:
        return None
    return RunFileWriteError(
        f"Expected to write the run's files in {folder}. Received: {_reason(error)} "
        f"(errno {errno.errorcode.get(number, number)}). {kept} "
        "Free space or fix the folder's permissions and run again.",
        number,
    )


def temporary_path(path, suffix=None):
    """A unique temporary name next to `path` ending with `suffix` (default: `path`'s own
    extension, which Keras requires: ".keras", ".weights.h5").

    Args:
        path: the final file.
        suffix: the temporary name's ending (default: `path`'s extension).

    Example:

    ```python
    temporary = temporary_path("runs/model.keras")  # runs/.model.keras.tmp-<pid>-<n>.keras
    ```
    """
    folder, name = os.path.split(os.path.abspath(path))
    if suffix is None:
        suffix = ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]
    return os.path.join(folder, f".{name}{TEMP_MARKER}{os.getpid()}-{next(_counter)}{suffix}")


def _fsync_path(path, directory=False):
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some systems cannot open folders: durability is best effort there
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path, what="file", suffix=None):
    """Yields a temporary path next to `path`; when the block ends without an error, the
    temporary file is flushed to disk and renamed over `path` (atomically). On any error it is
    removed and `path` is left untouched; an `OSError` becomes a one-line `RunFileWriteError`.

    Args:
        path: the final file.
        what: what the file is, in error messages (default "file").
        suffix: the temporary file's ending (default: `path`'s extension).

    Example:

    ```python
    with atomic_output("runs/mask.png", "picture") as temporary:
        plt.savefig(temporary, format="png")
    ```
    """
    path = os.fspath(path)
    temporary = temporary_path(path, suffix)
    try:
        yield temporary
        _fsync_path(temporary)
        os.replace(temporary, path)
        _fsync_path(os.path.dirname(os.path.abspath(path)), directory=True)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        if isinstance(error, OSError) and not isinstance(error, RunFilesError):
            raise write_error(error, path, what) from error
        raise


def atomic_write_bytes(path, data, what="file"):
    """Writes `data` to `path` atomically (through `atomic_output`).

    Args:
        path: the file to write.
        data: the bytes.
        what: what the file is, in error messages (default "file").

    Example:

    ```python
    atomic_write_bytes("runs/model.onnx", onnx_model.SerializeToString(), what="ONNX model")
    ```
    """
    with atomic_output(path, what) as temporary:
        with open(temporary, "wb") as f:
            f.write(data)


def atomic_write_text(path, text, what="file", encoding="utf-8"):
    """Writes `text` to `path` atomically (through `atomic_output`).

    Args:
        path: the file to write.
        text: the string.
        what: what the file is, in error messages (default "file").
        encoding: the text's encoding (default "utf-8").

    Example:

    ```python
    atomic_write_text("runs/results.md", table)
    ```
    """
    atomic_write_bytes(path, text.encode(encoding), what)


def atomic_write_json(path, data, what="file", indent=2, sort_keys=True, **kwargs):
    """`json.dump` to `path`, atomically (serialised first: an unserialisable value never
    leaves an empty file).

    Args:
        path: the file to write.
        data: the JSON-serialisable value.
        what: what the file is, in error messages (default "file").
        indent: `json.dumps`'s indent (default 2).
        sort_keys: sort the keys of dicts (default True).
        **kwargs: other arguments of `json.dumps` (e.g. `default=str`).

    Example:

    ```python
    atomic_write_json("runs/results.json", {"hit_rate": 0.93}, what="results")
    ```
    """
    text = json.dumps(data, indent=indent, sort_keys=sort_keys, **kwargs) + "\n"
    atomic_write_text(path, text, what)


def atomic_save_model(model, path, what="model", **kwargs):
    """`model.save(path, **kwargs)` through a temporary `.keras` file in the same folder: a
    crash or a full disk during the save leaves the previous `path` (or none) intact.

    Args:
        model: the Keras model.
        path: the `.keras` file.
        what: what the file is, in error messages (default "model").
        **kwargs: other arguments of `model.save`.

    Example:

    ```python
    atomic_save_model(model, "runs/masker/model.keras")
    ```
    """
    with atomic_output(path, what, suffix=".keras") as temporary:
        model.save(temporary, **kwargs)


def atomic_save_weights(model, path, what="weights"):
    """`model.save_weights(path)` (a `.weights.h5` path), atomically.

    Args:
        model: the Keras model.
        path: the `.weights.h5` file.
        what: what the file is, in error messages (default "weights").

    Example:

    ```python
    atomic_save_weights(model, "runs/masker/backup/latest.weights.h5")
    ```
    """
    with atomic_output(path, what, suffix=".weights.h5") as temporary:
        model.save_weights(temporary)


def _writer_alive(name):
    """Whether the process named in a temporary file's name still runs (not this one)."""
    try:
        pid = int(name.split(TEMP_MARKER, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(folder):
    """Removes temporary files that killed processes left in `folder` (not recursive; files
    of a process still running are kept). Call it while holding the folder's lock. Returns the
    removed paths.

    Args:
        folder: the run folder.

    Example:

    ```python
    with output_lock("runs/masker"):
        removed = remove_stale_temporaries("runs/masker")
    ```
    """
    removed = []
    if not os.path.isdir(folder):
        return removed
    for name in os.listdir(folder):
        if name.startswith(".") and TEMP_MARKER in name and not _writer_alive(name):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                with contextlib.suppress(OSError):
                    os.remove(path)
                    removed.append(path)
    return removed


def lock_holder(folder):
    """The pid written in `folder`'s lock file (None when unknown).

    Args:
        folder: the run folder.

    Example:

    ```python
    pid = lock_holder("runs/masker")
    ```
    """
    try:
        with open(os.path.join(folder, LOCK_FILE)) as f:
            return int(f.read().strip() or 0) or None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def output_lock(folder):
    """Holds `folder`'s lock for the block (re-entrant within one process); creates `folder`.
    Raises `OutputInUseError` at once when another process holds it, `RunFileWriteError` when
    the folder cannot be created or written.

    Args:
        folder: the run folder.

    Example:

    ```python
    with output_lock("runs/masker"):
        atomic_save_model(model, "runs/masker/model.keras")
    ```
    """
    folder = os.fspath(folder)
    key = os.path.realpath(folder)
    with _held_guard:
        if key in _held:
            _held[key][1] += 1
            entered = True
        else:
            entered = False
    if entered:
        try:
            yield
        finally:
            with _held_guard:
                _held[key][1] -= 1
        return
    path = os.path.join(folder, LOCK_FILE)
    while True:
        fd = _open_lock_file(folder, path)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as error:
                    if error.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    holder = lock_holder(folder)
                    who = f"process {holder}" if holder else "another process"
                    raise OutputInUseError(
                        f"Expected an output folder that no other run is using. Received: {folder} "
                        f"is in use by {who} (lock {path}); wait for that run to end or choose "
                        "another output folder.",
                        errno.EBUSY,
                    ) from None
                # The holder before us removes the file as it lets go: a lock on a removed
                # file holds nothing, so take the lock of the file now at `path`.
                if not _same_file(fd, path):
                    os.close(fd)
                    continue
            with contextlib.suppress(OSError):  # the pid is a courtesy (a full disk may refuse it)
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        break
    with _held_guard:
        _held[key] = [fd, 1]
    try:
        yield
    finally:
        with _held_guard:
            del _held[key]
        # Removed while still held (a process waiting on it re-opens the new one), so a run
        # that ended leaves no lock file behind; a killed run leaves one that locks nothing.
        with contextlib.suppress(OSError):
            if fcntl is not None:
                os.unlink(path)
            else:
                os.ftruncate(fd, 0)
        os.close(fd)  # releases the flock


def _open_lock_file(folder, path):
    try:
        os.makedirs(folder, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise RunFileWriteError(
            f"Expected a writable output folder. Received: {folder} ({_reason(error)}).", error.errno
        ) from error


def _same_file(fd, path):
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False
