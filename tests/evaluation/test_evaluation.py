"""Known-answer tests of the evaluation metrics (the square detector: its evidence is exactly
the square) and an end-to-end run of `evaluate_methods`."""

import os

import numpy as np
import pytest

from keras_saliency.evaluation import (
    EvaluationImages,
    deletion_insertion,
    evaluate_methods,
    load_evaluation_images,
    pointing_game,
    read_boxes_csv,
    saliency_metric,
)
from keras_saliency.methods import ClassifierFunction
from keras_saliency.testing import square_detector_classifier, square_images


@pytest.fixture(scope="module")
def detector():
    images, labels, boxes = square_images(8, seed=5)
    return ClassifierFunction(square_detector_classifier()), images, labels, boxes


def _square_maps(images, boxes):
    maps = np.zeros(images.shape[:3], np.float32)
    for m, (x0, y0, x1, y1) in zip(maps, boxes):
        m[y0 : y1 + 1, x0 : x1 + 1] = 1.0
    return maps


@pytest.mark.parametrize("rescale", [True, False])
def test_saliency_metric_known_answers(detector, rescale):
    classifier, images, labels, boxes = detector
    # The square itself: area below the 5% floor, class kept -> log(0.05) - log(~1).
    exact = saliency_metric(classifier, images, labels, boxes, rescale=rescale)
    np.testing.assert_allclose(exact, np.log(0.05), atol=0.02)
    # The whole image: log(1) - log(p(original)) ~ 0.
    full = np.tile([0, 0, 31, 31], (len(images), 1))
    np.testing.assert_allclose(saliency_metric(classifier, images, labels, full, rescale), 0.0, atol=0.02)
    # A corner box that misses the square: the class is lost, the metric is large.
    corner = np.tile([0, 0, 3, 3], (len(images), 1))
    assert (saliency_metric(classifier, images, labels, corner, rescale) > 3.0).all()


def test_deletion_insertion_known_answers(detector):
    classifier, images, labels, boxes = detector
    good = _square_maps(images, boxes)
    deletion, insertion = deletion_insertion(classifier, images, labels, good, steps=8)
    bad_deletion, bad_insertion = deletion_insertion(classifier, images, labels, 1.0 - good, steps=8)
    assert deletion.mean() < 0.1 and insertion.mean() > 0.85
    assert bad_deletion.mean() > 0.8 and bad_insertion.mean() < 0.15


def test_deletion_substrate_decides_what_removed_pixels_become(detector):
    from keras_saliency.evaluation.metrics import substrate_images

    classifier, images, labels, boxes = detector
    good = _square_maps(images, boxes)
    # The detector looks for the square's colour: any of the three substrates removes it.
    for substrate in ("black", "grey", "blur"):
        deletion, _ = deletion_insertion(classifier, images, labels, good, steps=8, substrate=substrate)
        assert deletion.mean() < 0.15, substrate
    # Each substrate is what its name says.
    np.testing.assert_array_equal(substrate_images(images, "black"), 0.0)
    np.testing.assert_array_equal(substrate_images(images, "grey"), 127.5)
    blur = substrate_images(images, "blur")
    assert blur.shape == images.shape and not np.array_equal(blur, images)
    with pytest.raises(ValueError, match="Expected substrate in"):
        deletion_insertion(classifier, images, labels, good, substrate="white")


def test_pointing_game(detector):
    _, images, _, boxes = detector
    maps = _square_maps(images, boxes)
    assert pointing_game(maps, boxes).all()
    assert not pointing_game(np.roll(maps, 12, axis=2), boxes).any()
    # Several boxes per image: a hit on any of them counts.
    two = [np.stack([b, [0, 0, 1, 1]]) for b in boxes]
    assert pointing_game(maps, two).all()


def test_load_folder_with_boxes(tmp_path):
    from PIL import Image

    images, labels, boxes = square_images(4, image_size=32, seed=1)
    rows = ["path,xmin,ymin,xmax,ymax"]
    for i, (image, label, box) in enumerate(zip(images, labels, boxes)):
        folder = tmp_path / ("red", "blue")[label]
        folder.mkdir(exist_ok=True)
        # Saved at twice the size: boxes are in the original pixels and get rescaled.
        Image.fromarray(image.astype(np.uint8)).resize((64, 64), Image.NEAREST).save(folder / f"{i}.png")
        x0, y0, x1, y1 = box
        rows.append(f"{folder.name}/{i}.png,{2 * x0},{2 * y0},{2 * x1 + 1},{2 * y1 + 1}")
    rows.append("red/missing.png,0,0,1,1")
    (tmp_path / "boxes.csv").write_text("\n".join(rows) + "\n")
    assert len(read_boxes_csv(tmp_path / "boxes.csv")) == 5
    data = load_evaluation_images(
        str(tmp_path), 32, boxes_csv=str(tmp_path / "boxes.csv"), class_names=["red", "blue", "none"]
    )
    assert data.images.shape == (4, 32, 32, 3)
    order = [int(os.path.splitext(os.path.basename(p))[0]) for p in data.paths]
    np.testing.assert_array_equal(data.class_ids, labels[order])
    np.testing.assert_array_equal(np.concatenate(data.boxes), boxes[order])
    with pytest.raises(ValueError, match="unknown folders"):
        load_evaluation_images(str(tmp_path), 32, class_names=["cat", "dog"])


