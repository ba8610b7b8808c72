"""Every custom layer through Keras' own layer check (`run_layer_test`: build, output shape and
dtype, weights counts, serialisation round trip, a training step, mixed precision), the layers
of `keras_saliency.models.layers` one by one. `keras.src.testing` is Keras' internal test
harness (Keras 3 exports no public one); these tests pin its behaviour on the installed Keras."""

import keras
from keras.src.testing import TestCase

from keras_saliency.models.layers import (
    BottleneckBlock,
    ClassEvidenceGate,
    ClassSelector,
    MaskHead,
    Preprocessing,
    SubPixelUpsampling,
)


class LayerTest(TestCase):
    def test_preprocessing(self):
        for mode in ("none", "unit", "symmetric", "caffe", "torch"):
            self.run_layer_test(
                Preprocessing, {"mode": mode}, input_shape=(2, 8, 8, 3), expected_output_shape=(2, 8, 8, 3),
                expected_num_trainable_weights=0, run_training_check=False,
            )
        self.run_layer_test(
            Preprocessing, {"mode": "unit"}, input_data=keras.ops.full((1, 2, 2, 3), 255.0),
            expected_output=keras.ops.ones((1, 2, 2, 3)), run_training_check=False,
        )

    def test_sub_pixel_upsampling(self):
        self.run_layer_test(
            SubPixelUpsampling, {"filters": 4}, input_shape=(2, 4, 4, 8), expected_output_shape=(2, 8, 8, 4),
        )

    def test_bottleneck_block(self):
        self.run_layer_test(
            BottleneckBlock, {"filters": 8}, input_shape=(2, 4, 4, 8), expected_output_shape=(2, 4, 4, 8),
        )

    def test_mask_head(self):
        for kind, weights in (("abs_ratio", 2), ("sigmoid", 2)):
            self.run_layer_test(
                MaskHead, {"kind": kind}, input_shape=(2, 4, 4, 8), expected_output_shape=(2, 4, 4, 1),
                expected_output_dtype="float32", expected_num_trainable_weights=weights,
                run_mixed_precision_check=False,  # the head always computes in float32 (its dtype)
            )

    def test_class_selector(self):
        shapes = {"features_shape": (2, 4, 4, 8), "class_ids_shape": (2,)}
        self.run_layer_test(
            ClassSelector, {"num_classes": 3, "confidence": 0.5}, input_shape=shapes,
            expected_output_shape=((2, 4, 4, 8), (2,)), expected_num_trainable_weights=1,
            expected_num_non_trainable_weights=1, run_training_check=False, run_mixed_precision_check=False,
        )

    def test_class_evidence_gate(self):
        shapes = {"features_shape": (2, 4, 4, 8), "class_ids_shape": (2,)}
        for local, image_offset, trainable in (("log_odds", None, 4), ("cam", -1.0, 5)):
            self.run_layer_test(
                ClassEvidenceGate,
                {"num_classes": 3, "scale": 6.0, "offset": -1.0, "image_offset": image_offset, "rate": 10.0,
                 "local": local},
                input_shape=shapes, expected_output_shape=((2, 4, 4, 1), (2,)),
                expected_num_trainable_weights=trainable, expected_num_non_trainable_weights=2,
                run_training_check=False, run_mixed_precision_check=False,
            )
