"""Shared by the standalone runners: inputs (images, folders, videos, a camera), overlays,
outputs and timing. Needs numpy and Pillow; OpenCV (opencv-python-headless) only for video.
Imports neither TensorFlow nor keras_saliency.

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

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def find_images(inputs):
    files = []
    for item in inputs:
        if os.path.isdir(item):
            for root, dirs, names in os.walk(item):
                dirs.sort()
                files += sorted(os.path.join(root, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS))
        elif item.lower().endswith(IMAGE_EXTENSIONS):
            files.append(item)
    return files


def resize(image, size):
    """RGB uint8 (H, W, 3) squashed to (size, size, 3), bilinear."""
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR), np.uint8)


def jet(values):
    """The 'jet' colour map of values in [0, 1] -> RGB uint8."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    rgb = np.clip(np.concatenate([1.5 - np.abs(4 * v - 3), 1.5 - np.abs(4 * v - 2), 1.5 - np.abs(4 * v - 1)], -1), 0, 1)
    return (rgb * 255).astype(np.uint8)


def upsample(mask, height, width):
    """A mask (h, w) in [0, 1] resized (bilinear) to (height, width)."""
    return np.asarray(Image.fromarray(mask.astype(np.float32), mode="F").resize((width, height), Image.BILINEAR))


def overlay(image, mask, opacity=0.5):
    """The image with the mask's heat map over it (both at the image's resolution)."""
    heat = jet(upsample(mask, image.shape[0], image.shape[1]))
    return ((1 - opacity) * image + opacity * heat).astype(np.uint8)


