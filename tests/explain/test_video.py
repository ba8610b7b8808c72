"""`explain_video`: the overlay video names the explained class on every frame."""

import numpy as np
import pytest

from keras_saliency import pretrained
from keras_saliency.explain.video import explain_video

pytestmark = pytest.mark.backends  # the Keras model's video and web demo on every backend

cv2 = pytest.importorskip("cv2")


def test_the_overlay_video_names_the_class(tmp_path):
    clip = str(tmp_path / "clip.mp4")
    writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"mp4v"), 10, (96, 64))
    for _ in range(4):
        writer.write(np.full((64, 96, 3), 200, np.uint8))
    writer.release()
    model = pretrained.load("cifar10")
    frames = {}
    for label, names in (("plain", None), ("named", model.class_names)):
        output = str(tmp_path / f"{label}.mp4")
        result = explain_video(model, clip, output, model.image_size, class_id=3, class_names=names)
        assert result["frames"] == 4
        ok, frames[label] = cv2.VideoCapture(output).read()
        assert ok
    corner = (slice(0, 14), slice(0, 40))
    # The label's dark band and white text change the top-left corner, and only there.
    assert np.abs(frames["named"][corner].astype(int) - frames["plain"][corner]).mean() > 20
    assert np.abs(frames["named"][40:, 60:].astype(int) - frames["plain"][40:, 60:]).mean() < 3