@pytest.mark.slow
def test_evaluate_methods_end_to_end(tmp_path, caplog):
    import logging

    from keras_saliency.models.classifiers import cifar_classifier, scale_taps
    from keras_saliency.models.model import SaliencyModel

    classifier = cifar_classifier(3, 32, base_filters=8, convs_per_scale=(1, 1, 1))
    model = SaliencyModel.from_classifier(classifier, tap_layers=scale_taps(3), seed=0, class_names=["a", "b", "c"])
    images, labels, boxes = square_images(10, seed=2)
    data = EvaluationImages(images, labels, [f"{i}.png" for i in range(10)], [b[None] for b in boxes])
    caplog.set_level(logging.INFO, logger="keras_saliency")
    results = evaluate_methods(
        model,
        data,
        methods=("masker", "gradient", "centre_box"),
        output=str(tmp_path),
        calibration_fraction=0.4,
        deletion_steps=4,
        examples=3,
        progress=False,
    )
    assert [r["method"] for r in results] == ["masker", "gradient", "centre_box"]
    said = [r.getMessage() for r in caplog.records]
    # Before the maps: how long they should take; after each method: one readable line, no dict.
    assert [m for m in said if m.startswith("The maps should take about")] and not [m for m in said if "{'" in m]
    assert [m for m in said if m.startswith("gradient (6 test images, ") and "masks/s" in m and "loc. error" in m]
    for r in results:
        assert r["masks_per_s"] > 0 and r["images"] == 6
        assert 0.0 <= r["localisation_error"] <= 1.0 and 0.0 <= r["pointing_game"] <= 1.0
        assert np.isfinite(r["saliency_metric"]) and np.isfinite(r["saliency_metric_in_place"])
        assert 0.0 <= r["road_morf"] <= 1.0 and 0.0 <= r["road_lerf"] <= 1.0 and r["road_images"] == 6
    for name in ("results.csv", "results.md", "examples.png", "evaluation_config.json", "road_curves.csv"):
        assert (tmp_path / name).exists()
    assert "| masker |" in (tmp_path / "results.md").read_text()
    assert all("saliency_metric_corrected" not in r for r in results)  # opt-in
    for r in results:
        assert 0.0 <= r["energy_pointing_game"] <= 1.0 and 0.0 < r["map_mean"] <= 1.0
        assert -1.0 <= r["top2_correlation"] <= 1.0
    assert "mass in boxes" in (tmp_path / "results.md").read_text()
    # The uniform map's known answers, in the runner's own columns: the boxes' share of the image,
    # the whole image lit, and no correlation between two constant maps.
    full = evaluate_methods(model, data, methods=("full_image",), calibration_fraction=0.4, deletion_steps=4,
                            progress=False, road_enabled=False)[0]
    test_boxes = [boxes[i] for i in range(10) if i not in set(np.sort(np.random.default_rng(0).permutation(10)[:4]))]
    share = np.mean([(b[2] - b[0] + 1) * (b[3] - b[1] + 1) / 32 ** 2 for b in test_boxes])
    assert full["energy_pointing_game"] == pytest.approx(share)
    assert full["map_mean"] == pytest.approx(1.0) and full["top2_correlation"] == 0.0
    corrected = evaluate_methods(model, data, methods=("centre_box",), calibration_fraction=0.4, deletion_steps=4,
                                 progress=False, road_enabled=False, scale_corrected=True)
    assert np.isfinite(corrected[0]["saliency_metric_corrected"]) and "road_morf" not in corrected[0]
    with pytest.raises(ValueError, match="Expected deletion_substrate in"):
        evaluate_methods(model, data, methods=("centre_box",), output=str(tmp_path / "never"), progress=False,
                         deletion_substrate="white")
    assert not (tmp_path / "never").exists()  # refused before any work
