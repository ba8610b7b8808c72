"""Evaluation of saliency maps: the paper's saliency metric (and a variant without rescaling),
GT-known localisation, deletion/insertion, pointing game, speed; all methods in one run."""

from keras_saliency.evaluation.data import EvaluationImages, load_evaluation_images, read_boxes_csv
from keras_saliency.evaluation.metrics import (
    boxes_from_maps,
    deletion_insertion,
    pointing_game,
    saliency_metric,
)
from keras_saliency.evaluation.runner import DEFAULT_METHODS, evaluate_methods, results_table

__all__ = [
    "DEFAULT_METHODS",
    "EvaluationImages",
    "boxes_from_maps",
    "deletion_insertion",
    "evaluate_methods",
    "load_evaluation_images",
    "results_table",
    "pointing_game",
    "read_boxes_csv",
    "saliency_metric",
]
