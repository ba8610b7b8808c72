"""`keras-saliency explain` and `evaluate` on a small untrained model saved as a .keras file
(the shipped models are tested in test_pretrained.py)."""

import csv
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from keras_saliency.cli import main
from keras_saliency.testing import SQUARE_CLASS_NAMES, square_images


@pytest.fixture(scope="module")
def square_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("squares")
    images, labels, boxes = square_images(12, seed=4)
    rows = ["path,xmin,ymin,xmax,ymax"]
    for i, (image, label, box) in enumerate(zip(images, labels, boxes)):
        folder = root / SQUARE_CLASS_NAMES[label]
        folder.mkdir(exist_ok=True)
        Image.fromarray(image.astype(np.uint8)).resize((48, 40)).save(folder / f"{i}.png")
        x0, y0, x1, y1 = box
        rows.append(f"{folder.name}/{i}.png,{x0 * 48 // 32},{y0 * 40 // 32},{x1 * 48 // 32},{y1 * 40 // 32}")
    (root / "boxes.csv").write_text("\n".join(rows) + "\n")
    return root


def test_explain_folder(tmp_path, model_file, square_folder):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.jpg").write_bytes(b"not an image")
    output = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["explain", str(square_folder / "red"), str(tmp_path / "in" / "broken.jpg"),
         "--model", model_file, "--class", "blue", "--save-masks", "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    count = len(os.listdir(square_folder / "red"))
    assert f"Explained {count} images (1 skipped)" in result.output
    with open(output / "explanations.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == count and {r["class_name"] for r in rows} == {"blue"}
    first = os.path.splitext(os.path.basename(rows[0]["path"]))[0]
    assert (output / f"{first}_saliency.png").exists()
    mask = np.load(output / f"{first}_mask.npy")
    assert mask.shape == (40, 48) and 0.0 <= mask.min() and mask.max() <= 1.0
    assert Image.open(output / f"{first}_saliency.png").size[0] >= 4 * 32


def test_explain_errors(tmp_path, model_file, square_folder):
    result = CliRunner().invoke(main, ["explain", str(square_folder), "--model", model_file, "--class", "cat"])
    assert result.exit_code != 0 and "class name" in result.output
    result = CliRunner().invoke(main, ["explain", str(square_folder), "--model", "nope"])
    assert result.exit_code != 0 and "shipped model name" in result.output


@pytest.mark.slow
def test_evaluate_folder_with_boxes(tmp_path, model_file, square_folder):
    output = tmp_path / "eval"
    result = CliRunner().invoke(
        main,
        ["evaluate", str(square_folder), "--model", model_file, "--boxes", str(square_folder / "boxes.csv"),
         "--methods", "masker,gradcam,rise,centre_box", "--option", "rise.num_masks=50",
         "--calibration-fraction", "0.5", "--slow-limit", "4", "--deletion-substrate", "blur",
         "--output", str(output)],
    )
    assert result.exit_code == 0, result.output
    assert "| rise |" in result.output and "loc. error" in result.output
    with open(output / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["masker", "gradcam", "rise", "centre_box"]
    assert [r["images"] for r in rows] == ["6", "6", "4", "6"]  # rise is a slow method
    config = json.loads((output / "evaluation_config.json").read_text())
    assert config["method_options"] == {"rise": {"num_masks": 50}} and config["test_images"] == 6
    assert config["deletion_substrate"] == "blur"
    assert (output / "examples.png").exists()


def test_evaluate_rejects_unknown_method(tmp_path, model_file, square_folder):
    result = CliRunner().invoke(main, ["evaluate", str(square_folder), "--model", model_file, "--methods", "masker,magic"])
    assert result.exit_code != 0 and "magic" in result.output
