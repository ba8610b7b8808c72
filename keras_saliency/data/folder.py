"""Image folders: `root/<class>/<image>`, class ids from the sorted subfolder names. The
files are read by `keras_saliency.runtime.images.load_image` (its rules: that module's docstring).

Folders are checked once before training (decoded at reduced size, in threads): unreadable,
corrupt or unsupported files are skipped, counted and reported, so training never crashes
mid-epoch. A class folder without any readable image is not a class (a warning names it); a
folder without any readable image is an error.
"""

import concurrent.futures
import dataclasses
import logging
import os
from typing import List, Tuple

import numpy as np

from keras_saliency.runtime.images import (  # noqa: F401 (re-exported)
    ALPHA_BACKGROUND,
    IMAGE_EXTENSIONS,
    IMAGE_FORMATS,
    MAX_PIXELS,
    MAX_PIXELS_ENV,
    NOT_REGULAR,
    TOO_LARGE,
    UNREADABLE,
    UNSUPPORTED,
    UnreadableImageError,
    check_image,
    file_problem,
    load_image,
    max_pixels_limit,
    read_image,
    report_skipped,
    skipped_counts,
    skipped_summary,
)

logger = logging.getLogger("keras_saliency")


@dataclasses.dataclass
class FolderScan:
    """The readable images of a class-folder tree, as returned by `scan_image_folder`.

    Args:
        root: the scanned folder (`root/<class>/<image>`).
        class_names: sorted names of the class folders with at least one readable image.
        files: paths of the readable images.
        labels: class id of each file (an index into `class_names`).
        skipped: `(path, reason)` of each file left out.
        empty_classes: class folders left out for want of a readable image.

    Example:

    ```python
    scan = scan_image_folder("flowers/")
    train, validation = scan.split(validation_fraction=0.2, seed=0)
    ```
    """

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
    it. A subfolder named like an image (x.jpg) is a skipped file, not a class.

    Args:
        root: folder of class subfolders (`root/<class>/<image>`).
        check: whether to decode every file (at reduced size) to check it. Defaults to `True`.
        workers: threads that check files. Defaults to 8.
        progress: whether to show a progress bar while checking. Defaults to `True`.
        max_pixels: largest image size in pixels accepted, or `None` for the default limit
            (see `max_pixels_limit`).

    Example:

    ```python
    scan = scan_image_folder("flowers/", workers=4)
    print(scan.summary())
    ```
    """
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
    kept = [(p, label) for (p, label), r in zip(candidates, reasons) if r is None]
    skipped += [(p, r) for (p, _), r in zip(candidates, reasons) if r is not None]
    used = sorted({label for _, label in kept})
    relabel = {old: new for new, old in enumerate(used)}
    scan = FolderScan(
        root=root,
        class_names=[subfolders[i] for i in used],
        files=[p for p, _ in kept],
        labels=[relabel[label] for _, label in kept],
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


def folder_dataset(pairs, image_size, batch_size=32, training=False, seed=None, max_pixels=None, zoom=0.0):
    """A dataset over `(path, label)` pairs from `FolderScan.split` (or a whole scan), decoded
    by `load_image` (inside `tf.numpy_function`: single-host input pipelines only).

    Args:
        pairs: list of `(path, label)` pairs, or a `FolderScan` (all its files).
        image_size: output side S in pixels (images are resized to S x S).
        batch_size: images per batch. Defaults to 32.
        training: whether to shuffle and augment (flips). Defaults to `False`.
        seed: seed of the shuffle and the augmentation, or `None`.
        max_pixels: largest image size in pixels decoded, or `None` for the default limit.
        zoom: when training, the smallest area fraction of random crops (`pipeline.random_zoom`;
            0: none). Defaults to 0.

    Example:

    ```python
    train, validation = scan_image_folder("flowers/").split(0.1)
    dataset = folder_dataset(train, image_size=224, batch_size=64, training=True)
    ```
    """
    import tensorflow as tf

    from keras_saliency.data.pipeline import prepare

    if isinstance(pairs, FolderScan):
        pairs = list(zip(pairs.files, pairs.labels))
    if not pairs:
        raise ValueError("Expected at least one (path, label) pair. Received: none")
    paths = [p for p, _ in pairs]
    labels = [int(label) for _, label in pairs]
    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    if training:  # shuffle the (cheap) file list, not decoded images
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(_decoder(max_pixels), num_parallel_calls=tf.data.AUTOTUNE)
    # A file that passed the check but still fails to decode is dropped, never fatal.
    dataset = dataset.ignore_errors(log_warning=True)
    dataset = prepare(dataset, image_size, batch_size, training=training, seed=seed, shuffle_buffer=0, zoom=zoom)
    # The number of batches, so that `fit` shows its progress in steps (not "Unknown") and needs
    # neither `steps_per_epoch` nor `.repeat()`. (A file dropped at decode time, after passing
    # the scan's checks, can make an epoch one batch shorter than announced: TensorFlow then
    # stops it with an error naming the cardinality.)
    return dataset.apply(tf.data.experimental.assert_cardinality(-(-len(paths) // batch_size)))

def load_folder_arrays(pairs, image_size, workers=8, progress=True):
    """Decodes `(path, label)` pairs into memory: `(images uint8 (N, S, S, 3), labels int32)`.

    For small-image folders (CIFAR-10: 150 MB for 50,000 images) this makes every epoch after
    the first free of JPEG decoding. Files `load_image` does not read are left out (fewer rows)
    and reported in one warning; none readable is an error.

    Args:
        pairs: list of `(path, label)` pairs, or a `FolderScan` (all its files).
        image_size: output side S in pixels (images are resized to S x S).
        workers: threads that decode files. Defaults to 8.
        progress: whether to show a progress bar. Defaults to `True`.

    Example:

    ```python
    images, labels = load_folder_arrays(scan_image_folder("cifar10-png/"), image_size=32)
    ```
    """
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
