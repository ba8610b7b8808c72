"""The `keras-saliency` group and the names its flags offer (TensorFlow-free copies of the
library's lists)."""

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

