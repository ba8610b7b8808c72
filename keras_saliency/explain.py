"""Explaining image files: masks for the given or the predicted class, written as pictures
(image | mask heat-map | preserved | destroyed), optional raw masks (.npy at the original
resolution) and a CSV of what was explained."""

import csv
import json
import logging
import os

import numpy as np

from keras_saliency.data.folder import IMAGE_EXTENSIONS, read_image

logger = logging.getLogger("keras_saliency")

SUMMARY_FILE = "explanations.csv"


def find_images(inputs):
    """Image files among `inputs` (files, or folders searched recursively), sorted per input."""
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
):
    """Writes `<name>_saliency.png` (and `<name>_mask.npy`) per readable file, plus
    `explanations.csv` and `explain_config.json`. Unreadable files are skipped and reported.
    Returns the CSV rows (dicts)."""
    import keras
    import tensorflow as tf

    from keras_saliency.alternatives import blurred
    from keras_saliency.visualize import save_panels

    os.makedirs(output, exist_ok=True)
    size = model.image_size
    model.return_exists = True
    rows, used, skipped = [], set(), []
    bar = keras.utils.Progbar(len(files), unit_name="image") if progress else None
    for start in range(0, len(files), batch_size):
        batch_files, originals, images = [], [], []
        for path in files[start : start + batch_size]:
            try:
                original, image = read_image(path, size)
            except Exception as error:  # Pillow raises many types for broken files
                skipped.append((path, f"{type(error).__name__}: {error}"))
                continue
            batch_files.append(path)
            originals.append(original)
            images.append(image)
        if images:
            images = np.stack(images).astype(np.float32)
            logits = model.classifier_logits(tf.constant(images)).numpy()
            probabilities = tf.nn.softmax(logits).numpy()
            ids = logits.argmax(1) if class_id is None else np.full(len(images), class_id)
            outputs = model.predict((images, ids.astype(np.int32)), verbose=0)
            masks, exists = np.asarray(outputs["mask"]), np.asarray(outputs["exists"]).reshape(-1)
            alternatives = blurred(images).numpy()
            for i, path in enumerate(batch_files):
                stem = _output_stem(path, output, used)
                name = class_names[ids[i]] if class_names else str(int(ids[i]))
                title = f"{name} (p={probabilities[i, ids[i]]:.2f})"
                save_panels(f"{stem}_saliency.png", images[i : i + 1], masks[i : i + 1], titles=[title], alternatives=alternatives[i : i + 1])
                if save_masks:
                    height, width = originals[i].shape[:2]
                    full = tf.image.resize(masks[i], (height, width), method="bilinear").numpy()[..., 0]
                    np.save(f"{stem}_mask.npy", np.clip(full, 0.0, 1.0).astype(np.float32))
                rows.append(
                    {
                        "path": path,
                        "class_id": int(ids[i]),
                        "class_name": name,
                        "probability": float(probabilities[i, ids[i]]),
                        "exists": float(exists[i]),
                        "mask_mean": float(masks[i].mean()),
                        "picture": os.path.basename(stem) + "_saliency.png",
                    }
                )
        if bar is not None:
            bar.update(min(start + batch_size, len(files)))
    model.return_exists = False
    if rows:
        with open(os.path.join(output, SUMMARY_FILE), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    with open(os.path.join(output, "explain_config.json"), "w") as f:
        json.dump({**(run_config or {}), "files": len(files), "skipped": skipped, "image_size": size}, f, indent=2)
    for path, reason in skipped:
        logger.warning("Skipped %s: %s", path, reason)
    return rows
