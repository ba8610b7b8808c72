"""Bring your own classifier: the default masker of each Keras Applications family (random
weights, small inputs) and of the two real classifiers of ../shared/models, end to end: automatic
taps, the class gate found (or the ungated design, said in one line), one `fit` step, `predict`
shapes, and a `.keras` round trip with the same masks."""

import logging
import os

import keras
import numpy as np
import pytest

from keras_saliency import SaliencyModel
from tests.conftest import SHARED_DATA

# family: (input side, gated?, its `preprocess_input` mode). Sides are the smallest each family
# accepts, rounded to 32.
FAMILIES = {
    "MobileNetV2": (32, True, "symmetric"),
    "MobileNetV3Small": (32, False, "none"),  # a 1x1 convolution (a hidden layer) after the pooling
    "EfficientNetB0": (32, True, "none"),  # its own rescaling layers
    "EfficientNetV2B0": (32, True, "none"),
    "ResNet50": (32, True, "caffe"),
    "ResNet50V2": (32, True, "symmetric"),
    "ConvNeXtTiny": (32, False, "none"),  # layer normalisation after the pooling
    "DenseNet121": (32, True, "torch"),
    "Xception": (96, True, "symmetric"),
    "VGG16": (32, False, "caffe"),  # two hidden Dense layers after flattening
}


def _check_masker(classifier, gated, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="keras_saliency"):
        model = SaliencyModel.from_classifier(classifier)
    assert model.preset == "gated-fpn"
    assert (model.masker.class_gate != "none") == gated
    said = [r.getMessage() for r in caplog.records if "ungated design" in r.getMessage()]
    assert len(said) == (0 if gated else 1)
    size = model.image_size
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, size, size, 3)).astype("float32")
    ids = np.array([1, 3])
    model.compile()
    model.fit(images, ids, epochs=1, batch_size=2, verbose=0)
    masks = model.predict((images, ids), verbose=0)
    assert masks.shape == (2, size, size, 1) and np.isfinite(masks).all()
    out = model.explain(images, ids)
    assert out["exists"].shape == (2,)
    path = str(tmp_path / "masker.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict((images, ids), verbose=0), masks, atol=1e-4)
    return model


# The four slowest to trace (about a minute each on 2 cores) run in CI's slow pass (.ci/run).
SLOW = {"DenseNet121", "EfficientNetB0", "EfficientNetV2B0", "ConvNeXtTiny"}


@pytest.mark.parametrize(
    "family", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW else f for f in sorted(FAMILIES)]
)
@pytest.mark.slow
def test_the_default_masker_of_each_keras_applications_family(family, tmp_path, caplog):
    size, gated, mode = FAMILIES[family]
    classifier = getattr(keras.applications, family)(
        weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None
    )
    model = _check_masker(classifier, gated, tmp_path, caplog)
    assert model.classifier_preprocessing == mode  # read from the classifier
    # Light: the masker trains at most half the classifier's parameters.
    trainable = sum(int(np.prod(v.shape)) for v in model.masker.trainable_variables)
    assert trainable <= classifier.count_params() / 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["darknet-tiny-imagenet.keras", "efficientnet-lite0-imagenet.keras"])
def test_the_default_masker_of_the_real_imagenet_classifiers(name, tmp_path, caplog):
    path = os.path.join(os.path.dirname(SHARED_DATA), "models", name)
    if not os.path.exists(path):
        pytest.skip(f"real classifier not available at {path}")
    classifier = keras.saving.load_model(path)
    model = _check_masker(classifier, True, tmp_path, caplog)
    expected = {"darknet-tiny-imagenet.keras": ["leaky_re_lu_6", "leaky_re_lu_10", "leaky_re_lu_15"],
                "efficientnet-lite0-imagenet.keras": ["block5_expand_relu", "block11_expand_relu", "top_relu"]}
    from keras_saliency.models.encoders import shared_taps

    assert shared_taps(model.masker.encoder)["tap_layers"] == expected[name]
    assert model.masker.mask_stride == 8  # 28x28 masks at 224 px


def test_the_default_masker_of_mobilenet_v2_is_light_on_disk(tmp_path):
    """1,000 classes at 96 px: the masker file holds the classifier's weights once (the class gate
    reads the classifier's class layer) and is at most 1.6x the classifier saved alone."""
    classifier = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))
    classifier.save(tmp_path / "classifier.keras")
    model = SaliencyModel.from_classifier(classifier)
    assert model.masker.class_gate != "none" and model.class_layer == "predictions"
    model.save(tmp_path / "masker.keras")
    ratio = os.path.getsize(tmp_path / "masker.keras") / os.path.getsize(tmp_path / "classifier.keras")
    assert ratio <= 1.6, ratio


def _keras_hub_classifier():
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 64, 64],
        stackwise_num_blocks=[1, 1, 1], stackwise_num_strides=[1, 2, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=(64, 64, 3),
    )
    return keras_hub.models.ImageClassifier(backbone=backbone, num_classes=5)


# int8 LiteRT export of each family's default masker (the converter takes 10-60 s a family).
@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES) + ["KerasHubResNet"])
def test_the_default_masker_of_each_family_exports_to_int8(family, tmp_path):
    pytest.importorskip("ai_edge_litert")
    from keras_saliency.deployment import ExportRequest, export_masker, load_runtime

    if family == "KerasHubResNet":
        classifier, size = _keras_hub_classifier(), 64
    else:
        size = FAMILIES[family][0]
        classifier = getattr(keras.applications, family)(
            weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None
        )
    model = SaliencyModel.from_classifier(classifier)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (4, size, size, 3)).astype("float32")
    ids = np.array([1, 3, 4, 0])
    path = str(tmp_path / "masker.tflite")
    report = export_masker(model, path, ExportRequest(format="tflite", quantize="int8", int8_float="parity"),
                           calibration_images=images, calibration_class_ids=ids,
                           verification_images=images, verification_class_ids=ids)
    assert [f["quantize"] for f in report["files"]] == ["int8"]
    outputs = load_runtime(path)(images, ids)
    assert outputs["mask"].shape[0] == 4 and outputs["exists"].shape == (4,)
    assert np.isfinite(outputs["mask"]).all() and np.isfinite(outputs["exists"]).all()


@pytest.mark.slow
def test_the_default_masker_of_a_keras_hub_image_classifier(tmp_path, caplog):
    """A KerasHub `ImageClassifier` (a ResNet backbone built from its config: no download): the
    class layer found after KerasHub's pooler, the gated design, one step, a `.keras` round trip."""
    model = _check_masker(_keras_hub_classifier(), True, tmp_path, caplog)
    assert model.class_layer == "predictions"
