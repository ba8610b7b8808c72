"""The built-in demo and known-answer check: a masker learns to find a striped patch.

A tiny classifier learns the synthetic task of `keras_saliency.testing` (the stripe
pattern of a small patch on a cluttered background is the class); a masker is then trained
against it, and on held-out images the box of its thresholded mask must hit the patch.
Needs no download; a few minutes on 2 CPU cores.
"""

import dataclasses
import json
import logging
import os
import time


import keras

from keras_saliency.models.classifiers import compile_classifier
from keras_saliency.models.config import SaliencyConfig
from keras_saliency.evaluation.localization import choose_threshold, localization_hits
from keras_saliency.testing import PATCH_CLASS_NAMES, TINY_TAPS, patch_images, tiny_classifier
from keras_saliency.models.model import SaliencyModel

logger = logging.getLogger("keras_saliency")


@dataclasses.dataclass
class DemoConfig:
    """The demo's sizes and training settings (`run_demo`).

    Args:
        train_images: synthetic training images (default 4000).
        test_images: held-out images the hit rate is measured on (default 300).
        image_size: the side of the square images, in pixels (default 32).
        patch_size: the side of the striped patch, in pixels (default 8).
        empty_fraction: share of the training images without a patch, class "none"
            (default 0.2).
        classifier_epochs: epochs of the tiny classifier (default 8).
        masker_epochs: epochs of the masker (default 20).
        mask_stride: the mask's stride relative to the input (default 2).
        batch_size: the masker's batch size (default 64).
        learning_rate: learning rate of both trainings (default 3e-3).
        validation_images: images that choose the box threshold, never the test images
            (default 300).
        threshold_rule: the rule of `keras_saliency.evaluation.localization` (default "max").
        seed: seed of the data, the weights and Keras (default 0).
        overlays: test images drawn in `overlays.png` (default 16).

    Example:

    ```python
    config = DemoConfig(masker_epochs=5, seed=1)
    results, model, _ = run_demo(config=config)
    ```
    """

    train_images: int = 4000
    test_images: int = 300
    image_size: int = 32
    patch_size: int = 8
    empty_fraction: float = 0.2  # training images without a patch, class "none"
    classifier_epochs: int = 8
    masker_epochs: int = 20
    mask_stride: int = 2
    batch_size: int = 64
    learning_rate: float = 3e-3
    validation_images: int = 300  # to choose the box threshold (never the test images)
    threshold_rule: str = "max"  # see keras_saliency.evaluation.localization
    seed: int = 0
    overlays: int = 16


