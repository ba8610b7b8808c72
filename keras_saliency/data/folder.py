"""Image files, read one way everywhere, and image folders: `root/<class>/<image>`, class ids
from the sorted subfolder names.

`load_image` is the one image reader of the package (train's folder pipeline, explain,
evaluate, export --calibration-data): Pillow, limited to the formats of `IMAGE_EXTENSIONS`
(sniffed from the content, so a PNG named .jpg still reads), always RGB uint8:

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

Folders are checked once before training (decoded at reduced size, in threads): unreadable,
corrupt or unsupported files are skipped, counted and reported, so training never crashes
mid-epoch. A class folder without any readable image is not a class (a warning names it); a
folder without any readable image is an error.
"""

import collections
import concurrent.futures
import dataclasses
import errno
import logging
import os
import stat
import threading
import warnings
from typing import List, Tuple

import numpy as np

logger = logging.getLogger("keras_saliency")

# The image files of every command (the one list: the standalone runners in export/ keep a copy).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
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
    """A file `load_image` does not read; `reason` says why, e.g. "unreadable (truncated)"."""

    def __init__(self, path, reason):
        super().__init__(f"Expected a readable image file. Received: {path} ({reason})")
        self.path = path
        self.reason = reason


def max_pixels_limit(max_pixels=None):
    """`max_pixels`, else the environment's `KERAS_SALIENCY_MAX_PIXELS`, else `MAX_PIXELS`."""
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
    never opens the file (a FIFO would block)."""
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
    the module docstring). Raises `UnreadableImageError` (a `ValueError`) with its `reason`."""
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
    file)": counts by kind, with the distinct details (the 3 most common)."""
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
    (truncated), 1 too large (144 Mpx > 50 Mpx)" ("" when nothing was skipped)."""
    if not skipped:
        return ""
    return f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''}: {skipped_counts(skipped)}"


@dataclasses.dataclass
class FolderScan:
    root: str
    class_names: List[str]
    files: List[str]
    labels: List[int]
    skipped: List[Tuple[str, str]]  # (path, reason)
    empty_classes: List[str] = dataclasses.field(default_factory=list)  # folders left out: no image

    def split(self, validation_fraction=0.1, seed=0):
        """A seeded split, stratified by class: `(train, validation)` lists of (file, label)."""
        if not 0.0 <= validation_fraction < 1.0:
            raise ValueError(
                f"Expected validation_fraction in [0, 1). Received: {validation_fraction}"
            )
        rng = np.random.default_rng(seed)
        files = np.asarray(self.files)
        labels = np.asarray(self.labels)
        train, validation = [], []
        for label in range(len(self.class_names)):
            index = np.flatnonzero(labels == label)
            index = index[rng.permutation(len(index))]
            n_val = int(round(validation_fraction * len(index)))
            validation += [(str(files[i]), label) for i in index[:n_val]]
            train += [(str(files[i]), label) for i in index[n_val:]]
        # Validation in a seeded random order: any leading batch (e.g. for example pictures)
        # spans the classes. Training data is shuffled by its pipeline anyway.
        validation = [validation[i] for i in rng.permutation(len(validation))]
        return sorted(train), validation

    def summary(self):
        text = (
            f"{self.root}: {len(self.files)} images in {len(self.class_names)} classes, "
            f"{len(self.skipped)} files skipped"
        )
        if self.skipped:
            shown = "; ".join(f"{os.path.relpath(p, self.root)} ({r})" for p, r in self.skipped[:5])
            more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            text += f" ({skipped_counts(self.skipped)}): {shown}{more}"
        if self.empty_classes:
            text += (
                f". Left out {len(self.empty_classes)} class folder(s) without a readable image: "
                f"{self.empty_classes[:10]} (add images or remove the folders)"
            )
        return text


def check_image(path, max_pixels=None):
    """None if `load_image` reads `path`, else the reason it does not (JPEGs are decoded at
    reduced size: all the data is read, faster)."""
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


