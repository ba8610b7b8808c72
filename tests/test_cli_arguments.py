"""Usage errors answer in one line before TensorFlow loads, and flags refuse values that make no
sense (zero or negative sizes and counts, nan) with click's own message."""

import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from keras_saliency.cli import main

PROBE = """
import sys
sys.argv = ["keras-saliency"] + {args!r}
from keras_saliency.cli import main
try:
    main()
except SystemExit as exit:
    print("EXIT", exit.code, "tensorflow" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize("args, says", [
    (["train", "--dataset", "folder"], "Expected --data-dir (a folder of class subfolders) for the folder dataset"),
    (["train", "--dataset", "folder", "--data-dir", "nowhere"], "'nowhere', which is not a folder"),
    (["train", "--dataset", "folder", "--data-dir", ".", "--classifier", "nope.keras"], "'nope.keras', which does not exist"),
    (["export", "cifar10", "--format", "tflite", "--quantize", "int8"], "Expected --calibration-data (a folder of real images) with --quantize int8"),
    (["export", "nope"], "Expected a shipped model name"),
    (["explain", "--model", "nope"], "Expected a shipped model name"),
    (["evaluate", ".", "--model", "nope"], "Expected a shipped model name"),
    (["video", "--camera", "0", "--model", "nope"], "Expected a shipped model name"),
    (["benchmark", "--model", "nope"], "Expected a shipped model name"),
])
def test_usage_errors_answer_before_tensorflow_loads(args, says, tmp_path):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60, env={**os.environ, "PYTHONPATH": os.getcwd()})
    seconds = time.perf_counter() - start
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and says in errors[0], result.stderr
    assert "EXIT 2 False" in result.stderr, result.stderr  # exit status 2, TensorFlow never imported
    assert seconds < 10, seconds  # about 0.2 s on 2 idle cores (the goal: 2 s)


@pytest.mark.parametrize("args", [
    ["explain", "--batch-size", "0"], ["explain", "--batch-size", "-1"], ["explain", "--top-k", "0"],
    ["explain", "--confidence", "nan"], ["explain", "--confidence", "inf"],
    ["export", "cifar10", "--calibration-images", "0"], ["export", "cifar10", "--verification-images", "0"],
    ["train", "--epochs", "0"], ["train", "--batch-size", "0"], ["train", "--learning-rate", "0"],
    ["train", "--validation-split", "1"], ["train", "--crop-scale", "2"],
    ["evaluate", ".", "--limit", "-1"], ["evaluate", ".", "--calibration-fraction", "1"],
    ["video", "--batch-size", "0"], ["video", "--max-frames", "-1"],
])
def test_flags_refuse_values_that_make_no_sense(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "Invalid value for" in result.output, result.output


def test_explain_bulk_on_a_glob_that_matches_nothing_fails(tmp_path):
    pytest.importorskip("apache_beam")
    result = CliRunner().invoke(main, ["explain-bulk", str(tmp_path / "none" / "*.jpg"), "--output", str(tmp_path / "out")])
    assert result.exit_code == 1 and "matches no file" in result.output, result.output


def test_video_of_a_file_that_is_not_a_video_fails(tmp_path):
    pytest.importorskip("cv2")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    result = CliRunner().invoke(main, ["video", str(text), "--output", str(tmp_path / "out.mp4")])
    assert result.exit_code == 2 and "Expected a" in result.output, result.output  # a ValueError: exit status 2


def test_an_unknown_class_name_suggests_the_close_ones():
    from keras_saliency import pretrained
    from keras_saliency.runtime.classes import resolve_class

    names = pretrained.display_names("imagenet-darknet-tiny")
    with pytest.raises(ValueError, match=r"did you mean golden retriever \(207\)"):
        resolve_class("golden", names)
    with pytest.raises(ValueError, match=r"did you mean tabby \(281\)"):
        resolve_class("tabbby", names)
    with pytest.raises(ValueError, match=r"e\.g\. tench, goldfish, great white shark"):
        resolve_class("zzzz", names)
