"""Image files, read one way everywhere (numpy and Pillow only: the runners in `export/` use
this module without TensorFlow).

`load_image` is the one image reader of the package (train's folder pipeline, explain,
evaluate, export --calibration-data, the runtime runners): Pillow, limited to the formats of
`IMAGE_EXTENSIONS` (sniffed from the content, so a PNG named .jpg still reads), always RGB uint8:


- grayscale and 1-bit: the grey repeated in R, G and B; 16-bit grayscale (PNG mode "I;16"/"I"):
  scaled to 8 bits, `round(v * 255 / 65535)`; palette images through their palette; CMYK,
  YCbCr: Pillow's conversion to RGB;
- an alpha channel (LA, RGBA, palette transparency) is composited on white
  (`ALPHA_BACKGROUND`), as a viewer shows the picture on a white page; the colours hidden under
  fully transparent pixels are never used;
- animated files: the first frame. EXIF orientation is not applied (as Keras and tf.image).

Before decoding, a file must be a regular file (a FIFO, a device, a folder named x.jpg, a symlink
loop or a dangling link is never opened for reading) and its header must declare at most
`max_pixels` pixels (default `MAX_PIXELS`, 50 megapixels; environment variable
`KERAS_SALIENCY_MAX_PIXELS`). A file that fails raises `UnreadableImageError` whose `reason`
("not a regular file (a FIFO)", "unreadable (truncated)", "too large (144 Mpx > 50 Mpx)") callers
count and report with `skipped_summary`: one bad file never aborts a command.
"""

import collections
import errno
import logging
import os
import stat
import threading
import warnings

import numpy as np

logger = logging.getLogger("keras_saliency")

# The image files of every command and of the runtime runners.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
# Videos the runners recognise by name (anything else is read as images).
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")
# Pillow decoders allowed (content sniffed among these only: never EPS, PDF, ... behind a .jpg).
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP")
MAX_PIXELS = 50_000_000  # default limit on width x height, checked on the header before decoding
MAX_PIXELS_ENV = "KERAS_SALIENCY_MAX_PIXELS"
ALPHA_BACKGROUND = (255, 255, 255)  # transparent pixels are composited on white

NOT_REGULAR = "not a regular file"
UNREADABLE = "unreadable"
TOO_LARGE = "too large"
UNSUPPORTED = "unsupported"


class UnreadableImageError(ValueError):
    """A file `load_image` does not read; `reason` says why, e.g. "unreadable (truncated)".

    Args:
        path: the file's path.
        reason: one short line, e.g. "too large (144 Mpx > 50 Mpx)".

    Example:

    ```python
    try:
        image = load_image("photo.jpg")
    except UnreadableImageError as error:
        print(error.path, error.reason)
    ```
    """

    def __init__(self, path, reason):
        super().__init__(f"Expected a readable image file. Received: {path} ({reason})")
        self.path = path
        self.reason = reason


def max_pixels_limit(max_pixels=None):
    """`max_pixels`, else the environment's `KERAS_SALIENCY_MAX_PIXELS`, else `MAX_PIXELS`.

    Args:
        max_pixels: a limit on width x height in pixels (positive), or `None`.

    Example:

    >>> max_pixels_limit(1000)
    1000
    """
    if max_pixels is None:
        value = os.environ.get(MAX_PIXELS_ENV)
        if not value:
            return MAX_PIXELS
        try:
            max_pixels = int(float(value))
        except ValueError:
            raise ValueError(
                f"Expected {MAX_PIXELS_ENV} to be a number of pixels (e.g. 50000000). Received: {value!r}"
            ) from None
    if max_pixels <= 0:
        raise ValueError(f"Expected max_pixels > 0. Received: max_pixels={max_pixels}")
    return int(max_pixels)


def _pixels_over(pixels, limit):
    """"144 Mpx > 50 Mpx" (pixels below a megapixel limit: "1024 px > 1000 px")."""
    if limit < 1_000_000:
        return f"{pixels} px > {limit} px"

    def mpx(count):
        return f"{count / 1e6:.1f}".rstrip("0").rstrip(".") + " Mpx"

    return f"{mpx(pixels)} > {mpx(limit)}"


def _file_kind(mode):
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return kind
    return "not a file"


def _os_error_reason(path, error):
    if error.errno == errno.ELOOP:
        return f"{NOT_REGULAR} (symlink loop)"
    if isinstance(error, FileNotFoundError):
        return f"{NOT_REGULAR} (dangling link)" if os.path.islink(path) else f"{UNREADABLE} (missing)"
    if isinstance(error, PermissionError):
        return f"{UNREADABLE} (permission denied)"
    return f"{UNREADABLE} ({error.strerror or error})"


