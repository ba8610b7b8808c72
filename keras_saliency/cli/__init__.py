"""`keras-saliency`: a thin click layer over the library.

Each command parses its flags, calls one library function and prints the result; how commands
run in a terminal (TensorFlow loaded quietly, one-line errors) lives in `keras_saliency.cli.console`.
The commands live by subject: `train` (demo, train), `evaluate` (convert-boxes, evaluate),
`explain` (explain, video, serve, explain-bulk) and `deploy` (export, benchmark). Only click and
the standard library load with the command, so `--help` and `--version` are instant.
"""

import click

from keras_saliency import pretrained
from keras_saliency.cli.console import setup_logging

DATASETS = ("cifar10", "imagenet2012", "imagenette", "folder")  # keras_saliency.training.run.DATASETS
METHOD_NAMES = ("masker", "gradient", "smoothgrad", "integrated_gradients", "gradcam", "occlusion", "rise",
                "optimisation", "centre_box", "full_image", "lrp_epsilon_gamma_box",
                "lrp_epsilon_plus_flat")  # keras_saliency.methods.METHODS
DELETION_SUBSTRATES = ("black", "grey", "blur")  # keras_saliency.evaluation.metrics.DELETION_SUBSTRATES
MODEL_NAMES = ", ".join(pretrained.available())  # TensorFlow-free: the shipped files' names
PRESET_NAMES = ("gated-fpn", "paper")  # keras_saliency.models.presets.MASKER_PRESETS, the default first
BEAM_RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner")  # explain.bulk.BEAM_RUNNERS


@click.group()
@click.version_option(package_name="keras-saliency")
def main():
    """Real-time saliency masks for Keras image classifiers (Dabkowski & Gal, 2017)."""
    setup_logging()


# The commands register themselves on `main` (after it exists).
from keras_saliency.cli import deploy, evaluate, explain, train  # noqa: E402,F401
