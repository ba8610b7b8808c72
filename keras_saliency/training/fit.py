"""Building and training a `SaliencyModel`: the library functions behind `keras-saliency train`.

Everything a run produces goes to one output folder:
  model.keras        the trained SaliencyModel (classifier embedded)
  config.json        the objective's SaliencyConfig
  run_config.json    every resolved option of the run (and of the runs it continued)
  training_log.csv   one row per epoch (appended by continued runs)
  backup/            BackupAndRestore state while a run is in progress (resume after a kill);
                     kept until the final model is saved
  fit_state.json     the epoch range of the run in progress
  .lock              held by the run using the folder (`run_files.output_lock`)

Every file is replaced atomically (`run_files`): a kill -9, a full disk or a read-only folder
leaves the previous model and the resume backup intact, and the error is one line.
"""

import csv
import dataclasses
import io
import json
import logging
import os
import shutil
import typing

import keras

from keras_saliency.models.model import SaliencyModel, default_decoder_filters, default_mask_stride  # noqa: F401
from keras_saliency.training.run_files import (
    RunFilesError,
    atomic_save_model,
    atomic_save_weights,
    atomic_write_json,
    atomic_write_text,
    folder_write_error,
    output_lock,
    remove_stale_temporaries,
)

logger = logging.getLogger("keras_saliency")

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
RUN_CONFIG_FILE = "run_config.json"
LOG_FILE = "training_log.csv"
BACKUP_DIR = "backup"
FIT_STATE_FILE = "fit_state.json"  # the epochs of a run in progress, removed when it ends


def _shuffle(data):
    """`fit`'s shuffle argument: our `tf.data` pipelines shuffle themselves (Keras would only warn
    that it ignores `shuffle=True` for them, once per call)."""
    import tensorflow as tf

    return not isinstance(data, tf.data.Dataset)

def compile_saliency_model(model, learning_rate=1e-3, weight_decay=None):
    """`model.compile()` with the recipe's optimizer: Adam (AdamW when `weight_decay` is
    given), as in the authors' code. Returns the model.

    Args:
        model: a `SaliencyModel`.
        learning_rate: the optimizer's learning rate.
        weight_decay: None (Adam) or AdamW's weight decay.

    Example:

    ```python
    compile_saliency_model(model, 1e-3)  # same as model.compile(learning_rate=1e-3)
    ```
    """
    model.compile(optimizer="auto", learning_rate=learning_rate, weight_decay=weight_decay)
    return model


def completed_epochs(output_dir, files=None):
    """Epochs recorded in the output's training log (0 when there is none): the distinct
    values of its `epoch` column, so an epoch run again after a kill (logged before its backup
    was written) counts once, and a row cut short by a kill is ignored.

    Args:
        output_dir: the run folder.
        files: a `RunFiles` naming the log (default: `training_log.csv`).

    Example:

    ```python
    completed_epochs("runs/masker")                      # from training_log.csv
    completed_epochs("runs/masker", RunFiles("classifier"))  # from classifier_log.csv
    ```
    """
    path = os.path.join(output_dir, files.log if files is not None else LOG_FILE)
    if not os.path.exists(path):
        return 0
    with open(path, newline="") as f:
        lines = [line for line in f if line.strip()]
    if not lines:
        return 0
    header = next(csv.reader(lines[:1]))
    if "epoch" not in header:  # not a CSVLogger file: one row per epoch
        return max(0, len(lines) - 1)
    column = header.index("epoch")
    epochs = set()
    for row in csv.reader(lines[1:]):
        if len(row) == len(header):
            try:
                epochs.add(int(row[column]))
            except ValueError:
                continue
    return len(epochs)