def run_demo(output_dir=None, config=None, verbose=0):
    """Trains classifier and masker on synthetic data; returns a dict of measured figures.

    With `output_dir`: writes `model.keras`, overlay PNGs, `demo_config.json` and
    `results.json` there.

    Returns `(results, model, (test_images, test_labels, test_boxes, test_masks))`.

    Args:
        output_dir: folder for the files above, or None to write nothing.
        config: a `DemoConfig` (default: `DemoConfig()`).
        verbose: Keras' `fit` verbosity (default 0).

    Example:

    ```python
    results, model, (images, labels, boxes, masks) = run_demo("demo", demo_config(quick=True))
    print(results["hit_rate"])
    ```
    """
    config = config or DemoConfig()
    start = time.perf_counter()
    keras.utils.set_random_seed(config.seed)
    patterns = len(PATCH_CLASS_NAMES)
    x, y, _ = patch_images(
        config.train_images,
        config.image_size,
        patterns,
        config.patch_size,
        seed=config.seed,
        empty_fraction=config.empty_fraction,
    )
    # Validation and test images all hold a patch: they measure localisation.
    xv, yv, bv = patch_images(
        config.validation_images, config.image_size, patterns, config.patch_size, seed=config.seed + 2
    )
    xt, yt, bt = patch_images(
        config.test_images, config.image_size, patterns, config.patch_size, seed=config.seed + 1
    )
    classifier = tiny_classifier(patterns + 1, config.image_size)  # the patterns and "none"
    compile_classifier(classifier, config.learning_rate)
    classifier.fit(x, y, batch_size=32, epochs=config.classifier_epochs, verbose=verbose)
    classifier_accuracy = float(classifier.evaluate(xt, yt, verbose=0, return_dict=True)["accuracy"])

    model = SaliencyModel.from_classifier(
        classifier,
        tap_layers=TINY_TAPS,
        config=SaliencyConfig(smoothness_weight=0.5),  # what the known-answer figures used
        mask_stride=config.mask_stride,
        seed=config.seed,
    )
    model.compile(learning_rate=config.learning_rate)
    model.fit(x, y, batch_size=config.batch_size, epochs=config.masker_epochs, verbose=verbose)
    validation_masks = model.predict((xv, yv), batch_size=256, verbose=0)
    threshold, validation_rate = choose_threshold(validation_masks, bv, config.threshold_rule)
    masks = model.predict((xt, yt), batch_size=256, verbose=0)
    hits = localization_hits(masks, bt, threshold=threshold, rule=config.threshold_rule)
    # A class that is absent from the image (the next pattern): the mask should be empty.
    present = model.explain(xt, yt, batch_size=256)
    absent = model.explain(xt, (yt + 1) % len(PATCH_CLASS_NAMES), batch_size=256)
    results = {
        "classifier_accuracy": classifier_accuracy,
        "hit_rate": float(hits.mean()),
        "validation_hit_rate": validation_rate,
        "threshold_rule": (
            f"mask > {threshold} x {config.threshold_rule}(mask) (chosen on {config.validation_images} "
            "validation images), largest connected component, IoU >= 0.5"
        ),
        "test_images": int(config.test_images),
        "mean_mask": float(masks.mean()),
        "mean_mask_absent_class": float(absent["mask"].mean()),
        "exists_probability": float(present["exists"].mean()),
        "exists_probability_absent_class": float(absent["exists"].mean()),
        "seconds": time.perf_counter() - start,
    }
    if output_dir:
        from keras_saliency.reports.pictures import save_panels

        os.makedirs(output_dir, exist_ok=True)
        from keras_saliency.training.run_files import atomic_save_model

        atomic_save_model(model, os.path.join(output_dir, "model.keras"))
        n = config.overlays
        titles = [
            f"{PATCH_CLASS_NAMES[label]}: {'hit' if hit else 'miss'}"
            for label, hit in zip(yt[:n], hits[:n])
        ]
        results["overlays"] = save_panels(
            os.path.join(output_dir, "overlays.png"), xt[:n], masks[:n], titles=titles
        )
        with open(os.path.join(output_dir, "demo_config.json"), "w") as f:
            json.dump(dataclasses.asdict(config), f, indent=2)
        with open(os.path.join(output_dir, "results.json"), "w") as f:
            json.dump(results, f, indent=2)
    return results, model, (xt, yt, bt, masks)


def demo_config(quick=False, seed=0):
    """The demo's `DemoConfig`; `quick`: fewer images and epochs (a smoke run, lower hit rate).

    Args:
        quick: fewer images and epochs (800 training and 64 test images, 2 + 2 epochs).
        seed: the config's `seed` (default 0).

    Example:

    >>> demo_config(quick=True).masker_epochs
    2
    """
    config = DemoConfig(seed=seed)
    if quick:
        config.train_images, config.test_images = 800, 64
        config.classifier_epochs, config.masker_epochs = 2, 2
    return config


def describe_results(results):
    """The demo's results (`run_demo`) in three lines of text.

    Args:
        results: the dict `run_demo` returns first (with its "overlays" path).

    Example:

    ```python
    results, _, _ = run_demo("demo", demo_config(quick=True))
    print(describe_results(results))
    ```
    """
    return (
        f"classifier accuracy {results['classifier_accuracy']:.3f}; masks hit the patch "
        f"(IoU >= 0.5) on {results['hit_rate']:.1%} of {results['test_images']} held-out images "
        f"({results['threshold_rule']}); {results['seconds']:.0f} s\n"
        f"for a class absent from the image the mean mask is {results['mean_mask_absent_class']:.4f} "
        f"(present: {results['mean_mask']:.4f}) and 'exists' {results['exists_probability_absent_class']:.2f} "
        f"(present: {results['exists_probability']:.2f})\n"
        f"Overlays: {results['overlays']}"
    )
