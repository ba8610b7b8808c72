"""How far from scale-invariant are the shipped classifiers? Accuracy and the saliency metric's
classifier term (-log p) on centre crops of decreasing area, rescaled to the input (the
published saliency metric) and in place on the blurred image (the variant without rescaling).

    python scripts/scale_dependence.py --output docs/results/review/scale-dependence
    # one shipped model beside CIFAR-10 classifiers from .keras files (compared on the same images)
    python scripts/scale_dependence.py --output out --model cifar10 --cifar10-classifier zoom=runs/x/classifier.keras

Images (never trained on): CIFAR-10 and Tiny ImageNet-100, the recipes' 10% validation split
(seed 0); ImageNet, the held-out (calibration + test) part of imagenet-val-dev. Writes
scale_dependence.csv / .md / .png and scale_dependence_config.json.
"""

import argparse
import json
import os
import sys

import numpy as np

SHIPPED = ("cifar10", "tiny-imagenet-100", "imagenet-darknet-tiny")
SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")


def class_folder_validation(folder, size, limit, seed=0):
    from keras_saliency.data.folder import load_folder_arrays, scan_image_folder

    scan = scan_image_folder(folder, check=False, progress=False)
    _, validation = scan.split(0.1, 0)
    pairs = [validation[i] for i in np.random.default_rng(seed).permutation(len(validation))[:limit]]
    return load_folder_arrays(pairs, size, progress=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--data-root", default=SHARED)
    parser.add_argument("--limit", type=int, default=1000, help="Images per model.")
    parser.add_argument("--model", action="append", choices=SHIPPED,
                        help="A shipped model (repeatable; default: all three).")
    parser.add_argument("--cifar10-classifier", action="append", default=[],
                        help="LABEL=PATH: a CIFAR-10 classifier (.keras), on the cifar10 model's images (repeatable).")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_saliency import pretrained
    from keras_saliency.evaluation import load_evaluation_images
    from keras_saliency.reports import tables
    from keras_saliency.evaluation.artefacts import CROP_AREAS, SCALE_COLUMNS, scale_dependence

    root = os.path.abspath(args.data_root)
    rows = []
    names = args.model or ([] if args.cifar10_classifier else list(SHIPPED))
    for name in names:
        model = pretrained.load(name)
        if name == "imagenet-darknet-tiny":
            repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            data = load_evaluation_images(
                os.path.join(root, "imagenet-val-dev", "images"), model.image_size, class_names=pretrained.class_names(name),
                limit=args.limit, seed=0, subset_csv=os.path.join(repo, "docs/results/imagenet-val-dev/split.csv"))
            images, labels = data.images, data.class_ids
        else:
            folder = {"cifar10": "cifar10/train", "tiny-imagenet-100": "tiny-imagenet-100/train"}[name]
            images, labels = class_folder_validation(os.path.join(root, folder), model.image_size, args.limit)
        for row in scale_dependence(model, images, labels):
            rows.append({"model": name, **row})
        print(name, [(r["area"], r["variant"], round(r["accuracy"], 3)) for r in rows if r["model"] == name])
    if args.cifar10_classifier:
        import keras

        images, labels = class_folder_validation(os.path.join(root, "cifar10/train"), 32, args.limit)
        for label, path in (spec.split("=", 1) for spec in args.cifar10_classifier):
            classifier = keras.saving.load_model(path, compile=False)
            for row in scale_dependence(classifier, images, labels):
                rows.append({"model": label, **row})
            print(label, [(r["area"], r["variant"], round(r["accuracy"], 3)) for r in rows if r["model"] == label])
    os.makedirs(args.output, exist_ok=True)
    columns = (("model", "model", "{}"),) + SCALE_COLUMNS
    tables.write_csv(os.path.join(args.output, "scale_dependence.csv"), rows, columns)
    with open(os.path.join(args.output, "scale_dependence.md"), "w") as f:
        f.write(tables.markdown_table(rows, columns) + "\n")
    with open(os.path.join(args.output, "scale_dependence_config.json"), "w") as f:
        json.dump({"areas": list(CROP_AREAS), "limit": args.limit, "data_root": root,
                   "models": names, "cifar10_classifiers": args.cifar10_classifier,
                   "command": "python " + " ".join(sys.argv)}, f, indent=2)
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for axis, key, label in ((axes[0], "accuracy", "top-1 accuracy"), (axes[1], "metric_term", "mean -log p")):
        for name in dict.fromkeys(r["model"] for r in rows):
            for variant, style in (("rescaled", "-"), ("in place", "--")):
                points = [(r["area"], r[key]) for r in rows if r["model"] == name and r["variant"] == variant]
                axis.plot(*zip(*points), style, marker="o", label=f"{name}, {variant}")
        axis.set_xlabel("centre crop area (share of the image)")
        axis.set_ylabel(label)
        axis.set_xscale("log")
    axes[0].legend(fontsize=6)
    figure.tight_layout()
    figure.savefig(os.path.join(args.output, "scale_dependence.png"), dpi=120)
    print(tables.markdown_table(rows, columns))


if __name__ == "__main__":
    main()
