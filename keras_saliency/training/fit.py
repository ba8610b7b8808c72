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
import json
import logging
import os
import shutil

import keras

from keras_saliency.models.model import SaliencyModel, default_decoder_filters, default_mask_stride  # noqa: F401
from keras_saliency.training.run_files import (
    RunFilesError,
    atomic_save_model,
    atomic_save_weights,
    atomic_write_json,
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


def build_saliency_model(classifier, encoder=None, tap_layers=None, **options):
    """`SaliencyModel.from_classifier` (kept under this name for existing code).

    Args:
        classifier: the Keras classifier to explain.
        encoder: None / "classifier", a backbone name or an encoder model.
        tap_layers: the classifier's layer names used as features, shallow to deep.
        **options: the other arguments of `SaliencyModel.from_classifier`.

    Example:

    ```python
    model = build_saliency_model(classifier, tap_layers=["conv_0", "conv_1"])
    ```
    """
    return SaliencyModel.from_classifier(classifier, encoder=encoder, tap_layers=tap_layers, **options)


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


def completed_epochs(output_dir):
    """Epochs recorded in the output's training log (0 when there is none): the distinct
    values of its `epoch` column, so an epoch run again after a kill (logged before its backup
    was written) counts once, and a row cut short by a kill is ignored."""
    path = os.path.join(output_dir, LOG_FILE)
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
    path = os.path.join(output_dir, RUN_CONFIG_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def save_run_config(output_dir, run_config):
    """Writes the resolved options; earlier runs of the same output are kept under "runs"."""
    previous = load_run_config(output_dir) or {}
    runs = previous.get("runs", [])
    runs.append(run_config)
    record = {**run_config, "runs": runs}
    atomic_write_json(os.path.join(output_dir, RUN_CONFIG_FILE), record, what="run config", default=str)


class BrokenRunError(RunFilesError):
    """A run folder's resume state (backup/, fit_state.json) cannot be read."""


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
    weights and the previous epoch number: that epoch is trained once more, nothing is lost."""

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


def _read_fit_state(output_dir):
    path = os.path.join(output_dir, FIT_STATE_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            state = json.load(f)
        return int(state["initial_epoch"]), int(state["epochs"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise _broken(path, error, os.path.join(output_dir, BACKUP_DIR)) from error


def set_seed(seed, deterministic=True):
    """Seeds Python, NumPy, TensorFlow and Keras (`keras.utils.set_random_seed`) and, with
    `deterministic`, turns on TensorFlow's op determinism, so that two runs with the same seed
    give the same losses on a CPU.

    Without op determinism the tf.data pipeline is not reproducible: its random flips and
    shifts are stateful random ops inside `map(num_parallel_calls=AUTOTUNE)`, and which image
    draws which number depends on thread scheduling. Op determinism runs those maps
    sequentially (slower input pipelines) and selects deterministic kernels; it is process-wide
    and stays on. On a GPU some ops have no deterministic kernel and then raise an error."""
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
):
    """`model.fit` with the run's bookkeeping in `output_dir`: BackupAndRestore (a killed
    run resumes where it stopped), the appended CSV log, the final model and its config.

    A run on an output that already holds a finished model continues it: call with that
    loaded model; `epochs` more epochs are trained after those in the log.

    The folder is locked for the run (`OutputInUseError` when another process uses it) and
    every file is replaced atomically: a crash or a full disk while saving leaves the previous
    model.keras and the resume backup intact (the backup is deleted only after the final model
    is saved; a rerun then resumes, with nothing left to train, and saves). Write failures raise
    a one-line `RunFileWriteError` (an `OSError`), an unreadable resume state `BrokenRunError`.
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
        )
    with output_lock(output_dir):
        remove_stale_temporaries(output_dir)
        remove_stale_temporaries(os.path.join(output_dir, BACKUP_DIR))
        backup_dir = os.path.join(output_dir, BACKUP_DIR)
        state_path = os.path.join(output_dir, FIT_STATE_FILE)
        model_path = os.path.join(output_dir, MODEL_FILE)
        initial_epoch = 0
        state = _read_fit_state(output_dir) if os.path.isdir(backup_dir) else None
        if state is not None:
            initial_epoch, epochs = state  # an interrupted run: the same epoch range again
        elif os.path.exists(model_path):  # a finished run: continue it
            initial_epoch = completed_epochs(output_dir)
        atomic_write_json(state_path, {"initial_epoch": initial_epoch, "epochs": epochs}, what="run state")
        atomic_write_json(os.path.join(output_dir, CONFIG_FILE), model.config.get_config(), what="config")
        callbacks += [  # the log row of an epoch is written before its backup
            keras.callbacks.CSVLogger(os.path.join(output_dir, LOG_FILE), append=True),
            RunBackup(backup_dir),
        ]
        try:
            history = model.fit(
                train_data,
                validation_data=validation_data,
                epochs=initial_epoch + epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=steps_per_epoch,
                validation_steps=validation_steps,
                callbacks=callbacks,
                verbose=verbose,
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
    (phase 2) with AdamW and `weight_decay`, as in the authors' schedule."""
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
    and the selector (AdamW with weight decay). Returns the two histories."""
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
            )
        )
    return histories
