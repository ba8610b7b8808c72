"""Known answers of the threshold-free measures of what a person sees: the energy-based pointing
game (the share of the normalised map's mass in the boxes), the mean of the normalised map, and
the correlation of two maps of an image."""

import numpy as np
import pytest

from keras_saliency.evaluation.metrics import (
    box_union_masks,
    energy_pointing_game,
    map_correlation,
    normalised_map_mean,
    normalised_maps,
)


def test_a_map_equal_to_the_box_scores_one_and_lights_the_box_share():
    box = [4, 8, 11, 15]  # inclusive: 8 x 8 pixels of a 32 x 32 image
    maps = box_union_masks([box], (32, 32)).astype(np.float32) * 0.7 + 0.1  # any contrast
    assert energy_pointing_game(maps, [box])[0] == pytest.approx(1.0)
    assert normalised_map_mean(maps)[0] == pytest.approx(64 / 1024)


def test_a_uniform_map_scores_the_boxes_share_of_the_image():
    boxes = [[[0, 0, 15, 31], [8, 0, 23, 31]]]  # two overlapping halves: the union is 24 of 32 columns
    for value in (0.0, 0.4, 1.0):  # a constant map is the uniform map, whatever its value
        maps = np.full((1, 32, 32), value, np.float32)
        assert energy_pointing_game(maps, boxes)[0] == pytest.approx(24 / 32)
        assert normalised_map_mean(maps)[0] == pytest.approx(1.0)


def test_a_map_beside_the_box_scores_zero_and_half_inside_scores_half():
    box = [0, 0, 7, 7]
    outside = np.zeros((1, 32, 32), np.float32)
    outside[0, 20:28, 20:28] = 1.0
    assert energy_pointing_game(outside, [box])[0] == pytest.approx(0.0)
    half = np.zeros((1, 32, 32), np.float32)
    half[0, 0:8, 4:12] = 1.0  # 4 of its 8 columns lie in the box
    assert energy_pointing_game(half, [box])[0] == pytest.approx(0.5)


def test_normalisation_is_min_max_per_image():
    maps = np.array([[[2.0, 4.0], [6.0, 10.0]], [[-1.0, -1.0], [1.0, 1.0]]])
    np.testing.assert_allclose(normalised_maps(maps)[0], [[0.0, 0.25], [0.5, 1.0]])
    np.testing.assert_allclose(normalised_map_mean(maps), [0.4375, 0.5])
    with pytest.raises(ValueError, match="Expected maps of shape"):
        normalised_maps(np.zeros((2, 3)))


def test_map_correlation_known_answers():
    rng = np.random.default_rng(0)
    a = rng.random((3, 8, 8))
    np.testing.assert_allclose(map_correlation(a, 2 * a + 1), 1.0)
    np.testing.assert_allclose(map_correlation(a, -a), -1.0)
    flat = np.ones((3, 8, 8))
    np.testing.assert_allclose(map_correlation(a, flat), 0.0)  # a constant map: no correlation
    left = np.zeros((1, 8, 8))
    left[0, :, :4] = 1
    np.testing.assert_allclose(map_correlation(left, 1 - left), -1.0)
    with pytest.raises(ValueError, match="Expected two"):
        map_correlation(a, a[:2])
