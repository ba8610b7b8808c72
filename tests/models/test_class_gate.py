"""The class-evidence gate: the classifier's own per-location log-odds of a class gating the mask."""

import os

import numpy as np
import pytest

import keras

from keras_saliency.models.layers import ClassEvidenceGate
from keras_saliency.models.model import SaliencyModel


def _cam_classifier(num_classes=5, image_size=32):
    """conv (stride 1) -> pool -> conv (stride 2) -> 1x1 conv to the classes -> global average."""
    inputs = keras.Input((image_size, image_size, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_0")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_1")(x)
    x = keras.layers.Conv2D(num_classes, 1, name="class_conv")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="logits")(x)
    return keras.Model(inputs, outputs)


def _gated_model():
    """A tiny masker gated by `_cam_classifier`'s own class evidence."""
    return SaliencyModel.from_classifier(_cam_classifier(), tap_layers=["conv_0", "conv_1"], decoder="fpn",
                                         decoder_filters=(8,), mask_stride=1, head="sigmoid",
                                         class_gate="classifier_image", class_layer="class_conv")


def _export_data():
    """24 random 32x32 images and classes: the first 16 calibrate an export, the last 8 verify it."""
    rng = np.random.default_rng(5)
    return rng.uniform(0, 255, (24, 32, 32, 3)).astype("float32"), rng.integers(0, 5, 24).astype("int32")


def _log_odds(scores, c):
    others = np.delete(scores, c, axis=-1)
    top = others.max(axis=-1, keepdims=True)
    return scores[..., c] - (np.log(np.exp(others - top).sum(-1)) + top[..., 0])