def load_run_config(output_dir):
    """The run's `run_config.json` as a dict, or None when the folder has none.

    Args:
        output_dir: the run folder.

    Example:

    ```python
    options = load_run_config("runs/masker") or {}
    ```
    """
    path = os.path.join(output_dir, RUN_CONFIG_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def save_run_config(output_dir, run_config):
    """Writes the resolved options; earlier runs of the same output are kept under "runs".

    Args:
        output_dir: the run folder (its `run_config.json` is replaced atomically).
        run_config: the run's resolved options, a JSON-serialisable dict (other values are
            written with `str`).

    Example:

    ```python
    save_run_config("runs/masker", {"dataset": "cifar10", "epochs": 20})
    ```
    """
    previous = load_run_config(output_dir) or {}
    runs = previous.get("runs", [])
    runs.append(run_config)
    record = {**run_config, "runs": runs}
    atomic_write_json(os.path.join(output_dir, RUN_CONFIG_FILE), record, what="run config", default=str)


class BrokenRunError(RunFilesError):
    """A run folder's resume state (backup/, fit_state.json) cannot be read.

    Args:
        message: the whole one-line message, what is wrong and which folder to delete.
        error_number: the `errno`, if any (default None).

    Example:

    ```python
    raise BrokenRunError("Expected a readable resume state in runs/masker/backup. ...")
    ```
    """


def _broken(path, error, folder):
    reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return BrokenRunError(
        f"Expected a readable resume state in {path}. Received: {type(error).__name__}"
        f"{': ' + reason if reason else ''}. Delete the folder {folder} to start the interrupted "
        "run again from its first epoch (a finished model.keras, if any, is kept)."
    )


class RunBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that writes its weights and metadata atomically, keeps its folder
    when fit ends (`fit_saliency_model` deletes it once the final model is saved) and reports
    an unreadable backup as a one-line `BrokenRunError` naming the folder to delete.

    A kill between the weights' and the metadata's rename (microseconds) resumes with the newer
    weights and the previous epoch number: that epoch is trained once more, nothing is lost.

    Args:
        backup_dir: the folder of the backup (e.g. `OUTPUT/backup`).
        save_freq: "epoch" (a backup after every epoch) or a number of batches between
            backups.

    Example:

    ```python
    model.fit(train, epochs=10, callbacks=[RunBackup("runs/masker/backup")])
    ```
    """

    def __init__(self, backup_dir, save_freq="epoch"):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=False)

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except Exception as error:  # truncated h5, bad JSON, weights of another model...
            raise _broken(self.backup_dir, error, self.backup_dir) from error

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        atomic_save_weights(self.model, self._weights_path, what="resume backup")
        atomic_write_json(
            self._training_metadata_path,
            {"epoch": self._current_epoch, "batch": self._last_batch_seen},
            what="resume backup",
        )


class RunLog(keras.callbacks.CSVLogger):
    """`CSVLogger` for a run's log, which continued runs append to. When a continued run logs
    columns the file lacks (a term switched on for the last epochs, say), the header is widened
    first and the earlier rows get "NA" there; columns the new run lacks get "NA" in its rows. So
    every row stays under its own columns, and `completed_epochs` counts it. A row cut short by a
    kill is kept as it was, on its own line (the next row is not glued to it).

    Args:
        filename: the log file (e.g. `OUTPUT/training_log.csv`).

    Example:

    ```python
    model.fit(train, epochs=10, callbacks=[RunLog("runs/masker/training_log.csv")])
    ```
    """

    def __init__(self, filename):
        super().__init__(filename, append=True)

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:
            self._match_file(logs or {})
        super().on_epoch_end(epoch, logs)

    def _match_file(self, logs):
        if not os.path.exists(self.filename):
            return
        with open(self.filename, newline="") as f:
            lines = f.read().splitlines(keepends=True)
        header = next(csv.reader(lines[:1], delimiter=self.sep), None)
        if not header or header[0] != "epoch":
            return
        keys = sorted(logs)
        if not any(key.startswith("val_") for key in keys):  # as CSVLogger itself does
            keys += [f"val_{key}" for key in keys]
        self.keys = header[1:] + [key for key in keys if key not in header]
        extra = len(self.keys) + 1 - len(header)
        if not extra and lines[-1].endswith(("\n", "\r")):
            return
        text = io.StringIO()
        writer = csv.writer(text, delimiter=self.sep)
        writer.writerow(["epoch"] + self.keys)
        for line in lines[1:]:
            row = next(csv.reader([line], delimiter=self.sep), [])
            if len(row) == len(header):
                writer.writerow(row + ["NA"] * extra)
            else:  # cut short by a kill, or blank
                text.write(line if line.endswith(("\n", "\r")) else line + "\r\n")
        self.csv_file.close()
        atomic_write_text(self.filename, text.getvalue(), what="training log")
        self.csv_file = open(self.filename, "a", newline="")


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """The files of one model's run in a folder: `model.keras`, `training_log.csv`, `backup/`,
    `fit_state.json` (a masker's run), or with a `stem`: `STEM.keras`, `STEM_log.csv`,
    `STEM_backup/`, `STEM_fit_state.json` (e.g. the classifier trained first, in the same folder).

    Args:
        stem: the files' prefix, or None for the masker's own names.

    Example:

    >>> RunFiles("classifier").model
    'classifier.keras'
    """

    stem: typing.Optional[str] = None

    @property
    def model(self):
        return f"{self.stem}.keras" if self.stem else MODEL_FILE

    @property
    def log(self):
        return f"{self.stem}_log.csv" if self.stem else LOG_FILE

    @property
    def backup(self):
        return f"{self.stem}_backup" if self.stem else BACKUP_DIR

    @property
    def state(self):
        return f"{self.stem}_{FIT_STATE_FILE}" if self.stem else FIT_STATE_FILE


def _read_fit_state(output_dir, files=RunFiles()):
    path = os.path.join(output_dir, files.state)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            state = json.load(f)
        return int(state["initial_epoch"]), int(state["epochs"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise _broken(path, error, os.path.join(output_dir, files.backup)) from error


@dataclasses.dataclass(frozen=True)
class ResumePlan:
    """What a run folder says about the next `fit` (`resume_plan`).

    Args:
        initial_epoch: the first epoch to train.
        final_epoch: the epoch count at the end (`fit(epochs=final_epoch)`).
        has_model: a saved model is there to continue (load it rather than build one).
        interrupted: a killed run left its backup: `fit` restores its weights, optimizer and
            position, and trains the same epoch range it was started with.

    Example:

    ```python
    plan = ResumePlan(initial_epoch=5, final_epoch=20, has_model=True, interrupted=False)
    plan.done  # False: epochs 5 to 20 are left
    ```
    """

    initial_epoch: int
    final_epoch: int
    has_model: bool
    interrupted: bool

    @property
    def done(self):
        """Nothing left to train."""
        return self.final_epoch <= self.initial_epoch and not self.interrupted


def resume_plan(output_dir, epochs, up_to=False, files=RunFiles()):
    """The one resume rule of every training run in the package and its tools.

    - An interrupted run (its backup is there) trains again the epoch range it was started with,
      from where the backup stopped (Keras' `BackupAndRestore`).
    - A finished run (a saved model, no backup) continues after the epochs in its log:
      `epochs` MORE epochs, or with `up_to`, until `epochs` epochs IN ALL.
    - An empty folder trains `epochs` epochs.

    Args:
        output_dir: the run folder.
        epochs: the number of epochs (more, or in all with `up_to`).
        up_to: `epochs` counts all the run's epochs (the recipes), not more (`keras-saliency train`).
        files: the run's file names (`RunFiles`).

    Returns:
        a `ResumePlan`.

    Example:

    ```python
    plan = resume_plan("runs/cifar10/masker", 20, up_to=True)
    model = keras.saving.load_model(path) if plan.has_model else build()
    ```
    """
    has_model = os.path.exists(os.path.join(output_dir, files.model))
    state = _read_fit_state(output_dir, files) if os.path.isdir(os.path.join(output_dir, files.backup)) else None
    if state is not None:
        initial, count = state
        return ResumePlan(initial, initial + count, has_model, True)
    done = completed_epochs(output_dir, files) if has_model else 0
    final = max(done, epochs) if up_to else done + epochs
    return ResumePlan(done, final, has_model, False)


def backed_up_epochs(output_dir, files=RunFiles()):
    """The epochs an interrupted run had finished when its backup was written (Keras'
    `BackupAndRestore` resumes after them), or None without a backup.

    Args:
        output_dir: the run folder.
        files: the run's file names (`RunFiles`).

    Example:

    ```python
    done = backed_up_epochs("runs/masker")  # e.g. 2: the run resumes at its third epoch
    ```
    """
    path = os.path.join(output_dir, files.backup, "training_metadata.json")
    try:
        with open(path) as f:
            return int(json.load(f)["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def set_seed(seed, deterministic=True):
    """Seeds Python, NumPy, TensorFlow and Keras (`keras.utils.set_random_seed`) and, with
    `deterministic`, turns on TensorFlow's op determinism, so that two runs with the same seed
    give the same losses on a CPU.

    Without op determinism the tf.data pipeline is not reproducible: its random flips and
    shifts are stateful random ops inside `map(num_parallel_calls=AUTOTUNE)`, and which image
    draws which number depends on thread scheduling. Op determinism runs those maps
    sequentially (slower input pipelines) and selects deterministic kernels; it is process-wide
    and stays on. On a GPU some ops have no deterministic kernel and then raise an error.

    Args:
        seed: the integer seed.
        deterministic: also enable TensorFlow's op determinism (default True).

    Example:

    ```python
    set_seed(0)
    ```
    """
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def fit_saliency_model(
    model,
    train_data,
    validation_data=None,
    epochs=1,
    output_dir=None,
    steps_per_epoch=None,
    validation_steps=None,
    callbacks=None,
    verbose="auto",
    up_to=False,
):
    """`fit_run` for a `SaliencyModel`: also writes the objective's config (`config.json`).

    Args:
        model: the compiled `SaliencyModel`.
        train_data: a `tf.data.Dataset` of `(images, labels)` batches.
        validation_data: optional dataset of the same form.
        epochs: the number of epochs to train (default 1).
        output_dir: the run folder (model, log, backup, configs), or None to keep nothing.
        steps_per_epoch: batches per epoch, or None for the whole dataset.
        validation_steps: validation batches per epoch, or None for the whole dataset.
        callbacks: extra Keras callbacks.
        verbose: Keras' `fit` verbosity (default "auto").
        up_to: as in `fit_run` (default False).

    Example:

    ```python
    fit_saliency_model(model, train, validation, epochs=5, output_dir="runs/masker")
    ```
    """
    return fit_run(model, train_data, validation_data, epochs, output_dir, steps_per_epoch=steps_per_epoch,
                   validation_steps=validation_steps, callbacks=callbacks, verbose=verbose, up_to=up_to,
                   configs={CONFIG_FILE: model.config.get_config()})


def fit_run(
    model,
    train_data,
    validation_data=None,
    epochs=1,
    output_dir=None,
    files=RunFiles(),
    steps_per_epoch=None,
    validation_steps=None,
    callbacks=None,
    verbose="auto",
    up_to=False,
    configs=None,
):
    """`model.fit` with the run's bookkeeping in `output_dir`: BackupAndRestore (a killed
    run resumes where it stopped), the appended CSV log and the final model, with the epochs
    that `resume_plan` decides (`epochs` more, or with `up_to` until `epochs` in all).

    A run on an output that already holds a finished model continues it: call with that
    loaded model (`resume_plan(...).has_model`).

    The folder is locked for the run (`OutputInUseError` when another process uses it) and
    every file is replaced atomically: a crash or a full disk while saving leaves the previous
    model file and the resume backup intact (the backup is deleted only after the final model
    is saved; a rerun then resumes, with nothing left to train, and saves). Write failures raise
    a one-line `RunFileWriteError` (an `OSError`), an unreadable resume state `BrokenRunError`.

    Args:
        model: a compiled Keras model.
        train_data: the training dataset.
        validation_data: the validation dataset, or None.
        epochs: epochs to train (more, or in all with `up_to`).
        output_dir: the run folder (None: a plain `fit`).
        files: the run's file names (`RunFiles`; a stem for a second model in the same folder).
        steps_per_epoch: batches per epoch (None: the whole dataset).
        validation_steps: validation batches (None: the whole dataset).
        callbacks: more Keras callbacks.
        verbose: Keras' verbosity.
        up_to: see `resume_plan`.
        configs: `{file name: JSON-serialisable dict}` written into `output_dir` under the same
            lock, before training (e.g. the objective's config), or None.

    Returns:
        the `History`, or None when the run had nothing left to train.

    Example:

    ```python
    fit_run(classifier, train, validation, 20, "runs/cifar10", files=RunFiles("classifier"), up_to=True)
    ```
    """
    callbacks = list(callbacks or [])
    if not output_dir:
        return model.fit(
            train_data,
            validation_data=validation_data,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            validation_steps=validation_steps,
            callbacks=callbacks,
            verbose=verbose,
            shuffle=_shuffle(train_data),
        )
    os.makedirs(output_dir, exist_ok=True)
    with output_lock(output_dir):
        for name, config in (configs or {}).items():
            atomic_write_json(os.path.join(output_dir, name), config, what="config")
        backup_dir = os.path.join(output_dir, files.backup)
        remove_stale_temporaries(output_dir)
        remove_stale_temporaries(backup_dir)
        state_path = os.path.join(output_dir, files.state)
        model_path = os.path.join(output_dir, files.model)
        plan = resume_plan(output_dir, epochs, up_to, files)
        if plan.done and plan.has_model:
            logger.info("Nothing left to train in %s (%d epochs done)", output_dir, plan.initial_epoch)
            return None
        atomic_write_json(
            state_path,
            {"initial_epoch": plan.initial_epoch, "epochs": plan.final_epoch - plan.initial_epoch},
            what="run state",
        )
        callbacks += [  # the log row of an epoch is written before its backup
            RunLog(os.path.join(output_dir, files.log)),
            RunBackup(backup_dir),
        ]
        try:
            history = model.fit(
                train_data,
                validation_data=validation_data,
                epochs=plan.final_epoch,
                initial_epoch=plan.initial_epoch,
                steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps,
                callbacks=callbacks,
                verbose=verbose,
                shuffle=_shuffle(train_data),
            )
        except OSError as error:  # a full disk in a callback's write (the CSV log, snapshots)
            one_line = folder_write_error(
                error, output_dir, "The resume backup of the last finished epoch is kept."
            )
            if one_line is None:
                raise
            raise one_line from error
        atomic_save_model(model, model_path)
        # only now is the resume state no longer needed
        shutil.rmtree(backup_dir, ignore_errors=True)
        os.remove(state_path)
        logger.info("Saved %s", model_path)
    return history


def start_phase(model, phase, learning_rate=1e-3, weight_decay=1e-4):
    """Switches `model` to `phase` and recompiles it: "selector" (phase 1) with Adam, "all"
    (phase 2) with AdamW and `weight_decay`, as in the authors' schedule.

    Args:
        model: the `SaliencyModel`.
        phase: "selector" or "all".
        learning_rate: the optimizer's learning rate (default 1e-3).
        weight_decay: AdamW's weight decay in phase "all" (default 1e-4).

    Example:

    ```python
    start_phase(model, "selector", learning_rate=1e-3)
    model.fit(train, epochs=2)
    ```
    """
    model.set_phase(phase)
    compile_saliency_model(model, learning_rate, weight_decay=weight_decay if phase == "all" else None)


def train_two_phase(
    model,
    train_data,
    selector_epochs,
    decoder_epochs,
    validation_data=None,
    learning_rate=1e-3,
    weight_decay=1e-4,
    steps_per_epoch=None,
    verbose="auto",
):
    """The authors' schedule: phase 1 trains only the class selector, phase 2 the decoder
    and the selector (AdamW with weight decay). Returns the two histories.

    Args:
        model: the `SaliencyModel`.
        train_data: a `tf.data.Dataset` of `(images, labels)` batches.
        selector_epochs: epochs of phase 1 (0 skips it).
        decoder_epochs: epochs of phase 2 (0 skips it).
        validation_data: optional dataset of the same form.
        learning_rate: the learning rate of both phases (default 1e-3).
        weight_decay: AdamW's weight decay in phase 2 (default 1e-4).
        steps_per_epoch: batches per epoch, or None for the whole dataset.
        verbose: Keras' `fit` verbosity (default "auto").

    Example:

    ```python
    selector_history, decoder_history = train_two_phase(model, train, 2, 10, validation)
    ```
    """
    histories = []
    for phase, epochs in (("selector", selector_epochs), ("all", decoder_epochs)):
        if not epochs:
            continue
        start_phase(model, phase, learning_rate, weight_decay)
        histories.append(
            model.fit(
                train_data,
                validation_data=validation_data,
                epochs=epochs,
                steps_per_epoch=steps_per_epoch,
                verbose=verbose,
                shuffle=_shuffle(train_data),
            )
        )
    return histories


def fit_classifier(model, train, validation, epochs, output, steps_per_epoch=None,
                   validation_steps=None, file_name="classifier.keras", up_to=False):
    """`fit_run` for a classifier trained in a run folder: its files are named
    after `file_name` (`classifier.keras`, `classifier_log.csv`, `classifier_backup/`), next to
    the masker's. Returns the fitted model.

    Args:
        model: the compiled classifier.
        train: the training dataset.
        validation: the validation dataset.
        epochs: epochs (more, or in all with `up_to`).
        output: the run folder.
        steps_per_epoch: batches per epoch (None: the whole dataset).
        validation_steps: validation batches (None: all).
        file_name: the saved model's file name (its stem names the other files).
        up_to: `epochs` counts all the run's epochs (`resume_plan`).

    Example:

    ```python
    fit_classifier(model, train, validation, 20, "runs/cifar10", up_to=True)
    ```
    """
    fit_run(model, train, validation, epochs, output, files=RunFiles(os.path.splitext(file_name)[0]),
            steps_per_epoch=steps_per_epoch, validation_steps=validation_steps, up_to=up_to)
    return model
