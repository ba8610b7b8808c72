"""Explaining image files: masks for the given or the predicted class, written as pictures
(image | mask heat-map | preserved | destroyed), optional raw masks (.npy at the original
resolution) and a CSV of what was explained."""

import csv
import json
import logging
import os

import numpy as np

from keras_saliency.runtime.images import (  # noqa: F401 (find_images: re-exported)
    UnreadableImageError,
    find_images,
    read_image,
    report_skipped,
    skipped_summary,
)

logger = logging.getLogger("keras_saliency")

SUMMARY_FILE = "explanations.csv"


def _output_stem(path, output, used):
    stem = os.path.splitext(os.path.basename(path))[0]
    name, k = stem, 1
    while name in used:  # same file name in two folders
        k += 1
        name = f"{stem}_{k}"
    used.add(name)
    return os.path.join(output, name)


def explain_files(
    model,
    files,
    output,
    class_id=None,
    class_names=None,
    save_masks=False,
    batch_size=32,
    run_config=None,
    progress=True,
    top_k=1,
):
    """Writes `<name>_saliency.png` (and `<name>_mask.npy`) per readable file, plus
    `explanations.csv` and `explain_config.json`. Unreadable files are skipped and reported.
    Without `class_id`, the `top_k` classes the classifier ranks highest are explained, one row
    of the picture (and of the CSV) each. Returns the CSV rows (dicts).

    Args:
        model: the `SaliencyModel`.
        files: the image files.
        output: the folder of the results (created).
        class_id: the class explained for every image, or None for the top classes.
        class_names: names of the classes for titles and the CSV (default: the ids).
        save_masks: also save each mask at the image's own size as `.npy` (default False).
        batch_size: images per batch (default 32).
        run_config: settings added to `explain_config.json`, or None.
        progress: show a progress bar (default True).
        top_k: classes explained per image without `class_id` (default 1).

    Example:

    ```python
    rows = explain_files(model, ["cat.jpg", "dog.jpg"], "explanations", top_k=3)
    ```
    """
    import keras

    from keras_saliency.models.alternatives import blurred
    from keras_saliency.reports.pictures import save_panels

    os.makedirs(output, exist_ok=True)
    size = model.image_size
    rows, used, skipped = [], set(), []
    bar = keras.utils.Progbar(len(files), unit_name="image") if progress else None
    for start in range(0, len(files), batch_size):
        batch_files, sizes, images = [], [], []
        for path in files[start : start + batch_size]:
            try:
                original, image = read_image(path, size)
            except UnreadableImageError as error:  # never opened if not a regular file
                skipped.append((path, error.reason))
                continue
            batch_files.append(path)
            sizes.append(original.shape[:2])  # the decoded original is not kept (49 Mpx: 150 MB)
            del original
            images.append(image)
        if images:
            images = np.stack(images).astype(np.float32)
            logits = keras.ops.convert_to_numpy(model.classifier_logits(keras.ops.convert_to_tensor(images)))
            probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
            if class_id is None:
                ranked = np.argsort(-logits, axis=1)[:, : max(1, int(top_k))]
            else:
                ranked = np.full((len(images), 1), class_id)
            masks, exists = [], []
            for rank in range(ranked.shape[1]):
                outputs = model.explain(images, ranked[:, rank].astype(np.int32), batch_size=batch_size)
                masks.append(np.asarray(outputs["mask"]))
                exists.append(np.asarray(outputs["exists"]).reshape(-1))
            masks, exists = np.stack(masks, 1), np.stack(exists, 1)  # (N, k, S, S, 1), (N, k)
            alternatives = keras.ops.convert_to_numpy(blurred(images))
            for i, path in enumerate(batch_files):
                stem = _output_stem(path, output, used)
                names = [class_names[c] if class_names else str(int(c)) for c in ranked[i]]
                titles = [f"{name} (p={probabilities[i, c]:.2f})" for name, c in zip(names, ranked[i])]
                k = len(names)
                save_panels(f"{stem}_saliency.png", np.repeat(images[i : i + 1], k, 0), masks[i], titles=titles,
                            alternatives=np.repeat(alternatives[i : i + 1], k, 0))
                if save_masks:
                    height, width = sizes[i]
                    full = keras.ops.convert_to_numpy(
                        keras.ops.image.resize(masks[i], (height, width), interpolation="bilinear"))[..., 0]
                    full = np.clip(full, 0.0, 1.0).astype(np.float32)
                    np.save(f"{stem}_mask.npy", full[0] if k == 1 else full)
                for rank, (name, c) in enumerate(zip(names, ranked[i])):
                    rows.append(
                        {
                            "path": path,
                            "rank": rank + 1,
                            "class_id": int(c),
                            "class_name": name,
                            "probability": float(probabilities[i, c]),
                            "exists": float(exists[i, rank]),
                            "mask_mean": float(masks[i, rank].mean()),
                            "picture": os.path.basename(stem) + "_saliency.png",
                        }
                    )
        if bar is not None:
            bar.update(min(start + batch_size, len(files)))
    if rows:
        with open(os.path.join(output, SUMMARY_FILE), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    with open(os.path.join(output, "explain_config.json"), "w") as f:
        json.dump({**(run_config or {}), "files": len(files), "skipped": skipped,
                   "skipped_summary": skipped_summary(skipped), "image_size": size}, f, indent=2)
    report_skipped(skipped, "images to explain")
    if files and not rows:
        raise ValueError(f"Expected at least one readable image. Received: none of {len(files)} files "
                         f"({skipped_summary(skipped)})")
    return rows


def class_id_from(value, class_names, num_classes):
    """A `class_name` value (an id, or a name in one of the lists of `class_names`: folder
    names, readable names) as a class id; None stays None.

    Args:
        value: the option's value (a string), or None.
        class_names: lists of class names (each may be None).
        num_classes: the model's number of classes.

    Raises:
        ValueError: an unknown name or an id out of range (the last list's message).

    Example:

    >>> class_id_from("cat", [["airplane", "cat"], None], 2)
    1
    """
    from keras_saliency.runtime.classes import resolve_class

    if value is None or value == "auto":  # "auto": the predicted class, as None
        return None
    lists = [names for names in class_names if names] or [None]
    errors = []
    for names in lists:  # the first list that knows the value (folder names, then readable names)
        try:
            return resolve_class(value, names, num_classes)
        except ValueError as error:
            errors.append(error)
    raise errors[-1]


def explain_inputs(inputs=(), model="cifar10", class_name=None, confidence=None, top_k=1,
                   save_masks=False, batch_size=32, output="saliency-explanations", log=None):
    """What `keras-saliency explain` does: masks for image files and folders (none: the sample
    photos shipped with the package), written by `explain_files` into `output`.

    Args:
        inputs: image files and folders.
        model: a shipped model name or a masker's `.keras` file.
        class_name: a class name or id to explain; None: the predicted class (or `top_k`).
        confidence: the class selector threshold, or None.
        top_k: without `class_name`, the number of best-ranked classes explained per image.
        save_masks: also write each mask as `.npy` at the image's original resolution.
        batch_size: images per model call.
        output: the output folder.
        log: a function called with each progress line (e.g. `print`), or None.

    Returns:
        `(rows, files)`: the CSV rows written and the image files found.

    Raises:
        ValueError: an unusable model file or class, no readable image.
        FileNotFoundError: no image file in `inputs`.

    Example:

    ```python
    rows, files = explain_inputs(["photos/"], model="imagenet-darknet-tiny", top_k=3)
    ```
    """
    from keras_saliency import samples
    from keras_saliency.pretrained import load_saliency_model

    log = log or (lambda line: None)
    if not inputs:
        inputs = tuple(samples.paths())
        log(f"No images given: explaining the {len(inputs)} sample photos shipped with the package")
    saliency_model, class_names, info = load_saliency_model(model, confidence)
    display = info.get("display_names") or class_names
    files = find_images(inputs)
    if not files:
        raise FileNotFoundError(f"Expected image files among the inputs. Received: none in {list(inputs)}")
    class_id = class_id_from(class_name, [class_names, display], saliency_model.num_classes)
    rows = explain_files(
        saliency_model, files, output, class_id=class_id, class_names=display,
        save_masks=save_masks, batch_size=batch_size, top_k=top_k,
        run_config={"model": model, "class": class_name, "confidence": confidence, "top_k": top_k,
                    "inputs": list(inputs)},
    )
    return rows, files
