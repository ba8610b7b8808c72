"""Image folders: `root/<class>/<image>`, class ids from the sorted subfolder names.

Files are checked once before training (decoded by Pillow at reduced size, in threads):
unreadable, corrupt or unsupported files are skipped, counted and reported, so training
never crashes mid-epoch. A folder without any readable image is an error.
"""

import concurrent.futures
import dataclasses
import logging
import os
from typing import List, Tuple

import numpy as np

logger = logging.getLogger("keras_saliency")

# What tf.io.decode_image reads.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")


@dataclasses.dataclass
class FolderScan:
    root: str
    class_names: List[str]
    files: List[str]
    labels: List[int]
    skipped: List[Tuple[str, str]]  # (path, reason)

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
            text += f": {shown}{more}"
        return text


def check_image(path):
    """None if Pillow decodes `path` (at reduced size), else the reason it cannot."""
    from PIL import Image

    if not path.lower().endswith(IMAGE_EXTENSIONS):
        return f"unsupported extension, expected one of {IMAGE_EXTENSIONS}"
    try:
        with Image.open(path) as image:
            image.draft("RGB", (64, 64))  # JPEG: decode at 1/8 scale, still reads all data
            image.load()
            if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "CMYK"):
                return f"unsupported colour mode {image.mode}"
    except Exception as error:  # Pillow raises many types for broken files
        return f"unreadable: {type(error).__name__}: {error}"
    return None


def scan_image_folder(root, check=True, workers=8, progress=True):
    """Lists `root/<class>/*` and checks every file. Returns a `FolderScan`."""
    if not os.path.isdir(root):
        raise ValueError(f"Expected a folder of class subfolders. Received: {root!r} is not a folder")
    class_names = sorted(
        d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith(".")
    )
    if not class_names:
        raise ValueError(
            f"Expected class subfolders in {root!r} (root/<class>/<image>). Received: none"
        )
    candidates = []
    for label, name in enumerate(class_names):
        folder = os.path.join(root, name)
        for file in sorted(os.listdir(folder)):
            path = os.path.join(folder, file)
            if os.path.isfile(path) and not file.startswith("."):
                candidates.append((path, label))
    reasons = [None] * len(candidates)
    if check and candidates:
        import keras

        bar = keras.utils.Progbar(len(candidates), unit_name="file") if progress else None
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for i, reason in enumerate(pool.map(check_image, [p for p, _ in candidates])):
                reasons[i] = reason
                if bar is not None and ((i + 1) % 500 == 0 or i + 1 == len(candidates)):
                    bar.update(i + 1)
    else:
        reasons = [
            None if p.lower().endswith(IMAGE_EXTENSIONS) else "unsupported extension"
            for p, _ in candidates
        ]
    kept = [(p, l) for (p, l), r in zip(candidates, reasons) if r is None]
    skipped = [(p, r) for (p, _), r in zip(candidates, reasons) if r is not None]
    scan = FolderScan(
        root=root,
        class_names=class_names,
        files=[p for p, _ in kept],
        labels=[l for _, l in kept],
        skipped=skipped,
    )
    if not kept:
        raise ValueError(
            f"Expected readable images ({', '.join(IMAGE_EXTENSIONS)}) in the class subfolders of "
            f"{root!r}. Received: none ({len(skipped)} files skipped). {scan.summary()}"
        )
    if skipped:
        logger.warning(scan.summary())
    else:
        logger.info(scan.summary())
    return scan


def _decode(path, label):
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    return image, label


def folder_dataset(pairs, image_size, batch_size=32, training=False, seed=None):
    """A dataset over `(path, label)` pairs from `FolderScan.split` (or a whole scan)."""
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
    dataset = dataset.map(_decode, num_parallel_calls=tf.data.AUTOTUNE)
    # A file that passed the check but still fails to decode is dropped, never fatal.
    dataset = dataset.ignore_errors(log_warning=True)
    return prepare(dataset, image_size, batch_size, training=training, seed=seed, shuffle_buffer=0)


def read_image(path, image_size):
    """`(original, resized)`: the file as RGB uint8 `(H, W, 3)`, and squashed (bilinear, no crop)
    to `image_size` x `image_size`."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        original = np.asarray(image, dtype=np.uint8)
        if image.size != (image_size, image_size):
            image = image.resize((image_size, image_size), Image.BILINEAR)
        return original, np.asarray(image, dtype=np.uint8)


def load_folder_arrays(pairs, image_size, workers=8, progress=True):
    """Decodes `(path, label)` pairs into memory: `(images uint8 (N, S, S, 3), labels int32)`.

    For small-image folders (CIFAR-10: 150 MB for 50,000 images) this makes every epoch after
    the first free of JPEG decoding."""
    if isinstance(pairs, FolderScan):
        pairs = list(zip(pairs.files, pairs.labels))
    images = np.zeros((len(pairs), image_size, image_size, 3), np.uint8)
    bar = None
    if progress:
        import keras

        bar = keras.utils.Progbar(len(pairs), unit_name="image")
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        jobs = pool.map(lambda pair: read_image(pair[0], image_size)[1], pairs)
        for i, image in enumerate(jobs):
            images[i] = image
            if bar is not None and ((i + 1) % 1000 == 0 or i + 1 == len(pairs)):
                bar.update(i + 1)
    return images, np.asarray([label for _, label in pairs], np.int32)
