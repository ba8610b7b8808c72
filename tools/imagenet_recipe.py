"""The ImageNet design studies: maskers for an already trained ImageNet classifier, every design
field a recipe field (decoder, head, gate, mask stride, objective, extra data). The shipped
ImageNet maskers are not trained here: they are `keras-saliency train` with the default preset,
the command in each one's JSON; this tool ran the studies that chose that preset
(docs/IMAGENET.md).

The classifier is given (here the real pretrained Darknet "tiny" ImageNet classifier of
`../shared/models`, see its README); its own intermediate layers are the encoder (strides 4, 8,
16); the class selector starts from the classifier's last 1x1 convolution (each class's weights
are that class's activation map, CAM); the masker trains on real ImageNet photos (one per class,
`../shared/data/imagenet-sample-1000`) with random resized crops and flips, the objective's fake
labels supplying the absent classes. `scripts/train_imagenet_masker.py` runs it, resumable.
"""

import dataclasses
import json
import logging
import os
from typing import Tuple

import numpy as np

logger = logging.getLogger("keras_saliency")

RECIPE_FILE = "recipe.json"


@dataclasses.dataclass
class ImageNetMaskerRecipe:
    name: str = "imagenet-darknet-tiny"
    classifier: str = "darknet-tiny-imagenet.keras"  # relative to the models root
    data: str = "imagenet-sample-1000"  # <wnid>/<wnid>_<readable_name>.JPEG, relative to the data root
    image_size: int = 224
    load_size: int = 256  # images are kept in memory squashed to this side, crops are taken from it
    tap_layers: Tuple[str, ...] = ("leaky_re_lu_6", "leaky_re_lu_10", "leaky_re_lu_15")
    class_layer: str = "conv2d_16"  # the 1x1 convolution to the 1,000 classes (CAM initialisation)
    decoder_filters: Tuple[int, ...] = (128, 64)
    mask_stride: int = 4
    decoder: str = "unet"
    class_gate: str = "none"  # "classifier": mask x the classifier's per-location class evidence
    gate_options: dict = dataclasses.field(default_factory=dict)  # ClassEvidenceGate arguments
    head: str = "abs_ratio"
    objective: str = "code"  # "simplified": SaliencyConfig.simplified() + masker_overrides
    # Extra training photos: the "train" part of a labelled flat folder's seeded split
    # (keras_saliency.data.labelled_split); "" for none.
    dev_data: str = ""  # e.g. "imagenet-val-dev", relative to the data root
    dev_split: str = "docs/results/imagenet-val-dev/split.csv"  # relative to the repository
    # More distinct photos: a class-folder tree whose folders are ImageNet wnids (e.g.
    # "tiny-imagenet-100/train", 40,000 photos of 64 px), kept at `extra_load_size` and drawn for
    # `extra_fraction` of every batch (needs `steps_per_epoch`); "" for none.
    extra_data: str = ""
    extra_load_size: int = 64
    extra_fraction: float = 0.5
    epochs: int = 15
    steps_per_epoch: int = 0  # 0: one pass over the images per epoch
    batch_size: int = 32
    learning_rate: float = 1e-3
    crop_scale: Tuple[float, float] = (0.35, 1.0)
    # As for Tiny ImageNet-100 (a weak classifier: 58% top-1), area weight 3 instead of 8, which
    # made the empty mask optimal there (tools.recipes).
    masker_overrides: dict = dataclasses.field(default_factory=lambda: {"area_weight": 3.0})
    seed: int = 0

    def to_dict(self):
        return dataclasses.asdict(self)


