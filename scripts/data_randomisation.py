"""Data randomisation sanity check (Adebayo et al. 2018): the shipped masker and classifier of a
recipe against the same recipe trained on permuted labels.

    python scripts/data_randomisation.py --recipe cifar10 --output runs/cifar10-random-labels

Trains (resumable) a classifier on permuted labels and a masker against it
(`tools.recipes.data_randomisation_models`; hours on a CPU for CIFAR-10), then
compares every method's maps for the shipped model and the random-label model on images of the
recipe's validation split: `data_randomisation.csv`, `.md` and `.png` (each method's maps for
the true-label and the random-label model, side by side) in the output folder.
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # tools/

import argparse
import os

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="cifar10")
    parser.add_argument("--output", required=True)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--classifier-epochs", type=int, default=None, help="Default: the recipe's.")
    parser.add_argument("--train-images", type=int, default=None,
                        help="Train both random-label models on this many training images (fixed seed); "
                             "the masker keeps the recipe's image passes. Default: all.")
    parser.add_argument("--masker-epochs", type=int, default=None, help="Default: the recipe's image passes.")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="Recipe field override, e.g. --set dropout=0.0 (JSON value).")
    parser.add_argument("--images", type=int, default=64, help="Validation images compared.")
    parser.add_argument("--methods", default="masker,gradient,gradcam,lrp_epsilon_gamma_box")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from keras_saliency import pretrained
    from keras_saliency.reports import tables
    from keras_saliency.evaluation import sanity
    from tools.recipes import data_randomisation_models, get_recipe, recipe_splits

    splits = recipe_splits(get_recipe(args.recipe), args.data_root)
    recipe = get_recipe(args.recipe)
    from keras_saliency.options import parse_assignments

    overrides = parse_assignments(args.overrides, "set")
    if args.classifier_epochs is not None:
        overrides["classifier_epochs"] = args.classifier_epochs
    (train_x, train_y), validation, names = splits
    if args.train_images and args.train_images < len(train_y):
        keep = np.sort(np.random.default_rng(args.seed).choice(len(train_y), args.train_images, replace=False))
        passes = recipe.masker_epochs * len(train_y)
        overrides.setdefault("masker_epochs", max(1, round(passes / args.train_images)))
        splits = ((train_x[keep], train_y[keep]), validation, names)
    if args.masker_epochs is not None:
        overrides["masker_epochs"] = args.masker_epochs
    print(f"Random-label models: {len(splits[0][1])} training images, overrides {overrides}", flush=True)
    random_model = data_randomisation_models(args.output, args.recipe, args.data_root, args.seed, splits, **overrides)
    (val_x, val_y) = splits[1]
    images, labels = val_x[: args.images].astype(np.float32), np.asarray(val_y[: args.images], np.int32)
    rows, maps = sanity.data_randomisation_check(pretrained.load(args.recipe), random_model, images, labels,
                                                 args.methods.split(","), return_maps=True)
    from keras_saliency.reports.pictures import save_method_grid

    shown = {f"{name}{suffix}": pair[k][:6] for name, pair in maps.items()
             for k, suffix in ((0, ""), (1, " random"))}
    save_method_grid(os.path.join(args.output, "data_randomisation.png"), images[:6], shown, scale=3)
    columns = [c for c in sanity.COLUMNS if c[0] not in ("depth", "layer")]
    tables.write_csv(os.path.join(args.output, "data_randomisation.csv"), rows, columns)
    with open(os.path.join(args.output, "data_randomisation.md"), "w") as f:
        f.write(tables.markdown_table(rows, columns) + "\n")
    print(tables.markdown_table(rows, columns))


if __name__ == "__main__":
    main()
