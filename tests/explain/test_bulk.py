"""Bulk explanations on Apache Beam (`keras_saliency.explain.bulk`, `keras-saliency explain-bulk`), run
with the real DirectRunner on a folder of real photos (synthetic ones where the shared data is
absent) and two corrupt files."""

import csv
import glob
import json
import os
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("apache_beam", reason='needs the beam extra: pip install "keras-saliency[beam]"')

from keras_saliency.explain import bulk  # noqa: E402
from keras_saliency.cli import main  # noqa: E402
from keras_saliency.data.folder import read_image  # noqa: E402
from keras_saliency.testing import SQUARE_CLASS_NAMES, square_images  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402

GOOD_IMAGES = 8
CORRUPT = {"truncated.jpg": "truncated", "notes.png": "not a JPEG/PNG/GIF/BMP/WEBP image"}


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """8 real ImageNet photos (synthetic squares without the shared data), a truncated JPEG and
    a text file named .png."""
    root = tmp_path_factory.mktemp("photos")
    real = sorted(glob.glob(os.path.join(SHARED_DATA, "imagenet-sample-1000", "*", "*.JPEG")))[:GOOD_IMAGES]
    if len(real) == GOOD_IMAGES:
        for path in real:
            shutil.copy(path, root / os.path.basename(path))
        source = real[0]
    else:
        images, _, _ = square_images(GOOD_IMAGES, seed=3)
        for i, image in enumerate(images):
            Image.fromarray(image.astype(np.uint8)).resize((48, 40)).save(root / f"square_{i}.jpg")
        source = str(root / "square_0.jpg")
    data = open(source, "rb").read()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (root / "notes.png").write_text("not an image\n")
    return root


def _good_files(folder):
    return sorted(str(p) for p in folder.iterdir() if p.name not in CORRUPT)


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _check_dead_letters(output):
    dead = {os.path.basename(r["path"]): r["reason"] for r in _read_csv(output / bulk.DEAD_LETTERS_FILE)}
    assert set(dead) == set(CORRUPT)
    for name, reason in CORRUPT.items():
        assert reason in dead[name], dead


def _predict(model_file, paths, class_ids=None):
    """`model.predict`'s masks (N, S, S) and the classifier's probabilities for the files."""
    from keras_saliency.models.files import load_model_file

    model = load_model_file(model_file)
    images = np.stack([read_image(p, model.image_size)[1] for p in paths]).astype(np.float32)
    logits = np.asarray(model.classifier_logits(images))
    if class_ids is None:
        class_ids = logits.argmax(-1)
    masks = model.predict((images, np.asarray(class_ids, np.int32)), verbose=0)[..., 0]
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    return masks, probabilities / probabilities.sum(-1, keepdims=True), np.asarray(class_ids)


@pytest.mark.backends
def test_explain_bulk_direct_runner(tmp_path, model_file, photo_folder):
    """Predicted classes, PNG and .npy masks: the masks are `model.predict`'s, the rows hold
    their statistics, the corrupt files are dead letters with their reasons."""
    output = tmp_path / "out"
    report = bulk.explain_bulk(str(photo_folder / "*"), str(output), model=model_file, formats=("png", "npy"),
                               batch_size=3)
    assert report["explained"] == GOOD_IMAGES and report["dead_letters"] == len(CORRUPT)
    _check_dead_letters(output)
    rows = sorted(_read_csv(output / "rows.csv"), key=lambda r: r["path"])
    paths = _good_files(photo_folder)
    assert [r["path"] for r in rows] == paths
    masks, probabilities, class_ids = _predict(model_file, paths)
    for row, mask, p, c in zip(rows, masks, probabilities, class_ids):
        saved = np.load(output / (row["mask_stem"] + ".npy"))
        assert saved.shape == (32, 32) and saved.dtype == np.float32
        np.testing.assert_allclose(saved, mask, atol=1e-5)
        png = np.asarray(Image.open(output / (row["mask_stem"] + ".png")))
        assert np.abs(png.astype(int) - np.round(saved * 255)).max() <= 1
        assert int(row["class_id"]) == c and row["class_name"] == SQUARE_CLASS_NAMES[c]
        assert float(row["probability"]) == pytest.approx(p[c], abs=1e-5)
        assert 0.0 <= float(row["exists"]) <= 1.0
        assert float(row["mask_mean"]) == pytest.approx(saved.mean(), abs=1e-6)
        assert float(row["mask_max"]) == pytest.approx(saved.max(), abs=1e-6)
        assert float(row["mask_area"]) == pytest.approx((saved > 0.5).mean())
        width, height = Image.open(row["path"]).size
        assert (int(row["width"]), int(row["height"])) == (width, height)
    assert len(os.listdir(output / "masks")) == 2 * GOOD_IMAGES
    config = json.loads((output / bulk.CONFIG_FILE).read_text())
    assert config["result"]["explained"] == GOOD_IMAGES and config["image_size"] == 32


