"""`tf.data` pipelines yielding `(images float32 [0, 255] RGB (B, S, S, 3), labels int32 (B,))`."""

from keras_saliency.data.arrays import array_dataset
from keras_saliency.data.folder import FolderScan, folder_dataset, load_folder_arrays, scan_image_folder
from keras_saliency.data.labelled_split import read_labels_csv, read_split_csv
from keras_saliency.data.pipeline import prepare, random_resized_crop, to_rgb
from keras_saliency.data.tfds_sources import TFDS_DATASETS, tfds_dataset

__all__ = [
    "FolderScan",
    "TFDS_DATASETS",
    "array_dataset",
    "folder_dataset",
    "load_folder_arrays",
    "prepare",
    "random_resized_crop",
    "read_labels_csv",
    "read_split_csv",
    "scan_image_folder",
    "tfds_dataset",
    "to_rgb",
]
