import numpy as np
import pytest

from keras_saliency.evaluation.localization import box_iou, choose_threshold, localization_hits, mask_to_box


def test_box_of_largest_component():
    mask = np.zeros((10, 10), np.float32)
    mask[2:5, 3:7] = 1.0  # 12 pixels
    mask[8, 8] = 1.0  # a speck, ignored
    assert mask_to_box(mask, 0.5, "fixed") == (3, 2, 6, 4)
    assert mask_to_box(np.zeros((4, 4)), 0.5, "fixed") is None
    with pytest.raises(ValueError, match="Expected rule"):
        mask_to_box(mask, 0.5, "median")


def test_iou_known_values():
    assert box_iou((0, 0, 9, 9), (0, 0, 9, 9)) == 1.0
    assert box_iou((0, 0, 9, 9), (5, 0, 14, 9)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 1, 1), (5, 5, 6, 6)) == 0.0
    assert box_iou(None, (0, 0, 1, 1)) == 0.0


def test_hits_and_threshold_choice():
    masks = np.zeros((2, 10, 10, 1), np.float32)
    masks[:, 2:6, 2:6] = 0.6
    masks[:, 3:5, 3:5] = 1.0
    boxes = np.array([[2, 2, 5, 5], [[0, 0, 1, 1], [2, 2, 5, 5]]], dtype=object)
    assert localization_hits(masks, boxes, 0.5, "max").tolist() == [True, True]
    # at 0.8 x max only the 2x2 core is left: IoU 4/16 < 0.5
    assert localization_hits(masks, boxes, 0.8, "max").tolist() == [False, False]
    threshold, rate = choose_threshold(masks, boxes, "max")
    assert rate == 1.0 and threshold <= 0.6
