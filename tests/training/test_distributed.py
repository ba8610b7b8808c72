"""The paper-scale recipe's dry run: `keras-saliency train --dataset imagenet2012 --classifier
resnet50 --encoder resnet50 --strategy mirrored --dry-run` builds everything and trains a few
steps of both phases under MirroredStrategy with two CPU replicas (random weights, mocked
ImageNet). Runs in a subprocess: logical devices must be set before TensorFlow starts."""

import subprocess
import sys
import pytest

SCRIPT = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import tensorflow_datasets as tfds
import pytest

from keras_saliency.cli import main
with tfds.testing.mock_data(num_examples=16):
    main(["train", "--dataset", "imagenet2012", "--data-dir", sys.argv[1], "--classifier", "resnet50",
          "--encoder", "resnet50", "--weights", "none", "--strategy", "mirrored", "--dry-run",
          "--image-size", "64", "--batch-size", "4", "--output", sys.argv[2]], standalone_mode=False)
"""


@pytest.mark.slow
def test_mirrored_dry_run_two_replicas(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "manual"), str(tmp_path / "run")],
        capture_output=True, text=True, timeout=600, env={"TF_CPP_MIN_LOG_LEVEL": "2", **__import__("os").environ},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "2 replica(s) (mirrored strategy), two-phase schedule" in output
    assert "Dry run passed: 2 replica(s), two-phase schedule, 2 steps per phase" in output
    assert not (tmp_path / "run" / "model.keras").exists()  # a dry run saves nothing
