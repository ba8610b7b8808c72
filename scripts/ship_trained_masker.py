"""Ship a masker trained by `keras-saliency train` into keras_saliency/pretrained: `<name>.keras`
(no optimizer state; ImageNet class names inside) and `<name>.json` (class names, readable names,
the classifier and its measured accuracy, the run's resolved config, the exact commands).

    python scripts/ship_trained_masker.py imagenet-efficientnet-lite0 runs/effl0 \\
        --classifier-description "EfficientNet-Lite0 ..." --classifier-accuracy 0.804 \\
        --command "keras-saliency train ..."
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # tools/

import argparse
import json
import os


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("run", help="the run folder of `keras-saliency train`")
    parser.add_argument("--classifier-description", required=True)
    parser.add_argument("--classifier-accuracy", type=float, required=True)
    parser.add_argument("--accuracy-split", required=True, help="where the accuracy was measured")
    parser.add_argument("--trained-on", required=True)
    parser.add_argument("--command", action="append", required=True, help="the command that trained it (repeatable)")
    parser.add_argument("--names-from", default="imagenet-darknet-tiny",
                        help="a shipped model whose class names and readable names are these classes'")
    args = parser.parse_args()

    import keras

    from keras_saliency import pretrained
    from tools.recipes import PRETRAINED_DIR, ship_model

    names = pretrained.info(args.names_from)
    with open(os.path.join(args.run, "run_config.json")) as f:
        run_config = json.load(f)
    run_config.pop("class_names", None)
    path = ship_model(os.path.join(args.run, "model.keras"), os.path.join(PRETRAINED_DIR, f"{args.name}.keras"),
                      class_names=names["display_names"])
    meta = {
        "name": args.name,
        "class_names": names["class_names"],
        "display_names": names["display_names"],
        "image_size": run_config["image_size"],
        "classifier": args.classifier_description,
        "classifier_accuracy": args.classifier_accuracy,
        "accuracy_split": args.accuracy_split,
        "trained_on": args.trained_on,
        "recipe": run_config,
        "keras_version": keras.__version__,
        "commands": args.command,
    }
    with open(os.path.join(PRETRAINED_DIR, f"{args.name}.json"), "w") as f:
        json.dump(meta, f, indent=2)
    print("Saved", path, f"({os.path.getsize(path) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
