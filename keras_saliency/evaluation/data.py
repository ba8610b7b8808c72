"""Images to evaluate on: a folder (class subfolders give the class; a flat folder is explained
for the predicted class) and optional ground-truth boxes from `boxes.csv`
(`path,xmin,ymin,xmax,ymax[,label]`, inclusive pixels of the original image, path relative to
the folder, several rows per image allowed; `label`, optional, gives the class of images in a
flat folder, see `imagenet_boxes` for ImageNet's own formats)."""

import csv
import dataclasses
import os
from typing import List, Optional

import numpy as np


@dataclasses.dataclass
class EvaluationImages:
    """Images to evaluate saliency methods on (`load_evaluation_images`).

    Args:
        images: `(N, S, S, 3)` float32 in [0, 255].
        class_ids: `(N,)` int32 classes to explain, or None to explain the predicted classes.
        paths: the image files, one per image.
        boxes: per image, a `(k, 4)` array of ground-truth boxes (xmin, ymin, xmax, ymax,
            inclusive pixels at size S), or None.
        parts: per image "calibration" or "test" (a fixed split), or None.

    Example:

    ```python
    data = EvaluationImages(images, class_ids, paths=[f"{i}.png" for i in range(len(images))])
    first = data.subset([0, 1, 2])
    ```
    """

    images: np.ndarray  # (N, S, S, 3) float32 in [0, 255]
    class_ids: Optional[np.ndarray]  # (N,) int32, None: explain the predicted class
    paths: List[str]
    boxes: Optional[List[np.ndarray]] = None  # per image (k, 4) inclusive pixels at size S
    parts: Optional[List[str]] = None  # per image "calibration" or "test" (a fixed split), or None

    def __len__(self):
        return len(self.images)

    def subset(self, index):
        index = np.asarray(index)
        return EvaluationImages(
            self.images[index],
            None if self.class_ids is None else self.class_ids[index],
            [self.paths[i] for i in index],
            None if self.boxes is None else [self.boxes[i] for i in index],
            None if self.parts is None else [self.parts[i] for i in index],
        )


def read_boxes_csv(path):
    """`{relative path: [(xmin, ymin, xmax, ymax), ...]}` from a boxes.csv file.

    Args:
        path: the CSV file, with columns `path,xmin,ymin,xmax,ymax` (paths relative to the
            image folder; one row per box).

    Example:

    ```python
    boxes = read_boxes_csv("val/boxes.csv")  # {"n01440764/a.JPEG": [(12, 30, 200, 180)], ...}
    ```
    """
    boxes = {}
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        expected = {"path", "xmin", "ymin", "xmax", "ymax"}
        if not reader.fieldnames or not expected <= set(reader.fieldnames):
            raise ValueError(
                f"Expected a header with columns {sorted(expected)} in {path}. "
                f"Received: {reader.fieldnames}"
            )
        for row in reader:
            box = tuple(int(float(row[k])) for k in ("xmin", "ymin", "xmax", "ymax"))
            boxes.setdefault(os.path.normpath(row["path"]), []).append(box)
    return boxes


