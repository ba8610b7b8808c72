"""Held-out localisation error of a masker run against training image passes: every per-epoch
snapshot of a `train_imagenet_masker.py` run, scored on the dev split's calibration part
(threshold) and test part (figure). Writes curve.csv and curve.png.

    python scripts/imagenet_curve.py --run runs/arch-fpn --output docs/results/imagenet-darknet-tiny/curve
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # tools/

import argparse
import csv
import glob
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--split", default="docs/results/imagenet-val-dev/split.csv")
    parser.add_argument("--every", type=int, default=1, help="score every N-th snapshot")
    parser.add_argument("--epoch", type=int, action="append", help="score only these epochs (repeatable)")
    parser.add_argument("--average", metavar="FIRST-LAST",
                        help="score one model: the mean of the weights of the snapshots after epochs FIRST..LAST")
    parser.add_argument("--method", default="masker", help="a method of keras_saliency.methods (the masker's "
                        "classifier explained by it), for a reference on the same images")
    parser.add_argument("--selection", action="store_true",
                        help="for choosing a run or an epoch: score on the calibration part only "
                             "(threshold on its even rows, figure on its odd rows); no test photo is scored")
    parser.add_argument("--cross-fit", action="store_true",
                        help="with --selection: also score the even rows with the odd rows' threshold, so every "
                             "calibration photo is scored once (twice the photos of --selection alone)")
    args = parser.parse_args()

    import dataclasses

    import keras
    import numpy as np

    from tools import imagenet_recipe
    from keras_saliency.evaluation import load_evaluation_images
    from keras_saliency.evaluation.metrics import class_selectivity
    from keras_saliency.evaluation.runner import LOCALISATION_THRESHOLDS
    from keras_saliency.evaluation.localization import choose_threshold, localization_hits
    from keras_saliency.methods import build_method
    from tools.recipes import default_data_root

    with open(os.path.join(args.run, imagenet_recipe.RECIPE_FILE)) as f:
        saved = json.load(f)
    fields = {f.name for f in dataclasses.fields(imagenet_recipe.ImageNetMaskerRecipe)}
    recipe = imagenet_recipe.ImageNetMaskerRecipe(**{k: v for k, v in saved.items() if k in fields})
    root = os.path.join(args.data_root or default_data_root(), "imagenet-val-dev")
    data = load_evaluation_images(os.path.join(root, "images"), recipe.image_size,
                                  boxes_csv=os.path.join(root, "boxes.csv"), subset_csv=args.split)
    parts = np.asarray(data.parts)
    cal, test = np.flatnonzero(parts == "calibration"), np.flatnonzero(parts == "test")
    if args.cross_fit and not args.selection:
        parser.error("--cross-fit needs --selection")
    if args.average and (args.epoch or args.every != 1):
        parser.error("--average scores one model: give it without --epoch / --every")
    folds = [(cal, test)]
    if args.selection:
        folds = [(cal[::2], cal[1::2])] + ([(cal[1::2], cal[::2])] if args.cross_fit else [])
        cal, test = cal[::2], cal[1::2]
    used = np.unique(np.concatenate([np.concatenate(fold) for fold in folds]))
    classifier = keras.saving.load_model(os.path.join(imagenet_recipe.default_models_root(), recipe.classifier))
    model = imagenet_recipe.build_model(recipe, classifier)
    snapshots = sorted(glob.glob(os.path.join(args.run, "snapshots", "epoch-*.weights.h5")))[:: args.every]
    if args.epoch:
        snapshots = [p for p in snapshots if int(os.path.basename(p)[6:9]) in args.epoch]
    steps = recipe.steps_per_epoch
    if args.average:
        first, last = (int(e) for e in args.average.split("-"))
        model.set_weights(imagenet_recipe.averaged_snapshot_weights(args.run, range(first, last + 1), model))
        snapshots = [None]
    rows = []
    for path in snapshots:
        if path is None:  # the averaged weights, set above
            epoch = last
        else:
            epoch = int(os.path.basename(path)[len("epoch-"): -len(".weights.h5")])
            model.load_weights(path)
        method = build_method(args.method, model, batch_size=32)
        maps = np.zeros((len(data),) + data.images.shape[1:3], np.float32)
        maps[used] = method(data.images[used], data.class_ids[used])  # only the photos scored
        hits, thresholds = [], []
        for fit, score in folds:
            threshold, _ = choose_threshold(maps[fit], [data.boxes[i] for i in fit], rule="max",
                                            candidates=np.asarray(LOCALISATION_THRESHOLDS))
            hits.append(localization_hits(maps[score], [data.boxes[i] for i in score], threshold, rule="max"))
            thresholds.append(threshold)
        hits = np.concatenate(hits)
        threshold = thresholds[0] if len(thresholds) == 1 else "/".join(f"{t:.2f}" for t in thresholds)
        selectivity = (class_selectivity(model, data.images[test[:300]], data.class_ids[test[:300]])
                       if args.method == "masker" else {})
        rows.append({"epoch": args.average or epoch, "image_passes": epoch * steps * recipe.batch_size,
                     "localisation_error": 1.0 - float(hits.mean()), "threshold": threshold,
                     "photos_scored": int(len(hits)),
                     **selectivity})
        print(rows[-1], flush=True)
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "curve.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r["image_passes"] for r in rows], [100 * r["localisation_error"] for r in rows], "o-")
    ax.set_xlabel("training image passes")
    ax.set_ylabel("dev-test localisation error (%)")
    ax.set_title(os.path.basename(os.path.normpath(args.run)))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(args.output, "curve.png"), dpi=120)
    with open(os.path.join(args.output, "curve_config.json"), "w") as f:
        json.dump({**vars(args), "scored_on": ("calibration (each half with the other half's threshold)" if args.cross_fit else
                                  "calibration (odd rows)" if args.selection else "test"), "test_images": int(len(test)), "calibration_images": int(len(cal)),
                   "threshold_rule": "largest component of mask > t x max, t in 0.05..0.95 (step 0.05) chosen on calibration",
                   "selectivity_images": 300}, f, indent=2)


if __name__ == "__main__":
    main()