def _folder_entries(folder):
    """`(candidates, skipped)` of one class folder, nothing opened: the non-empty regular files
    (or links to them) not hidden, and, with reasons, the empty files and the entries with image
    extensions that are no regular files (FIFOs, folders named x.jpg, symlink loops, dangling
    links). Other subfolders are ignored."""
    candidates, skipped = [], []
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            try:
                regular = entry.is_file()  # follows links; FIFOs, sockets, devices: False
                empty = regular and entry.stat().st_size == 0
            except OSError:
                regular = empty = False
            if empty:
                skipped.append((entry.path, f"{UNREADABLE} (empty file)"))
            elif regular:
                candidates.append(entry.path)
            elif entry.name.lower().endswith(IMAGE_EXTENSIONS):
                skipped.append((entry.path, file_problem(entry.path) or f"{NOT_REGULAR} (not a file)"))
    return candidates, skipped


def scan_image_folder(root, check=True, workers=8, progress=True, max_pixels=None):
    """Lists `root/<class>/*` and checks every file (`check=False`: the file type and extension
    only, no decoding). Returns a `FolderScan`.

    Skipped files are counted by reason (`FolderScan.skipped`, logged as a warning). A class
    folder left with no image is not a class (unlike Keras' `image_dataset_from_directory`, which
    keeps it as a class that never occurs): it is left out of `class_names` with a warning naming
    it. A subfolder named like an image (x.jpg) is a skipped file, not a class."""
    if not os.path.isdir(root):
        raise ValueError(f"Expected a folder of class subfolders. Received: {root!r} is not a folder")
    skipped, subfolders = [], []
    for d in sorted(os.listdir(root)):
        if d.startswith(".") or not os.path.isdir(os.path.join(root, d)):
            continue
        if d.lower().endswith(IMAGE_EXTENSIONS):
            skipped.append((os.path.join(root, d), f"{NOT_REGULAR} (a directory)"))
        else:
            subfolders.append(d)
    if not subfolders:
        raise ValueError(
            f"Expected class subfolders in {root!r} (root/<class>/<image>). Received: none"
        )
    candidates = []
    for index, name in enumerate(subfolders):
        files, bad = _folder_entries(os.path.join(root, name))
        candidates += [(path, index) for path in files]
        skipped += bad
    max_pixels = max_pixels_limit(max_pixels)
    if check and candidates:
        import keras

        reasons = [None] * len(candidates)
        bar = keras.utils.Progbar(len(candidates), unit_name="file") if progress else None
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            jobs = pool.map(lambda path: check_image(path, max_pixels), [p for p, _ in candidates])
            for i, reason in enumerate(jobs):
                reasons[i] = reason
                if bar is not None and ((i + 1) % 500 == 0 or i + 1 == len(candidates)):
                    bar.update(i + 1)
    else:
        reasons = [
            None if p.lower().endswith(IMAGE_EXTENSIONS)
            else f"{UNSUPPORTED} (extension {os.path.splitext(p)[1] or 'none'})"
            for p, _ in candidates
        ]
    kept = [(p, l) for (p, l), r in zip(candidates, reasons) if r is None]
    skipped += [(p, r) for (p, _), r in zip(candidates, reasons) if r is not None]
    used = sorted({l for _, l in kept})
    relabel = {old: new for new, old in enumerate(used)}
    scan = FolderScan(
        root=root,
        class_names=[subfolders[i] for i in used],
        files=[p for p, _ in kept],
        labels=[relabel[l] for _, l in kept],
        skipped=skipped,
        empty_classes=[name for i, name in enumerate(subfolders) if i not in relabel],
    )
    if not kept:
        raise ValueError(
            f"Expected readable images ({', '.join(IMAGE_EXTENSIONS)}) in the class subfolders of "
            f"{root!r}. Received: none ({skipped_summary(skipped) or 'no files'})"
        )
    if skipped or scan.empty_classes:
        logger.warning(scan.summary())
    else:
        logger.info(scan.summary())
    return scan


