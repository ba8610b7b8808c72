"""Sanity checks: known answers of the similarity measures, the randomisation cascade, and an
end-to-end run on a tiny masker."""

import keras
import numpy as np
import pytest

from keras_saliency.evaluation import sanity
from tests.test_cli_explain_evaluate import square_folder  # noqa: F401 (a fixture)


def test_spearman_known_answers():
    a = np.arange(16.0).reshape(4, 4)
    assert sanity.spearman(a, a) == pytest.approx(1.0)
    assert sanity.spearman(a, -a) == pytest.approx(-1.0)
    assert sanity.spearman(a, a**3 + 5) == pytest.approx(1.0)  # ranks only
    # ties share their average rank: ranks [1.5, 1.5, 3] and [1, 2, 3] -> r = sqrt(3) / 2
    assert sanity.spearman([0, 0, 1], [0, 1, 2]) == pytest.approx(np.sqrt(3) / 2)
    assert sanity.spearman(np.zeros(4), np.zeros(4)) == 1.0
    assert sanity.spearman(np.zeros(4), a[0]) == 0.0


def test_ssim_known_answers():
    rng = np.random.default_rng(0)
    x = rng.random((16, 16))
    assert sanity.structural_similarity(x, x) == pytest.approx(1.0)
    # constant maps: no variance, SSIM = luminance term (2ab + C1) / (a^2 + b^2 + C1), C1 = 1e-4
    a, b, c1 = 0.2, 0.6, 0.01**2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert sanity.structural_similarity(np.full((12, 12), a), np.full((12, 12), b)) == pytest.approx(expected)
    # x against 1 - x: local means near 0.5 (luminance term near 1), covariance = -variance
    # (structure term near -1)
    assert sanity.structural_similarity(x, 1.0 - x) < -0.9
    with pytest.raises(ValueError, match="Expected maps of at least 11 x 11"):
        sanity.structural_similarity(np.zeros((8, 8)), np.zeros((8, 8)))


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    x, y = rng.random((20, 24)), rng.random((20, 24))
    expected = metrics.structural_similarity(
        x, y, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert sanity.structural_similarity(x, y) == pytest.approx(expected, abs=1e-6)


def _tiny_model():
    from keras_saliency.models.classifiers import cifar_classifier, scale_taps
    from keras_saliency.models.model import SaliencyModel

    keras.utils.set_random_seed(0)
    classifier = cifar_classifier(3, 32, base_filters=4, convs_per_scale=(1, 1, 1))
    return SaliencyModel.from_classifier(classifier, tap_layers=scale_taps(3), decoder_filters=(8,), seed=0)


def test_groups_and_reinitialise_leave_the_original():
    model = _tiny_model()
    groups = sanity.randomisation_groups(model.classifier)
    assert groups == [["logits"], ["scale_2_conv_0", "scale_2_bn_0"], ["scale_1_conv_0", "scale_1_bn_0"],
                      ["scale_0_conv_0", "scale_0_bn_0"]]
    bn = model.classifier.get_layer("scale_2_bn_0")
    bn.set_weights([np.full(w.shape, 0.5, np.float32) for w in bn.get_weights()])  # as if trained
    before = [w.copy() for w in model.classifier.get_weights()]
    steps = list(sanity.cascading_randomisation(model.classifier, groups[:2], seed=3))
    copy = steps[-1][2]
    assert [d for d, _, _ in steps] == [1, 2]
    for w, original in zip(model.classifier.get_weights(), before):
        np.testing.assert_array_equal(w, original)
    changed = {layer.name for layer in copy.layers
               if any(not np.array_equal(a, b) for a, b in
                      zip(layer.get_weights(), model.classifier.get_layer(layer.name).get_weights()))}
    assert changed == {"logits", "scale_2_conv_0", "scale_2_bn_0"}
    np.testing.assert_array_equal(copy.get_layer("scale_2_bn_0").get_weights()[3], 1.0)  # variance reset
    # the same seed gives the same weights
    again = list(sanity.cascading_randomisation(model.classifier, groups[:1], seed=3))[-1][2]
    np.testing.assert_array_equal(again.get_layer("logits").get_weights()[0], steps[0][2].get_layer("logits").get_weights()[0])


@pytest.mark.slow
def test_model_randomisation_end_to_end(tmp_path):
    model = _tiny_model()
    images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    ids = np.array([0, 1, 2], np.int32)
    methods = ["masker", "gradient", "lrp_epsilon_plus_flat"]
    rows, maps = sanity.model_randomisation(model, images, ids, methods, max_depth=2)
    by_key = {(r["method"], r["randomised"], r["depth"]): r for r in rows}
    # the masker reads only its own copy of the classifier: randomising the classifier leaves it
    assert by_key[("masker", "classifier", 2)]["spearman"] == pytest.approx(1.0)
    assert by_key[("masker", "classifier", 2)]["ssim"] == pytest.approx(1.0)
    assert by_key[("gradient", "classifier", 2)]["spearman"] < 0.99
    assert by_key[("masker", "masker layers", 1)]["layer"] == "mask_head"
    assert {k[:2] for k in by_key} == {(m, "classifier") for m in methods} | {("masker", "masker layers")}
    assert len(maps[("gradient", "classifier")]) == 3  # depth 0, 1, 2
    paths = sanity.write_sanity(str(tmp_path), rows, maps, images[0], config={"seed": 0})
    for path in paths.values():
        assert (tmp_path / path.split("/")[-1]).exists()
    text = (tmp_path / "sanity.md").read_text()
    assert "| masker | classifier |" in text and "Depths, classifier: 1 logits" in text


def test_data_randomisation_check_of_a_model_with_itself():
    model = _tiny_model()
    images = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    rows = sanity.data_randomisation_check(model, model, images, np.array([0, 1]), ["masker", "gradient"])
    assert [r["randomised"] for r in rows] == ["labels", "labels"]
    for row in rows:
        assert row["spearman"] == pytest.approx(1.0) and row["ssim"] == pytest.approx(1.0)
    _, maps = sanity.data_randomisation_check(model, model, images, np.array([0, 1]), ["gradient"], return_maps=True)
    np.testing.assert_allclose(maps["gradient"][0], maps["gradient"][1])


@pytest.mark.slow
def test_data_randomisation_models_train(tmp_path):
    from keras_saliency.testing import patch_images

    images, labels, _ = patch_images(48, seed=0)
    splits = ((images.astype(np.uint8), labels), (images[:16].astype(np.uint8), labels[:16]), ["a", "b", "c", "d"])
    from tools.recipes import data_randomisation_models

    model = data_randomisation_models(
        str(tmp_path), splits=splits, base_filters=4, convs_per_scale=(1, 1, 1, 1), classifier_epochs=1,
        classifier_batch_size=16, masker_epochs=1, masker_batch_size=16,
    )
    assert (tmp_path / "classifier.keras").exists() and model.num_classes == 4


@pytest.mark.slow
def test_cli_evaluate_with_sanity_and_road(tmp_path, model_file, square_folder):
    import csv

    from click.testing import CliRunner

    from keras_saliency.cli import main

    output = tmp_path / "eval"
    result = CliRunner().invoke(
        main,
        ["evaluate", str(square_folder), "--model", model_file, "--methods", "masker,gradient,lrp_epsilon_gamma_box",
         "--sanity", "--sanity-limit", "3", "--road-limit", "2", "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    assert "ROAD MoRF" in result.output and "Spearman, all depths" in result.output
    with open(output / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["masker", "gradient", "lrp_epsilon_gamma_box"]
    assert all(0.0 <= float(r["road_morf"]) <= 1.0 and r["road_images"] == "2" for r in rows)
    with open(output / "sanity.csv") as f:
        sanity_rows = list(csv.DictReader(f))
    assert {(r["method"], r["randomised"]) for r in sanity_rows} == {
        ("masker", "classifier"), ("gradient", "classifier"), ("lrp_epsilon_gamma_box", "classifier"),
        ("masker", "masker layers")}
    for name in ("road_curves.csv", "sanity.md", "sanity.png", "sanity_curves.png", "sanity_config.json"):
        assert (output / name).exists()


def test_thumbnail_shrinks_large_maps_only():
    assert sanity._thumbnail(np.zeros((224, 224, 3), np.float32)).shape == (96, 96, 3)
    assert sanity._thumbnail(np.ones((224, 224), np.float32)).shape == (96, 96)
    assert sanity._thumbnail(np.zeros((32, 32), np.float32)).shape == (32, 32)
