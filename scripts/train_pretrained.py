"""Re-trains the models shipped in `keras_saliency/pretrained/` from their recipes.

    python scripts/train_pretrained.py cifar10 --stage classifier --output runs/cifar10
    python scripts/train_pretrained.py cifar10 --stage masker --output runs/cifar10
    python scripts/train_pretrained.py cifar10 --stage package --output runs/cifar10

Stages resume where an interrupted run stopped. Data: `--data-root` (default ../shared/data).
"""

import os as _os
import sys as _sys

_sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))  # tools/

import logging

import click


@click.command()
@click.argument("recipe_name")
@click.option("--stage", type=click.Choice(["classifier", "masker", "package", "all"]), default="all", show_default=True)
@click.option("--output", required=True, type=click.Path())
@click.option("--data-root", type=click.Path(exists=True), help="Default: ../shared/data or $KERAS_SALIENCY_DATA.")
@click.option("--set", "overrides", multiple=True, help="Recipe field override, e.g. --set masker_epochs=5 (JSON value).")
def main(recipe_name, stage, output, data_root, overrides):
    import dataclasses

    from tools import recipes
    from keras_saliency.options import parse_assignments

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recipe = recipes.get_recipe(recipe_name)
    recipe = dataclasses.replace(recipe, **parse_assignments(overrides, "set"))
    if stage == "package":
        path = recipes.package_model(recipe, output)
        click.echo(f"Packaged {path}")
        return
    splits = recipes.recipe_splits(recipe, data_root)
    if stage in ("classifier", "all"):
        recipes.train_classifier_stage(recipe, output, splits=splits)
    if stage in ("masker", "all"):
        recipes.train_masker_stage(recipe, output, splits=splits)
    if stage == "all":
        recipes.package_model(recipe, output)


if __name__ == "__main__":
    main()
