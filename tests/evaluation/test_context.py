"""Context use on known answers: a classifier that reads only the object is unchanged when the
context is blurred and loses the class when the object is; one that reads only the context does
the opposite; the map's mass outside the boxes is exact for maps inside or outside them."""

import numpy as np
import pytest

from keras_saliency.evaluation.context import box_union, context_use, summarise_context


class RegionClassifier:
    """p(class 0) = the mean of the region's pixels / 255 (clipped to [0, 1])."""

    def __init__(self, region):
        self.region = region

    def probabilities(self, images, class_ids):
        import tensorflow as tf

        mean = tf.reduce_sum(images * self.region[None, :, :, None], axis=(1, 2, 3)) / (3 * self.region.sum())
        return tf.clip_by_value(mean / 255.0, 0.0, 1.0)


def _scene():
    images = np.zeros((2, 32, 32, 3), np.float32)
    images[:, 4:12, 4:12] = 255.0  # the object: a bright square in the box
    boxes = [np.array([[4, 4, 11, 11]]), np.array([[4, 4, 11, 11]])]
    return images, boxes


def test_an_object_reading_classifier_keeps_the_object_and_loses_it_blurred():
    images, boxes = _scene()
    inside = box_union(boxes, (32, 32))[0]
    rows = context_use(RegionClassifier(inside), images, [0, 0], boxes)
    assert rows[0]["p_full"] == pytest.approx(1.0)
    assert rows[0]["p_object"] == pytest.approx(1.0)  # the box's pixels are kept
    assert rows[0]["p_context"] < 0.9  # blurred: the square's edge spreads into the dark surround
    assert rows[0]["box_area"] == pytest.approx(64 / 1024)


def test_a_context_reading_classifier_keeps_the_context_alone():
    images, boxes = _scene()
    images = 255.0 - images  # a bright surround, a dark object
    outside = 1.0 - box_union(boxes, (32, 32))[0]
    rows = context_use(RegionClassifier(outside), images, [0, 0], boxes)
    assert rows[0]["p_context"] == pytest.approx(1.0)  # the context's pixels are kept
    assert rows[0]["p_object"] < rows[0]["p_context"]
    summary = summarise_context(rows)
    assert summary["context_suffices"] == 1.0 and summary["context_beats_object"] == 1.0


def test_map_mass_outside_the_boxes():
    images, boxes = _scene()
    inside = box_union(boxes, (32, 32))[0]
    maps = np.stack([inside, np.ones((32, 32))])  # all inside; uniform
    rows = context_use(RegionClassifier(inside), images, [0, 0], boxes, maps)
    assert rows[0]["map_outside"] == pytest.approx(0.0)
    assert rows[1]["map_outside"] == pytest.approx(1 - 64 / 1024)
    small = context_use(RegionClassifier(inside), images, [0, 0], boxes, maps[:, ::2, ::2])  # resized to the image
    assert small[0]["map_outside"] < 0.5 < small[1]["map_outside"]


def test_context_use_needs_boxes():
    images, _ = _scene()
    with pytest.raises(ValueError, match="Expected one list of boxes per image"):
        context_use(RegionClassifier(np.ones((32, 32))), images, [0, 0], None)


def test_the_partial_correlation_holds_the_box_area_fixed():
    """Context matters more where boxes are small. A map whose mass outside the box follows only
    the box area correlates with context use, but not given the area; a map that follows context
    use keeps its correlation given the area."""
    rng = np.random.default_rng(0)
    area = rng.uniform(0.1, 0.9, 300)
    use = np.clip(1 - area + rng.normal(0, 0.15, 300), 0, 1)  # context's share of p: more for small boxes

    def rows(outside):
        return [{"p_full": 1.0, "p_object": 1 - u, "p_context": u, "box_area": a, "map_outside": o}
                for u, a, o in zip(use, area, outside)]

    follows_area = summarise_context(rows(1 - area + rng.normal(0, 0.02, 300)))
    follows_use = summarise_context(rows(use))
    assert follows_area["spearman"] > 0.7 and abs(follows_area["partial_spearman"]) < 0.2
    assert follows_use["spearman"] == pytest.approx(1.0) and follows_use["partial_spearman"] > 0.9
    assert np.isnan(summarise_context(rows(1 - area))["partial_spearman"])  # the area itself: undefined


def test_context_suffices_counts_only_images_the_classifier_recognises():
    rows = [
        {"p_full": 0.9, "p_object": 0.8, "p_context": 0.6, "map_outside": 0.5},  # recognised, context keeps 2/3
        {"p_full": 0.8, "p_object": 0.7, "p_context": 0.1, "map_outside": 0.1},  # recognised, context loses it
        {"p_full": 0.01, "p_object": 0.002, "p_context": 0.009, "map_outside": 0.3},  # misclassified: not counted
    ]
    summary = summarise_context(rows)
    assert summary["recognised"] == 2
    assert summary["context_suffices"] == pytest.approx(0.5)  # 1 of 2, not 2 of 3
    assert np.isnan(summarise_context(rows[2:])["context_suffices"])