def test_gate_known_answer():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    kernel = rng.normal(size=(4, 6)).astype("float32")
    bias = rng.normal(size=(6,)).astype("float32")
    layer = keras.layers.Dense(6)
    layer.build((None, 4))
    layer.set_weights([kernel, bias])
    gate = ClassEvidenceGate(6, scale=0.5, offset=2.0)
    gate.build(features.shape)
    gate.set_from_class_layer(layer)
    gates, exists = gate(features, np.array([1, 4]))
    scores = features @ kernel + bias
    for i, c in enumerate([1, 4]):
        expected = 1 / (1 + np.exp(-(0.5 * _log_odds(scores[i], c) + 2.0)))
        np.testing.assert_allclose(np.asarray(gates)[i, ..., 0], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(float(exists[i]), _log_odds(scores[i].mean((0, 1)), c), rtol=1e-5, atol=1e-5)


def test_gate_rejects_a_class_layer_of_another_shape():
    gate = ClassEvidenceGate(6)
    gate.build((None, 3, 3, 4))
    wrong = keras.layers.Dense(5)
    wrong.build((None, 4))
    with pytest.raises(ValueError, match="Expected a class layer"):
        gate.set_from_class_layer(wrong)


def test_masker_with_classifier_gate(tmp_path):
    classifier = _cam_classifier()
    model = SaliencyModel.from_classifier(classifier, tap_layers=["conv_0", "conv_1"], decoder="fpn",
                                 decoder_filters=(8,), mask_stride=1, head="sigmoid",
                                 class_gate="classifier", class_layer="class_conv")
    images = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    labels = np.array([0, 2, 4], "int32")
    outputs = model.masker({"image": images, "class_id": labels})
    assert tuple(outputs["mask"].shape) == (3, 32, 32, 1)
    # "exists" is the classifier's own log-odds of the class (before training).
    probabilities = np.asarray(keras.ops.softmax(classifier(images)))[np.arange(3), labels]
    np.testing.assert_allclose(np.asarray(outputs["exists"]), np.log(probabilities / (1 - probabilities)),
                               rtol=1e-4, atol=1e-4)
    path = str(tmp_path / "gated.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.masker.class_gate == "classifier"
    np.testing.assert_allclose(np.asarray(loaded.masker({"image": images, "class_id": labels})["mask"]),
                               np.asarray(outputs["mask"]), atol=1e-6)


def test_classifier_gate_needs_a_class_layer():
    with pytest.raises(ValueError, match="Expected class_layer"):
        SaliencyModel.from_classifier(_cam_classifier(), tap_layers=["conv_0", "conv_1"], decoder="fpn",
                             decoder_filters=(8,), mask_stride=2, class_gate="classifier")


def test_image_level_factor_known_answer():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(1, 2, 2, 3)).astype("float32")
    layer = keras.layers.Dense(4)
    layer.build((None, 3))
    gate = ClassEvidenceGate(4, scale=0.25, offset=3.0, image_offset=1.5)
    gate.build(features.shape)
    gate.set_from_class_layer(layer)
    gates, exists = gate(features, np.array([2]))
    scores = np.asarray(features @ np.asarray(layer.kernel) + np.asarray(layer.bias))[0]
    image = 1 / (1 + np.exp(-(_log_odds(scores.mean((0, 1)), 2) + 1.5)))
    local = 1 / (1 + np.exp(-(0.25 * _log_odds(scores, 2) + 3.0)))
    np.testing.assert_allclose(np.asarray(gates)[0, ..., 0], local * image, rtol=1e-5)
    assert ClassEvidenceGate.from_config(gate.get_config()).initial_image_offset == 1.5


def test_rate_changes_the_step_not_the_function():
    features = np.random.default_rng(3).normal(size=(2, 2, 2, 3)).astype("float32")
    layer = keras.layers.Dense(4)
    layer.build((None, 3))
    outputs = []
    for rate in (1.0, 10.0):
        gate = ClassEvidenceGate(4, image_offset=1.0, rate=rate)
        gate.build(features.shape)
        gate.set_from_class_layer(layer)
        outputs.append([np.asarray(o) for o in gate(features, np.array([0, 3]))])
        assert float(gate.offset) == pytest.approx(2.0 / rate)
    for slow, fast in zip(*outputs):
        np.testing.assert_allclose(slow, fast, rtol=1e-5)
    with pytest.raises(ValueError, match="Expected rate > 0"):
        ClassEvidenceGate(4, rate=0)


def test_cam_local_evidence_known_answer():
    rng = np.random.default_rng(4)
    features = rng.normal(size=(2, 3, 3, 2)).astype("float32")
    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    layer.set_weights([rng.normal(size=(2, 3)).astype("float32"), rng.normal(size=(3,)).astype("float32")])
    gate = ClassEvidenceGate(3, scale=6.0, offset=-1.0, local="cam")
    gate.build(features.shape)
    gate.set_from_class_layer(layer)
    scores = features @ np.asarray(layer.kernel) + np.asarray(layer.bias)
    for ids in ([1, 2], [2]):  # one class per image, or one class for every image
        gates, exists = gate(features, np.array(ids))
        for i in range(2):
            c = ids[min(i, len(ids) - 1)]
            cam = scores[i, ..., c]
            expected = 1 / (1 + np.exp(-(6.0 * cam / np.abs(cam).max() - 1.0)))
            np.testing.assert_allclose(np.asarray(gates)[i, ..., 0], expected, rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(float(exists[i]), _log_odds(scores[i].mean((0, 1)), c), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="Expected local in"):
        ClassEvidenceGate(3, local="grad")


def test_gated_masker_exports_to_int8_litert_with_the_gate_in_float(tmp_path):
    from scipy.stats import spearmanr

    from keras_saliency.deployment.converters import export_tflite, int8_float_layers
    from keras_saliency.deployment.runtimes import load_runtime

    model = SaliencyModel.from_classifier(_cam_classifier(), tap_layers=["conv_0", "conv_1"], decoder="fpn",
                                 decoder_filters=(8,), mask_stride=1, head="sigmoid",
                                 class_gate="classifier_image", class_layer="class_conv")
    float_layers = int8_float_layers(model.masker)
    assert {"class_gate", "gate_up", "gated_mask", "mask_head"} <= set(float_layers)
    # and the encoder up to its first feature map (conv_0), not beyond
    assert "conv_0" in float_layers and "conv_1" not in float_layers
    assert set(int8_float_layers(model.masker, preset="speed")) == {"class_gate", "gate_up", "gated_mask", "mask_head"}
    with pytest.raises(ValueError, match="Expected preset in"):
        int8_float_layers(model.masker, preset="fast")
    images, labels = _export_data()
    path = str(tmp_path / "gated.int8.tflite")
    export_tflite(model.masker, path, "int8", images[:16], labels[:16])
    int8 = np.asarray(load_runtime(path)(images[16:], labels[16:])["mask"])
    reference = np.asarray(model.masker({"image": images[16:], "class_id": labels[16:]})["mask"])
    assert int8.shape == reference.shape
    correlations = [spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(int8, reference)]
    assert np.mean(correlations) > 0.9


@pytest.mark.parametrize("goals_met", [True, False])
def test_int8_auto_keeps_the_fast_float_layers_only_when_their_file_passes(tmp_path, monkeypatch, goals_met):
    """`int8_float="auto"` (the default) exports with the "speed" float layers and verifies the file;
    when it misses the goals it converts again with "parity". The goals are set here so that every
    file passes (or fails) whatever this tiny random model's figures are."""
    from keras_saliency.deployment import verification
    from keras_saliency.deployment.export import ExportRequest, export_masker

    floor = -1.0 if goals_met else 1.01
    monkeypatch.setattr(verification, "MIN_IOU", floor)
    monkeypatch.setattr(verification, "MIN_RANK_CORRELATION", floor)
    model = _gated_model()
    images, labels = _export_data()
    assert ExportRequest("tflite", "int8").int8_float == "auto"
    report = export_masker(model, str(tmp_path / "gated.int8.tflite"), ExportRequest("tflite", "int8", classify=False),
                           calibration_images=images[:16], calibration_class_ids=labels[:16],
                           verification_images=images[16:], verification_class_ids=labels[16:])
    assert len(report["files"]) == 1 and report["files"][0]["passed"] == goals_met
    # the first choice is converted with both kinds of activation range; the other kind is reported as tried
    assert report["int8_ranges"] in ("mean", "minmax")
    assert sorted(os.listdir(tmp_path)) == ["gated.int8.tflite", "gated.int8.tflite.report.json"]
    if goals_met:
        assert (report["int8_float"], report["int8_float_through"]) == ("speed", None)
        assert [(tried["int8_float"], tried["int8_ranges"]) for tried in report["int8_tried"]] == [
            ("speed", {"mean": "minmax", "minmax": "mean"}[report["int8_ranges"]])]
    else:  # every choice tried, fastest first: speed, speed through conv_0 (the first block), parity
        assert (report["int8_float"], report["int8_float_through"]) == ("parity", None)
        assert [(tried["int8_float"], tried["int8_float_through"]) for tried in report["int8_tried"]] == [
            ("speed", None), ("speed", None), ("speed", "conv_0")]
        assert not any(tried["passed"] for tried in report["int8_tried"])
        assert {tried["int8_ranges"] for tried in report["int8_tried"][2:]} == {report["int8_ranges"]}


def test_int8_auto_stops_at_the_first_encoder_step_whose_file_passes(tmp_path, monkeypatch):
    """The "speed" file's figures are made to miss the IoU goal, the next file's to pass it: the
    export stops at the second choice (the encoder in float through its first block)."""
    from keras_saliency.deployment import converters, verification
    from keras_saliency.deployment.export import ExportRequest, export_masker, int8_choices

    model = _gated_model()
    assert converters.encoder_float_steps(model.masker.encoder) == ["conv_0"]
    assert int8_choices(model.masker, ExportRequest("tflite", "int8")) == [
        ("speed", None), ("speed", "conv_0"), ("parity", None)]
    assert int8_choices(model.masker, ExportRequest("tflite", "int8", int8_float_through="conv_0")) == [
        ("speed", "conv_0"), ("parity", "conv_0")]
    assert int8_choices(model.masker, ExportRequest("tflite", "int8", int8_float="speed")) == [("speed", None)]
    images, labels = _export_data()
    calls = []
    real_parity = verification.parity

    def parity(reference, outputs):  # the "speed" file alone misses the goals
        figures = real_parity(reference, outputs)
        calls.append(figures)
        return {**figures, "top20_iou": 0.5} if len(calls) == 1 else {**figures, "top20_iou": 1.0}

    monkeypatch.setattr(verification, "MIN_RANK_CORRELATION", -1.0)
    monkeypatch.setattr(verification, "parity", parity)
    report = export_masker(model, str(tmp_path / "steps.int8.tflite"),
                           ExportRequest("tflite", "int8", classify=False, int8_ranges="mean"),
                           calibration_images=images[:16], calibration_class_ids=labels[:16],
                           verification_images=images[16:], verification_class_ids=labels[16:])
    assert (report["int8_float"], report["int8_float_through"]) == ("speed", "conv_0") and report["passed"]
    assert [(tried["int8_float"], tried["int8_float_through"]) for tried in report["int8_tried"]] == [("speed", None)]
    assert len(calls) == 2


def test_int8_float_through_keeps_the_encoder_up_to_a_named_layer_in_float(tmp_path):
    from keras_saliency.deployment.converters import int8_float_layers
    from keras_saliency.deployment.export import ExportRequest, export_masker

    model = _gated_model()
    speed = int8_float_layers(model.masker, preset="speed")
    through = int8_float_layers(model.masker, preset="speed", through="conv_0")
    assert through[:len(speed)] == speed and through[len(speed)] == "preprocessing" and through[-1] == "conv_0"
    assert "conv_1" not in through and "conv_1" in int8_float_layers(model.masker, preset="speed", through="conv_1")
    with pytest.raises(ValueError, match=r"Expected the name of a layer of the masker's encoder. "
                                         r"Received: `int8_float_through=conv_9`"):
        int8_float_layers(model.masker, preset="speed", through="conv_9")
    with pytest.raises(ValueError, match="Expected `int8_float_through` only with `format=tflite`"):
        ExportRequest("onnx", "int8", int8_float_through="conv_0")
    images, labels = _export_data()
    request = ExportRequest("tflite", "int8", int8_float="speed", classify=False, int8_float_through="conv_0")
    report = export_masker(model, str(tmp_path / "through.int8.tflite"), request,
                           calibration_images=images[:16], calibration_class_ids=labels[:16],
                           verification_images=images[16:], verification_class_ids=labels[16:])
    assert report["request"]["int8_float_through"] == "conv_0" and report["int8_float"] == "speed"
    assert report["files"][0]["rank_correlation"] > 0.5


def test_int8_auto_ranges_keep_the_kind_with_the_higher_iou_for_every_later_choice(tmp_path, monkeypatch):
    from keras_saliency.deployment import verification
    from keras_saliency.deployment.export import ExportRequest, export_masker

    model = _gated_model()
    images, labels = _export_data()
    real_parity = verification.parity
    ious = iter([0.6, 0.7, 1.0])  # speed with mean ranges, speed with minmax, then through conv_0

    def parity(reference, outputs):
        return {**real_parity(reference, outputs), "top20_iou": next(ious)}

    monkeypatch.setattr(verification, "MIN_RANK_CORRELATION", -1.0)
    monkeypatch.setattr(verification, "parity", parity)
    report = export_masker(model, str(tmp_path / "ranges.int8.tflite"), ExportRequest("tflite", "int8", classify=False),
                           calibration_images=images[:16], calibration_class_ids=labels[:16],
                           verification_images=images[16:], verification_class_ids=labels[16:])
    assert (report["int8_float"], report["int8_float_through"], report["int8_ranges"]) == ("speed", "conv_0", "minmax")
    assert [(t["int8_float_through"], t["int8_ranges"], t["top20_iou"]) for t in report["int8_tried"]] == [
        (None, "mean", 0.6), (None, "minmax", 0.7)]
    assert report["files"][0]["top20_iou"] == 1.0 and report["files"][0]["path"].endswith("ranges.int8.tflite")
    assert sorted(os.listdir(tmp_path)) == ["ranges.int8.tflite", "ranges.int8.tflite.report.json"]
    assert not any("path" in tried for tried in report["int8_tried"])  # those files are gone
