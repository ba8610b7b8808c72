"""The simplified objective, the fpn / no-decoder maskers with a sigmoid head, MaxBoxAccV2,
class selectivity and the fixed three-way split."""

import os

import numpy as np
import pytest
import tensorflow as tf

import keras

from keras_saliency.models import objective
from keras_saliency.models.config import SaliencyConfig
from keras_saliency.data.labelled_split import read_split_csv, split_labelled, write_split_csv
from keras_saliency.evaluation.metrics import class_selectivity, peak_location
from keras_saliency.evaluation.localization import max_box_accuracy
from keras_saliency.testing import TINY_TAPS, patch_images, tiny_classifier
from keras_saliency.models.model import SaliencyModel
from keras_saliency.training.fit import compile_saliency_model


def _terms(masks, preserved, destroyed, labels, is_real, **changes):
    return objective.saliency_objective(masks, preserved, destroyed, labels, is_real,
                                        config=SaliencyConfig.simplified(**changes))


def test_simplified_known_answer():
    # Two images, 3 classes; image 0 real (label 0), image 1 fake.
    masks = np.stack([np.full((4, 4, 1), 0.5), np.full((4, 4, 1), 0.25)]).astype("float32")
    preserved = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], "float32")  # image 0 correct
    destroyed = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], "float32")
    labels, is_real = np.array([0, 0]), np.array([1.0, 0.0])
    terms = _terms(masks, preserved, destroyed, labels, is_real, smoothness_weight=0.0, area_weight=2.0,
                   fake_area_weight=3.0)
    ce0 = -np.log(np.exp(2) / (np.exp(2) + 2))
    negent0 = -np.log(3.0)  # uniform over 3 classes
    ce1 = -np.log(np.e / (np.e + 2))
    assert float(terms["preserver"]) == pytest.approx((ce0 + 0.0) / 2, rel=1e-5)
    assert float(terms["destroyer"]) == pytest.approx((negent0 + ce1) / 2, rel=1e-5)
    assert float(terms["area"]) == pytest.approx(0.5 / 2, rel=1e-6)  # gated: image 0 only
    assert float(terms["fake_area"]) == pytest.approx(0.25 / 2, rel=1e-6)
    expected = (ce0 / 2) + (negent0 + ce1) / 2 + 2.0 * 0.25 + 3.0 * 0.125
    assert float(terms["loss"]) == pytest.approx(expected, rel=1e-5)


def test_area_is_gated_on_a_correct_preserved_image():
    masks = np.full((1, 4, 4, 1), 0.5, "float32")
    wrong = np.array([[0.0, 3.0, 0.0]], "float32")
    terms = _terms(masks, wrong, wrong, np.array([0]), np.array([1.0]))
    assert float(terms["area"]) == 0.0


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_simplified_gradients_finite_at_empty_and_full_masks(value):
    masks = tf.Variable(np.full((2, 8, 8, 1), value, "float32"))
    logits = tf.constant(np.random.default_rng(0).normal(size=(2, 5)).astype("float32"))
    with tf.GradientTape() as tape:
        terms = objective.saliency_objective(masks, logits, logits * 3, np.array([1, 2]), np.array([1.0, 0.0]),
                                             exists_logits=tf.constant([0.5, -0.5]),
                                             config=SaliencyConfig.simplified())
    gradient = tape.gradient(terms["loss"], masks)
    assert np.isfinite(gradient.numpy()).all() and np.isfinite(float(terms["loss"]))


def test_zero_infill_config_round_trips():
    config = SaliencyConfig.simplified()
    assert config.infill == "zero" and config.smoothness_weight == 0.001
    assert SaliencyConfig.from_config(config.get_config()) == config
    with pytest.raises(ValueError, match="Expected infill"):
        SaliencyConfig(infill="black")


