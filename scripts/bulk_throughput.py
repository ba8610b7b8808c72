"""Images/s of `keras-saliency explain-bulk` (Apache Beam, DirectRunner) with 1 and 2 workers, on
real photos plus two corrupt files, measured in one run of this script; checks every run's
outputs (one mask file per format and one row per photo, the corrupt files as dead letters) and
the first run's masks against `model.predict` (within 1e-5).

    python scripts/bulk_throughput.py [--data ../shared/data/imagenet-sample-1000] [--images 500] \
        [--model imagenet-darknet-tiny] [--workers 1,2] [--output docs/results/bulk-throughput.json]
"""

import argparse
import csv
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORRUPT = ("truncated.jpg", "notes.png")


def make_inputs(data, count, folder):
    """Links to the first `count` photos of `data` (sorted) and the two corrupt files."""
    photos = sorted(glob.glob(os.path.join(data, "**", "*.JPEG"), recursive=True))[:count]
    if len(photos) < count:
        raise SystemExit(f"Expected {count} photos in {data}. Received: {len(photos)}")
    for path in photos:
        os.symlink(os.path.abspath(path), os.path.join(folder, os.path.basename(path)))
    with open(photos[0], "rb") as f:
        head = f.read()
    with open(os.path.join(folder, CORRUPT[0]), "wb") as f:
        f.write(head[: len(head) // 3])
    with open(os.path.join(folder, CORRUPT[1]), "w") as f:
        f.write("not an image\n")
    return photos


def run_bulk(inputs, output, model, workers, formats, batch_size):
    installed = os.path.join(os.path.dirname(sys.executable), "keras-saliency")
    program = [installed] if os.path.exists(installed) else [sys.executable, "-m", "keras_saliency.cli"]
    command = program + ["explain-bulk", os.path.join(inputs, "*"),
               "--output", output, "--model", model, "--format", formats, "--batch-size", str(batch_size),
               "--direct-num-workers", str(workers)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(f"explain-bulk failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    with open(os.path.join(output, "explain_bulk_config.json")) as f:
        config = json.load(f)
    return config, wall, result.stdout.strip().splitlines()[-1]


def check_outputs(output, photos, formats):
    """Counts of rows, mask files and dead letters; raises unless they are as expected."""
    with open(os.path.join(output, "rows.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(output, "dead_letters.csv"), newline="") as f:
        dead = list(csv.DictReader(f))
    masks = {fmt: len(glob.glob(os.path.join(output, "masks", f"*.{fmt}"))) for fmt in formats.split(",")}
    names = sorted(os.path.basename(os.path.realpath(r["path"])) for r in rows)
    if names != sorted(os.path.basename(p) for p in photos) or any(n != len(photos) for n in masks.values()):
        raise SystemExit(f"Expected {len(photos)} rows and mask files. Received: {len(rows)} rows, {masks}")
    if sorted(os.path.basename(d["path"]) for d in dead) != sorted(CORRUPT):
        raise SystemExit(f"Expected the dead letters {CORRUPT}. Received: {dead}")
    return rows, {"rows": len(rows), "mask_files": masks,
                  "dead_letters": {os.path.basename(d["path"]): d["reason"] for d in dead}}


def check_masks(output, rows, model_name, batch_size):
    """The largest difference between the saved masks and `model.predict`'s, and whether every
    row's class is the classifier's prediction."""
    import numpy as np

    from keras_saliency import pretrained
    from keras_saliency.data.folder import read_image

    model = pretrained.load(model_name)
    worst, predicted = 0.0, True
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        images = np.stack([read_image(r["path"], model.image_size)[1] for r in batch]).astype(np.float32)
        ids = np.array([int(r["class_id"]) for r in batch], np.int32)
        predicted &= bool((np.asarray(model.classifier_logits(images)).argmax(-1) == ids).all())
        expected = model.predict((images, ids), verbose=0)[..., 0]
        saved = np.stack([np.load(os.path.join(output, r["mask_stem"] + ".npy")) for r in batch])
        worst = max(worst, float(np.abs(saved - expected).max()))
    return worst, predicted


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data", "imagenet-sample-1000"))
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--model", default="imagenet-darknet-tiny")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--formats", default="png,npy")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", default=os.path.join(ROOT, "docs", "results", "bulk-throughput.json"))
    args = parser.parse_args()

    import apache_beam
    import keras
    import tensorflow as tf

    runs = []
    with tempfile.TemporaryDirectory(prefix="bulk-throughput-") as tmp:
        inputs = os.path.join(tmp, "inputs")
        os.makedirs(inputs)
        photos = make_inputs(args.data, args.images, inputs)
        for i, workers in enumerate(int(w) for w in args.workers.split(",")):
            output = os.path.join(tmp, f"out-{workers}")
            load_before = os.getloadavg()
            config, wall, line = run_bulk(inputs, output, args.model, workers, args.formats, args.batch_size)
            rows, counts = check_outputs(output, photos, args.formats)
            seconds = config["result"]["seconds"]
            run = {"direct_num_workers": workers, "direct_running_mode": config["pipeline_options"].get(
                       "direct_running_mode", "in_memory"),
                   "images": len(photos), "pipeline_seconds": round(seconds, 2),
                   "images_per_s": round(len(photos) / seconds, 2),
                   "command_seconds": round(wall, 2), "images_per_s_whole_command": round(len(photos) / wall, 2),
                   **counts, "load_average_before": [round(x, 2) for x in load_before],
                   "load_average_after": [round(x, 2) for x in os.getloadavg()], "cli_summary": line}
            if i == 0 and "npy" in args.formats:
                worst, predicted = check_masks(output, rows, args.model, args.batch_size)
                run["max_abs_difference_to_predict"] = worst
                run["classes_are_predictions"] = predicted
                if worst > 1e-5 or not predicted:
                    raise SystemExit(f"Expected the masks of model.predict (1e-5). Received: {worst}, {predicted}")
            runs.append(run)
            print(json.dumps(run), flush=True)
    result = {
        "what": "keras-saliency explain-bulk GLOB --output DIR --model MODEL --format FORMATS --direct-num-workers N "
                "(DirectRunner; N > 1: multi_processing)",
        "model": args.model, "data": os.path.relpath(os.path.abspath(args.data), os.path.dirname(ROOT)),
        "corrupt_files": list(CORRUPT), "formats": args.formats, "batch_size": args.batch_size,
        "pipeline_seconds": "from pipeline construction to the end of the job (the model summary loaded before "
                            "it excluded); command_seconds: the whole command, Python and TensorFlow start included",
        "machine": {"cpus": os.cpu_count(), "gpu": bool(tf.config.list_physical_devices("GPU")),
                    "platform": platform.platform(), "python": platform.python_version()},
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__, "apache_beam": apache_beam.__version__},
        "runs": runs,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2)
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
