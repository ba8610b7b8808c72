"""int8 activation ranges: the mean of each calibration image's extremes (known answers on a
one-op model), and what it does to a real int8 file."""

import itertools

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")
tf = pytest.importorskip("tensorflow")

from keras_saliency.deployment.int8_ranges import averaged_ranges  # noqa: E402
from keras_saliency.deployment.serving import SIGNATURE_KEY  # noqa: E402


def _calibrated(tmp_path, samples):
    """A model `y = relu(x) * 2` converted with TFLite's calibration only, and its samples."""

    class Double(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 8], tf.float32, name="image")])
        def serve(self, image):
            return {"out": tf.nn.relu(image) * 2.0}

    module = Double()
    tf.saved_model.save(module, str(tmp_path / "double"), signatures={SIGNATURE_KEY: module.serve})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "double"), signature_keys=[SIGNATURE_KEY])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: iter(samples)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: itertools.islice(iter(samples), 1))
    return debugger.calibrated_model


def _ranges(flatbuffer):
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    return sorted((float(t.quantization.min[0]), float(t.quantization.max[0]))
                  for t in model.subgraphs[0].tensors
                  if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min) == 1)


def test_ranges_become_the_mean_of_each_images_extremes(tmp_path):
    # Image k: values -k .. k + 1 (the last one an outlier of 20 for image 3).
    samples = []
    for k in range(4):
        image = np.linspace(-k, k + 1, 8).astype(np.float32)
        if k == 3:
            image[-1] = 20.0
        samples.append({"image": image[None]})
    calibrated = _calibrated(tmp_path, samples)
    before = _ranges(calibrated)
    after = _ranges(averaged_ranges(calibrated, samples))
    # input x: extremes -3 .. 20; means of the extremes: -(0+1+2+3)/4 = -1.5 .. (1+2+3+20)/4 = 6.5
    assert (-3.0, 20.0) in before and (-1.5, 6.5) in after
    # relu(x) * 2 (the op's output): 0 .. 40 before; 0 .. 13 after
    assert (0.0, 40.0) in before and (0.0, 13.0) in after
    assert len(before) == len(after)


def test_ranges_are_never_widened_and_a_range_holding_zero_still_does(tmp_path):
    samples = [{"image": np.full((1, 8), value, np.float32)} for value in (2.0, 4.0)]
    calibrated = _calibrated(tmp_path, samples)
    before, after = _ranges(calibrated), _ranges(averaged_ranges(calibrated, samples))
    assert (2.0, 4.0) in before and (2.0, 3.0) in after  # x: the mean of the maxima, the minimum kept
    assert (4.0, 8.0) in before and (4.0, 6.0) in after  # relu(x) * 2
    for low, high in before:
        assert any(low <= new_low and new_high <= high for new_low, new_high in after)
    # minima -1, 3, 3 (mean 5/3 > 0): a range that held zero keeps it
    samples = [{"image": np.linspace(low, 4.0, 8, dtype=np.float32)[None]} for low in (-1.0, 3.0, 3.0)]
    calibrated = _calibrated(tmp_path, samples)
    assert (-1.0, 4.0) in _ranges(calibrated) and (0.0, 4.0) in _ranges(averaged_ranges(calibrated, samples))


def test_int8_export_with_each_kind_of_range(tmp_path):
    from keras_saliency.deployment.export import ExportRequest, export_masker
    from tests.models.test_class_gate import _export_data, _gated_model

    with pytest.raises(ValueError, match=r"Expected `int8_ranges` in \('auto', 'mean', 'minmax'\). Received: `int8_ranges=max`"):
        ExportRequest("tflite", "int8", int8_ranges="max")
    with pytest.raises(ValueError, match="Expected `int8_ranges=minmax` only with `format=tflite` and `quantize=int8`"):
        ExportRequest("onnx", "int8", int8_ranges="minmax")
    model = _gated_model()
    images, labels = _export_data()
    files = {}
    for ranges in ("mean", "minmax"):
        path = tmp_path / f"{ranges}.int8.tflite"
        report = export_masker(model, str(path), ExportRequest("tflite", "int8", int8_float="speed", classify=False,
                                                               int8_ranges=ranges),
                               calibration_images=images[:16], calibration_class_ids=labels[:16],
                               verification_images=images[16:], verification_class_ids=labels[16:])
        assert report["request"]["int8_ranges"] == ranges and report["files"][0]["rank_correlation"] > 0.5
        files[ranges] = path.read_bytes()
    assert files["mean"] != files["minmax"]