def _model(decoder, stride, head="sigmoid"):
    keras.utils.set_random_seed(0)
    return SaliencyModel.from_classifier(tiny_classifier(width=8), tap_layers=TINY_TAPS, decoder=decoder, mask_stride=stride,
                                decoder_filters=(8,), head=head, config=SaliencyConfig.simplified(), seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("decoder,stride", [("fpn", 2), ("fpn", 4), ("none", 8)])
def test_decoders_train_and_round_trip(tmp_path, decoder, stride):
    images, labels = patch_images(16, seed=0)[:2]
    model = _model(decoder, stride)
    assert model.masker.get_layer("mask_head").kind == "sigmoid"
    compile_saliency_model(model)
    history = model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    raw = model.masker({"image": images[:4], "class_id": labels[:4]})["mask"]
    assert raw.shape == (4, 32 // stride, 32 // stride, 1)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.masker.decoder == decoder and loaded.config.objective == "simplified"
    np.testing.assert_allclose(loaded.predict((images[:4], labels[:4]), verbose=0),
                               model.predict((images[:4], labels[:4]), verbose=0), atol=1e-5)


def test_no_decoder_needs_the_deepest_stride():
    with pytest.raises(ValueError, match="decoder='none'"):
        _model("none", 2)
    with pytest.raises(ValueError, match="Expected decoder"):
        _model("deconv", 2)


@pytest.mark.slow
def test_fpn_masker_exports_to_int8_litert(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from keras_saliency.deployment import converters, verification
    from keras_saliency.deployment.runtimes import load_runtime

    images, labels = patch_images(48, seed=1)[:2]
    model = _model("fpn", 2)
    compile_saliency_model(model)
    model.fit(images, labels, batch_size=16, epochs=2, verbose=0)
    path = str(tmp_path / "fpn.tflite")
    converters.export_tflite(model.masker, path, "int8", images[:32], labels[:32])
    runtime = load_runtime(path)
    reference = model.masker({"image": images[32:], "class_id": labels[32:]})
    outputs = runtime(images[32:], labels[32:])
    figures = verification.parity({k: np.asarray(v) for k, v in reference.items()}, outputs)
    assert figures["rank_correlation"] > 0.8


def test_max_box_accuracy_known_answer():
    maps = np.zeros((2, 10, 10), "float32")
    maps[0, 2:5, 2:5] = 1.0  # exactly the box of image 0
    maps[1, 6:9, 6:9] = 1.0  # far from the box of image 1
    boxes = [[(2, 2, 4, 4)], [(0, 0, 2, 2)]]
    scores = max_box_accuracy(maps, boxes)
    assert scores["max_box_acc@0.7"] == 0.5 and scores["max_box_acc@0.3"] == 0.5
    assert scores["max_box_acc_v2"] == pytest.approx(0.5)
    # Two components: the second one's box is a candidate too ("all contours").
    maps[1, 0:3, 0:3] = 0.8
    assert max_box_accuracy(maps, boxes)["max_box_acc_v2"] == pytest.approx(1.0)


def test_flat_maximum_points_at_its_centre_not_its_first_pixel():
    m = np.zeros((9, 9), "float32")
    m[2:7, 2:7] = 1.0
    assert peak_location(m) == (4, 4)


def test_class_selectivity_of_a_trained_model():
    images, labels = patch_images(32, seed=2)[:2]
    model = _model("fpn", 2)
    compile_saliency_model(model)
    result = class_selectivity(model, images, labels, seed=0, top=1)
    assert set(result) == {"mean_mask_true", "mean_mask_absent", "mask_ratio", "exists_true", "exists_absent"}
    assert 0.0 <= result["exists_absent"] <= 1.0 and result["mean_mask_true"] > 0


def test_labelled_split_is_fixed_and_disjoint(tmp_path):
    paths = [f"img_{i:03d}.jpg" for i in range(100)]
    parts = split_labelled(paths, 0.3, 0.3, seed=0)
    assert [len(parts[p]) for p in ("train", "calibration", "test")] == [30, 21, 49]
    assert split_labelled(list(reversed(paths)), 0.3, 0.3, seed=0) == parts
    assert not set(parts["train"]) & set(parts["test"])
    path = str(tmp_path / "split.csv")
    write_split_csv(parts, path)
    assert read_split_csv(path, "test") == parts["test"]
    assert read_split_csv(path, ("calibration", "test")) == sorted(parts["calibration"] + parts["test"])


def test_shipped_dev_split_never_trains_on_the_test_part():
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(here, "docs", "results", "imagenet-val-dev", "split.csv")
    train, held_out = set(read_split_csv(path, "train")), set(read_split_csv(path, ("calibration", "test")))
    assert len(train) == 612 and len(held_out) == 1429 and not train & held_out


def test_class_selectivity_with_few_classes_terminates():
    images, labels = patch_images(8, seed=3)[:2]
    model = _model("fpn", 2)  # 4 classes: top=5 cannot exclude them all
    result = class_selectivity(model, images, labels, seed=0, top=5)
    assert np.isfinite(result["mask_ratio"])


def test_target_prediction_explains_the_classifier_whatever_the_labels():
    """With `target="prediction"` every mask explains the classifier's own top-1 class: the
    objective is the same for any labels (known answer: the labels equal to the predictions)."""
    classifier = tiny_classifier()
    images, _, _ = patch_images(6, seed=3)

    def terms(given, target):
        keras.utils.set_random_seed(0)  # the same masker weights and draws each time
        model = SaliencyModel.from_classifier(classifier, tap_layers=TINY_TAPS, seed=0,
                                     config=SaliencyConfig.simplified(target=target))
        out = model._objective(tf.constant(images), tf.constant(given), training=False)
        return {k: float(v) for k, v in out.items() if k != "exists_accuracy"}

    model = SaliencyModel.from_classifier(classifier, tap_layers=TINY_TAPS, seed=0)
    predicted = np.argmax(np.asarray(model.classifier_logits(images)), axis=-1)
    wrong = (predicted + 1) % 4
    by_prediction = terms(wrong, "prediction")
    assert by_prediction == pytest.approx(terms(predicted, "label"), rel=1e-5)
    assert by_prediction != pytest.approx(terms(wrong, "label"), rel=1e-5)
    with pytest.raises(ValueError, match="Expected target in"):
        SaliencyConfig(target="truth")
