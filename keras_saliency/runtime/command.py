"""The runners' command line (`python export/onnx_runner.py MODEL INPUTS...`): images, folders,
a video or a camera in; overlays (and masks.npy, masks.csv) or an overlay video out; masks/s
printed. Needs numpy and Pillow, OpenCV (opencv-python-headless) only for video.

An exported masker takes `image` (N, S, S, 3) RGB pixels in [0, 255] (float32, or uint8 when
exported with --input-dtype uint8) and `class_id` (N,) int32, and returns `mask`
(N, S / stride, S / stride, 1) in [0, 1] and `exists` (N,), the probability that the class is
in the image.
"""

import argparse
import csv
import os
import time

import numpy as np
from PIL import Image

from keras_saliency.flags import as_flags
from keras_saliency.runtime.classes import AUTO, load_metadata, resolve_class
from keras_saliency.runtime.images import (
    VIDEO_EXTENSIONS,
    UnreadableImageError,
    find_images,
    read_image,
    report_skipped,
    skipped_summary,
)
from keras_saliency.runtime.overlays import overlay


def parse_args(description, argv=None):
    """The runner's command-line arguments (model, inputs, `--camera`, `--class`,
    `--num-classes`, `--batch-size`, `--frames`, `--output`).

    Args:
        description: the help text's description.
        argv: the arguments to parse, or `None` for `sys.argv[1:]`.

    Example:

    ```python
    args = parse_args("ONNX runner", ["cifar10.onnx", "cat.jpg", "--class", "cat"])
    ```
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("model", help="the exported model file")
    parser.add_argument("inputs", nargs="*", help="images, folders of images, or one video file")
    parser.add_argument("--camera", type=int, help="read frames from this camera index instead")
    parser.add_argument("--class", dest="class_id", default=AUTO,
                        help="class id or class name to explain (names: from the export's MODEL.report.json), "
                             "or 'auto': the class with the highest 'exists' probability (runs every class: "
                             "num_classes times slower)")
    parser.add_argument("--num-classes", type=int, help="for --class auto (default: from the model's class embedding, else 10)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=0, help="video/camera: stop after this many frames (0: all)")
    parser.add_argument("--output", default="saliency-masks", help="folder for overlays (and masks.npy, masks.csv) or an .mp4 for video")
    return parser.parse_args(argv)


class Timer:
    """Accumulates the time spent in the model only (not in reading or writing files).

    Args:
        None: `Timer()` takes no arguments; `seconds` and `images` start at 0.

    Example:

    ```python
    timer = Timer()
    outputs = timer.run(explain, images)
    print(f"{timer.rate():.1f} masks/s")
    ```
    """

    def __init__(self):
        self.seconds = 0.0
        self.images = 0

    def run(self, function, images):
        start = time.perf_counter()
        outputs = function(images)
        self.seconds += time.perf_counter() - start
        self.images += len(images)
        return outputs

    def rate(self):
        return self.images / self.seconds if self.seconds else float("nan")


PREDICTED = -1  # asks an export that classifies (`logits` output) for the classifier's top-1 class


def explainer(runtime, class_id, num_classes, classifies=False):
    """`images -> outputs` with "class_id" added: the given class, or ("auto") the classifier's
    top-1 class in the same pass for an export that classifies (outputs `logits` and
    `explained_class`), else the class with the highest 'exists' probability (one run per class).

    Args:
        runtime: a `keras_saliency.runtime` runner.
        class_id: a class id, or "auto".
        num_classes: the number of classes tried with "auto" (an export that does not classify).
        classifies: the export classifies as well (its report says `"classify": true`).

    Example:

    ```python
    explain = explainer(load_runtime("cifar10.onnx"), "auto", 10)
    outputs = explain(images)  # {"mask", "exists", "class_id"}
    ```
    """

    def explain(images):
        if class_id != AUTO:
            class_ids = np.full(len(images), int(class_id), np.int32)
        elif classifies:
            class_ids = np.full(len(images), PREDICTED, np.int32)
        else:
            scores = [runtime(images, np.full(len(images), c, np.int32))["exists"] for c in range(num_classes)]
            class_ids = np.argmax(np.stack(scores, -1), -1).astype(np.int32)
        outputs = runtime(images, class_ids)
        if "explained_class" in outputs:
            class_ids = np.asarray(outputs["explained_class"], np.int32).reshape(-1)
        return {**outputs, "class_id": class_ids}

    return explain


def top_classes(logits, class_names=None, k=3):
    """The `k` best classes of one image's logits as "name (probability)" strings.

    Args:
        logits: `(num_classes,)` the classifier's logits.
        class_names: names by class id, or None (the ids).
        k: how many (default 3).

    Example:

    >>> top_classes(np.array([0.0, 3.0, 1.0]), ["cat", "dog", "fox"], k=2)
    ['dog (0.84)', 'fox (0.11)']
    """
    logits = np.asarray(logits, np.float64)
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    best = np.argsort(-probabilities)[:k]
    return [f"{class_names[c] if class_names else c} ({probabilities[c]:.2f})" for c in best]


def explain_images(runtime, files, size, args):
    """Writes `<name>_mask.png` (image | overlay) per readable file, `masks.npy` and `masks.csv`
    into `args.output`; unreadable files are skipped and reported. An export that classifies
    adds each image's top classes to the CSV and prints them. Returns the timer.

    Args:
        runtime: a `keras_saliency.runtime` runner.
        files: the image files.
        size: the model's input side S in pixels.
        args: the parsed arguments (`output`, `batch_size`, `class_id`, `num_classes`).

    Example:

    ```python
    timer = explain_images(runtime, find_images(args.inputs), runtime.image_size, args)
    ```
    """
    os.makedirs(args.output, exist_ok=True)
    timer = Timer()
    rows, masks, skipped = [], [], []
    explain = explainer(runtime, args.class_id, args.num_classes, getattr(args, "classifies", False))
    names = getattr(args, "class_names", None)
    for start in range(0, len(files), args.batch_size):
        batch, originals, images = [], [], []
        for path in files[start : start + args.batch_size]:
            try:
                original, image = read_image(path, size)
            except UnreadableImageError as error:
                skipped.append((path, error.reason))
                continue
            batch.append(path)
            originals.append(original)
            images.append(image)
        if not batch:
            continue
        outputs = timer.run(explain, np.stack(images))
        for i, (path, original, mask, exists, class_id) in enumerate(zip(
            batch, originals, outputs["mask"], outputs["exists"], outputs["class_id"]
        )):
            name = os.path.splitext(os.path.basename(path))[0]
            picture = np.concatenate([original, overlay(original, mask[..., 0])], axis=1)
            Image.fromarray(picture).save(os.path.join(args.output, f"{name}_mask.png"))
            row = {"file": path, "class_id": int(class_id), "exists": float(exists), "mean_mask": float(mask.mean())}
            if "logits" in outputs:
                best = top_classes(outputs["logits"][i], names)
                row["top_classes"] = "; ".join(best)
                print(f"{os.path.basename(path)}: {', '.join(best)}")
            rows.append(row)
            masks.append(mask[..., 0])
    report_skipped(skipped)
    if not rows:
        raise SystemExit(f"Error: Expected at least one readable image. Received: none of {len(files)} files "
                         f"({skipped_summary(skipped)})")
    np.save(os.path.join(args.output, "masks.npy"), np.stack(masks))
    with open(os.path.join(args.output, "masks.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return timer


def explain_video(runtime, source, size, args):
    """Overlay video from a file or camera; returns the timer (model time), the end-to-end
    frames/s and the output path.

    Args:
        runtime: a `keras_saliency.runtime` runner.
        source: a video file, or a camera index.
        size: the model's input side S in pixels.
        args: the parsed arguments (`output`, `frames`, `class_id`, `num_classes`).

    Example:

    ```python
    timer, fps, path = explain_video(runtime, "street.mp4", runtime.image_size, args)
    ```
    """
    try:
        import cv2
    except ImportError:
        raise SystemExit("Error: Expected OpenCV for video: pip install opencv-python-headless") from None

    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise SystemExit(f"Expected a readable video or camera. Received: {source!r}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    output = args.output if args.output.lower().endswith(VIDEO_EXTENSIONS) else os.path.join(args.output, "overlay.mp4")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    writer = None
    timer, frames, start = Timer(), 0, time.perf_counter()
    explain = explainer(runtime, args.class_id, args.num_classes, getattr(args, "classifies", False))
    while not args.frames or frames < args.frames:
        ok, frame = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        image = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BILINEAR), np.uint8)[None]
        mask = timer.run(explain, image)["mask"][0, ..., 0]
        out = cv2.cvtColor(overlay(rgb, mask), cv2.COLOR_RGB2BGR)
        if writer is None:
            writer = cv2.VideoWriter(output, cv2.VideoWriter_fourcc(*"mp4v"), fps, (out.shape[1], out.shape[0]))
        writer.write(out)
        frames += 1
    capture.release()
    if writer is not None:
        writer.release()
    return timer, frames / (time.perf_counter() - start), output


def run(runtime, args):
    """Runs `runtime` (a `keras_saliency.runtime` runner) on the parsed arguments and prints
    masks/s.

    Args:
        runtime: a `keras_saliency.runtime` runner.
        args: the parsed arguments (`parse_args`).

    Example:

    ```python
    run(load_runtime("cifar10.onnx"), parse_args("ONNX runner", ["cifar10.onnx", "photos/"]))
    ```
    """
    try:
        metadata = load_metadata(args.model)
        args.class_id = resolve_class(args.class_id, metadata.get("class_names"), metadata.get("num_classes"))
    except ValueError as error:
        raise SystemExit(f"Error: {as_flags(str(error))}") from None
    args.classifies, args.class_names = runtime.classifies, metadata.get("class_names")
    if args.class_id == AUTO and not args.num_classes and not args.classifies:
        args.num_classes = metadata.get("num_classes")
        if not args.num_classes:
            raise SystemExit("Expected --num-classes for --class auto (no MODEL.report.json next to the model)")
    size = runtime.image_size
    try:
        if args.camera is not None or (len(args.inputs) == 1 and args.inputs[0].lower().endswith(VIDEO_EXTENSIONS)):
            source = args.camera if args.camera is not None else args.inputs[0]
            timer, fps, output = explain_video(runtime, source, size, args)
            print(f"{timer.images} frames -> {output}: {fps:.1f} frames/s end to end, "
                  f"{timer.rate():.1f} masks/s in the model")
            return
        files = find_images(args.inputs)
        if not files:
            raise SystemExit(f"Expected image files, folders of images or a video. Received: {args.inputs}")
        timer = explain_images(runtime, files, size, args)
    except (RuntimeError, ValueError) as error:  # a damaged model file that loads but fails to run
        raise SystemExit(f"Error: {as_flags(str(error))}") from None
    print(f"{timer.images} images -> {args.output}: {timer.rate():.1f} masks/s in the model (batch {args.batch_size})")


def main(runtime_class, description, argv=None, requirements=None, **options):
    """The runner's entry point: parses `argv`, opens the model with `runtime_class` (a
    `keras_saliency.runtime` runner, given `**options`) and runs it.

    Args:
        runtime_class: e.g. `OnnxRuntime`.
        description: the command's one-line help.
        argv: the arguments (default: `sys.argv[1:]`).
        requirements: the runner's requirements file, named when the runtime is not installed.

    Example:

    ```python
    main(OnnxRuntime, "Run an exported .onnx masker", ["cifar10.onnx", "photos/", "--class", "cat"])
    ```
    """
    args = parse_args(description, argv)
    try:
        runtime = runtime_class(args.model, args.batch_size, **options)
    except ImportError as error:
        hint = f" (pip install -r {requirements})" if requirements else ""
        raise SystemExit(f"Error: Expected the runtime's Python package{hint}. Received: {error}") from None
    except (OSError, RuntimeError, ValueError) as error:
        raise SystemExit(f"Error: could not open {args.model}: {error}") from None
    if hasattr(runtime, "session"):
        print("ONNX Runtime providers:", runtime.session.get_providers())
    run(runtime, args)
