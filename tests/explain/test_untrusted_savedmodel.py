"""A SavedModel runs whatever graph it holds: `video` and `serve` refuse one as `--runtime` unless
the user passes `--trust-savedmodel` (`explain-bulk` refuses SavedModels always). The test uses a
real SavedModel whose graph writes a file when it runs."""

import os

import numpy as np
import pytest
from click.testing import CliRunner

from keras_saliency.cli import main

cv2 = pytest.importorskip("cv2")


def _evil_savedmodel(folder, marker):
    """A SavedModel with the masker's signature whose graph also writes `marker`."""
    import tensorflow as tf

    class Evil(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32, name="image"),
                                      tf.TensorSpec([None], tf.int32, name="class_id")])
        def serve(self, image, class_id):
            with tf.control_dependencies([tf.io.write_file(marker, "the graph ran")]):
                mask = tf.zeros_like(image[..., :1])
            return {"mask": mask, "exists": tf.zeros_like(tf.cast(class_id, tf.float32))}

    module = Evil()
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return str(folder)


@pytest.fixture(scope="module")
def evil(tmp_path_factory):
    root = tmp_path_factory.mktemp("untrusted")
    marker = str(root / "written-by-the-graph.txt")
    clip = str(root / "clip.mp4")
    writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"mp4v"), 10, (32, 32))
    for _ in range(3):
        writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.release()
    return _evil_savedmodel(root / "evil_savedmodel", marker), marker, clip, root


def test_video_refuses_a_savedmodel_without_the_opt_in(evil):
    savedmodel, marker, clip, root = evil
    result = CliRunner().invoke(main, ["video", clip, "--model", "cifar10", "--runtime", savedmodel, "--class", "cat",
                                       "--output", str(root / "out.mp4")])
    assert result.exit_code == 2, result.output
    assert "--trust-savedmodel" in result.output and "Traceback" not in result.output
    assert not os.path.exists(marker)  # its graph never ran
    result = CliRunner().invoke(main, ["video", clip, "--model", "cifar10", "--runtime", savedmodel, "--class", "cat", "--trust-savedmodel",
                                       "--output", str(root / "out.mp4")])
    assert result.exit_code == 0, result.output
    assert os.path.exists(marker)  # with the opt-in, it runs (what the flag's help warns of)
    os.remove(marker)


def test_serve_refuses_a_savedmodel_without_the_opt_in(evil):
    pytest.importorskip("gradio")
    savedmodel, marker, _, _ = evil
    result = CliRunner().invoke(main, ["serve", "--model", "cifar10", "--runtime", savedmodel, "--port", "7999"])
    assert result.exit_code == 2, result.output
    assert "--trust-savedmodel" in result.output and not os.path.exists(marker)