def file_problem(path):
    """None if `path` is a non-empty regular file (links followed), else the reason it is not;
    never opens the file (a FIFO would block).

    Args:
        path: the file's path.

    Example:

    ```python
    file_problem("missing.jpg")  # "unreadable (missing)"
    ```
    """
    try:
        info = os.stat(path)
    except OSError as error:
        return _os_error_reason(path, error)
    if not stat.S_ISREG(info.st_mode):
        return f"{NOT_REGULAR} ({_file_kind(info.st_mode)})"
    if info.st_size == 0:
        return f"{UNREADABLE} (empty file)"
    return None


def _pillow_reason(error):
    from PIL import Image, UnidentifiedImageError

    if isinstance(error, Image.DecompressionBombError):
        return f"{TOO_LARGE} (over Pillow's PIL.Image.MAX_IMAGE_PIXELS)"
    if isinstance(error, UnidentifiedImageError):
        return f"{UNREADABLE} (not a {'/'.join(IMAGE_FORMATS)} image)"
    if isinstance(error, PermissionError):
        return f"{UNREADABLE} (permission denied)"
    if isinstance(error, MemoryError):
        return f"{TOO_LARGE} (out of memory while decoding)"
    text = str(error)
    if "truncat" in text.lower() or isinstance(error, EOFError):
        return f"{UNREADABLE} (truncated)"
    text = text.splitlines()[0][:120] if text else ""
    return f"{UNREADABLE} (corrupt: {type(error).__name__}{': ' + text if text else ''})"


# Image.open warns (DecompressionBombWarning) above Pillow's own limit; our limit is checked right
# after. warnings.catch_warnings is process-wide, hence the lock (held while reading headers only).
_OPEN_LOCK = threading.Lock()


class _OpenImage:
    """`with _OpenImage(path, max_pixels) as image:` a lazily opened Pillow image whose header
    passed the checks; raises `UnreadableImageError`."""

    def __init__(self, path, max_pixels=None):
        self.path = os.fspath(path)
        self.max_pixels = max_pixels_limit(max_pixels)
        self.file = self.image = None

    def __enter__(self):
        from PIL import Image

        path = self.path
        if not path.lower().endswith(IMAGE_EXTENSIONS):
            extension = os.path.splitext(path)[1] or "none"
            raise UnreadableImageError(path, f"{UNSUPPORTED} (extension {extension})")
        problem = file_problem(path)  # before opening: a FIFO would block
        if problem:
            raise UnreadableImageError(path, problem)
        try:  # non-blocking, then checked again on the open file (it may have been swapped)
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        except OSError as error:
            raise UnreadableImageError(path, _os_error_reason(path, error)) from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            raise UnreadableImageError(path, f"{NOT_REGULAR} ({_file_kind(info.st_mode)})")
        self.file = os.fdopen(fd, "rb")
        try:
            with _OPEN_LOCK, warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                self.image = Image.open(self.file, formats=IMAGE_FORMATS)
            width, height = self.image.size
            if width * height > self.max_pixels:
                raise UnreadableImageError(
                    path, f"{TOO_LARGE} ({_pixels_over(width * height, self.max_pixels)})"
                )
        except UnreadableImageError:
            self.__exit__()
            raise
        except Exception as error:  # Pillow raises many types for broken files
            self.__exit__()
            raise UnreadableImageError(path, _pillow_reason(error)) from None
        return self.image

    def __exit__(self, *exc):
        if self.image is not None:
            self.image.close()
        if self.file is not None:
            self.file.close()
        self.image = self.file = None
        return False


_GREY16_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("LA", "La", "RGBA", "RGBa", "PA")
_RGB_CONVERTIBLE = ("1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")


def _to_rgb(image, path):
    """A loaded Pillow image -> RGB uint8 (H, W, 3), by the rules of the module docstring."""
    from PIL import Image

    mode = image.mode
    if mode in _GREY16_MODES:  # 16-bit grey (mode "I" from PNG holds 16-bit values too)
        values = np.asarray(image)
        grey = (np.clip(values, 0, 65535).astype(np.uint32) + 128) // 257  # round(v * 255 / 65535)
        return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=-1)
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, tuple(ALPHA_BACKGROUND) + (255,))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), np.uint8)
    if mode in _RGB_CONVERTIBLE:
        return np.asarray(image if mode == "RGB" else image.convert("RGB"), np.uint8)
    raise UnreadableImageError(path, f"{UNSUPPORTED} (colour mode {mode})")


def load_image(path, max_pixels=None):
    """The image file `path` as RGB uint8 `(H, W, 3)` (the one reader of every command: rules in
    the module docstring). Raises `UnreadableImageError` (a `ValueError`) with its `reason`.

    Args:
        path: the image file.
        max_pixels: the largest width x height accepted, or `None` (`max_pixels_limit`).

    Example:

    ```python
    image = load_image("cat.jpg")  # uint8 (H, W, 3)
    ```
    """
    with _OpenImage(path, max_pixels) as image:
        try:
            image.load()
            return _to_rgb(image, path)
        except UnreadableImageError:
            raise
        except Exception as error:  # Pillow raises many types for broken files
            raise UnreadableImageError(path, _pillow_reason(error)) from None


