"""Hostile inputs, crafted here: image files that are not what their names say (16-bit, empty,
truncated, text, bombs, FIFOs, links, folders) and model files that are corrupt or unpack to
far more than their size. Every command's reader must give the same right pixels, skip and
count the bad files without hanging, and refuse the bad model files with one line."""

import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import struct
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from keras_saliency.data import folder as F

SIZE = 32  # every crafted image is SIZE x SIZE: the squash to the model's size is the identity

# 16-bit grey values over the whole range, and the 8-bit values they must become.
GREY16 = np.linspace(0, 65535, SIZE * SIZE).round().astype(np.uint16).reshape(SIZE, SIZE)
GREY16_AS_8 = np.round(GREY16.astype(np.float64) * 255 / 65535).astype(np.uint8)
COLOUR = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)

# Hostile files of a class folder and the reason each is skipped with.
EXPECTED_REASONS = {
    "empty.jpg": "unreadable (empty file)",
    "truncated.jpg": "unreadable (truncated)",
    "text.jpg": "unreadable (not a JPEG/PNG/GIF/BMP/WEBP image)",
    "bomb.png": "too large (144 Mpx > 50 Mpx)",
    "fifo.jpg": "not a regular file (a FIFO)",
    "loop.jpg": "not a regular file (symlink loop)",
    "dangling.png": "not a regular file (dangling link)",
    "folder.jpg": "not a regular file (a directory)",
}


def _png_bomb(path, width=12000, height=12000):
    """A valid 8-bit grey PNG of width x height zeros, about 140 KB on disk."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def _unblock(fifo):
    """Lets a reader blocked opening `fifo` go on (it then reads end of file)."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


@contextlib.contextmanager
def deadline(seconds, fifos=()):
    """Fails the test (instead of hanging) when the body runs longer than `seconds`."""

    def on_alarm(signum, frame):
        for fifo in fifos:  # first free any thread blocked on them (a pool's exit waits for it)
            _unblock(fifo)
        raise TimeoutError(f"still running after {seconds} s: blocked opening a FIFO?")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        for fifo in fifos:
            _unblock(fifo)


def _write_good_images(folder):
    Image.fromarray(GREY16).save(folder / "grey16.png")
    Image.fromarray(COLOUR).save(folder / "colour.webp", lossless=True)
    Image.fromarray(COLOUR).save(folder / "colour.png")


def _write_hostile_files(folder, bomb):
    (folder / "empty.jpg").write_bytes(b"")
    jpeg = folder / "whole.jpeg"
    Image.fromarray(COLOUR).save(jpeg, quality=95)
    (folder / "truncated.jpg").write_bytes(jpeg.read_bytes()[:400])
    jpeg.unlink()
    (folder / "text.jpg").write_text("this is a text file, not a picture\n")
    shutil.copy(bomb, folder / "bomb.png")
    os.mkfifo(folder / "fifo.jpg")
    os.symlink("loop.jpg", folder / "loop.jpg")
    os.symlink("nowhere.png", folder / "dangling.png")
    (folder / "folder.jpg").mkdir()


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    _png_bomb(path)
    return path


