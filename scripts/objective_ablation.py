"""Short masker runs on CIFAR-10 with objective overrides: does the mask stay empty?

    python scripts/objective_ablation.py CLASSIFIER.keras --set smoothness_weight=0.005 --steps 600

Trains a masker for `--steps` steps (batch 64) against a frozen classifier on the recipe's CIFAR-10
training split, then reports on 1,000 validation images: the mean mask, the share of masks with a peak
above 0.5, and the classifier's accuracy on the original, preserved and destroyed (blurred alternative)
images. Appends a JSON line to `--log`. This is how the smoothness weight default was chosen
(docs/RESULTS.md, "Training the maskers").
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # tools/

import json
import time

import click


@click.command()
@click.argument("classifier_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--set", "overrides", multiple=True, help="SaliencyConfig field, e.g. smoothness_weight=0.005 (JSON value).")
@click.option("--steps", default=600, show_default=True, type=int)
@click.option("--learning-rate", default=1e-3, show_default=True, type=float)
@click.option("--data-root", type=click.Path(exists=True), help="Default: ../shared/data.")
@click.option("--log", default="ablation.jsonl", show_default=True, type=click.Path(dir_okay=False))
def main(classifier_path, overrides, steps, learning_rate, data_root, log):
    import keras
    import numpy as np
    import tensorflow as tf

    from tools import recipes
    from keras_saliency.options import parse_assignments
    from keras_saliency.models.alternatives import apply_mask, blurred
    from keras_saliency.models.classifiers import CIFAR_TAPS
    from keras_saliency.data.arrays import array_dataset
    from keras_saliency.models.masker import upsample_masks
    from keras_saliency.models.model import SaliencyModel
    from keras_saliency.training.fit import compile_saliency_model

    changes = parse_assignments(overrides, "set")
    keras.utils.set_random_seed(0)
    (train_x, train_y), (val_x, val_y), _ = recipes.recipe_splits(recipes.get_recipe("cifar10"), data_root)
    classifier = keras.saving.load_model(classifier_path)
    model = SaliencyModel.from_classifier(classifier, tap_layers=CIFAR_TAPS, config=changes, seed=0)
    compile_saliency_model(model, learning_rate)
    train = array_dataset(train_x, train_y, batch_size=64, training=True, seed=0).repeat()
    start = time.time()
    history = model.fit(train, steps_per_epoch=max(1, steps // 4), epochs=4, verbose=2)
    seconds = time.time() - start
    images, labels = val_x[:1000].astype("float32"), val_y[:1000]
    masks = np.asarray(model.predict((images, labels), batch_size=250, verbose=0))
    preserved, destroyed = apply_mask(
        tf.constant(images), upsample_masks(tf.constant(masks), (32, 32)), blurred(images)
    )

    def accuracy(x):
        return float((classifier.predict(np.asarray(x), batch_size=250, verbose=0).argmax(1) == labels).mean())

    result = {
        "overrides": changes,
        "steps": steps,
        "seconds_per_step": seconds / steps,
        "mask_mean": float(masks.mean()),
        "masks_with_peak_above_0.5": float((masks.reshape(len(masks), -1).max(1) > 0.5).mean()),
        "accuracy_original": accuracy(images),
        "accuracy_preserved": accuracy(preserved),
        "accuracy_destroyed": accuracy(destroyed),
        "last_epoch": {k: float(v[-1]) for k, v in history.history.items()},
    }
    click.echo(json.dumps(result))
    with open(log, "a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