def default_models_root():
    """`../shared/models` next to the project, or `$KERAS_SALIENCY_MODELS`."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.environ.get("KERAS_SALIENCY_MODELS", os.path.join(here, "..", "shared", "models"))


def imagenet_class_names(folder):
    """`(wnids, readable names)` from a folder of `<wnid>/<wnid>_<name>.JPEG` (sorted wnids: the
    standard ILSVRC2012 class order)."""
    wnids = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    names = []
    for wnid in wnids:
        files = sorted(os.listdir(os.path.join(folder, wnid)))
        stem = os.path.splitext(files[0])[0] if files else wnid
        names.append(stem[len(wnid) + 1 :].replace("_", " ") if stem.startswith(wnid + "_") else wnid)
    return wnids, names


def training_dataset(images, labels, recipe, extra=None):
    """Random resized crops and flips of the in-memory images, shuffled and batched; with
    `extra=(images, labels)`, that source gives `recipe.extra_fraction` of every batch."""
    import tensorflow as tf

    from keras_saliency.data import random_resized_crop

    def augment(image, label):
        image = random_resized_crop(image, recipe.image_size, recipe.crop_scale)
        return tf.image.random_flip_left_right(image), label

    def source(images, labels):
        dataset = tf.data.Dataset.from_tensor_slices((images, labels))
        dataset = dataset.shuffle(len(images), seed=recipe.seed, reshuffle_each_iteration=True)
        if recipe.steps_per_epoch:
            dataset = dataset.repeat()
        return dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)

    dataset = source(images, labels)
    if extra is not None:
        if not recipe.steps_per_epoch:
            raise ValueError(
                f"Expected steps_per_epoch > 0 with extra_data (both sources repeat). Received: {recipe.steps_per_epoch}"
            )
        fraction = float(recipe.extra_fraction)
        dataset = tf.data.Dataset.sample_from_datasets(
            [dataset, source(*extra)], weights=[1.0 - fraction, fraction], seed=recipe.seed
        )
    return dataset.batch(recipe.batch_size, drop_remainder=bool(recipe.steps_per_epoch)).prefetch(
        tf.data.AUTOTUNE
    )


def build_model(recipe, classifier):
    """The recipe's masker; the class selector starts as the classifier's class layer."""
    from keras_saliency import SaliencyConfig, SaliencyModel

    if recipe.objective == "simplified":
        config = SaliencyConfig.simplified(**recipe.masker_overrides)
    else:
        config = SaliencyConfig(**{"objective": recipe.objective, **recipe.masker_overrides})
    return SaliencyModel.from_classifier(
        classifier,
        tap_layers=list(recipe.tap_layers),
        config=config,
        decoder_filters=recipe.decoder_filters,
        mask_stride=recipe.mask_stride,
        head=recipe.head,
        decoder=recipe.decoder,
        class_gate=recipe.class_gate,
        class_layer=recipe.class_layer,
        gate_options=recipe.gate_options,
        selector_init="class_layer",
        seed=recipe.seed,
    )


def train(recipe, output, data_root=None, models_root=None):
    """Trains (or resumes / continues up to `recipe.epochs`) the masker into `output`."""
    import keras

    from keras_saliency.data import load_folder_arrays, scan_image_folder
    from tools.recipes import default_data_root
    from keras_saliency.training import MODEL_FILE, compile_saliency_model, fit_saliency_model, resume_plan

    keras.utils.set_random_seed(recipe.seed)
    model_path = os.path.join(output, MODEL_FILE)
    plan = resume_plan(output, recipe.epochs, up_to=True)
    finished = plan.has_model and not plan.interrupted
    if finished and plan.done:
        return keras.saving.load_model(model_path)
    folder = os.path.join(data_root or default_data_root(), recipe.data)
    scan = scan_image_folder(folder, check=False, progress=False)
    images, labels = load_folder_arrays(scan, recipe.load_size)
    if recipe.dev_data:
        dev_images, dev_labels = load_dev_train(recipe, data_root or default_data_root())
        images, labels = np.concatenate([images, dev_images]), np.concatenate([labels, dev_labels])
    wnids, names = imagenet_class_names(folder)
    extra = load_extra_data(recipe, data_root or default_data_root(), wnids) if recipe.extra_data else None
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, RECIPE_FILE), "w") as f:
        json.dump({**recipe.to_dict(), "class_names": wnids, "display_names": names}, f, indent=2)
    if finished:
        model = keras.saving.load_model(model_path)
    else:
        classifier = keras.saving.load_model(os.path.join(models_root or default_models_root(), recipe.classifier))
        model = build_model(recipe, classifier)
        compile_saliency_model(model, recipe.learning_rate)
    # Weights after every epoch: the curve of held-out error against image passes.
    snapshots = keras.callbacks.ModelCheckpoint(
        os.path.join(output, "snapshots", "epoch-{epoch:03d}.weights.h5"), save_weights_only=True
    )
    fit_saliency_model(
        model,
        training_dataset(images, labels, recipe, extra),
        epochs=recipe.epochs,
        output_dir=output,
        up_to=True,
        steps_per_epoch=recipe.steps_per_epoch or None,
        callbacks=[snapshots],
    )
    return model


def repository_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_dev_train(recipe, data_root):
    """The "train" part of the labelled dev folder's split, squashed to `recipe.load_size`."""
    from keras_saliency.data import load_folder_arrays
    from keras_saliency.data import read_labels_csv, read_split_csv

    folder = os.path.join(data_root, recipe.dev_data)
    labels = read_labels_csv(os.path.join(folder, "labels.csv"))
    split = recipe.dev_split if os.path.isabs(recipe.dev_split) else os.path.join(repository_root(), recipe.dev_split)
    train = read_split_csv(split, "train")
    pairs = [(os.path.join(folder, "images", p), labels[p]) for p in train]
    return load_folder_arrays(pairs, recipe.load_size)


