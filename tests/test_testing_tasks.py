import numpy as np

from keras_saliency.testing import patch_images


def _saturation(images):
    return images.max(axis=-1) - images.min(axis=-1)


def test_patch_images_put_one_contrasting_patch_in_its_box():
    images, labels, boxes = patch_images(50, seed=3)
    assert images.shape == (50, 32, 32, 3) and set(labels) <= {0, 1, 2, 3}
    for image, (x0, y0, x1, y1) in zip(images, boxes):
        assert (x1 - x0 + 1, y1 - y0 + 1) == (8, 8)
        patch = image[y0 : y1 + 1, x0 : x1 + 1]
        assert _saturation(patch).min() > 100  # coloured stripes...
        assert np.ptp(patch, axis=(0, 1)).max() > 100  # ...in two clearly different colours
        outside = image.copy()
        outside[y0 : y1 + 1, x0 : x1 + 1] = 128
        assert _saturation(outside).max() < 80  # the clutter is grey


def test_empty_images_have_the_none_label_and_no_box():
    images, labels, boxes = patch_images(200, seed=1, empty_fraction=0.3)
    empty = labels == 4
    assert 30 < empty.sum() < 90
    assert (boxes[empty] == -1).all() and (boxes[~empty] >= 0).all()
    assert _saturation(images[empty]).max() < 80