def parse_args(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("model", help="the exported model file")
    parser.add_argument("inputs", nargs="*", help="images, folders of images, or one video file")
    parser.add_argument("--camera", type=int, help="read frames from this camera index instead")
    parser.add_argument("--class", dest="class_id", default="auto",
                        help="class id or class name to explain (names: from the export's MODEL.report.json), "
                             "or 'auto': the class with the highest 'exists' probability (runs every class: "
                             "num_classes times slower)")
    parser.add_argument("--num-classes", type=int, help="for --class auto (default: from the model's class embedding, else 10)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=0, help="video/camera: stop after this many frames (0: all)")
    parser.add_argument("--output", default="saliency-masks", help="folder for overlays (and masks.npy, masks.csv) or an .mp4 for video")
    return parser.parse_args()


class Timer:
    """Accumulates the time spent in the model only (not in reading or writing files)."""

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


def explainer(runner, class_id, num_classes):
    """`images -> outputs` with "class_id" added: the given class, or ("auto") the class with
    the highest 'exists' probability (one run per class)."""

    def explain(images):
        if class_id != "auto":
            class_ids = np.full(len(images), int(class_id), np.int32)
        else:
            scores = [runner(images, np.full(len(images), c, np.int32))["exists"] for c in range(num_classes)]
            class_ids = np.argmax(np.stack(scores, -1), -1).astype(np.int32)
        return {**runner(images, class_ids), "class_id": class_ids}

    return explain


def explain_images(runner, files, size, args):
    os.makedirs(args.output, exist_ok=True)
    timer = Timer()
    rows, masks = [], []
    explain = explainer(runner, args.class_id, args.num_classes)
    for start in range(0, len(files), args.batch_size):
        batch = files[start : start + args.batch_size]
        originals = [np.asarray(Image.open(f).convert("RGB"), np.uint8) for f in batch]
        images = np.stack([resize(o, size) for o in originals])
        outputs = timer.run(explain, images)
        for path, original, mask, exists, class_id in zip(
            batch, originals, outputs["mask"], outputs["exists"], outputs["class_id"]
        ):
            name = os.path.splitext(os.path.basename(path))[0]
            picture = np.concatenate([original, overlay(original, mask[..., 0])], axis=1)
            Image.fromarray(picture).save(os.path.join(args.output, f"{name}_mask.png"))
            rows.append({"file": path, "class_id": int(class_id), "exists": float(exists), "mean_mask": float(mask.mean())})
            masks.append(mask[..., 0])
    np.save(os.path.join(args.output, "masks.npy"), np.stack(masks))
    with open(os.path.join(args.output, "masks.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return timer


def explain_video(runner, source, size, args):
    """Overlay video from a file or camera; returns the timer (model time) and end-to-end fps."""
    import cv2

    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise SystemExit(f"Expected a readable video or camera. Received: {source!r}")
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    output = args.output if args.output.lower().endswith(VIDEO_EXTENSIONS) else os.path.join(args.output, "overlay.mp4")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    writer = None
    timer, frames, start = Timer(), 0, time.perf_counter()
    explain = explainer(runner, args.class_id, args.num_classes)
    while not args.frames or frames < args.frames:
        ok, frame = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        image = resize(rgb, size)[None]
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


def class_id(value, metadata):
    """`--class`: "auto", an id, or a name in the export's class names (exact, then ignoring
    case, then the first name of a "goldfish, Carassius auratus" list); else one line and exit."""
    if value == "auto":
        return value
    names = [str(n) for n in metadata.get("class_names") or []]
    count = metadata.get("num_classes") or len(names) or None
    if value.isdigit():
        if count and int(value) >= count:
            raise SystemExit(f"Error: Expected a class id in [0, {count}). Received: --class {value}")
        return int(value)
    for same in (lambda n: n == value, lambda n: n.lower() == value.lower(),
                 lambda n: n.split(",")[0].strip().lower() == value.lower()):
        matches = [i for i, n in enumerate(names) if same(n)]
        if matches:
            return matches[0]
    if not names:
        raise SystemExit(f"Error: Expected a class id (this model has no class names: no MODEL.report.json next "
                         f"to it). Received: --class {value}")
    raise SystemExit(f"Error: Expected a class id or one of the model's {len(names)} class names (e.g. "
                     f"{', '.join(names[:3])}). Received: --class {value}")


def main(runner, size, args):
    """Runs the runner on the parsed arguments and prints masks/s."""
    metadata = load_metadata(args.model)
    args.class_id = class_id(args.class_id, metadata)
    if args.class_id == "auto" and not args.num_classes:
        args.num_classes = metadata.get("num_classes")
        if not args.num_classes:
            raise SystemExit("Expected --num-classes for --class auto (no MODEL.report.json next to the model)")
    if args.camera is not None or (len(args.inputs) == 1 and args.inputs[0].lower().endswith(VIDEO_EXTENSIONS)):
        source = args.camera if args.camera is not None else args.inputs[0]
        timer, fps, output = explain_video(runner, source, size, args)
        print(f"{timer.images} frames -> {output}: {fps:.1f} frames/s end to end, {timer.rate():.1f} masks/s in the model")
        return
    files = find_images(args.inputs)
    if not files:
        raise SystemExit(f"Expected image files, folders of images or a video. Received: {args.inputs}")
    timer = explain_images(runner, files, size, args)
    print(f"{len(files)} images -> {args.output}: {timer.rate():.1f} masks/s in the model (batch {args.batch_size})")


def load_metadata(model_path):
    """The export report written next to the model (`MODEL.report.json`; for an engine or a
    float16 / int8 ONNX model, that of the ONNX model it came from), if any: number of classes
    and class names for --class and the CSV."""
    import json

    model_path = model_path.rstrip("/")
    stem = os.path.splitext(model_path)[0]
    for suffix in (".float16", ".int8"):
        stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem
    for path in (model_path + ".report.json", stem + ".onnx.report.json"):
        if os.path.exists(path):
            try:
                with open(path) as f:
                    metadata = json.load(f)
            except (OSError, ValueError) as error:
                raise SystemExit(f"Error: Expected a readable JSON report in {path}. Received: {error}")
            return metadata if isinstance(metadata, dict) else {}
    return {}