@pytest.mark.backends
def test_explain_bulk_cli_class_and_parquet(tmp_path, model_file, photo_folder):
    """`explain-bulk --class NAME --rows parquet --format npy`, with a pass-through pipeline option."""
    import pyarrow.parquet

    output = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "explain-bulk", str(photo_folder / "*"), "--output", str(output), "--model", model_file,
        "--class", "blue", "--rows", "parquet", "--format", "npy", "--batch-size", "4",
        "--direct_running_mode=in_memory"])
    assert result.exit_code == 0, result.output
    assert f"Explained {GOOD_IMAGES} images, {len(CORRUPT)} dead letters" in result.output
    _check_dead_letters(output)
    table = pyarrow.parquet.read_table(output / "rows.parquet").to_pylist()
    assert sorted(r["path"] for r in table) == _good_files(photo_folder)
    assert {r["class_name"] for r in table} == {"blue"} and {r["class_id"] for r in table} == {1}
    assert list(table[0]) == list(bulk.ROW_FIELDS)
    table.sort(key=lambda r: r["path"])
    masks, probabilities, _ = _predict(model_file, [r["path"] for r in table], [1] * len(table))
    for row, mask, p in zip(table, masks, probabilities):
        np.testing.assert_allclose(np.load(output / (row["mask_stem"] + ".npy")), mask, atol=1e-5)
        assert row["probability"] == pytest.approx(p[1], abs=1e-5)
    assert not glob.glob(str(output / "masks" / "*.png"))
    config = json.loads((output / bulk.CONFIG_FILE).read_text())
    assert config["class_name"] == "blue" and config["pipeline_options"]["runner"] == "DirectRunner"