@pytest.fixture
def hostile(tmp_path, bomb):
    """root/good/ (readable images only), root/bad/ (good images + every hostile file),
    root/empty/ (no file), root/notes/ (a text file only)."""
    if not hasattr(os, "mkfifo") or not hasattr(signal, "SIGALRM"):
        pytest.skip("needs POSIX FIFOs, symlinks and SIGALRM")
    root = tmp_path / "images"
    for name in ("good", "bad", "empty", "notes"):
        (root / name).mkdir(parents=True)
    _write_good_images(root / "good")
    _write_good_images(root / "bad")
    _write_hostile_files(root / "bad", bomb)
    (root / "notes" / "readme.txt").write_text("notes")
    yield root
    _unblock(root / "bad" / "fifo.jpg")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small untrained SaliencyModel at SIZE x SIZE, saved as .keras with run_config.json."""
    from keras_saliency.models.classifiers import cifar_classifier, scale_taps
    from keras_saliency.models.model import SaliencyModel

    root = tmp_path_factory.mktemp("model")
    classifier = cifar_classifier(3, SIZE, base_filters=8, convs_per_scale=(1, 1, 1))
    saliency = SaliencyModel.from_classifier(classifier, tap_layers=scale_taps(3), seed=0)
    path = root / "model.keras"
    saliency.save(path)
    (root / "run_config.json").write_text(json.dumps({"class_names": ["a", "b", "c"]}))
    return str(path)


def _reasons(skipped):
    return {os.path.basename(path): reason for path, reason in skipped}


# --- pixels: one reader, the same values in every command ------------------------------------


def test_16bit_grey_png_gives_the_right_pixels_in_every_reader(tmp_path, model):
    from keras_saliency.deployment.export import sample_images
    from keras_saliency.evaluation.data import load_evaluation_images
    from keras_saliency.explain.files import explain_files
    from keras_saliency.pretrained import load_saliency_model

    folder = tmp_path / "grey" / "a"
    folder.mkdir(parents=True)
    Image.fromarray(GREY16).save(folder / "grey16.png")
    with Image.open(folder / "grey16.png") as image:
        assert image.mode == "I;16"  # a real 16-bit file (what used to become all white)
    expected = np.repeat(GREY16_AS_8[..., None], 3, -1)
    assert len(np.unique(GREY16_AS_8)) > 200

    np.testing.assert_array_equal(F.load_image(folder / "grey16.png"), expected)
    original, resized = F.read_image(str(folder / "grey16.png"), SIZE)
    np.testing.assert_array_equal(original, expected)
    np.testing.assert_array_equal(resized, expected)
    # train: the tf.data folder pipeline, and the recipes' in-memory arrays
    scan = F.scan_image_folder(str(tmp_path / "grey"), progress=False)
    (batch, _), = list(F.folder_dataset(scan, SIZE, batch_size=4))
    np.testing.assert_allclose(batch.numpy()[0], expected, atol=1e-3)
    arrays, _ = F.load_folder_arrays(scan, SIZE, progress=False)
    np.testing.assert_array_equal(arrays[0], expected)
    # evaluate (class subfolders and a flat folder) and export --calibration-data
    np.testing.assert_array_equal(load_evaluation_images(str(tmp_path / "grey"), SIZE).images[0], expected)
    np.testing.assert_array_equal(load_evaluation_images(str(folder), SIZE).images[0], expected)
    np.testing.assert_array_equal(sample_images(str(tmp_path / "grey"), SIZE, 5)[0], expected)
    # explain: the pixels the classifier is given
    saliency, _, _ = load_saliency_model(model)
    seen, logits = [], saliency.classifier_logits
    saliency.classifier_logits = lambda images: (seen.append(np.asarray(images)), logits(images))[1]
    explain_files(saliency, [str(folder / "grey16.png")], str(tmp_path / "out"), progress=False)
    np.testing.assert_array_equal(seen[0][0], expected)


def test_colour_modes_are_converted_by_documented_rules(tmp_path):
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "palette.png")
    palette.save(tmp_path / "transparent.gif", transparency=1)  # index 1 transparent
    Image.fromarray(np.array([[[0, 0], [100, 255], [100, 128]]], np.uint8), "LA").save(tmp_path / "la.png")
    rgba = np.array([[[10, 20, 30, 0], [200, 0, 0, 255]]], np.uint8)  # hidden colour under alpha 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.webp", lossless=True)
    Image.new("CMYK", (4, 4), (255, 0, 0, 0)).save(tmp_path / "cmyk.jpg", quality=100)
    one_bit = Image.new("1", (2, 1))
    one_bit.putpixel((1, 0), 1)
    one_bit.save(tmp_path / "bits.bmp")
    Image.fromarray(np.array([[0, 90, 255]], np.uint8), "L").save(tmp_path / "grey.png")
    Image.fromarray(COLOUR).save(tmp_path / "named.jpg", format="PNG")  # content, not name, decides

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow warning (palette transparency) leaks out
        read = {name: F.load_image(tmp_path / name).tolist() for name in os.listdir(tmp_path)}
    white = [255, 255, 255]
    assert read["palette.png"] == [[[255, 0, 0], [0, 0, 255]]]
    assert read["transparent.gif"] == [[[255, 0, 0], white]]  # transparent: composited on white
    assert read["la.png"] == [[white, [100] * 3, [177] * 3]]  # 100 * 128/255 + 255 * 127/255
    assert read["rgba.png"] == read["rgba.webp"] == [[white, [200, 0, 0]]]
    assert np.abs(np.asarray(read["cmyk.jpg"][0][0]) - [0, 255, 255]).max() <= 3  # cyan
    assert read["bits.bmp"] == [[[0, 0, 0], white]]
    assert read["grey.png"] == [[[0] * 3, [90] * 3, white]]
    assert read["named.jpg"] == COLOUR.tolist()


def test_webp_is_an_image_everywhere(tmp_path):
    from keras_saliency.explain.files import find_images

    assert ".webp" in F.IMAGE_EXTENSIONS
    (tmp_path / "c").mkdir()
    Image.fromarray(COLOUR).save(tmp_path / "c" / "x.webp", lossless=True)
    assert find_images([str(tmp_path)]) == [str(tmp_path / "c" / "x.webp")]
    scan = F.scan_image_folder(str(tmp_path), progress=False)
    assert scan.files == [str(tmp_path / "c" / "x.webp")] and not scan.skipped
    np.testing.assert_array_equal(F.load_image(scan.files[0]), COLOUR)


# --- bad files: skipped, counted, reported; never a hang, never an abort --------------------


def test_each_hostile_file_is_skipped_with_its_reason(hostile):
    folder = hostile / "bad"
    with deadline(60, [folder / "fifo.jpg"]):
        for name, reason in EXPECTED_REASONS.items():
            with pytest.raises(F.UnreadableImageError) as error:
                F.load_image(folder / name)
            assert error.value.reason == reason, name
            assert isinstance(error.value, ValueError) and "\n" not in str(error.value)
            assert F.check_image(str(folder / name)) == reason
    assert F.file_problem(str(folder / "colour.png")) is None


def test_the_bomb_is_refused_before_decoding_and_the_limit_is_configurable(tmp_path, bomb, monkeypatch):
    import PIL.Image

    with pytest.raises(F.UnreadableImageError, match=r"too large \(144 Mpx > 50 Mpx\)"):
        F.load_image(bomb)
    Image.fromarray(COLOUR).save(tmp_path / "small.png")  # 1024 pixels
    with pytest.raises(F.UnreadableImageError, match=r"too large \(1024 px > 1000 px\)"):
        F.load_image(tmp_path / "small.png", max_pixels=1000)
    monkeypatch.setenv(F.MAX_PIXELS_ENV, "1000")
    assert F.check_image(str(tmp_path / "small.png")).startswith("too large")
    monkeypatch.setenv(F.MAX_PIXELS_ENV, "lots")
    with pytest.raises(ValueError, match="Expected KERAS_SALIENCY_MAX_PIXELS to be a number"):
        F.load_image(tmp_path / "small.png")
    monkeypatch.delenv(F.MAX_PIXELS_ENV)
    # Pillow's own bomb limit: its warning never leaks, its error is a "too large" skip.
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(F.load_image(tmp_path / "small.png"), COLOUR)  # 1024 > 600: warning only
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 400)
    with pytest.raises(F.UnreadableImageError, match="too large"):
        F.load_image(tmp_path / "small.png")


def test_permission_denied_is_skipped(tmp_path, monkeypatch):
    path = tmp_path / "secret.png"
    Image.fromarray(COLOUR).save(path)
    real_open = os.open

    def denied(name, *args, **kwargs):  # as root permissions are not enforced: simulate them
        if os.fspath(name) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(F.UnreadableImageError, match=r"unreadable \(permission denied\)"):
        F.load_image(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root bypasses file permissions")
def test_permission_denied_for_real(tmp_path):
    path = tmp_path / "secret.png"
    Image.fromarray(COLOUR).save(path)
    path.chmod(0)
    try:
        assert F.check_image(str(path)) == "unreadable (permission denied)"
    finally:
        path.chmod(0o644)


def test_skipped_summary_counts_by_reason():
    skipped = [("a", "not a regular file (a FIFO)"), ("b", "unreadable (truncated)"),
               ("c", "too large (144 Mpx > 50 Mpx)"), ("d", "unreadable (truncated)"), ("e", "unreadable (empty file)")]
    assert F.skipped_summary(skipped[:3]) == (
        "skipped 3 files: 1 not a regular file (a FIFO), 1 unreadable (truncated), 1 too large (144 Mpx > 50 Mpx)")
    assert F.skipped_counts(skipped) == (
        "1 not a regular file (a FIFO), 3 unreadable (truncated x2, empty file), 1 too large (144 Mpx > 50 Mpx)")
    assert F.skipped_summary([]) == ""


def test_report_skipped_names_a_shared_reason_once(caplog):
    with caplog.at_level("WARNING", logger=F.logger.name):
        F.report_skipped([("a.jpg", "unreadable (truncated)"), ("b.jpg", "unreadable (truncated)")])
        F.report_skipped([("a.jpg", "unreadable (truncated)"), ("c.jpg", "unreadable (empty file)")])
    one, two = (record.getMessage() for record in caplog.records)
    assert one == "Reading images: skipped 2 files: 2 unreadable (truncated): a.jpg; b.jpg"
    assert two.endswith(": a.jpg (unreadable (truncated)); c.jpg (unreadable (empty file))")


def test_train_scan_skips_counts_and_leaves_out_empty_classes(hostile, caplog):
    caplog.set_level(logging.WARNING, "keras_saliency")
    with deadline(60, [hostile / "bad" / "fifo.jpg"]):
        scan = F.scan_image_folder(str(hostile), progress=False)
    # "empty" has no file, "notes" no image: neither is a class (a warning names them)
    assert scan.class_names == ["bad", "good"] and scan.empty_classes == ["empty", "notes"]
    assert sorted(scan.labels) == [0, 0, 0, 1, 1, 1]
    reasons = _reasons(scan.skipped)
    assert reasons == {**EXPECTED_REASONS, "readme.txt": "unsupported (extension .txt)"}
    assert "9 files skipped" in scan.summary() and "['empty', 'notes']" in scan.summary()
    assert "['empty', 'notes']" in caplog.text and "1 not a regular file" not in caplog.text
    assert "4 not a regular file" in caplog.text
    # the pipeline reads the kept files with the same reader
    with deadline(120):
        count = sum(len(y) for _, y in F.folder_dataset(scan, SIZE, batch_size=4))
    assert count == 6
    # check=False (recipes, evaluate) still sorts out what is not a regular file, unopened
    with deadline(60, [hostile / "bad" / "fifo.jpg"]):
        quick = F.scan_image_folder(str(hostile), check=False, progress=False)
    assert {n for n, r in _reasons(quick.skipped).items() if r.startswith("not a regular")} == {
        "fifo.jpg", "loop.jpg", "dangling.png", "folder.jpg"}
    with deadline(60):
        images, labels = F.load_folder_arrays(quick, SIZE, progress=False)
    assert len(images) == len(labels) == 6  # empty, truncated, text and bomb left out


def test_a_folder_named_like_an_image_is_not_a_class(tmp_path):
    (tmp_path / "cats").mkdir()
    Image.fromarray(COLOUR).save(tmp_path / "cats" / "1.png")
    (tmp_path / "photo.jpg").mkdir()
    scan = F.scan_image_folder(str(tmp_path), progress=False)
    assert scan.class_names == ["cats"] and _reasons(scan.skipped) == {"photo.jpg": "not a regular file (a directory)"}


def test_a_folder_without_readable_images_is_a_one_line_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"Received: none \(skipped 1 file: 1 unreadable \(empty file\)\)") as error:
        F.scan_image_folder(str(tmp_path), progress=False)
    assert "\n" not in str(error.value)


def test_explain_skips_without_hanging_and_errors_only_when_nothing_is_readable(hostile, model, tmp_path, caplog):
    from keras_saliency.explain.files import explain_files, find_images
    from keras_saliency.pretrained import load_saliency_model

    caplog.set_level(logging.WARNING, "keras_saliency")
    saliency, names, _ = load_saliency_model(model)
    assert names == ["a", "b", "c"]
    files = find_images([str(hostile / "bad")])
    assert {os.path.basename(f) for f in files} == {"grey16.png", "colour.webp", "colour.png", *EXPECTED_REASONS} - {"folder.jpg"}
    with deadline(120, [hostile / "bad" / "fifo.jpg"]):
        rows = explain_files(saliency, files, str(tmp_path / "out"), progress=False)
    assert {os.path.basename(r["path"]) for r in rows} == {"grey16.png", "colour.webp", "colour.png"}
    with open(tmp_path / "out" / "explain_config.json") as f:
        config = json.load(f)
    assert _reasons(config["skipped"]) == {k: v for k, v in EXPECTED_REASONS.items() if k != "folder.jpg"}
    assert config["skipped_summary"].startswith("skipped 7 files:")
    assert "skipped 7 files" in caplog.text
    bad = [f for f in files if os.path.basename(f) in EXPECTED_REASONS]
    with deadline(60, [hostile / "bad" / "fifo.jpg"]):
        with pytest.raises(ValueError, match=r"Expected at least one readable image. Received: none of 7 files"):
            explain_files(saliency, bad, str(tmp_path / "none"), progress=False)


def test_evaluate_skips_instead_of_aborting(hostile):
    from keras_saliency.evaluation.data import load_evaluation_images

    with deadline(60, [hostile / "bad" / "fifo.jpg"]):
        data = load_evaluation_images(str(hostile / "bad"), SIZE)  # a flat folder
        assert sorted(os.path.basename(p) for p in data.paths) == ["colour.png", "colour.webp", "grey16.png"]
        assert len(data.images) == 3
        data = load_evaluation_images(str(hostile), SIZE, class_names=["bad", "empty", "good", "notes"])
        assert len(data) == 6 and sorted(data.class_ids.tolist()) == [0, 0, 0, 2, 2, 2]
    (hostile / "only_bad").mkdir()
    (hostile / "only_bad" / "x.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match=r"Expected readable images in .*Received: none of 1 files \(skipped 1 file"):
        load_evaluation_images(str(hostile / "only_bad"), SIZE)


def test_export_calibration_data_skips_instead_of_aborting(hostile):
    from keras_saliency.deployment.export import sample_images

    with deadline(60, [hostile / "bad" / "fifo.jpg"]):
        images = sample_images(str(hostile / "bad"), SIZE, 100)
    assert images.shape == (3, SIZE, SIZE, 3)
    with deadline(60, [hostile / "bad" / "fifo.jpg"]):
        assert len(sample_images(str(hostile / "bad"), SIZE, 2, seed=3)) == 2
    (hostile / "only_bad").mkdir()
    os.mkfifo(hostile / "only_bad" / "pipe.png")
    with deadline(60, [hostile / "only_bad" / "pipe.png"]):
        with pytest.raises(ValueError, match=r"Expected readable image files .*not a regular file \(a FIFO\)"):
            sample_images(str(hostile / "only_bad"), SIZE, 10)


# --- model files ------------------------------------------------------------------------------


def _zip(path, members, compresslevel=1):
    """A zip at `path`: {name: bytes, or (byte, count) written in 1 MiB chunks}."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for name, content in members.items():
            with archive.open(name, "w", force_zip64=True) as f:
                if isinstance(content, tuple):
                    byte, count = content
                    chunk = byte * (1 << 20)
                    for _ in range(count >> 20):
                        f.write(chunk)
                else:
                    f.write(content)
    return str(path)