def skipped_counts(skipped):
    """`[(path, reason)]` -> "1 not a regular file (a FIFO), 3 unreadable (truncated x2, empty
    file)": counts by kind, with the distinct details (the 3 most common).

    Args:
        skipped: list of `(path, reason)` pairs.

    Example:

    >>> skipped_counts([("a.jpg", "unreadable (truncated)"), ("b.jpg", "unreadable (empty file)")])
    '2 unreadable (truncated, empty file)'
    """
    kinds = collections.OrderedDict()
    for _, reason in skipped:
        kind, _, detail = reason.partition(" (")
        kinds.setdefault(kind, collections.Counter())[detail[:-1] if detail.endswith(")") else detail] += 1
    parts = []
    for kind, details in kinds.items():
        shown = [d + (f" x{n}" if n > 1 and len(details) > 1 else "") for d, n in details.most_common(3) if d]
        more = ", ..." if len(details) > 3 else ""
        parts.append(f"{sum(details.values())} {kind}" + (f" ({', '.join(shown)}{more})" if shown else ""))
    return ", ".join(parts)


def skipped_summary(skipped):
    """`[(path, reason)]` -> "skipped 3 files: 1 not a regular file (a FIFO), 1 unreadable
    (truncated), 1 too large (144 Mpx > 50 Mpx)" ("" when nothing was skipped).

    Args:
        skipped: list of `(path, reason)` pairs.

    Example:

    >>> skipped_summary([("a.jpg", "unreadable (truncated)")])
    'skipped 1 file: 1 unreadable (truncated)'
    """
    if not skipped:
        return ""
    return f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''}: {skipped_counts(skipped)}"


def check_image(path, max_pixels=None):
    """None if `load_image` reads `path`, else the reason it does not (JPEGs are decoded at
    reduced size: all the data is read, faster).

    Args:
        path: the image file.
        max_pixels: the largest width x height accepted, or `None` (`max_pixels_limit`).

    Example:

    ```python
    reason = check_image("cat.jpg")  # None: readable
    ```
    """
    try:
        with _OpenImage(path, max_pixels) as image:
            try:
                image.draft("RGB", (64, 64))  # JPEG: decode at 1/8 scale, still reads all data
                image.load()
                if image.mode not in _GREY16_MODES + _ALPHA_MODES + _RGB_CONVERTIBLE:  # as _to_rgb
                    raise UnreadableImageError(path, f"{UNSUPPORTED} (colour mode {image.mode})")
            except UnreadableImageError:
                raise
            except Exception as error:  # Pillow raises many types for broken files
                raise UnreadableImageError(path, _pillow_reason(error)) from None
    except UnreadableImageError as error:
        return error.reason
    return None


def read_image(path, image_size, max_pixels=None):
    """`(original, resized)`: the file as RGB uint8 `(H, W, 3)` (`load_image`), and squashed
    (bilinear, no crop) to `image_size` x `image_size`. Raises `UnreadableImageError`.

    Args:
        path: the image file.
        image_size: side S of the resized copy in pixels.
        max_pixels: the largest width x height accepted, or `None` (`max_pixels_limit`).

    Example:

    ```python
    original, image = read_image("cat.jpg", 32)  # image: uint8 (32, 32, 3)
    ```
    """
    from PIL import Image

    original = load_image(path, max_pixels)
    if original.shape[:2] == (image_size, image_size):
        return original, original.copy()
    resized = Image.fromarray(original).resize((image_size, image_size), Image.BILINEAR)
    return original, np.asarray(resized, dtype=np.uint8)



def report_skipped(skipped, what="images"):
    """Logs one warning: the counts by reason, then the first files with their reasons.

    Args:
        skipped: list of `(path, reason)` pairs (nothing is logged when empty).
        what: what was being read, for the message. Defaults to "images".

    Example:

    ```python
    report_skipped([("a.jpg", "unreadable (truncated)")], what="validation images")
    ```
    """
    if not skipped:
        return
    if len({reason for _, reason in skipped}) == 1:  # the summary already gives the one reason
        shown = "; ".join(path for path, _ in skipped[:5])
    else:
        shown = "; ".join(f"{path} ({reason})" for path, reason in skipped[:5])
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    logger.warning("Reading %s: %s: %s%s", what, skipped_summary(skipped), shown, more)


def find_images(inputs):
    """Image files among `inputs` (files, or folders searched recursively, symlinked folders not
    followed), sorted per input: every name with an image extension (`IMAGE_EXTENSIONS`), FIFOs
    and broken links included; the reader skips and reports those without opening them.

    Args:
        inputs: list of file and folder paths.

    Example:

    ```python
    files = find_images(["photos/", "extra.png"])
    ```
    """
    files = []
    for item in inputs:
        if os.path.isdir(item):
            found = []
            for root, dirs, names in os.walk(item):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(root, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
            files += sorted(found)
        elif item.lower().endswith(IMAGE_EXTENSIONS):
            files.append(item)
    return files
