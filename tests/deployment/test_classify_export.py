"""One exported graph that classifies and explains: the classifier's logits, its top-1 class and
that class's mask from one pass over the trunk (class id -1), or a given class's mask; the
TF-free runner explains the predicted class in one pass and prints the top classes."""

import csv

import keras
import numpy as np
import pytest

from keras_saliency.models.model import SaliencyModel

pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

NUM_CLASSES, SIZE = 5, 32


def _cam_classifier(name="cam"):
    """conv -> pool -> conv -> 1x1 conv to the classes -> global average (a class layer)."""
    inputs = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_0")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_1")(x)
    x = keras.layers.Conv2D(NUM_CLASSES, 1, name="class_conv")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def _gated_model(classifier=None, class_layer="class_conv", taps=("conv_0", "conv_1")):
    keras.utils.set_random_seed(3)
    return SaliencyModel.from_classifier(classifier or _cam_classifier(), tap_layers=list(taps), decoder="fpn",
                                         decoder_filters=(8,), mask_stride=2, head="sigmoid",
                                         class_gate="classifier_image", class_layer=class_layer, seed=0)


def _images(count=12, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (count, SIZE, SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from keras_saliency.deployment.export import ExportRequest, export_masker, predicted_classes

    model = _gated_model()
    images = _images()
    path = str(tmp_path_factory.mktemp("classify") / "masker.onnx")
    report = export_masker(model, path, ExportRequest(), verification_images=images,
                           verification_class_ids=predicted_classes(model, images),
                           class_names=[f"class {c}" for c in range(NUM_CLASSES)])
    return model, images, path, report


def test_one_pass_gives_the_classifiers_logits_its_top_class_and_that_class_mask(exported):
    from keras_saliency.deployment.runtimes import load_runtime

    model, images, path, report = exported
    assert report["classify"] and report["outputs"] == ["mask", "exists", "logits", "explained_class"]
    assert report["passed"] and report["files"][0]["top1_agreement"] == 1.0
    runtime = load_runtime(path)
    out = runtime(images, np.full(len(images), -1, np.int32))
    logits = np.asarray(model.classifier_logits(images))
    np.testing.assert_allclose(out["logits"], logits, atol=1e-4)
    predicted = logits.argmax(-1)
    np.testing.assert_array_equal(out["explained_class"], predicted)
    expected = model.masker({"image": images, "class_id": predicted.astype("int32")})
    np.testing.assert_allclose(out["mask"], np.asarray(expected["mask"]), atol=1e-4)
    # a given class: its mask, whatever the classifier predicts
    given = (predicted + 1) % NUM_CLASSES
    out = runtime(images, given.astype(np.int32))
    np.testing.assert_array_equal(out["explained_class"], given)
    expected = model.masker({"image": images, "class_id": given.astype("int32")})
    np.testing.assert_allclose(out["mask"], np.asarray(expected["mask"]), atol=1e-4)


def test_the_runner_explains_the_predicted_class_in_one_pass(exported, tmp_path, capsys):
    from PIL import Image

    from keras_saliency.runtime.command import main
    from keras_saliency.runtime.runners import OnnxRuntime

    model, images, path, _ = exported
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, image in enumerate(images[:4]):
        Image.fromarray(image.astype(np.uint8)).save(folder / f"{i}.png")
    calls = []
    original = OnnxRuntime.run_batch

    def counted(self, batch, class_ids):
        calls.append(np.array(class_ids))
        return original(self, batch, class_ids)

    OnnxRuntime.run_batch = counted
    try:
        main(OnnxRuntime, "ONNX runner", [path, str(folder), "--output", str(tmp_path / "out")])
    finally:
        OnnxRuntime.run_batch = original
    assert len(calls) == 1 and (calls[0] == -1).all()  # one pass, not one per class
    with open(tmp_path / "out" / "masks.csv") as f:
        rows = list(csv.DictReader(f))
    read = np.stack([np.asarray(Image.open(folder / f"{i}.png"), np.float32) for i in range(4)])
    predicted = np.asarray(model.classifier_logits(read)).argmax(-1)
    assert [int(row["class_id"]) for row in sorted(rows, key=lambda r: r["file"])] == predicted.tolist()
    assert all(row["top_classes"].startswith("class ") for row in rows)
    assert "class " in capsys.readouterr().out  # the top classes, printed with their names


def test_a_masker_without_a_gate_is_not_asked_to_classify(tmp_path):
    from keras_saliency.deployment.export import ExportRequest, classifies, export_masker

    model = SaliencyModel.from_classifier(_cam_classifier(), tap_layers=["conv_0", "conv_1"], decoder="fpn",
                                          decoder_filters=(8,), mask_stride=2, head="sigmoid", class_gate="none")
    images = _images(4)
    assert classifies(model, model.masker, images) is False
    with pytest.raises(ValueError, match="Expected a masker with a class gate for `classify=True`"):
        export_masker(model, str(tmp_path / "m.onnx"), ExportRequest(classify=True), verification_images=images)


def test_a_classifier_the_gate_does_not_reproduce_is_not_classified():
    """An ensemble's logits are not one member's class layer: the export stays masks-only."""
    from keras_saliency.deployment.export import classifies
    from keras_saliency.models.ensemble import ensemble_classifier

    ensemble = ensemble_classifier([_cam_classifier("a"), _cam_classifier("b")])
    model = _gated_model(ensemble, class_layer="a/class_conv", taps=("a/conv_0", "a/conv_1"))
    assert classifies(model, model.masker, _images(4)) is False
    gated = _gated_model()
    assert classifies(gated, gated.masker, _images(4)) is True
    assert classifies(gated, gated.masker, _images(4), quantize="int8") is False  # int8: only when asked
    assert classifies(gated, gated.masker, _images(4), wanted=True, quantize="int8") is True


def test_the_live_demo_classifies_and_explains_in_one_pass_of_a_classifying_export(exported):
    from keras_saliency.deployment.runtimes import load_runtime
    from keras_saliency.explain.app import LiveExplainer

    model, images, path, _ = exported
    runtime = load_runtime(path)
    assert runtime.classifies
    calls = []
    original = runtime.run_batch

    def counted(batch, class_ids):
        calls.append(np.array(class_ids))
        return original(batch, class_ids)

    runtime.run_batch = counted
    explainer = LiveExplainer(model, runtime=runtime, top_k=3)
    calls.clear()
    image = images[0].astype(np.uint8)
    result = explainer(image)
    assert len(calls) == 1 and calls[0].tolist() == [-1]
    assert result.class_id == int(np.asarray(model.classifier_logits(image[None].astype("float32"))).argmax())
    assert len(result.scores) == 3 and "one pass" in explainer.status(result)
    chosen = (result.class_id + 1) % NUM_CLASSES
    assert explainer(image, class_id=chosen).class_id == chosen and calls[-1].tolist() == [chosen]


@pytest.mark.parametrize("export_format, name", [("saved_model", "saved"), ("tflite", "masker.tflite")])
def test_every_format_classifies(export_format, name, tmp_path):
    from keras_saliency.deployment.export import ExportRequest, export_masker, predicted_classes
    from keras_saliency.deployment.runtimes import load_runtime

    pytest.importorskip("ai_edge_litert")
    model, images = _gated_model(), _images(8)
    path = str(tmp_path / name)
    report = export_masker(model, path, ExportRequest(format=export_format), verification_images=images,
                           verification_class_ids=predicted_classes(model, images))
    assert report["classify"] and report["passed"] and report["files"][0]["top1_agreement"] == 1.0
    runtime = load_runtime(path)
    out = runtime(images, np.full(len(images), -1, np.int32))
    assert runtime.classifies and set(out) == {"mask", "exists", "logits", "explained_class"}
    np.testing.assert_array_equal(out["explained_class"], np.asarray(model.classifier_logits(images)).argmax(-1))