def load_extra_data(recipe, data_root, wnids):
    """`recipe.extra_data`'s photos at `recipe.extra_load_size`, labelled with the ImageNet class
    index of their folder's wnid."""
    from keras_saliency.data import load_folder_arrays, scan_image_folder

    scan = scan_image_folder(os.path.join(data_root, recipe.extra_data), check=False, progress=False)
    unknown = sorted(set(scan.class_names) - set(wnids))
    if unknown:
        raise ValueError(f"Expected ImageNet wnids as the class folders of {recipe.extra_data}. Received: {unknown[:5]}")
    index = np.asarray([wnids.index(name) for name in scan.class_names])
    images, labels = load_folder_arrays(scan, recipe.extra_load_size)
    return images, index[labels].astype(np.int32)


def package(recipe, output, destination=None, measured=None, classifier_accuracy=None):
    """Ships the trained model as `keras_saliency/pretrained/<name>.keras` (no optimizer state)
    with `<name>.json` (class names, readable names, the classifier's measured accuracy, recipe,
    measured figures, commands)."""
    import keras

    from tools.recipes import PRETRAINED_DIR, ship_model
    from keras_saliency.training import MODEL_FILE

    destination = destination or PRETRAINED_DIR
    with open(os.path.join(output, RECIPE_FILE)) as f:
        saved = json.load(f)
    ship_model(os.path.join(output, MODEL_FILE), os.path.join(destination, f"{recipe.name}.keras"),
               class_names=saved.get("display_names") or saved["class_names"])
    trained_on = f"../shared/data/{recipe.data} (1,000 ImageNet photos, one per class)"
    if recipe.dev_data:
        trained_on += f" and the 'train' part of ../shared/data/{recipe.dev_data} ({recipe.dev_split})"
    defaults = ImageNetMaskerRecipe().to_dict()
    flags = " ".join(f"--set {key}='{json.dumps(value)}'" for key, value in recipe.to_dict().items()
                     if value != defaults[key] and key != "name")
    meta = {
        "name": recipe.name,
        "class_names": saved["class_names"],
        "display_names": saved["display_names"],
        "image_size": recipe.image_size,
        "classifier": "Darknet 'tiny' ImageNet classifier (ml5js/ml5-data-and-models, MIT; originally the "
        "Darknet project), converted to Keras 3",
        "classifier_accuracy": classifier_accuracy,
        "accuracy_split": f"top-1 on ../shared/data/{recipe.data} (whole image squashed to "
        f"{recipe.image_size}, Pillow bilinear); the masker was trained on these images",
        "trained_on": trained_on,
        "recipe": recipe.to_dict(),
        "measured": measured or {},
        "keras_version": keras.__version__,
        "commands": [f"python scripts/train_imagenet_masker.py --output runs/{recipe.name} {flags}".strip(),
                     f"python scripts/train_imagenet_masker.py --output runs/{recipe.name} {flags} --package".strip()],
    }
    with open(os.path.join(destination, f"{recipe.name}.json"), "w") as f:
        json.dump(meta, f, indent=2)
    return os.path.join(destination, f"{recipe.name}.keras")


def averaged_snapshot_weights(output, epochs, model):
    """The mean of `model`'s weights over the run's snapshots after `epochs` (an average of the
    weights along the trajectory, as in stochastic weight averaging: steadier than any one snapshot
    at a constant learning rate). `model` ends with the last snapshot's weights."""
    total, count = None, 0
    for epoch in epochs:
        model.load_weights(os.path.join(output, "snapshots", f"epoch-{epoch:03d}.weights.h5"))
        weights = [np.asarray(w, np.float64) for w in model.get_weights()]
        total = weights if total is None else [t + w for t, w in zip(total, weights)]
        count += 1
    if not count:
        raise ValueError(f"Expected at least one snapshot epoch. Received: {list(epochs)}")
    return [(t / count).astype(np.float32) for t in total]


def recipe_of_run(output):
    """The `ImageNetMaskerRecipe` recorded in a run folder's recipe.json."""
    with open(os.path.join(output, RECIPE_FILE)) as f:
        saved = json.load(f)
    fields = {f.name for f in dataclasses.fields(ImageNetMaskerRecipe)}
    return ImageNetMaskerRecipe(**{k: v for k, v in saved.items() if k in fields})


def model_from_snapshot(output, epoch, models_root=None):
    """The run's model with the weights of its snapshot after `epoch` epochs (same budget
    comparisons: every architecture at the same number of image passes)."""
    import keras

    recipe = recipe_of_run(output)
    classifier = keras.saving.load_model(os.path.join(models_root or default_models_root(), recipe.classifier))
    model = build_model(recipe, classifier)
    model.load_weights(os.path.join(output, "snapshots", f"epoch-{epoch:03d}.weights.h5"))
    return model
