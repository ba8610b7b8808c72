"""Masks/s of maskers, Grad-CAM, the bare classifier and the masker's encoder, measured in ONE
process in alternating rounds (median of the rounds), so the ratios hold on a noisy machine.
Any Keras backend (KERAS_BACKEND=jax ...): the unfolded masker, the encoder and exported runtimes
are timed on TensorFlow only.

    python scripts/masker_speed.py --masker shipped=imagenet-darknet-tiny --masker fpn=runs/x/model.keras \
        [--runtime int8=masker.int8.tflite] [--batch-size 32] [--images 256] [--rounds 3] [--output speed.json]
"""

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--masker", action="append", default=[], help="LABEL=NAME_OR_PATH")
    parser.add_argument("--runtime", action="append", default=[],
                        help="LABEL=EXPORTED (.tflite / .onnx masker, e.g. int8 LiteRT), timed beside them")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output")
    args = parser.parse_args()

    import keras
    import numpy as np

    from keras_saliency.methods import build_method
    from keras_saliency.models.compiled import compiled
    from keras_saliency.models.masker import upsample_masks
    from keras_saliency import pretrained

    def load(spec):
        return pretrained.load(spec) if spec in pretrained.available() else __import__("keras").saving.load_model(spec)

    maskers = {label: load(path) for label, path in (m.split("=", 1) for m in args.masker)}
    first = next(iter(maskers.values()))
    size = first.image_size
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (args.images, size, size, 3)).astype(np.float32)
    ids = rng.integers(0, first.num_classes, args.images).astype(np.int32)
    candidates = {}
    for label, model in maskers.items():
        candidates[f"masker:{label}"] = build_method("masker", model, batch_size=args.batch_size)
        if keras.backend.backend() != "tensorflow":
            continue
        import tensorflow as tf

        # The same masker without the inference graph (its encoder's batch norms not folded)
        unfolded = tf.function(lambda x, i, m=model: upsample_masks(
            m.masker({"image": x, "class_id": i}, training=False)["mask"], m.image_size))
        candidates[f"unfolded:{label}"] = lambda x, i, f=unfolded: f(tf.constant(x), tf.constant(i))
        encoder = tf.function(lambda x, e=model.masker.encoder: e(x, training=False))
        candidates[f"encoder:{label}"] = lambda x, i, f=encoder: f(tf.constant(x))
    from keras_saliency.deployment.runtimes import load_runtime

    for label, path in (r.split("=", 1) for r in args.runtime if keras.backend.backend() == "tensorflow"):
        runtime = load_runtime(path)
        # An exported encoder (`export_tflite(..., part="encoder")`) returns feature maps, not a mask.
        candidates[f"runtime:{label}"] = lambda x, i, r=runtime: next(iter(r(x, i).values()))
    candidates["gradcam"] = build_method("gradcam", first, batch_size=args.batch_size)
    classifier = compiled(lambda x: first.classifier(x, training=False))
    candidates["classifier"] = lambda x, i: classifier(keras.ops.convert_to_tensor(x))

    def run(fn):
        for start in range(0, len(images), args.batch_size):
            out = fn(images[start : start + args.batch_size], ids[start : start + args.batch_size])
            out = out[0] if isinstance(out, (list, tuple)) else out
            keras.ops.convert_to_numpy(out)

    for fn in candidates.values():  # trace and warm up
        run(fn)
    times = {name: [] for name in candidates}
    for _ in range(args.rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            run(fn)
            times[name].append(len(images) / (time.perf_counter() - start))
    gradcam = statistics.median(times["gradcam"])
    rows = {name: {"per_s": statistics.median(v), "vs_gradcam": statistics.median(v) / gradcam, "rounds": v}
            for name, v in times.items()}
    for name, row in rows.items():
        print(f"{name:28s} {row['per_s']:8.1f}/s  {row['vs_gradcam']:.2f}x Grad-CAM")
    if args.output:
        with open(args.output, "w") as f:
            from keras_saliency.deployment.benchmark import machine_description

            json.dump({"machine": machine_description(), "backend": keras.backend.backend(), "batch_size": args.batch_size, "images": args.images, "rounds": args.rounds,
                       "maskers": dict(m.split("=", 1) for m in args.masker),
                       "runtimes": dict(r.split("=", 1) for r in args.runtime), "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
