"""`train_masker(TrainSpec(...))`: one training run, exactly what `keras-saliency train` does.

Data loading, the small classifier trained first when none is given, the dry run, the
single or two-phase schedule, continuing or resuming a run folder, the run config and the
overlays all happen here; the command line only turns its flags into a `TrainSpec`. The run
folder's files and their resume rules are `keras_saliency.training.fit.fit_saliency_model`'s.
"""

import dataclasses
import math
import os
import tempfile
import time
import typing

from keras_saliency.errors import first_line

DATASETS = ("cifar10", "imagenet2012", "imagenette", "folder")
SCHEDULES = ("auto", "single", "two-phase")
STRATEGIES = ("default", "mirrored", "multi-worker", "tpu")
# The masker's design fields a run may set on top of its preset (`TrainSpec.masker_options`): the
# preset's design fields (`models.presets.DESIGN_FIELDS`), the classifier's class layer and the
# mask's confidence.
MASKER_OPTIONS = ("decoder", "decoder_filters", "mask_stride", "head", "class_gate", "gate_options",
                  "selector_init", "class_layer", "confidence")


@dataclasses.dataclass
class TrainSpec:
    """Everything a training run takes: the options of `keras-saliency train`, same names,
    same defaults.

    Args:
        dataset: "cifar10", "imagenet2012", "imagenette" or "folder" (a folder of class
            subfolders, `data_dir`).
        data_dir: the image folder (folder), the manual download folder (imagenet2012) or a
            tensorflow-datasets folder.
        classifier: a backbone name ("resnet50", "mobilenet_v2", "efficientnet_b0"), a
            `.keras` file, a Keras model, or None: train a small CIFAR-style classifier first
            (saved as OUTPUT/classifier.keras and reused by later runs on the same folder).
        classifier_preprocessing: how [0, 255] pixels become the classifier's input (a
            `.keras` classifier: default "auto", read from the classifier: its own rescaling
            layer means "none", a Keras Applications name its `preprocess_input` mode).
        encoder: "classifier" (tap the classifier's own layers) or a backbone name.
        tap_layers: the classifier's layer names used as features, shallow to deep (a list or
            a comma-separated string).
        epochs: how many MORE epochs this call trains: a new run trains `epochs`; a finished
            run on the same `output` is continued for `epochs` more (its log and model
            continue); an interrupted run resumes its own epoch range.
        classifier_epochs: epochs of the small classifier trained first.
        steps_per_epoch: limit each epoch (None: the whole dataset).
        batch_size: images per step.
        image_size: None: the given classifier's input size, else 32 for cifar10 and folders
            and 224 otherwise.
        learning_rate: Adam's (phase 2 of the two-phase schedule: AdamW's) learning rate.
        validation_split: held out from a folder (seeded, per class).
        mixed_precision: the mixed_float16 policy (for GPUs).
        weights: "imagenet" or "none": Keras Applications weights of a named classifier or
            encoder.
        strategy: tf.distribute strategy: "default", "mirrored", "multi-worker" or "tpu".
        schedule: "auto" (two-phase for imagenet2012, single otherwise), "single" or
            "two-phase" (the class selector alone first, then everything).
        selector_epochs: phase 1 of the two-phase schedule.
        dry_run: build everything and train a few steps (`steps_per_epoch`, default 2) per
            phase, 1 epoch; nothing is saved.
        objective: "code" or "paper" (None: the preset's objective with a preset, else "code").
        preset: a masker preset (`keras_saliency.models.presets`: "gated-fpn", "paper"), or
            None: the default preset for a given classifier without `tap_layers`, the
            authors' design otherwise.
        crop_scale: the smallest area fraction of the random crops that augment the training
            images (0: none; None: the preset's for a preset masker, else none).
        objective_options: `SaliencyConfig` fields that change the objective, e.g.
            `{"area_weight": 10.0}` (on top of the preset's objective, or of `objective`); a
            continued run trains its new epochs with them.
        masker_options: the masker's design fields on top of the preset's (`MASKER_OPTIONS`),
            e.g. `{"mask_stride": 2}` (16x16 masks at 32 px) or `{"class_layer": "logits"}`.
        seed: seeds Python, NumPy, TensorFlow and Keras, with op determinism.
        output: the run folder (None: saliency-runs/DATASET-YYYYmmdd-HHMMSS, or a temporary
            folder for a dry run); an existing one is resumed or continued, never overwritten.
        tensorboard: a TensorBoard log folder (the losses and the masks of 8 fixed validation
            images after every epoch), or None.

    Example:

    ```python
    from keras_saliency.training import TrainSpec, train_masker

    result = train_masker(TrainSpec(dataset="folder", data_dir="photos", epochs=5, output="run"))
    result.model.explain(images, class_ids)
    ```
    """

    dataset: str = "cifar10"
    data_dir: typing.Optional[str] = None
    classifier: typing.Any = None
    classifier_preprocessing: typing.Optional[str] = None
    encoder: str = "classifier"
    tap_layers: typing.Any = None
    epochs: int = 10
    classifier_epochs: int = 15
    steps_per_epoch: typing.Optional[int] = None
    batch_size: int = 64
    image_size: typing.Optional[int] = None
    learning_rate: float = 1e-3
    validation_split: float = 0.1
    mixed_precision: bool = False
    weights: str = "imagenet"
    strategy: str = "default"
    schedule: str = "auto"
    selector_epochs: int = 1
    dry_run: bool = False
    objective: typing.Optional[str] = None
    seed: int = 0
    output: typing.Optional[str] = None
    tensorboard: typing.Optional[str] = None
    preset: typing.Optional[str] = None
    crop_scale: typing.Optional[float] = None
    objective_options: typing.Optional[dict] = None
    masker_options: typing.Optional[dict] = None

    def resolved_image_size(self, classifier=None):
        if self.image_size:
            return self.image_size
        if classifier is not None and classifier.input_shape[1]:
            return int(classifier.input_shape[1])
        return 32 if self.dataset in ("cifar10", "folder") else 224

    def uses_preset(self):
        """Whether the masker is a preset's: a preset is named, or a classifier is given
        without tap layers and the encoder is the classifier."""
        return bool(self.preset) or (self.classifier is not None and not self.tap_layers
                                     and self.encoder == "classifier")

    def resolved_schedule(self):
        if self.schedule == "auto":
            return "two-phase" if self.dataset == "imagenet2012" else "single"
        return self.schedule

    def taps(self):
        if not self.tap_layers:
            return None
        if isinstance(self.tap_layers, str):
            return [t.strip() for t in self.tap_layers.split(",") if t.strip()]
        return list(self.tap_layers)

    def options(self):
        """The run's options under the command line's names (as run_config.json records them)."""
        classifier = self.classifier
        if classifier is not None and not isinstance(classifier, str):
            classifier = getattr(classifier, "name", str(classifier))
        tap_layers = self.tap_layers
        if tap_layers is not None and not isinstance(tap_layers, str):
            tap_layers = ",".join(tap_layers)
        options = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        options.update(tap_layers=tap_layers)
        return {("classifier_name" if k == "classifier" else k): (classifier if k == "classifier" else v)
                for k, v in options.items()}


