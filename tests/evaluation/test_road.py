"""ROAD: known answers of the noisy linear imputation, and MoRF / LeRF on a known classifier."""

import numpy as np
import pytest

from keras_saliency.evaluation.road import FRACTIONS, noisy_linear_imputation, road_curves, road_scores


def test_constant_image_stays_constant():
    image = np.full((9, 7, 3), [10.0, 20.0, 30.0])
    removed = np.random.default_rng(0).random((9, 7)) < 0.6
    filled = noisy_linear_imputation(image, removed, noise_std=0.0)
    np.testing.assert_allclose(filled, image, rtol=1e-6)


def test_linear_gradient_is_reproduced_inside():
    y, x = np.mgrid[0:10, 0:12]
    image = np.stack([3.0 * y + 2.0 * x + 1.0, 5.0 * x, 100.0 - 4.0 * y], axis=-1)
    removed = np.zeros((10, 12), bool)
    removed[2:8, 3:10] = True  # interior pixels: every neighbour inside the image
    removed[5, 1] = True
    filled = noisy_linear_imputation(image, removed, noise_std=0.0)
    np.testing.assert_allclose(filled, image, atol=1e-4)


def test_single_pixel_is_the_weighted_average_of_its_neighbours():
    image = np.zeros((3, 3, 1))
    image[0, 1] = 6.0  # a direct neighbour: weight 1/6
    image[0, 0] = 12.0  # a diagonal neighbour: weight 1/12
    removed = np.zeros((3, 3), bool)
    removed[1, 1] = True
    filled = noisy_linear_imputation(image, removed, noise_std=0.0)
    assert filled[1, 1, 0] == pytest.approx(6 / 6 + 12 / 12)


def test_corner_pixel_renormalises_the_weights():
    image = np.zeros((3, 3, 1))
    image[0, 1] = image[1, 0] = 3.0  # direct, 1/6 each
    image[1, 1] = 9.0  # diagonal, 1/12; in-image weights sum to 5/12
    removed = np.zeros((3, 3), bool)
    removed[0, 0] = True
    filled = noisy_linear_imputation(image, removed, noise_std=0.0)
    assert filled[0, 0, 0] == pytest.approx((3 / 6 + 3 / 6 + 9 / 12) / (5 / 12))


def test_noise_only_on_removed_pixels():
    image = np.full((6, 6, 3), 50.0)
    removed = np.zeros((6, 6), bool)
    removed[2:4, 2:4] = True
    filled = noisy_linear_imputation(image, removed, noise_std=2.0, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(filled[~removed], image[~removed])
    assert np.abs(filled[removed] - 50.0).max() > 0.1


def test_errors():
    with pytest.raises(ValueError, match="Expected at least one kept pixel"):
        noisy_linear_imputation(np.zeros((2, 2, 3)), np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="Expected an image"):
        noisy_linear_imputation(np.zeros((2, 2, 3)), np.ones((3, 2), bool))


class _PatchClassifier:
    """Class 0's probability is the mean brightness of the top-left 4x4 patch / 255."""

    def probabilities(self, images, class_ids):
        import tensorflow as tf

        return tf.reduce_mean(images[:, :4, :4], axis=(1, 2, 3)) / 255.0


def test_morf_and_lerf_rank_a_faithful_map_above_an_inverted_one():
    images = np.zeros((2, 16, 16, 3), np.float32)
    images[:, :4, :4] = 255.0
    faithful = np.zeros((2, 16, 16), np.float32)
    faithful[:, :4, :4] = 1.0
    curves = road_curves(_PatchClassifier(), images, np.zeros(2, np.int32), faithful, noise_std=0.0)
    assert curves["morf"].shape == (2, len(FRACTIONS))
    # MoRF: the patch (16 of 256 pixels) is gone from 10% on, imputed from the black pixels
    # around it; LeRF removes at most 90% (230 pixels): the patch stays
    np.testing.assert_allclose(curves["morf"], 0.0, atol=1e-6)
    np.testing.assert_allclose(curves["lerf"], 1.0, atol=1e-6)
    morf, lerf = road_scores(_PatchClassifier(), images, np.zeros(2, np.int32), faithful, noise_std=0.0)
    inverted_morf, inverted_lerf = road_scores(
        _PatchClassifier(), images, np.zeros(2, np.int32), 1.0 - faithful, noise_std=0.0
    )
    assert (morf < inverted_morf).all() and (lerf > inverted_lerf).all()