def _decoder(max_pixels):
    import tensorflow as tf

    max_pixels = max_pixels_limit(max_pixels)

    def read(path):
        return load_image(path.decode(), max_pixels)

    def decode(path, label):  # the same reader (Pillow) as explain, evaluate and export
        image = tf.numpy_function(read, [path], tf.uint8, stateful=False)
        image.set_shape([None, None, 3])
        return image, label

    return decode


def folder_dataset(pairs, image_size, batch_size=32, training=False, seed=None, max_pixels=None):
    """A dataset over `(path, label)` pairs from `FolderScan.split` (or a whole scan), decoded
    by `load_image` (inside `tf.numpy_function`: single-host input pipelines only)."""
    import tensorflow as tf

    from keras_saliency.data.pipeline import prepare

    if isinstance(pairs, FolderScan):
        pairs = list(zip(pairs.files, pairs.labels))
    if not pairs:
        raise ValueError("Expected at least one (path, label) pair. Received: none")
    paths = [p for p, _ in pairs]
    labels = [int(l) for _, l in pairs]
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    if training:  # shuffle the (cheap) file list, not decoded images
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(_decoder(max_pixels), num_parallel_calls=tf.data.AUTOTUNE)
    # A file that passed the check but still fails to decode is dropped, never fatal.
    dataset = dataset.ignore_errors(log_warning=True)
    dataset = prepare(dataset, image_size, batch_size, training=training, seed=seed, shuffle_buffer=0)
    # The number of batches, so that `fit` shows its progress in steps (not "Unknown") and needs
    # neither `steps_per_epoch` nor `.repeat()`. (A file dropped at decode time, after passing
    # the scan's checks, can make an epoch one batch shorter than announced: TensorFlow then
    # stops it with an error naming the cardinality.)
    return dataset.apply(tf.data.experimental.assert_cardinality(-(-len(paths) // batch_size)))


def read_image(path, image_size, max_pixels=None):
    """`(original, resized)`: the file as RGB uint8 `(H, W, 3)` (`load_image`), and squashed
    (bilinear, no crop) to `image_size` x `image_size`. Raises `UnreadableImageError`."""
    from PIL import Image

    original = load_image(path, max_pixels)
    if original.shape[:2] == (image_size, image_size):
        return original, original.copy()
    resized = Image.fromarray(original).resize((image_size, image_size), Image.BILINEAR)
    return original, np.asarray(resized, dtype=np.uint8)


def load_folder_arrays(pairs, image_size, workers=8, progress=True):
    """Decodes `(path, label)` pairs into memory: `(images uint8 (N, S, S, 3), labels int32)`.

    For small-image folders (CIFAR-10: 150 MB for 50,000 images) this makes every epoch after
    the first free of JPEG decoding. Files `load_image` does not read are left out (fewer rows)
    and reported in one warning; none readable is an error."""
    if isinstance(pairs, FolderScan):
        pairs = list(zip(pairs.files, pairs.labels))
    images = np.zeros((len(pairs), image_size, image_size, 3), np.uint8)
    ok = np.ones(len(pairs), bool)
    skipped = []
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(len(pairs), unit_name="image")

    def read(pair):
        try:
            return read_image(pair[0], image_size)[1]
        except UnreadableImageError as error:
            return error

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for i, image in enumerate(pool.map(read, pairs)):
            if isinstance(image, UnreadableImageError):
                ok[i] = False
                skipped.append((image.path, image.reason))
            else:
                images[i] = image
            if bar is not None and ((i + 1) % 1000 == 0 or i + 1 == len(pairs)):
                bar.update(i + 1)
    labels = np.asarray([label for _, label in pairs], np.int32)
    if skipped:
        report_skipped(skipped)
        if not ok.any():
            raise ValueError(f"Expected at least one readable image. Received: none of {len(pairs)} files "
                             f"({skipped_summary(skipped)})")
        images, labels = images[ok], labels[ok]
    return images, labels


def report_skipped(skipped, what="images"):
    """Logs one warning: the counts by reason, then the first files with their reasons."""
    if not skipped:
        return
    shown = "; ".join(f"{path} ({reason})" for path, reason in skipped[:5])
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    logger.warning("Reading %s: %s: %s%s", what, skipped_summary(skipped), shown, more)
