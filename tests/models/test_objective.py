import numpy as np
import pytest
import tensorflow as tf

from keras_saliency.models import objective
from keras_saliency.models.config import SaliencyConfig


def _grads(fn, *tensors):
    variables = [tf.Variable(t, dtype=tf.float32) for t in tensors]
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(fn(*variables))
    return value, tape.gradient(value, variables)


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_mask_terms_have_finite_gradients_at_extremes(fill):
    masks = np.full((2, 8, 8, 1), fill, np.float32)
    for fn in (
        lambda m: objective.area(m, 0.3, 0.0005),
        lambda m: objective.total_variation(m, 2.0, 0.3),
        lambda m: objective.total_variation(m, 1.0, 0.3),
    ):
        value, (grad,) = _grads(fn, masks)
        assert np.isfinite(value.numpy())
        assert np.all(np.isfinite(grad.numpy()))


@pytest.mark.parametrize("form", ["code", "paper"])
@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_classification_terms_have_finite_gradients_at_large_logits(form, scale):
    logits = np.array([[scale, -scale, 0.0], [-scale, scale, 0.0]], np.float32)
    labels = np.array([0, 0])
    for is_real in (np.ones(2), np.zeros(2)):
        value, grads = _grads(
            lambda p, d: tf.add_n(
                list(objective.classification_terms(p, d, labels, is_real, form=form))
            ),
            logits,
            -logits,
        )
        assert np.isfinite(value.numpy())
        for grad in grads:
            assert np.all(np.isfinite(grad.numpy()))


def test_exists_cross_entropy_is_stable_and_correct():
    logits = np.array([1e4, -1e4, 0.0], np.float32)
    value, (grad,) = _grads(lambda x: objective.exists_cross_entropy(x, np.array([1, 0, 1])), logits)
    assert np.all(np.isfinite(grad.numpy()))
    np.testing.assert_allclose(
        objective.exists_cross_entropy(logits, np.array([1, 0, 1])).numpy(), [0, 0, np.log(2)], atol=1e-6
    )


def test_area_known_values():
    np.testing.assert_allclose(objective.area(np.zeros((1, 4, 4))).numpy(), [0.0005**0.3], rtol=1e-5)
    np.testing.assert_allclose(objective.area(np.ones((1, 4, 4))).numpy(), [1.0005**0.3], rtol=1e-5)
    half = np.zeros((1, 4, 4))
    half[:, :, :2] = 1
    np.testing.assert_allclose(
        objective.area(half, power=1.0, epsilon=0.0).numpy(), [0.5], rtol=1e-6
    )


def test_total_variation_known_value():
    # A vertical edge through a 4x4 mask: 4 horizontal differences of 1, no vertical ones.
    step = np.zeros((1, 4, 4, 1), np.float32)
    step[:, :, 2:] = 1
    np.testing.assert_allclose(objective.total_variation(step, 2.0, 0.0).numpy(), [4 / 2])
    # Border penalty: border pixels that are 1 are the top/bottom rows' right halves (2 + 2)
    # and the right column's two middle pixels (2): 6 squared values.
    np.testing.assert_allclose(objective.total_variation(step, 2.0, 1.0).numpy(), [(4 + 6) / 2])


def test_margins_known_values():
    logits = np.array([[3.0, 1.0, 0.0]], np.float32)
    # class 0 wins by 2: preserver margin relu(1 - 3 + 1) = 0; destroyer relu(3 - 1 + 5) = 7
    assert objective.preserver_margin(logits, [0], 1.0).numpy()[0] == pytest.approx(0.0)
    assert objective.destroyer_margin(logits, [0], 5.0).numpy()[0] == pytest.approx(7.0)
    # class 2 loses by 3: preserver relu(3 - 0 + 1) = 4; destroyer relu(0 - 3 + 5) = 2
    assert objective.preserver_margin(logits, [2], 1.0).numpy()[0] == pytest.approx(4.0)
    assert objective.destroyer_margin(logits, [2], 5.0).numpy()[0] == pytest.approx(2.0)


def test_fake_label_swaps_roles():
    # The preserved image is confidently class 0 (the true label), the destroyed one is not.
    preserved = np.array([[6.0, 0.0, 0.0]], np.float32)
    destroyed = np.array([[0.0, 6.0, 0.0]], np.float32)
    labels = np.array([0])
    real_p, real_d = objective.classification_terms(preserved, destroyed, labels, [1.0])
    fake_p, fake_d = objective.classification_terms(preserved, destroyed, labels, [0.0])
    # Real selector: this is what we want, both terms are zero.
    assert real_p.numpy()[0] == pytest.approx(0.0)
    assert real_d.numpy()[0] == pytest.approx(0.0)
    # Fake selector: the preserved image must NOT be class 0 (6 - 0 + 1 = 7) and the destroyed
    # image must still be class 0 (6 - 0 + 1 = 7).
    assert fake_p.numpy()[0] == pytest.approx(7.0)
    assert fake_d.numpy()[0] == pytest.approx(7.0)
    # Paper form: swapped too (-log p for the destroyed image with a fake selector).
    fake_p, fake_d = objective.classification_terms(preserved, destroyed, labels, [0.0], form="paper")
    assert fake_d.numpy()[0] == pytest.approx(-objective.log_probability(destroyed, labels).numpy()[0])


