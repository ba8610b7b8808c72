"""tensorflow-datasets sources: CIFAR-10, ImageNet 2012 (manual download), Imagenette.

Data already prepared in `data_dir` is read without any network access. Otherwise the
download's host is asked first (a few seconds at most), so that a machine without internet gets
`DatasetUnavailable` at once instead of minutes of retries."""

import os
import threading

from keras_saliency.data.pipeline import prepare
from keras_saliency.errors import first_line

# our name -> (tfds name, training split, validation split, needs a manual download)
TFDS_DATASETS = {
    "cifar10": ("cifar10", "train", "test", False),
    "imagenet2012": ("imagenet2012", "train", "validation", True),
    "imagenette": ("imagenette/320px-v2", "train", "validation", False),
}
TITLES = {"cifar10": "CIFAR-10", "imagenet2012": "ImageNet 2012", "imagenette": "Imagenette"}
PROBE_SECONDS = 10.0  # the longest wait for the download's host to answer


class DatasetUnavailable(ValueError):
    """The dataset is neither prepared in `data_dir` nor downloadable now (no internet, host
    down, ImageNet archives missing). `reason` is one short line.

    Args:
        name: the dataset's name in `TFDS_DATASETS`.
        reason: one short line saying why it is unavailable.

    Example:

    ```python
    raise DatasetUnavailable("cifar10", "cannot resolve www.cs.toronto.edu")
    ```
    """

    def __init__(self, name, reason):
        self.name, self.reason = name, reason
        super().__init__(
            f"Expected {TITLES.get(name, name)} prepared in data_dir or downloadable. Received: {reason}"
        )


def _import_problem(error):
    module = getattr(error, "name", None)
    fix = f": pip install {module}" if module else ""
    return f"tensorflow-datasets cannot start ({first_line(error)}){fix}"


def download_problem(url, timeout=PROBE_SECONDS):
    """None when `url`'s host answers an HTTP HEAD request within `timeout` seconds (name
    lookup included, proxies as `requests` finds them), else one short line saying why not.

    Args:
        url: the address to probe.
        timeout: longest wait in seconds. Defaults to `PROBE_SECONDS`.

    Example:

    ```python
    problem = download_problem("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")
    ```
    """
    import requests

    outcome = {}

    def probe():
        try:
            requests.head(url, timeout=(timeout / 2, timeout / 2), allow_redirects=False)
            outcome["problem"] = None
        except requests.exceptions.ConnectionError as error:
            text = str(error)
            if "resolve" in text or "Name or service not known" in text or "nodename" in text:
                outcome["problem"] = f"cannot resolve {requests.utils.urlparse(url).hostname} (no internet connection?)"
            else:
                outcome["problem"] = f"no connection to {requests.utils.urlparse(url).hostname} ({first_line(error)})"
        except requests.exceptions.RequestException as error:
            outcome["problem"] = f"{requests.utils.urlparse(url).hostname}: {first_line(error)}"

    thread = threading.Thread(target=probe, daemon=True)  # name lookups ignore socket timeouts
    thread.start()
    thread.join(timeout)
    if "problem" not in outcome:
        return f"no answer from {requests.utils.urlparse(url).hostname} within {timeout:.0f} s"
    return outcome["problem"]


def tfds_dataset(
    name,
    image_size,
    batch_size=32,
    training=True,
    data_dir=None,
    manual_dir=None,
    seed=None,
    shuffle_buffer=2048,
):
    """Returns `(dataset, class_names)` for `name` in `TFDS_DATASETS`.

    `imagenet2012` needs the ILSVRC2012 tar files in `manual_dir` (tensorflow-datasets'
    manual download). `data_dir` is where tensorflow-datasets keeps prepared data.

    Args:
        name: one of the keys of `TFDS_DATASETS` (`"cifar10"`, `"imagenet2012"`,
            `"imagenette"`).
        image_size: output side S in pixels.
        batch_size: images per batch. Defaults to 32.
        training: the training split (shuffled, augmented) if `True`, else the validation
            split. Defaults to `True`.
        data_dir: where tensorflow-datasets keeps prepared data, or `None` for its default.
        manual_dir: folder of the ILSVRC2012 archives (needed for `"imagenet2012"` only).
        seed: seed of the shuffle and the augmentation, or `None`.
        shuffle_buffer: shuffle buffer size when training. Defaults to 2048.

    Example:

    ```python
    dataset, class_names = tfds_dataset("cifar10", image_size=32, training=False)
    ```
    """
    import tensorflow_datasets as tfds

    if name not in TFDS_DATASETS:
        raise ValueError(f"Expected dataset in {sorted(TFDS_DATASETS)}. Received: {name!r}")
    tfds_name, train_split, validation_split, manual = TFDS_DATASETS[name]
    if manual and manual_dir is None:
        raise ValueError(
            f"Expected `manual_dir`: {name} needs the ILSVRC2012 archives downloaded by hand "
            "(tensorflow-datasets cannot download ImageNet). Received: manual_dir=None"
        )
    load = dict(
        split=train_split if training else validation_split,
        data_dir=data_dir,
        as_supervised=True,
        with_info=True,
        shuffle_files=training,
    )
    try:
        # Prepared data (or tensorflow-datasets' test mocks): no network access at all.
        dataset, info = tfds.load(tfds_name, download=False, **load)
    except AssertionError:  # tensorflow-datasets' "could not find data in data_dir"
        dataset, info = _download_and_load(tfds, name, tfds_name, manual, manual_dir, load)
    except ImportError as error:  # a dependency tensorflow-datasets does not declare
        raise DatasetUnavailable(name, _import_problem(error)) from None
    class_names = list(info.features["label"].names)
    dataset = prepare(
        dataset, image_size, batch_size, training=training, seed=seed, shuffle_buffer=shuffle_buffer
    )
    return dataset, class_names


def _download_and_load(tfds, name, tfds_name, manual, manual_dir, load):
    """`tfds.load` with the download (or, for ImageNet, the preparation from the archives in
    `manual_dir`), failing fast with `DatasetUnavailable`."""
    kwargs = {}
    if manual:
        if not os.path.isdir(manual_dir) or not os.listdir(manual_dir):
            raise DatasetUnavailable(
                name, f"no ILSVRC2012 archives in {manual_dir!r} (missing or empty folder)")
        kwargs["download_and_prepare_kwargs"] = {
            "download_config": tfds.download.DownloadConfig(manual_dir=manual_dir)
        }
    else:
        try:
            urls = sorted(tfds.builder(tfds_name, data_dir=load["data_dir"]).url_infos or {})
        except ImportError as error:
            raise DatasetUnavailable(name, _import_problem(error)) from None
        problem = download_problem(urls[0]) if urls else None
        if problem:
            raise DatasetUnavailable(name, problem)
    try:
        return tfds.load(tfds_name, download=True, **load, **kwargs)
    except ImportError as error:
        raise DatasetUnavailable(name, _import_problem(error)) from None
    except (OSError, tfds.download.DownloadError) as error:  # requests' errors are OSErrors
        raise DatasetUnavailable(name, first_line(error)) from None
