"""`keras-saliency convert-boxes` and `keras-saliency evaluate`."""

import click

from keras_saliency.cli.group import DELETION_SUBSTRATES, METHOD_NAMES, MODEL_NAMES, main
from keras_saliency.cli.console import checks, command, echo


@main.command("convert-boxes")
@click.argument("source", type=click.Path(exists=True))
@click.option("--extension", default=".JPEG", show_default=True, help="Added to image names without one.")
@click.option("--output", default="boxes.csv", show_default=True, type=click.Path(dir_okay=False))
@command
def convert_boxes(source, extension, output):
    """ImageNet box annotations (a folder of ILSVRC .xml files, one .xml, or LOC_val_solution.csv)
    to boxes.csv (path,xmin,ymin,xmax,ymax,label) for `evaluate --boxes`."""
    from keras_saliency.evaluation import imagenet_boxes

    count = imagenet_boxes.convert(source, output, extension)
    click.echo(f"Wrote {count} boxes to {output}")


@main.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--model",
    "model_name",
    default="cifar10",
    show_default=True,
    help=f"A shipped model ({MODEL_NAMES}) or a masker's .keras file.",
)
@click.option(
    "--boxes",
    type=click.Path(exists=True),
    help=(
        "boxes.csv (path,xmin,ymin,xmax,ymax[,label]; paths relative to FOLDER), or ImageNet's own annotations (a "
        "folder of ILSVRC .xml files or LOC_val_solution.csv, converted to OUTPUT/boxes.csv), for localisation and "
        "the pointing game."
    ),
)
@click.option(
    "--methods",
    help=(
        f"Comma-separated method names: {', '.join(METHOD_NAMES)}. Default: all but the LRP ones, the learned masker "
        "first."
    ),
)
@click.option(
    "--limit",
    default=300,
    show_default=True,
    type=click.IntRange(min=0),
    help="A seeded random subset of at most this many images (0: all).",
)
@click.option(
    "--split",
    type=click.Choice(["all", "validation"]),
    default="all",
    show_default=True,
    help="validation: only the held-out part of a class folder (the recipes' and `train`'s seeded 10% split).",
)
@click.option(
    "--calibration-fraction",
    default=0.3,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Images used to choose each method's threshold; the rest are scored.",
)
@click.option(
    "--slow-limit",
    default=60,
    show_default=True,
    type=click.IntRange(min=0),
    help="Score the slow methods (optimisation, rise) on at most this many test images (0: all).",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    help="Method option, e.g. --option rise.num_masks=2000 --option optimisation.steps=100 (JSON value).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False),
    help="labels.csv (path,label: class ids) of a flat folder. Default: a labels.csv in FOLDER or its parent.",
)
@click.option(
    "--subset",
    type=click.Path(exists=True, dir_okay=False),
    help=(
        "A path,part CSV (a fixed split): thresholds are chosen on its 'calibration' images, figures measured on its "
        "'test' images; other images are ignored."
    ),
)
@click.option(
    "--faithfulness-limit",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Saliency metrics and deletion/insertion on at most this many calibration and test images (0: all).",
)
@click.option(
    "--extra-masker",
    "extra_maskers",
    multiple=True,
    help="LABEL=PATH: another masker (.keras) for the same classifier, scored as one more row.",
)
@click.option(
    "--road-limit",
    default=32,
    show_default=True,
    type=click.IntRange(min=0),
    help="ROAD (MoRF / LeRF with noisy linear imputation) on at most this many test images (0: all).",
)
@click.option("--no-road", is_flag=True, help="Skip ROAD.")
@click.option(
    "--scale-corrected",
    is_flag=True,
    help="Also report the saliency metric corrected for what magnification alone costs the classifier.",
)
@click.option(
    "--deletion-substrate",
    type=click.Choice(DELETION_SUBSTRATES),
    default="black",
    show_default=True,
    help="What removed pixels become in the deletion curve (black: the RISE protocol).",
)
@click.option(
    "--no-class-correlation",
    is_flag=True,
    help="Skip the correlation of the maps for the classifier's top-1 and top-2 classes.",
)
@click.option(
    "--sanity",
    is_flag=True,
    help=(
        "Also run the sanity checks (cascading randomisation of the classifier, and of the masker's own layers): "
        "sanity.csv, sanity.md, sanity.png."
    ),
)
@click.option(
    "--sanity-limit",
    default=16,
    show_default=True,
    type=click.IntRange(min=0),
    help="Images of the sanity checks (0: all).",
)
@click.option("--output", default="saliency-evaluation", show_default=True, type=click.Path(file_okay=False))
@command(before=checks())
def evaluate(model_name, **options):
    """Compare the learned masker with classic saliency methods on the same classifier (saliency
    metrics, localisation error, MaxBoxAccV2, pointing game, mass in the boxes, mean of the map,
    top-1/top-2 map correlation, deletion / insertion AUC, ROAD, masks/s) in CSV, Markdown and a PNG
    grid; with --sanity, the sanity checks of every method."""
    from keras_saliency.evaluation import results_table
    from keras_saliency.evaluation.evaluate import evaluate_folder

    results, sanity = evaluate_folder(model=model_name, log=echo, **options)
    click.echo(results_table(results))
    click.echo(f"Saved results.csv, results.md, examples.png and evaluation_config.json in {options['output']}")
    if sanity:
        click.echo(sanity)
        click.echo(f"Saved sanity.csv, sanity.md, sanity.png and sanity_curves.png in {options['output']}")
