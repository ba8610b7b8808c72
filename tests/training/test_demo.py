"""Known answer: the class is a small striped patch at a random place on clutter; the
masker's box must hit the patch (IoU >= 0.5) on at least 80% of held-out images (measured:
100%, 94%, 100%, 98.7% for seeds 0-3 with 30 masker epochs; 100% for seed 0 with the
default 20)."""

import pytest

from keras_saliency.training.demo import DemoConfig, run_demo


@pytest.mark.slow
@pytest.mark.backends  # the demo task on TensorFlow and JAX (CI runs both)
def test_masker_finds_the_patch(tmp_path):
    results, _, (_, _, _, masks) = run_demo(str(tmp_path), DemoConfig(seed=0))
    print(results)
    assert results["classifier_accuracy"] >= 0.9
    assert results["hit_rate"] >= 0.8, results
    assert masks.shape == (300, 32, 32, 1)
    # Selecting a class that is not in the image gives a (near) empty mask and a low "exists".
    assert results["mean_mask_absent_class"] < 0.2 * results["mean_mask"], results
    assert results["exists_probability"] > 0.5 > results["exists_probability_absent_class"], results
    assert (tmp_path / "overlays.png").exists() and (tmp_path / "model.keras").exists()
