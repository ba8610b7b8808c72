"""Train (resumable) and package the shipped ImageNet masker `imagenet-darknet-tiny`.

    python scripts/train_imagenet_masker.py --output runs/imagenet-darknet-tiny [--set epochs=20]
    python scripts/train_imagenet_masker.py --output runs/imagenet-darknet-tiny --package
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # tools/

import argparse
import dataclasses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--data-root", help="default: ../shared/data")
    parser.add_argument("--models-root", help="default: ../shared/models")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="recipe field, KEY=VALUE (JSON)")
    parser.add_argument("--package", action="store_true", help="copy the trained model into keras_saliency/pretrained")
    args = parser.parse_args()
    from tools import imagenet_recipe
    from keras_saliency.options import parse_assignments

    recipe = dataclasses.replace(imagenet_recipe.ImageNetMaskerRecipe(), **parse_assignments(args.overrides, "set"))
    if args.package:
        print("Saved", imagenet_recipe.package(recipe, args.output))
    else:
        imagenet_recipe.train(recipe, args.output, args.data_root, args.models_root)


if __name__ == "__main__":
    main()
