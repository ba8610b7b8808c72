import numpy as np

from keras_saliency.models import alternatives


def test_blur_keeps_a_constant_image_and_smooths_an_edge():
    flat = np.full((1, 16, 16, 3), 77.0, np.float32)
    np.testing.assert_allclose(alternatives.gaussian_blur(flat, 7, 2.0).numpy(), flat, atol=1e-3)
    edge = np.zeros((1, 16, 16, 3), np.float32)
    edge[:, :, 8:] = 255
    blurred = alternatives.gaussian_blur(edge, 7, 2.0).numpy()
    assert 0 < blurred[0, 8, 7, 0] < 255 and 0 < blurred[0, 8, 8, 0] < 255
    assert blurred.shape == edge.shape


def test_kernel_scales_with_resolution():
    assert alternatives.blur_kernel_size(224, 55 / 224, 11 / 224) == (55, 11.0)
    size, sigma = alternatives.blur_kernel_size(32, 55 / 224, 11 / 224)
    assert size % 2 == 1 and size >= 3 and sigma == 11 / 7


def test_colour_noise_is_constant_colour_plus_noise_in_range():
    images = np.zeros((64, 8, 8, 3), np.float32)
    out = alternatives.colour_noise(images, colour_range=0.66, noise_std=0.0, seed=1).numpy()
    assert out.min() >= 0 and out.max() <= 255
    assert np.allclose(out.std(axis=(1, 2)), 0.0, atol=1e-3)  # constant per image and channel
    assert out[:, 0, 0].std() > 10  # but different across images
    low, high = (1 - 0.66) * 127.5, (1 + 0.66) * 127.5
    assert out.min() >= low - 1e-3 and out.max() <= high + 1e-3


def test_mixed_alternatives_draw_both_kinds():
    images = np.random.default_rng(0).uniform(0, 255, (200, 16, 16, 3)).astype(np.float32)
    out = alternatives.mixed_alternatives(images, blur_probability=0.5, noise_std=0.0, seed=3).numpy()
    size, sigma = alternatives.blur_kernel_size(16, 55 / 224, 11 / 224)
    blurred = alternatives.gaussian_blur(images, size, sigma).numpy()
    is_blur = np.isclose(out, blurred, atol=1e-3).all(axis=(1, 2, 3))
    is_flat = np.isclose(out.std(axis=(1, 2)), 0, atol=1e-3).all(axis=-1)
    assert 60 < is_blur.sum() < 140  # about half blurred copies
    assert (is_blur ^ is_flat).all()  # the rest flat colours, nothing else


def test_apply_mask_extremes():
    x = np.full((1, 4, 4, 3), 200.0, np.float32)
    a = np.full((1, 4, 4, 3), 10.0, np.float32)
    ones = np.ones((1, 4, 4, 1), np.float32)
    preserved, destroyed = alternatives.apply_mask(x, ones, a)
    np.testing.assert_allclose(preserved, x)
    np.testing.assert_allclose(destroyed, a)