@pytest.fixture
def keras_never_called(monkeypatch):
    import keras

    def fail(*args, **kwargs):
        raise AssertionError("keras.saving.load_model opened a file the checks should have refused")

    monkeypatch.setattr(keras.saving, "load_model", fail)


def test_corrupt_keras_files_get_one_line(tmp_path, keras_never_called):
    from keras_saliency import pretrained
    from keras_saliency.models.files import load_model_file

    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"this is no zip at all " * 100)
    with pytest.raises(ValueError, match=r"^Expected a Keras model file \(\.keras zip\)\. Received: .*garbage\.keras is corrupt \(bad zip: ") as error:
        load_model_file(garbage)
    assert "\n" not in str(error.value)
    shipped = os.path.join(pretrained.HERE, "cifar10.keras")
    cut = tmp_path / "cut.keras"
    cut.write_bytes(open(shipped, "rb").read()[: os.path.getsize(shipped) // 2])
    with pytest.raises(ValueError, match=r"cut\.keras is corrupt \(bad zip"):
        load_model_file(cut)
    empty = tmp_path / "empty.keras"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"is corrupt"):
        load_model_file(empty)
    hdf5 = tmp_path / "legacy.keras"
    hdf5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ValueError, match="legacy HDF5"):
        load_model_file(hdf5)
    (tmp_path / "saved_model.keras").mkdir()
    with pytest.raises(ValueError, match="is a folder .*SavedModel"):
        load_model_file(tmp_path / "saved_model.keras")
    with pytest.raises(ValueError, match="cannot be read"):
        load_model_file(tmp_path / "missing.keras")
    with pytest.raises(ValueError, match=r"does not end in \.keras"):
        load_model_file(_zip(tmp_path / "model.zip", {"config.json": b"{}"}))
    with pytest.raises(ValueError, match="no config.json"):
        load_model_file(_zip(tmp_path / "noconfig.keras", {"model.weights.h5": b"x"}))