def test_saliency_objective_combines_terms_with_config_weights():
    masks = np.full((2, 4, 4, 1), 0.5, np.float32)
    logits = np.array([[2.0, 0.0], [0.0, 2.0]], np.float32)
    labels = np.array([0, 1])
    config = SaliencyConfig(area_weight=2.0, smoothness_weight=0.0, preserver_weight=0.5, exists_weight=3.0)
    terms = objective.saliency_objective(masks, logits, logits, labels, [1, 1], np.zeros(2), config=config)
    expected = (
        terms["destroyer"] + 2.0 * terms["area"] + 0.5 * terms["preserver"] + 3.0 * terms["exists"]
    )
    assert float(terms["loss"]) == pytest.approx(float(expected))
    assert float(terms["exists"]) == pytest.approx(np.log(2), rel=1e-5)


def test_config_round_trip_and_errors(tmp_path):
    config = SaliencyConfig(objective="paper", area_weight=3.0)
    path = tmp_path / "config.json"
    config.save(path)
    assert SaliencyConfig.load(path) == config
    with pytest.raises(ValueError, match="Expected objective"):
        SaliencyConfig(objective="nope")
    with pytest.raises(ValueError, match="unknown keys"):
        SaliencyConfig.from_config({"area_wieght": 1})


def test_soft_top_fraction_selects_the_fraction_and_reads_only_the_ranking():
    rng = np.random.default_rng(0)
    masks = rng.uniform(0.0, 1.0, (3, 8, 8, 1)).astype(np.float32)
    fractions = np.array([0.25, 0.5, 0.1], np.float32)
    top = objective.soft_top_fraction(masks, fractions, temperature=0.01).numpy()
    np.testing.assert_array_equal((top > 0.5).reshape(3, -1).sum(1), [16, 32, 6])
    # The selected pixels are each mask's largest ones.
    for mask, selected, count in zip(masks, top > 0.5, [16, 32, 6]):
        assert mask[selected].min() > np.sort(mask.ravel())[::-1][count]
    # A faint mask with the same order selects the same pixels.
    faint = objective.soft_top_fraction(masks * 1e-2, fractions, temperature=0.01).numpy()
    np.testing.assert_array_equal(faint > 0.5, top > 0.5)


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_soft_top_fraction_has_finite_gradients_at_extremes(fill):
    masks = np.full((2, 8, 8, 1), fill, np.float32)
    value, (grad,) = _grads(lambda m: objective.soft_top_fraction(m, tf.constant([0.1, 0.4])), masks)
    assert np.isfinite(value.numpy()) and np.all(np.isfinite(grad.numpy()))


def test_graded_ranking_known_values():
    logits = np.log(np.array([[0.9, 0.1], [0.5, 0.5], [0.9, 0.1]], np.float32))
    labels = np.array([0, 0, 0])
    keep = np.array([1.0, 0.0, 1.0])
    is_real = np.array([1.0, 1.0, 0.0])
    term = objective.graded_ranking(logits, labels, keep, is_real, form="simplified").numpy()
    # kept: cross-entropy -log 0.9; removed: negative entropy of (0.5, 0.5) = -log 2; fake: 0.
    np.testing.assert_allclose(term, [-np.log(0.9), -np.log(2.0), 0.0], rtol=1e-5)


def test_saliency_objective_adds_the_weighted_graded_term():
    masks = np.full((2, 4, 4, 1), 0.5, np.float32)
    logits = np.array([[2.0, 0.0], [0.0, 2.0]], np.float32)
    labels, is_real = np.array([0, 0]), np.ones(2)
    config = SaliencyConfig.simplified(graded_weight=2.0)
    graded = (logits, np.array([1.0, 1.0]))
    without = objective.saliency_objective(masks, logits, logits, labels, is_real, config=config)
    terms = objective.saliency_objective(masks, logits, logits, labels, is_real, config=config, graded=graded)
    expected = np.mean(objective.cross_entropy(logits, labels).numpy())
    np.testing.assert_allclose(terms["graded"].numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(terms["loss"].numpy(), without["loss"].numpy() + 2.0 * expected, rtol=1e-5)
    assert float(without["graded"]) == 0.0


def test_graded_fractions_are_checked_and_round_trip(tmp_path):
    with pytest.raises(ValueError, match="Expected graded_fractions"):
        SaliencyConfig(graded_fractions=(0.5, 0.1))
    config = SaliencyConfig(graded_weight=1.0, graded_fractions=[0.1, 0.3])
    config.save(tmp_path / "c.json")
    assert SaliencyConfig.load(tmp_path / "c.json") == config
