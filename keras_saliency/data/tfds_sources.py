"""tensorflow-datasets sources: CIFAR-10, ImageNet 2012 (manual download), Imagenette."""

from keras_saliency.data.pipeline import prepare

# our name -> (tfds name, training split, validation split, needs a manual download)
TFDS_DATASETS = {
    "cifar10": ("cifar10", "train", "test", False),
    "imagenet2012": ("imagenet2012", "train", "validation", True),
    "imagenette": ("imagenette/320px-v2", "train", "validation", False),
}


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
    """
    import tensorflow_datasets as tfds

    if name not in TFDS_DATASETS:
        raise ValueError(f"Expected dataset in {sorted(TFDS_DATASETS)}. Received: {name!r}")
    tfds_name, train_split, validation_split, manual = TFDS_DATASETS[name]
    if manual and manual_dir is None:
        raise ValueError(
            f"Expected --data-dir/manual_dir: {name} needs the ILSVRC2012 archives downloaded by "
            "hand (tensorflow-datasets cannot download ImageNet). Received: manual_dir=None"
        )
    kwargs = {}
    if manual_dir is not None:
        kwargs["download_and_prepare_kwargs"] = {
            "download_config": tfds.download.DownloadConfig(manual_dir=manual_dir)
        }
    dataset, info = tfds.load(
        tfds_name,
        split=train_split if training else validation_split,
        data_dir=data_dir,
        as_supervised=True,
        with_info=True,
        shuffle_files=training,
        **kwargs,
    )
    class_names = list(info.features["label"].names)
    dataset = prepare(
        dataset, image_size, batch_size, training=training, seed=seed, shuffle_buffer=shuffle_buffer
    )
    return dataset, class_names