@dataclasses.dataclass
class TrainResult:
    """What `train_masker` returns.

    Args:
        model: the trained `SaliencyModel` (class names set; saved as OUTPUT/model.keras).
        output: the run folder (None after a dry run, whose folder is removed unless given).
        histories: the Keras `History` of each `fit` call of this run (phase 1, then the
            masker's epochs), in order.
        class_names: the dataset's class names.
        overlays: the overlays picture (OUTPUT/overlays.png), None after a dry run.
        continued: whether a finished run in `output` was continued.
        dry_run_loss: the last loss of a dry run, else None.

    Example:

    ```python
    result = train_masker(spec)
    print(result.output, result.histories[-1].history["loss"])
    ```
    """

    model: typing.Any
    output: typing.Optional[str]
    histories: list
    class_names: list
    overlays: typing.Optional[str] = None
    continued: bool = False
    dry_run_loss: typing.Optional[float] = None


@dataclasses.dataclass
class Splits:
    """Training and validation data with the number of batches each epoch reads (None: the
    whole dataset, whose size tf.data knows).

    Args:
        train: the training `tf.data.Dataset` of `(images, labels)` batches.
        validation: the validation dataset of the same form, or None.
        class_names: the dataset's class names.
        train_steps: training batches per epoch (default None: the whole dataset).
        validation_steps: validation batches per epoch (default None: the whole dataset).

    Example:

    ```python
    splits = Splits(train, validation, ["cat", "dog"], train_steps=100)
    images, labels = splits.preview_batch(8)
    ```
    """

    train: object
    validation: object
    class_names: list
    train_steps: int = None
    validation_steps: int = None

    def steps_per_epoch(self):
        steps = self.train_steps or int(self.train.cardinality())
        return steps if steps > 0 else None

    def preview_batch(self, count=8):
        """`count` validation images (training images without validation data) and their
        labels, as NumPy arrays: the masks shown in overlays.png and TensorBoard."""
        images, labels = next(iter(self.validation if self.validation is not None else self.train))
        return images[:count].numpy(), labels[:count].numpy()