def read_box_labels(path):
    """`{relative path: label}` from the optional `label` column of a boxes.csv (e.g. a WordNet
    id, from ImageNet's annotations); empty without that column.

    Args:
        path: the boxes.csv file.

    Example:

    ```python
    labels = read_box_labels("val/boxes.csv")  # {"ILSVRC2012_val_00000001.JPEG": "n01751748", ...}
    ```
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if "label" not in (reader.fieldnames or []):
            return {}
        return {os.path.normpath(row["path"]): row["label"] for row in reader if row["label"]}


def _scale_boxes(boxes, original_size, size):
    width, height = original_size
    out = []
    for x0, y0, x1, y1 in boxes:
        out.append(
            (
                int(np.floor(x0 * size / width)),
                int(np.floor(y0 * size / height)),
                min(size - 1, int(np.ceil((x1 + 1) * size / width)) - 1),
                min(size - 1, int(np.ceil((y1 + 1) * size / height)) - 1),
            )
        )
    return np.asarray(out, np.int32).reshape(-1, 4)


def load_evaluation_images(
    folder,
    image_size,
    boxes_csv=None,
    class_names=None,
    split=None,
    limit=None,
    seed=0,
    labels_csv=None,
    subset_csv=None,
):
    """Reads a folder for evaluation.

    `class_names`: the classifier's class names; class subfolders are matched to them by name
    (default: their sorted order). `split`: None (all images) or `(fraction, seed, "train" |
    "validation")` to use one part of `FolderScan.split` (the recipes' held-out validation).
    `limit`: a seeded random subset of at most `limit` images. Images without a box in a given
    `boxes_csv` are dropped (and counted in the returned summary).
    `labels_csv`: `path,label` (integer class ids, paths relative to `folder`) for a flat
    folder; by default a `labels.csv` in the folder or its parent is used.
    `subset_csv`: `path,part` (`keras_saliency.data.labelled_split`): only the "calibration" and
    "test" images are read, and each image keeps its part (the evaluation then chooses
    thresholds on the calibration part and scores the test part).

    Args:
        folder: a folder of class subfolders, or a flat folder of images.
        image_size: the side S the images are resized to, in pixels.
        boxes_csv: optional boxes.csv of ground-truth boxes (paths relative to `folder`).
        class_names: the classifier's class names (default: the subfolders' sorted order).
        split: None, or `(fraction, seed, "train" | "validation")`.
        limit: at most this many images (a seeded random subset), or None for all.
        seed: seed of the `limit` subset (default 0).
        labels_csv: `path,label` file of class ids for a flat folder (default: a
            `labels.csv` found next to it).
        subset_csv: `path,part` file of a fixed calibration / test split, or None.

    Example:

    ```python
    data = load_evaluation_images("val", 224, boxes_csv="val/boxes.csv", limit=500)
    ```
    """
    from keras_saliency.data.folder import (
        IMAGE_EXTENSIONS, UnreadableImageError, read_image, report_skipped, scan_image_folder, skipped_summary,
    )

    if not os.path.isdir(folder):
        raise ValueError(f"Expected a folder of images. Received: {folder!r} is not a folder")
    subfolders = [
        d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)) and not d.startswith(".")
        and not d.lower().endswith(IMAGE_EXTENSIONS)  # a folder named x.jpg: a skipped file, not a class
    ]
    if subfolders:
        scan = scan_image_folder(folder, check=False, progress=False)
        pairs = list(zip(scan.files, scan.labels))
        if split is not None:
            fraction, split_seed, part = split
            train, validation = scan.split(fraction, split_seed)
            pairs = validation if part == "validation" else train
        names = scan.class_names
        if class_names is not None:
            unknown = sorted(set(names) - set(class_names))
            if unknown:
                raise ValueError(
                    f"Expected class subfolders named after the classifier's classes "
                    f"({len(class_names)} classes, e.g. {list(class_names)[:3]}). Received unknown "
                    f"folders: {unknown[:5]}"
                )
            index = {name: i for i, name in enumerate(class_names)}
            pairs = [(p, index[names[label]]) for p, label in pairs]
    else:
        files = sorted(
            os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not files:
            raise ValueError(
                f"Expected images ({', '.join(IMAGE_EXTENSIONS)}) or class subfolders in {folder!r}. "
                "Received: none"
            )
        pairs = [(p, -1) for p in files]
        labels = read_box_labels(boxes_csv) if boxes_csv and class_names is not None else {}
        if labels_csv is None:
            for candidate in (os.path.join(folder, "labels.csv"), os.path.join(os.path.dirname(os.path.normpath(folder)), "labels.csv")):
                if os.path.exists(candidate):
                    labels_csv = candidate
                    break
        if labels_csv and not labels:
            from keras_saliency.data.labelled_split import read_labels_csv

            ids = read_labels_csv(labels_csv)
            pairs = [(p, ids[os.path.normpath(os.path.relpath(p, folder))]) for p, _ in pairs
                     if os.path.normpath(os.path.relpath(p, folder)) in ids]
            if not pairs:
                raise ValueError(
                    f"Expected {labels_csv} paths relative to {folder!r}. Received: no image of the folder is listed"
                )
        elif labels:  # a flat folder (e.g. ImageNet's validation images): classes from the boxes' labels
            index = {name: i for i, name in enumerate(class_names)}
            unknown = sorted({v for v in labels.values() if v not in index})
            if unknown:
                raise ValueError(
                    f"Expected box labels among the classifier's class names (e.g. {list(class_names)[:3]}). "
                    f"Received unknown labels: {unknown[:5]}"
                )
            pairs = [(p, index[labels[os.path.normpath(os.path.relpath(p, folder))]])
                     for p, _ in pairs if os.path.normpath(os.path.relpath(p, folder)) in labels]
    parts_by_path = None
    if subset_csv:
        import csv as _csv

        with open(subset_csv, newline="") as f:
            parts_by_path = {os.path.normpath(r["path"]): r["part"] for r in _csv.DictReader(f)
                             if r["part"] in ("calibration", "test")}
        pairs = [p for p in pairs if os.path.normpath(os.path.relpath(p[0], folder)) in parts_by_path]
        if not pairs:
            raise ValueError(
                f"Expected {subset_csv} paths (part calibration or test) relative to {folder!r}. Received: none match"
            )
    boxes_by_path = read_boxes_csv(boxes_csv) if boxes_csv else None
    if boxes_by_path is not None:
        pairs = [p for p in pairs if os.path.normpath(os.path.relpath(p[0], folder)) in boxes_by_path]
        if not pairs:
            raise ValueError(
                f"Expected boxes.csv paths relative to {folder!r}. Received: no image of the folder "
                f"has a box in {boxes_csv}"
            )
    if limit and len(pairs) > limit:
        rng = np.random.default_rng(seed)
        pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), limit, replace=False))]
    images, boxes, kept, skipped = [], [], [], []
    for path, label in pairs:
        try:  # unreadable files are skipped, counted and reported, never fatal
            original, image = read_image(path, image_size)
        except UnreadableImageError as error:
            skipped.append((path, error.reason))
            continue
        kept.append((path, label))
        images.append(image.astype(np.float32))
        if boxes_by_path is not None:
            rel = os.path.normpath(os.path.relpath(path, folder))
            height, width = original.shape[:2]
            boxes.append(_scale_boxes(boxes_by_path[rel], (width, height), image_size))
    report_skipped(skipped, f"images in {folder}")
    if not images:
        raise ValueError(f"Expected readable images in {folder!r}. Received: none of {len(pairs)} files "
                         f"({skipped_summary(skipped)})")
    pairs = kept
    labels = np.asarray([label for _, label in pairs], np.int32)
    return EvaluationImages(
        images=np.stack(images),
        class_ids=None if (labels < 0).any() else labels,
        paths=[p for p, _ in pairs],
        boxes=boxes if boxes_by_path is not None else None,
        parts=None if parts_by_path is None
        else [parts_by_path[os.path.normpath(os.path.relpath(p, folder))] for p, _ in pairs],
    )
