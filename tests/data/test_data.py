import numpy as np
import pytest
from PIL import Image

from keras_saliency import data
from tests.conftest import shared_data


def _folder(tmp_path):
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(root / name / f"{i}.jpg")
    Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8), "L").save(root / "cat" / "grey.png")
    Image.fromarray(rng.integers(0, 255, (8, 8, 4), dtype=np.uint8), "RGBA").save(root / "dog" / "alpha.png")
    (root / "cat" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    good = (root / "dog" / "0.jpg").read_bytes()
    (root / "dog" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "dog" / "notes.txt").write_text("not an image")
    return root


def _many_classes(tmp_path):
    root = tmp_path / "many"
    for name in "abcd":
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((4, 4, 3), 9 * i, np.uint8)).save(root / name / f"{i}.png")
    return root


def test_folder_skips_and_reports_bad_files(tmp_path, caplog):
    root = _folder(tmp_path)
    scan = data.scan_image_folder(str(root), progress=False)
    assert scan.class_names == ["cat", "dog"]
    assert len(scan.files) == 12  # 10 JPEGs + grey + RGBA
    skipped = {p.split("/")[-1] for p, _ in scan.skipped}
    assert skipped == {"corrupt.jpg", "truncated.jpg", "notes.txt"}
    assert "3 files skipped" in scan.summary()
    assert "3 files skipped" in caplog.text
    dataset = data.folder_dataset(scan, image_size=16, batch_size=4, training=True, seed=0)
    images, labels = [], []
    for x, y in dataset:
        images.append(x.numpy())
        labels.append(y.numpy())
    images = np.concatenate(images)
    assert images.shape == (12, 16, 16, 3) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 255
    assert sorted(np.concatenate(labels).tolist()) == [0] * 6 + [1] * 6


def test_folder_split_is_seeded_and_stratified(tmp_path):
    scan = data.scan_image_folder(str(_folder(tmp_path)), progress=False)
    train, validation = scan.split(0.34, seed=1)
    assert len(train) + len(validation) == 12
    assert sorted(label for _, label in validation) == [0, 0, 1, 1]
    real = data.scan_image_folder(str(_many_classes(tmp_path)), progress=False)
    _, mixed = real.split(0.5, seed=0)
    assert len({label for _, label in mixed[:4]}) > 1  # leading items span the classes
    assert scan.split(0.34, seed=1) == (train, validation)
    assert not set(p for p, _ in train) & set(p for p, _ in validation)


def test_folder_without_readable_images_is_a_clear_error(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="Expected readable images"):
        data.scan_image_folder(str(tmp_path), progress=False)
    with pytest.raises(ValueError, match="Expected class subfolders"):
        data.scan_image_folder(str(tmp_path / "a"), progress=False)


def test_array_dataset_converts_grey_and_rgba():
    for channels in (1, 3, 4):
        images = np.full((5, 8, 8, channels), 100, np.uint8)
        x, y = next(iter(data.array_dataset(images, np.arange(5), image_size=8, batch_size=5)))
        assert x.shape == (5, 8, 8, 3) and np.allclose(x.numpy(), 100)
    with pytest.raises(ValueError, match="Expected labels"):
        data.array_dataset(np.zeros((3, 8, 8, 3)), np.zeros(2))


def test_tfds_cifar10_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        dataset, names = data.tfds_dataset("cifar10", image_size=32, batch_size=4, training=True)
        x, y = next(iter(dataset))
    assert len(names) == 10 and x.shape == (4, 32, 32, 3) and y.dtype.name == "int32"


def test_imagenet_needs_a_manual_dir():
    with pytest.raises(ValueError, match="manual"):
        data.tfds_dataset("imagenet2012", image_size=224)


@pytest.mark.slow
def test_real_cifar10_folder_scan():
    root = shared_data("cifar10", "train")
    scan = data.scan_image_folder(root, progress=False)
    assert len(scan.class_names) == 10 and len(scan.files) == 50000 and not scan.skipped


def test_random_zoom_known_answers():
    import tensorflow as tf

    from keras_saliency.data.pipeline import random_zoom

    image = tf.reshape(tf.range(32 * 32 * 3, dtype=tf.float32) % 255.0, (32, 32, 3))
    # A crop of the whole area is the image itself, whichever branch is drawn.
    np.testing.assert_allclose(random_zoom(image, 1.0, seed=3).numpy(), image.numpy(), atol=1e-3)
    # Small crops: about half of the images change, each keeps its shape and range.
    changed = 0
    for seed in range(40):
        out = random_zoom(image, 0.2, seed=seed).numpy()
        assert out.shape == (32, 32, 3) and out.min() >= 0.0 and out.max() <= 255.0
        changed += not np.allclose(out, image.numpy())
    assert 8 <= changed <= 32
    with pytest.raises(ValueError, match="min_area"):
        random_zoom(image, 0.0)


def test_array_dataset_zoom_keeps_shapes_and_labels():
    images = np.random.default_rng(0).integers(0, 255, (8, 16, 16, 3)).astype(np.uint8)
    batches = list(data.array_dataset(images, np.arange(8), batch_size=4, training=True, seed=0, zoom=0.3))
    assert [tuple(x.shape) for x, _ in batches] == [(4, 16, 16, 3)] * 2
    assert sorted(np.concatenate([y.numpy() for _, y in batches])) == list(range(8))


def test_zoom_and_flip_are_drawn_independently_in_a_dataset():
    """In `prepare`, zoom and flip share the seed; each must still hit about half of the images,
    and about a quarter both (not "zoomed exactly when not flipped")."""
    import tensorflow as tf

    from keras_saliency.data.pipeline import prepare

    # A left-right asymmetric image: a flip and a zoom are told apart by what they change.
    ramp = np.tile(np.arange(32, dtype=np.float32)[None, :, None] * 8.0, (32, 1, 3))
    images = np.repeat(ramp[None], 400, axis=0)
    batches = prepare(tf.data.Dataset.from_tensor_slices((images, np.zeros(400, np.int32))), 32, 400,
                      training=True, seed=0, shuffle_buffer=0, zoom=0.2)
    out = next(iter(batches))[0].numpy()
    flipped = out[:, 16, 0, 0] > out[:, 16, -1, 0]
    zoomed = np.abs(out[:, 16, :, 0] - np.where(flipped[:, None], ramp[16, ::-1, 0], ramp[16, :, 0])).max(1) > 1.0
    assert 0.35 < flipped.mean() < 0.65 and 0.3 < zoomed.mean() < 0.65
    assert 0.12 < (flipped & zoomed).mean() < 0.38