def mask_warning(masks, low=0.01, high=0.95):
    """One line when a run's masks (of its preview images) say nothing: all empty (mean below
    `low`) or all lit (mean above `high`); None otherwise.

    Args:
        masks: the masks, in [0, 1].
        low: the mean below which the masks count as empty.
        high: the mean above which they count as lighting the whole image.

    Example:

    >>> import numpy as np
    >>> print(mask_warning(np.zeros((8, 32, 32, 1))))  # doctest: +ELLIPSIS
    Warning: the masks of the 8 preview images are empty (mean 0.000)...
    """
    import numpy as np

    masks = np.asarray(masks, np.float32)
    mean = float(masks.mean()) if masks.size else 0.0
    if low <= mean <= high:
        return None
    state = "empty" if mean < low else "lit everywhere"
    return (f"Warning: the masks of the {len(masks)} preview images are {state} (mean {mean:.3f}), "
            "so they explain nothing yet: train longer (`epochs`), check the classifier's accuracy "
            "on these images, or see overlays.png")


def check_inputs(dataset, data_dir, classifier=None):
    """The checks of a run's inputs that need no TensorFlow (the command runs them before it
    loads): a folder dataset's folder, and a classifier file that exists.

    Args:
        dataset, data_dir, classifier: as in `TrainSpec`.

    Example:

    ```python
    check_inputs("folder", "photos", "classifier.keras")  # raises an error when one is missing
    ```
    """
    if dataset == "folder":
        if not data_dir:
            raise ValueError("Expected `data_dir` (a folder of class subfolders) for the folder dataset. "
                             "Received: none")
        if not os.path.isdir(data_dir):
            raise NotADirectoryError(f"Expected `data_dir` to be a folder of class subfolders. Received: "
                                     f"{data_dir!r}, which is not a folder")
    if isinstance(classifier, str) and classifier.lower().endswith(".keras") and not os.path.isfile(classifier):
        raise FileNotFoundError(f"Expected `classifier` to be a .keras classifier file. Received: {classifier!r}, "
                                "which does not exist")


