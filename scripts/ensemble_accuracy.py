"""Validation accuracy of trained classifiers alone and of every ensemble of them (mean class
probabilities, `keras_saliency.models.ensemble.ensemble_classifier`), each with and without the
mirrored image, on a recipe's fixed validation split.

    python scripts/ensemble_accuracy.py --recipe cifar10 --output docs/results/cifar10-ensemble/accuracy \
        --classifier vgg-zoom=runs/cifar10-zoom/classifier.keras \
        --classifier darknet=runs/cifar10-transfer/classifier.keras

The members' probabilities are computed once per view and averaged here, which is what the
ensemble model computes. Writes ensemble_accuracy.csv / .md and ensemble_accuracy_config.json.
"""

import argparse
import itertools
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="cifar10", help="Whose validation split (tools/recipes.py).")
    parser.add_argument("--classifier", action="append", required=True, help="LABEL=PATH of a .keras classifier")
    parser.add_argument("--output", required=True)
    parser.add_argument("--data-root")
    args = parser.parse_args()
    specs = [spec.split("=", 1) for spec in args.classifier]
    if any(len(spec) != 2 for spec in specs) or len({label for label, *_ in specs}) != len(specs):
        parser.error(f"Expected --classifier LABEL=PATH with distinct labels. Received: {args.classifier}")

    import keras
    import numpy as np

    from keras_saliency.reports import tables
    from keras_saliency.models.classifier_layers import classifier_output_kind
    from tools import recipes

    recipe = recipes.get_recipe(args.recipe)
    _, (images, labels), _ = recipes.recipe_splits(recipe, args.data_root, progress=False)
    images = images.astype("float32")
    probabilities = {}
    for label, path in specs:
        model = keras.saving.load_model(path, compile=False)
        for flip in (False, True):
            out = model.predict(images[:, :, ::-1] if flip else images, batch_size=250, verbose=0)
            if classifier_output_kind(model) != "probabilities":
                out = keras.ops.convert_to_numpy(keras.ops.softmax(out))
            probabilities[label, flip] = out
    labels_ = list(dict.fromkeys(label for label, _ in probabilities))
    rows = []
    for size in range(1, len(labels_) + 1):
        for members in itertools.combinations(labels_, size):
            for flip in (False, True):
                mean = np.mean([probabilities[m, f] for m in members for f in ((False, True) if flip else (False,))], 0)
                rows.append({"members": " + ".join(members), "mirrored": "yes" if flip else "no",
                             "accuracy": float((mean.argmax(-1) == labels).mean()), "images": len(labels)})
    columns = (("members", "members", "{}"), ("mirrored", "with the mirrored image", "{}"),
               ("accuracy", "validation accuracy", "{:.2%}"), ("images", "images", "{}"))
    os.makedirs(args.output, exist_ok=True)
    tables.write_csv(os.path.join(args.output, "ensemble_accuracy.csv"), rows, columns)
    with open(os.path.join(args.output, "ensemble_accuracy.md"), "w") as f:
        f.write(tables.markdown_table(rows, columns) + "\n")
    with open(os.path.join(args.output, "ensemble_accuracy_config.json"), "w") as f:
        json.dump({**vars(args), "split": f"{recipe.validation_fraction:.0%} validation split (seed "
                   f"{recipe.split_seed}) of {recipe.data}", "keras": keras.__version__}, f, indent=2)
    print(tables.markdown_table(rows, columns))


if __name__ == "__main__":
    main()
