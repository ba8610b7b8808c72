"""Masks per second of shipped maskers through `predict` and `explain` against Grad-CAM of the same
classifier, in one process: 128 random 224x224 images per call, batch 32, the three alternating for
`--rounds` rounds, medians.

    python scripts/predict_speed.py --output docs/results/imagenet-val-dev/predict-speed.json
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="imagenet-darknet-tiny,imagenet-efficientnet-lite0")
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output")
    args = parser.parse_args()

    import numpy as np

    from keras_saliency import pretrained
    from keras_saliency.methods import build_method

    rng = np.random.default_rng(0)
    results = {}
    for name in args.models.split(","):
        model = pretrained.load(name)
        size = model.image_size
        images = rng.uniform(0, 255, (args.images, size, size, 3)).astype("float32")
        ids = rng.integers(0, model.num_classes, args.images).astype("int32")
        gradcam = build_method("gradcam", model)
        calls = {"predict": lambda: model.predict((images, ids), batch_size=32, verbose=0),
                 "explain": lambda: model.explain(images, ids, batch_size=32),
                 "gradcam": lambda: gradcam(images, ids)}
        for call in calls.values():  # traced and warm
            call()
        speeds = {label: [] for label in calls}
        for _ in range(args.rounds):
            for label, call in calls.items():
                start = time.perf_counter()
                call()
                speeds[label].append(args.images / (time.perf_counter() - start))
        median = {label: float(np.median(values)) for label, values in speeds.items()}
        results[name] = {**{f"{k}_masks_per_s": round(v, 1) for k, v in median.items()},
                         "predict_x_gradcam": round(median["predict"] / median["gradcam"], 2),
                         "explain_x_gradcam": round(median["explain"] / median["gradcam"], 2)}
        print(name, results[name])
    if args.output:
        with open(args.output, "w") as f:
            json.dump({"images_per_call": args.images, "batch_size": 32, "rounds": args.rounds, "results": results},
                      f, indent=2)


if __name__ == "__main__":
    main()