def load_splits(dataset, data_dir, image_size, batch_size, validation_split, seed, steps_per_epoch,
                crop_scale=0.0):
    """A run's datasets as `Splits`.

    Folder datasets drop files that fail to decode, so tf.data cannot know their length:
    they repeat and each epoch reads ceil(files / batch) batches, which keeps progress bars
    and learning-rate schedules exact. `steps_per_epoch` caps the epochs of every dataset.

    Args:
        dataset, data_dir, image_size, batch_size, validation_split, seed, steps_per_epoch:
            as in `TrainSpec`.
        crop_scale: the smallest area fraction of the training images' random crops (folders;
            0: none).

    Example:

    ```python
    splits = load_splits("folder", "photos", 32, 64, 0.1, 0, None)
    ```
    """
    from keras_saliency import data

    train_steps = validation_steps = None
    if dataset == "folder":
        check_inputs(dataset, data_dir)
        scan = data.scan_image_folder(data_dir)  # logs its summary (skipped files included)
        train_pairs, validation_pairs = scan.split(validation_split, seed)
        train = data.folder_dataset(train_pairs, image_size, batch_size, training=True, seed=seed,
                                    zoom=crop_scale)
        validation = (
            data.folder_dataset(validation_pairs, image_size, batch_size) if validation_pairs else None
        )
        class_names = scan.class_names
        train_steps = math.ceil(len(train_pairs) / batch_size)
        validation_steps = math.ceil(len(validation_pairs) / batch_size) if validation_pairs else None
    else:
        from keras_saliency.data.tfds_sources import TITLES, DatasetUnavailable

        manual_dir = data_dir if dataset == "imagenet2012" else None
        tfds_dir = None if dataset == "imagenet2012" else data_dir
        try:
            train, class_names = data.tfds_dataset(
                dataset, image_size, batch_size, True, data_dir=tfds_dir, manual_dir=manual_dir, seed=seed
            )
            validation, _ = data.tfds_dataset(
                dataset, image_size, batch_size, False, data_dir=tfds_dir, manual_dir=manual_dir
            )
        except DatasetUnavailable as error:
            if dataset == "imagenet2012":
                raise FileNotFoundError(f"could not prepare {TITLES[dataset]}: {error.reason}; give `data_dir` "
                                        "with the ILSVRC2012 archives (see docs/IMAGENET.md)") from None
            raise FileNotFoundError(
                f"could not download {TITLES[dataset]}: {error.reason}; use `dataset=folder` with `data_dir`, "
                "or `data_dir` with a prepared tensorflow-datasets folder") from None
        train_steps, validation_steps = int(train.cardinality()), int(validation.cardinality())
        if not steps_per_epoch:  # tf.data knows these lengths: no repeat needed
            train_steps = validation_steps = None
    if steps_per_epoch:  # a known length (> 0) caps the limit; an unknown one (< 0) does not
        train_steps = min(steps_per_epoch, train_steps if train_steps and train_steps > 0 else steps_per_epoch)
        validation_steps = min(
            steps_per_epoch,
            validation_steps if validation_steps and validation_steps > 0 else steps_per_epoch,
        )
    if train_steps:  # fixed-length epochs: never run out of data
        train = train.repeat()
    if validation_steps and validation is not None:
        validation = validation.repeat()
    return Splits(train, validation, class_names, train_steps, validation_steps)


def _load_keras_file(path, what="model"):
    """A .keras file (size limits, Keras' safe mode) -> the model, or a one-line ValueError."""
    from keras_saliency.models.files import load_model_file

    try:
        return load_model_file(path)
    except Exception as error:  # Keras rejects a bad file with ValueError, TypeError, KeyError...
        raise ValueError(f"could not load the {what} {path}: {first_line(error)}") from None