def test_keras_files_that_unpack_to_too_much_are_refused_unopened(tmp_path, keras_never_called):
    from keras_saliency.models.files import load_model_file

    big_config = _zip(tmp_path / "config.keras", {"metadata.json": b"{}", "config.json": (b" ", 100 << 20)})
    assert os.path.getsize(big_config) < 1 << 20
    with pytest.raises(ValueError, match=r"has a 100\.0 MiB config\.json \(more than 64\.0 MiB; pass max_config_bytes="):
        load_model_file(big_config)
    bomb = _zip(tmp_path / "bomb.keras", {"config.json": b"{}", "model.weights.h5": (b"\0", 300 << 20)}, 9)
    assert os.path.getsize(bomb) < 1 << 20
    with pytest.raises(ValueError, match=r"unpacks to 300\.0 MiB from .*KiB \(more than 256\.0 MiB"):
        load_model_file(bomb)
    # A file of 30 MiB that unpacks to 430 MiB: beyond 10x its size (Keras stores weights
    # uncompressed, and may unpack them to TMPDIR while it loads).
    noise = np.random.default_rng(0).integers(0, 256, 30 << 20, dtype=np.uint8).tobytes()
    inflated = _zip(tmp_path / "inflated.keras", {"config.json": b"{}", "noise.bin": noise,
                                                  "model.weights.h5": (b"\0", 400 << 20)})
    assert os.path.getsize(inflated) < 32 << 20
    with pytest.raises(ValueError, match=r"unpacks to 430\.0 MiB from 31\.\d MiB \(more than 31\d\.\d MiB"):
        load_model_file(inflated)
    many = _zip(tmp_path / "many.keras", {"config.json": b"{}", **{f"assets/{i}": b"" for i in range(1001)}})
    with pytest.raises(ValueError, match=r"has 1002 zip members \(more than 1000\)"):
        load_model_file(many)


def test_safe_mode_stays_on(tmp_path):
    import keras

    from keras_saliency.models.files import load_model_file

    inputs = keras.Input((2,))
    lambda_model = keras.Model(inputs, keras.layers.Lambda(lambda x: x + 1)(inputs))
    path = tmp_path / "lambda.keras"
    lambda_model.save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        load_model_file(path)


def test_the_shipped_models_and_saved_models_still_load(model):
    from keras_saliency import pretrained
    from keras_saliency.models.model import SaliencyModel
    from keras_saliency.models.files import check_model_file, load_model_file

    for name in pretrained.available():
        check_model_file(os.path.join(pretrained.HERE, name + ".keras"))
    shipped = pretrained.load("cifar10")
    assert isinstance(shipped, SaliencyModel) and shipped.image_size == 32 and shipped.num_classes == 10
    assert isinstance(load_model_file(model), SaliencyModel)
