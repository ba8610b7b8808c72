"""`keras-saliency demo` and `keras-saliency train`."""

import click

from keras_saliency.cli.group import DATASETS, PRESET_NAMES, main
from keras_saliency.cli.console import command, echo
from keras_saliency.training.run import check_inputs


@main.command()
@click.option("--output", default="saliency-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--quick", is_flag=True, help="Fewer images and epochs (a smoke run, lower hit rate).")
@click.option("--seed", default=0, show_default=True)
@command
def demo(output, quick, seed):
    """Train a masker on a built-in synthetic task and write overlay PNGs (no download)."""
    from keras_saliency.training.demo import demo_config, describe_results, run_demo

    config = demo_config(quick, seed)
    click.echo(
        f"Training a tiny classifier, then a masker, on {config.train_images} synthetic images "
        "(the class is the stripe pattern of a small patch)..."
    )
    results, _, _ = run_demo(output, config, verbose=2)
    click.echo(describe_results(results))


@main.command()
@click.option("--dataset", type=click.Choice(DATASETS), default="cifar10", show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(),
    help="Image folder (folder), manual download dir (imagenet2012) or tensorflow-datasets dir.",
)
@click.option(
    "--classifier",
    "classifier_name",
    help=(
        "Backbone name (resnet50, mobilenet_v2, efficientnet_b0) or a .keras file. Default: train a small CIFAR-style "
        "classifier first."
    ),
)
@click.option(
    "--classifier-preprocessing",
    type=click.Choice(["none", "unit", "symmetric", "caffe", "torch"]),
    help="How [0, 255] pixels become the classifier's input (default: read from the classifier).",
)
@click.option(
    "--encoder",
    default="classifier",
    show_default=True,
    help="'classifier' (tap the classifier's own layers) or a backbone name.",
)
@click.option("--tap-layers", help="Comma-separated layer names of the classifier to use as features, shallow to deep.")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--classifier-epochs",
    default=15,
    show_default=True,
    type=click.IntRange(min=1),
    help="When the small classifier is trained first.",
)
@click.option("--steps-per-epoch", type=click.IntRange(min=1), help="Limit each epoch (default: the whole dataset).")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--image-size",
    type=click.IntRange(min=8),
    help="Default: the --classifier's input size, else 32 for cifar10 and folders, 224 otherwise.",
)
@click.option("--learning-rate", default=1e-3, show_default=True, type=click.FloatRange(0, min_open=True))
@click.option(
    "--validation-split",
    default=0.1,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Held out from a folder (seeded, per class).",
)
@click.option("--mixed-precision", is_flag=True, help="mixed_float16 policy (for GPUs).")
@click.option(
    "--weights",
    type=click.Choice(["imagenet", "none"]),
    default="imagenet",
    show_default=True,
    help=(
        "Keras Applications weights of a named --classifier / --encoder (imagenet: downloaded; none: random, for dry "
        "runs)."
    ),
)
@click.option(
    "--strategy",
    type=click.Choice(["default", "mirrored", "multi-worker", "tpu"]),
    default="default",
    show_default=True,
    help="tf.distribute strategy: mirrored (all GPUs here), multi-worker (TF_CONFIG), tpu.",
)
@click.option(
    "--schedule",
    type=click.Choice(["auto", "single", "two-phase"]),
    default="auto",
    show_default=True,
    help=(
        "two-phase (the paper's: class selector first, then everything) is the default for imagenet2012, single "
        "otherwise."
    ),
)
@click.option(
    "--selector-epochs",
    default=1,
    show_default=True,
    type=click.IntRange(min=0),
    help="Phase 1 of the two-phase schedule.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Build everything and train a few steps (--steps-per-epoch, default 2) per phase, 1 epoch; nothing is saved.",
)
@click.option(
    "--preset",
    type=click.Choice(PRESET_NAMES),
    help=(
        f"Masker preset (default: {PRESET_NAMES[0]} for a --classifier without --tap-layers, the design read from the "
        "classifier)."
    ),
)
@click.option(
    "--crop-scale",
    type=click.FloatRange(0, 1),
    help="Smallest area fraction of the training images' random crops (0: none; default: the preset's).",
)
@click.option("--objective", type=click.Choice(["code", "paper"]), help="Default: the preset's, else code.")
@click.option(
    "--objective-option",
    "objective_options",
    multiple=True,
    help=(
        "KEY=VALUE: a field of the objective (keras_saliency.models.config.SaliencyConfig), e.g. --objective-option "
        "area_weight=10; a continued run trains its new epochs with it."
    ),
)
@click.option(
    "--masker-option",
    "masker_options",
    multiple=True,
    help=(
        "KEY=VALUE: a design field of the masker on top of the preset's (keras_saliency.training.run.MASKER_OPTIONS), "
        "e.g. --masker-option mask_stride=2."
    ),
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    help=(
        "Run folder (default: saliency-runs/DATASET-YYYYmmdd-HHMMSS); an existing one is resumed or continued, never "
        "overwritten."
    ),
)
@click.option(
    "--tensorboard",
    type=click.Path(file_okay=False),
    help=(
        "TensorBoard log folder: the losses (keras.callbacks.TensorBoard) and, after every epoch, the masks of 8 "
        "fixed validation images (run 'masks'). View with: tensorboard --logdir DIR"
    ),
)
@command(before=lambda options: check_inputs(options["dataset"], options["data_dir"], options["classifier_name"]))
def train(classifier_name, **options):
    """Train a masker against a frozen classifier. Before training, a few steps are timed and
    an estimate of the run's length on this machine is printed."""
    from keras_saliency.options import parse_assignments as assignments
    from keras_saliency.training import TrainSpec, train_masker

    options["objective_options"] = assignments(options["objective_options"], "objective_options") or None
    options["masker_options"] = assignments(options["masker_options"], "masker_options") or None
    train_masker(TrainSpec(classifier=classifier_name, **options), log=echo)