def duration(seconds):
    """`12 s`, `5 min`, `2 h 05 min`.

    Args:
        seconds: the duration, in seconds.

    Example:

    >>> duration(7500)
    '2 h 05 min'
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def seconds_per_step(model, dataset, max_steps=5, budget=3.0):
    """Mean time of a training step of the compiled `model` on `dataset`, timed on up to
    `max_steps` steps (at most about `budget` seconds) after two untimed ones (the first traces
    the step, which `fit` then reuses). Every variable of the model and its optimizer is put back.

    Args:
        model: a compiled Keras model.
        dataset: the training dataset (batches as `fit` reads them).
        max_steps: timed steps at most (default 5).
        budget: seconds after which no further step is timed (default 3.0).

    Example:

    ```python
    seconds = seconds_per_step(model, splits.train)
    ```
    """
    import keras

    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    variables = {id(v): v for v in list(model.variables) + list(optimizer.variables)}
    saved = [(v, v.numpy()) for v in variables.values()]
    try:
        iterator = iter(dataset)
        if keras.backend.backend() == "tensorflow":
            model.make_train_function()

            def step():
                keras.tree.flatten(model.train_function(iterator))[0].numpy()
        else:  # JAX's train function is pure (state in, state out): a step as `fit` runs it

            def step():
                batch = keras.tree.map_structure(keras.ops.convert_to_numpy, next(iterator))
                model.train_on_batch(*batch) if isinstance(batch, tuple) else model.train_on_batch(batch)

        for _ in range(2):  # traces, then warms up
            step()
        steps, start = 0, time.perf_counter()
        while steps < max_steps and (steps == 0 or time.perf_counter() - start < budget):
            step()
            steps += 1
        return (time.perf_counter() - start) / steps
    finally:
        for variable, value in saved:
            variable.assign(value)
        model.reset_metrics()


def print_estimate(what, model, dataset, steps_per_epoch, epochs, batch_size, strategy_name, after="", log=print):
    """Times a few steps and logs one line: how long `epochs` x `steps_per_epoch` steps should
    take on this machine (an estimate). Short runs (under 20 steps) are not timed.

    Args:
        what: the line's subject, e.g. "Masker training".
        model: the compiled model to time.
        dataset: the training dataset.
        steps_per_epoch: batches per epoch (None or 0: no estimate).
        epochs: epochs to train.
        batch_size: images per batch (shown in the line).
        strategy_name: the `tf.distribute` strategy's name; other than "default", no step is
            timed.
        after: text appended to the line.
        log: the function that writes the line (default `print`).

    Example:

    ```python
    print_estimate("Masker training", model, splits.train, 500, 20, 64, "default")
    ```
    """
    total = (steps_per_epoch or 0) * epochs
    if total < 20:
        return
    if strategy_name != "default":
        log(f"{what}: {epochs} epochs x {steps_per_epoch:,} steps (no time estimate under a "
            f"tf.distribute strategy){after}")
        return
    try:
        seconds = seconds_per_step(model, dataset)
    except Exception as error:  # an estimate never stops a run
        log(f"{what}: {epochs} epochs x {steps_per_epoch:,} steps (could not time a step: "
            f"{first_line(error)}){after}")
        return
    log(
        f"{what}: about {duration(seconds * total)} on this machine (an estimate: {seconds:.3g} s per step, "
        f"timed on a few steps here, x {total:,} steps = {epochs} epochs x {steps_per_epoch:,} steps of "
        f"{batch_size} images; validation not included){after}"
    )


def _classifier(spec, image_size, output, splits, weights, log):
    """Returns (classifier, preprocessing mode, encoder taps or None)."""
    import keras

    from keras_saliency.models.classifiers import CIFAR_TAPS, cifar_classifier, compile_classifier
    from keras_saliency.training.fit import fit_classifier
    from keras_saliency.models.encoders import BACKBONES, application_classifier

    name_or_path = spec.classifier
    if isinstance(name_or_path, keras.Model):
        return name_or_path, None, None
    if name_or_path in BACKBONES:
        model, preprocessing = application_classifier(
            name_or_path, image_size, weights=weights, num_classes=len(splits.class_names)
        )
        return model, preprocessing, None
    if name_or_path:
        if not os.path.exists(name_or_path):
            raise FileNotFoundError(
                f"Expected `classifier` to be a backbone name in {sorted(BACKBONES)} or a .keras file. Received: "
                f"{name_or_path!r}, which does not exist")
        return _load_keras_file(name_or_path, "classifier"), None, None
    path = os.path.join(output, "classifier.keras")
    if os.path.exists(path):
        log(f"Using the classifier trained by an earlier run: {path}")
        return _load_keras_file(path, "classifier"), "none", CIFAR_TAPS
    epochs = spec.classifier_epochs
    log(f"No `classifier` given: training the small CIFAR-style classifier first ({epochs} epochs), saved to {path}.")
    model = cifar_classifier(len(splits.class_names), image_size)
    batches = splits.train_steps or int(splits.train.cardinality())
    compile_classifier(model, 3e-3, steps=epochs * batches)
    print_estimate("Classifier training", model, splits.train, splits.steps_per_epoch(), epochs, spec.batch_size,
                   spec.strategy, after="; the masker's estimate follows once it is built", log=log)
    fit_classifier(
        model, splits.train, splits.validation, epochs, output,
        steps_per_epoch=splits.train_steps, validation_steps=splits.validation_steps,
    )
    return model, "none", CIFAR_TAPS


def default_output(spec):
    """The run folder when `spec.output` is None.

    A new temporary folder for a dry run, else `saliency-runs/DATASET-YYYYmmdd-HHMMSS`.

    Args:
        spec: the `TrainSpec`.

    Example:

    ```python
    output = spec.output or default_output(spec)
    ```
    """
    if spec.dry_run:
        return tempfile.mkdtemp(prefix="saliency-dry-run-")
    return os.path.join("saliency-runs", f"{spec.dataset}-{time.strftime('%Y%m%d-%H%M%S')}")


def train_masker(spec, log=print):
    """Trains a masker as `keras-saliency train` does, into the run folder `spec.output`.

    A new folder gets a new model (and first a small classifier when `spec.classifier` is
    None); a folder holding a finished model.keras is continued for `spec.epochs` more epochs;
    an interrupted run resumes where it stopped. A run that fails before writing anything
    leaves no empty folder behind, and a dry run without a given `output` no temporary one.

    Args:
        spec: a `TrainSpec`.
        log: called with each progress line (the command line's echo; `print` by default).
            The data loaders' own summaries go to the "keras_saliency" logger.

    Returns:
        A `TrainResult`: the model, the run folder, the histories and the class names.

    Raises:
        ValueError: a one-line reason the run was refused (a bad classifier file, unknown
            tap layers, an empty data folder...).
        FileNotFoundError: a missing data folder or classifier file, a dataset that could not
            be downloaded.
        OSError: a write that failed (a full or read-only disk), in one line.

    Example:

    ```python
    from keras_saliency.training import TrainSpec, train_masker

    spec = TrainSpec(dataset="folder", data_dir="photos", classifier="classifier.keras",
                     tap_layers="conv_0,conv_1,conv_2,conv_3", epochs=5, output="run")
    result = train_masker(spec)
    ```
    """
    spec = dataclasses.replace(spec)
    masker_design(spec)  # an unknown design field is refused first, before any data loads
    check_inputs(spec.dataset, spec.data_dir, spec.classifier)
    given = spec.output
    output = given or default_output(spec)
    spec.output = output
    if spec.dry_run and not spec.steps_per_epoch:
        spec.steps_per_epoch = 2
    created = not os.path.exists(output)
    try:
        result = _train(spec, output, log)
        if spec.dry_run and not given:
            result.output = None
        return result
    finally:  # a failed start leaves no empty run folder behind, a dry run no temporary one
        if os.path.isdir(output) and (
            (spec.dry_run and not given)
            or (created and not any(f != ".lock" for _, _, files in os.walk(output) for f in files))
        ):
            import shutil

            shutil.rmtree(output, ignore_errors=True)


def _train(spec, output, log):
    import keras

    from keras_saliency.training import fit as training
    from keras_saliency.training.distribute import make_strategy
    from keras_saliency.training.run_files import output_lock
    from keras_saliency.reports.pictures import save_panels
    from keras_saliency.models.encoders import shared_taps
    from keras_saliency.models.presets import masker_preset

    dry_run = spec.dry_run
    training.set_seed(spec.seed)
    if spec.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = make_strategy(spec.strategy)
    schedule = spec.resolved_schedule()
    preloaded = None
    if not spec.image_size and isinstance(spec.classifier, str) and spec.classifier.endswith(".keras") \
            and os.path.exists(spec.classifier):
        preloaded = _load_keras_file(spec.classifier, "classifier")  # its input size is the run's
    image_size = spec.resolved_image_size(preloaded if preloaded is not None else (
        spec.classifier if isinstance(spec.classifier, keras.Model) else None))
    crop_scale = spec.crop_scale
    if crop_scale is None:
        crop_scale = masker_preset(spec.preset)["schedule"]["crop_scale"] if spec.uses_preset() else 0.0
    splits = load_splits(spec.dataset, spec.data_dir, image_size, spec.batch_size, spec.validation_split,
                         spec.seed, spec.steps_per_epoch, crop_scale=crop_scale)
    os.makedirs(output, exist_ok=True)  # only once the data has loaded
    histories = []
    with output_lock(output):  # a second run on the same folder is refused
        if not dry_run:
            log(f"Run folder: {output}")
        log(f"{strategy.num_replicas_in_sync} replica(s) ({spec.strategy} strategy), {schedule} schedule")
        model_path = os.path.join(output, training.MODEL_FILE)
        continuing = os.path.exists(model_path) and not dry_run
        if continuing:
            model = _load_keras_file(model_path, "model of the earlier run")
            log(f"Continuing the model in {model_path} ({training.completed_epochs(output)} epochs done) "
                f"for {spec.epochs} more epoch{'s' if spec.epochs != 1 else ''}.")
            if not model.compiled:
                training.compile_saliency_model(model, spec.learning_rate)
            if spec.objective_options:  # the objective of the epochs to come
                try:
                    model.set_objective(**spec.objective_options)
                except TypeError as error:
                    raise ValueError("Expected `objective_options` that the objective has. Received: "
                                     f"{first_line(error)}") from None
                log(f"Objective changed for these epochs: {spec.objective_options}")
        else:
            model = _build(spec, image_size, output, splits, strategy, log, preloaded)
        if dry_run:
            with strategy.scope():
                histories = training.train_two_phase(
                    model, splits.train, 1 if schedule == "two-phase" else 0, 1,
                    learning_rate=spec.learning_rate, steps_per_epoch=splits.train_steps, verbose=2,
                )
            loss = histories[-1].history["loss"][-1]
            log(f"Dry run passed: {strategy.num_replicas_in_sync} replica(s), {schedule} schedule, "
                f"{splits.train_steps} steps per phase, last loss {loss:.4f}. Nothing was saved.")
            return TrainResult(model, output, histories, splits.class_names, dry_run_loss=float(loss))
        two_phase = schedule == "two-phase" and not os.path.exists(model_path)
        epochs = spec.epochs + (spec.selector_epochs if two_phase else 0)
        plan = training.resume_plan(output, spec.epochs)
        if plan.interrupted:  # Keras' backup restores the weights, the optimizer and the epoch
            done = training.backed_up_epochs(output)
            start = plan.initial_epoch if done is None else done
            log(f"Resuming the interrupted run in {output} at epoch {start + 1} of {plan.final_epoch} "
                "(from its backup)")
            epochs = max(plan.final_epoch - start, 0)
        print_estimate("Masker training", model, splits.train, splits.steps_per_epoch(), epochs, spec.batch_size,
                       spec.strategy, log=log)
        if two_phase:
            log(f"Phase 1: the class selector alone for {spec.selector_epochs} epoch(s)")
            with strategy.scope():
                histories += training.train_two_phase(
                    model, splits.train, spec.selector_epochs, 0,
                    learning_rate=spec.learning_rate, steps_per_epoch=splits.train_steps,
                )
                training.start_phase(model, "all", spec.learning_rate)
        run_config = {
            **spec.options(),
            "image_size": image_size,
            "crop_scale": crop_scale,
            "preset": model.preset,
            "masker": {key: getattr(model.masker, key) for key in (
                "decoder", "decoder_filters", "mask_stride", "head", "class_gate", "gate_options")},
            "tap_layers": (shared_taps(model.masker.encoder) or {}).get("tap_layers", spec.tap_layers),
            "objective_config": model.config.get_config(),
            "class_names": splits.class_names,
            "keras_version": keras.__version__,
        }
        training.save_run_config(output, run_config)
        if len(splits.class_names) == model.num_classes:
            model.set_class_names(splits.class_names)  # saved inside the .keras file
        else:  # e.g. photos of 20 ImageNet classes explained by a 1,000-class classifier
            log(f"The data's {len(splits.class_names)} classes are not the classifier's {model.num_classes}: "
                "the model keeps no class names")
        callbacks = []
        if spec.tensorboard:
            from keras_saliency.training.callbacks import MaskImages

            images, labels = splits.preview_batch()
            callbacks = [keras.callbacks.TensorBoard(spec.tensorboard),
                         MaskImages(images, spec.tensorboard, class_ids=labels, class_names=splits.class_names)]
        histories.append(training.fit_saliency_model(
            model,
            splits.train,
            splits.validation,
            epochs=spec.epochs,
            output_dir=output,
            steps_per_epoch=splits.train_steps,
            validation_steps=splits.validation_steps,
            callbacks=callbacks,
        ))
        images, labels = splits.preview_batch()
        masks = model.predict((images, labels), verbose=0)
        titles = [splits.class_names[int(label)] for label in labels]
        path = save_panels(os.path.join(output, "overlays.png"), images, masks, titles=titles)
        log(f"Saved {model_path}, {path} and the run's config and log in {output}")
        warning = mask_warning(masks)
        if warning:
            log(warning)
    return TrainResult(model, output, histories, splits.class_names, overlays=path, continued=continuing)


def objective_config(spec):
    """The `SaliencyConfig` a run trains with: the preset's objective for a preset masker (unless
    `spec.objective` names one), else `spec.objective`'s, with `spec.objective_options` on top;
    None when the preset's own objective applies unchanged.

    Args:
        spec: the `TrainSpec`.

    Example:

    >>> objective_config(TrainSpec(classifier="c.keras", objective_options={"area_weight": 10.0})).area_weight
    10.0
    """
    from keras_saliency.models.presets import masker_preset, objective_config as from_fields

    changes = dict(spec.objective_options or {})
    if spec.uses_preset() and spec.objective is None:
        if not changes:
            return None
        fields = {**masker_preset(spec.preset)["objective"], **changes}
    else:
        fields = {"objective": spec.objective or "code", **changes}
    try:
        return from_fields(fields)
    except TypeError as error:  # an unknown field
        raise ValueError(f"Expected `objective_options` that the objective has. Received: {first_line(error)}") from None


def masker_design(spec):
    """The design fields `spec.masker_options` sets (`MASKER_OPTIONS`), ready for
    `SaliencyModel.from_classifier`; an unknown field is a one-line ValueError.

    Args:
        spec: the `TrainSpec`.

    Example:

    >>> masker_design(TrainSpec(masker_options={"mask_stride": 2, "decoder_filters": [32]}))
    {'mask_stride': 2, 'decoder_filters': (32,)}
    """
    design = dict(spec.masker_options or {})
    unknown = sorted(set(design) - set(MASKER_OPTIONS))
    if unknown:
        raise ValueError(f"Expected `masker_options` keys in {MASKER_OPTIONS}. Received: {', '.join(unknown)}")
    if isinstance(design.get("decoder_filters"), list):
        design["decoder_filters"] = tuple(design["decoder_filters"])
    return design


def _build(spec, image_size, output, splits, strategy, log, preloaded=None):
    """A new SaliencyModel for `spec` (its classifier trained first when none is given), compiled."""
    weights = None if spec.weights == "none" else spec.weights
    try:
        if preloaded is not None:
            classifier, preprocessing, taps = preloaded, None, None
        else:
            classifier, preprocessing, taps = _classifier(spec, image_size, output, splits, weights, log)
        return build_masker(spec, classifier, taps=taps, preprocessing=preprocessing, strategy=strategy, log=log)
    except (ValueError, OSError):  # a bad tap layer, encoder or classifier: one line (the caller's)
        raise
    except Exception as error:  # Keras' get_file: a plain Exception when a download fails
        if "URL fetch failure" in str(error):
            raise FileNotFoundError(f"could not download the Keras Applications weights: {first_line(error)}; "
                                    "use `weights=none`, or run once with internet access") from None
        raise


def build_masker(spec, classifier, taps=None, preprocessing=None, strategy=None, log=print):
    """The compiled `SaliencyModel` a run of `spec` trains against `classifier`: the masker
    `keras-saliency train` builds (preset, tap layers, design and objective options), for data
    of one's own (arrays, a permuted-label study) fed to `fit`.

    Args:
        spec: the `TrainSpec` (its data fields are not read).
        classifier: the frozen Keras classifier.
        taps: the classifier's tap layers when `spec.tap_layers` is not given (default None:
            the preset's, read from the classifier).
        preprocessing: the classifier's preprocessing when `spec.classifier_preprocessing` is
            not given (default None: "auto", read from the classifier).
        strategy: a `tf.distribute` strategy to build under (default None: the default one).
        log: called with the line naming the preset's design (default `print`).

    Returns:
        the compiled `SaliencyModel`, its learning rate `spec.learning_rate`.

    Example:

    ```python
    spec = TrainSpec(preset="gated-fpn", masker_options={"mask_stride": 2})
    model = build_masker(spec, classifier)
    model.fit(images, labels, epochs=1)
    ```
    """
    import contextlib

    from keras_saliency.training import fit as training
    from keras_saliency.models.model import SaliencyModel

    scope = strategy.scope if strategy is not None else contextlib.nullcontext
    if spec.tap_layers:
        taps = spec.taps()
    encoder = None if spec.encoder == "classifier" else spec.encoder
    config = objective_config(spec)
    design = masker_design(spec)
    with scope():
        model = SaliencyModel.from_classifier(
            classifier,
            encoder=encoder,
            tap_layers=taps,
            classifier_preprocessing=spec.classifier_preprocessing or preprocessing or "auto",
            encoder_weights=None if spec.weights == "none" else spec.weights,
            config=config,
            seed=spec.seed,
            preset=spec.preset,
            **design,
        )
    if model.preset:
        image_size = int(classifier.input_shape[1])
        log(f"Masker preset {model.preset!r}: {model.masker.decoder} decoder, class gate "
            f"{model.masker.class_gate!r}, {image_size // model.masker.mask_stride}x"
            f"{image_size // model.masker.mask_stride} masks, {model.config.objective} objective")
    with scope():
        training.compile_saliency_model(model, spec.learning_rate)
    return model
