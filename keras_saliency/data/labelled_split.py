"""A seeded three-way split of a flat labelled image folder (`labels.csv`: `path,label`).

Used for ImageNet validation photos with boxes: a "train" part that maskers may train on (its
boxes unused), a "calibration" part where thresholds are chosen, and a "test" part that is only
ever scored. The split depends only on the sorted file names and the seed.
"""

import csv
import os

import numpy as np

PARTS = ("train", "calibration", "test")


def read_labels_csv(path):
    """`{relative path: int label}` from a `labels.csv` with columns `path,label`.

    Args:
        path: the CSV file, with a header naming the columns `path` and `label`.

    Example:

    ```python
    labels = read_labels_csv("imagenet-val-dev/labels.csv")
    ```
    """
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise ValueError(
                f"Expected a header with columns ['label', 'path'] in {path}. Received: {reader.fieldnames}"
            )
        return {os.path.normpath(row["path"]): int(row["label"]) for row in reader}


def split_labelled(paths, train_fraction=0.3, calibration_fraction=0.3, seed=0):
    """`{part: sorted paths}`: `train_fraction` of the paths for training, then
    `calibration_fraction` of the rest for calibration, the remainder for test.

    Args:
        paths: relative image paths (their order does not matter).
        train_fraction: share of all images that training may use.
        calibration_fraction: share of the held-out images used to choose thresholds.
        seed: the permutation's seed.

    Example:

    ```python
    parts = split_labelled(read_labels_csv("imagenet-val-dev/labels.csv"), seed=0)
    len(parts["test"])  # never trained on, never used to choose a threshold
    ```
    """
    for name, value in (("train_fraction", train_fraction), ("calibration_fraction", calibration_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"Expected {name} in [0, 1). Received: {name}={value}")
    paths = sorted(paths)
    order = np.random.default_rng(seed).permutation(len(paths))
    n_train = int(round(train_fraction * len(paths)))
    held_out = order[n_train:]
    n_cal = int(round(calibration_fraction * len(held_out)))
    index = {"train": order[:n_train], "calibration": held_out[:n_cal], "test": held_out[n_cal:]}
    return {part: sorted(paths[i] for i in idx) for part, idx in index.items()}


def write_split_csv(parts, path):
    """One row per image: `path,part`.

    Args:
        parts: `{part: paths}` as returned by `split_labelled`.
        path: the CSV file to write (overwritten).

    Example:

    ```python
    write_split_csv(split_labelled(read_labels_csv("labels.csv")), "split.csv")
    ```
    """
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "part"])
        for part in PARTS:
            for p in parts.get(part, []):
                writer.writerow([p, part])


def read_split_csv(path, parts=PARTS):
    """The relative paths of `parts` (a name or a tuple of names) in a `path,part` CSV.

    Args:
        path: a CSV written by `write_split_csv`.
        parts: a part name or a tuple of names among `PARTS`. Defaults to all parts.

    Example:

    ```python
    test_paths = read_split_csv("split.csv", parts="test")
    ```
    """
    parts = (parts,) if isinstance(parts, str) else tuple(parts)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"Expected parts among {PARTS}. Received: {unknown}")
    with open(path, newline="") as f:
        return sorted(os.path.normpath(row["path"]) for row in csv.DictReader(f) if row["part"] in parts)