@pytest.mark.backends
def test_explain_bulk_cli_refusals(tmp_path, model_file, monkeypatch):
    from keras_saliency import cli

    runner = CliRunner()
    result = runner.invoke(main, ["explain-bulk", "--project", "p", "x/*.jpg", "--output", str(tmp_path)])
    assert result.exit_code == 2 and "Expected GLOB before the pipeline options" in result.output
    result = runner.invoke(main, ["explain-bulk", "x/*.jpg", "--output", str(tmp_path), "--model", model_file,
                                  "--runtime", "masker.onnx"])
    assert result.exit_code == 2 and "give --class" in result.output
    result = runner.invoke(main, ["explain-bulk", "x/*.jpg", "--output", str(tmp_path), "--model", model_file,
                                  "--format", "gif"])
    assert result.exit_code != 0 and "Expected mask formats" in result.output
    result = runner.invoke(main, ["explain-bulk", "x/*.jpg", "--output", str(tmp_path), "--model", "nope.keras"])
    assert result.exit_code == 2 and "Expected a shipped model name" in result.output
    monkeypatch.setattr(cli.console, "missing_modules", lambda names: list(names))
    result = runner.invoke(main, ["explain-bulk", "x/*.jpg", "--output", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        'Error: bulk explanations need apache-beam: pip install "keras-saliency[beam]" (from a clone: '
        'pip install ".[beam]")')


@pytest.mark.backends
def test_handler_arguments():
    with pytest.raises(ValueError, match=r"ending in \.tflite or \.onnx"):
        bulk.ExportedMaskerHandler("m.engine", 32, 0)
    with pytest.raises(ValueError, match="Expected batch_size >= 1"):
        bulk.SaliencyModelHandler("cifar10", batch_size=0)
    assert bulk.mask_stem("a/cat.jpg") != bulk.mask_stem("b/cat.jpg")
    assert bulk.mask_stem("gs://bucket/a/cat.jpg").startswith("cat-")


@pytest.mark.parametrize("export_format", ["onnx", "tflite"])
def test_explain_bulk_exported_masker(tmp_path, model_file, photo_folder, export_format):
    """An exported masker (ONNX Runtime, LiteRT) gives the Keras model's masks (float32 export:
    within 1e-4)."""
    from keras_saliency.deployment import converters
    from keras_saliency.models.files import load_model_file

    pytest.importorskip({"onnx": "tf2onnx", "tflite": "ai_edge_litert"}[export_format])
    exported = str(tmp_path / f"masker.{export_format}")
    getattr(converters, f"export_{export_format}")(load_model_file(model_file).masker, exported)
    output = tmp_path / "out"
    report = bulk.explain_bulk(str(photo_folder / "*"), str(output), model=model_file, runtime=exported,
                               class_id=2, formats=("npy",))
    assert report["explained"] == GOOD_IMAGES
    _check_dead_letters(output)
    rows = sorted(_read_csv(output / "rows.csv"), key=lambda r: r["path"])
    masks, _, _ = _predict(model_file, [r["path"] for r in rows], [2] * len(rows))
    for row, mask in zip(rows, masks):
        assert row["probability"] == "" and row["class_name"] == "none"
        np.testing.assert_allclose(np.load(output / (row["mask_stem"] + ".npy")), mask, atol=1e-4)


def test_explain_bulk_with_an_export_that_classifies_needs_no_class(tmp_path, photo_folder):
    """A classifying ONNX export explains each photo's top-1 class, with its probability, in one pass."""
    from keras_saliency.deployment.export import ExportRequest, export_masker, predicted_classes, synthetic_images
    from tests.deployment.test_classify_export import _gated_model

    pytest.importorskip("tf2onnx")
    model = _gated_model()  # its class gate reads the classifier's class layer
    model_file = str(tmp_path / "gated.keras")
    model.save(model_file)
    images = synthetic_images(32, 8, seed=0).astype("float32")
    exported = str(tmp_path / "masker.onnx")
    report = export_masker(model, exported, ExportRequest(classify=True), verification_images=images,
                           verification_class_ids=predicted_classes(model, images))
    assert report["classify"]
    output = tmp_path / "out"
    result = bulk.explain_bulk(str(photo_folder / "*"), str(output), model=model_file, runtime=exported,
                               class_id=None, formats=("npy",))
    assert result["explained"] == GOOD_IMAGES
    rows = sorted(_read_csv(output / "rows.csv"), key=lambda r: r["path"])
    masks, probabilities, class_ids = _predict(model_file, [r["path"] for r in rows], None)
    for row, mask, class_id, probability in zip(rows, masks, class_ids, probabilities):
        assert int(row["class_id"]) == class_id
        assert abs(float(row["probability"]) - probability[class_id]) < 1e-4
        np.testing.assert_allclose(np.load(output / (row["mask_stem"] + ".npy")), mask, atol=1e-4)


@pytest.mark.slow
def test_explain_bulk_two_worker_processes(tmp_path, model_file, photo_folder):
    """multi_processing with 2 workers: the same rows and masks as one worker."""
    options = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    output = tmp_path / "out"
    report = bulk.explain_bulk(str(photo_folder / "*"), str(output), model=model_file, formats=("npy",),
                               batch_size=2, pipeline_options=options)
    assert report["explained"] == GOOD_IMAGES and report["dead_letters"] == len(CORRUPT)
    _check_dead_letters(output)
    rows = sorted(_read_csv(output / "rows.csv"), key=lambda r: r["path"])
    masks, _, _ = _predict(model_file, [r["path"] for r in rows])
    for row, mask in zip(rows, masks):
        np.testing.assert_allclose(np.load(output / (row["mask_stem"] + ".npy")), mask, atol=1e-5)
