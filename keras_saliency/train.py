"""Building and training a `SaliencyModel`: the library functions behind `keras-saliency train`.

Everything a run produces goes to one output folder:
  model.keras        the trained SaliencyModel (classifier embedded)
  config.json        the objective's SaliencyConfig
  run_config.json    every resolved option of the run (and of the runs it continued)
  training_log.csv   one row per epoch (appended by continued runs)
  backup/            BackupAndRestore state while a run is in progress (resume after a kill)
  fit_state.json     the epoch range of the run in progress
"""

import json
import logging
import os

import keras

from keras_saliency.config import as_config
from keras_saliency.encoders import BACKBONES, build_encoder, feature_strides
from keras_saliency.masker import Masker
from keras_saliency.model import SaliencyModel

logger = logging.getLogger("keras_saliency")

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
RUN_CONFIG_FILE = "run_config.json"
LOG_FILE = "training_log.csv"
BACKUP_DIR = "backup"
FIT_STATE_FILE = "fit_state.json"  # the epochs of a run in progress, removed when it ends


def default_mask_stride(image_size):
    """1/4 of the input (the paper's) for images of 96 px and more, 1/2 for small images."""
    return 4 if image_size >= 96 else 2


def default_decoder_filters(image_size):
    return (256, 128, 64) if image_size >= 96 else (64, 32)


def build_saliency_model(
    classifier,
    encoder=None,
    tap_layers=None,
    encoder_preprocessing=None,
    classifier_preprocessing="none",
    encoder_weights="imagenet",
    config=None,
    decoder_filters=None,
    mask_stride=None,
    head="abs_ratio",
    confidence=0.0,
    seed=None,
    decoder="unet",
):
    """Masker + frozen classifier, ready to compile and fit.

    `encoder`: None (the classifier is its own encoder, `tap_layers` required), a backbone
    name in `BACKBONES` (when the classifier is that same application, its own layers are
    tapped; otherwise a separate backbone with `encoder_weights` is built), or an encoder
    model from `build_encoder`.
    """
    image_size = classifier.input_shape[1]
    if image_size is None:
        raise ValueError(
            f"Expected a classifier with a fixed input size. Received input shape {classifier.input_shape}"
        )
    if isinstance(encoder, keras.Model):
        encoder_model = encoder
    elif encoder is None or encoder == "classifier":
        if not tap_layers:
            raise ValueError(
                "Expected tap_layers (the classifier's layers to use as the encoder's features, "
                "shallow to deep) or an encoder backbone name. Received: neither"
            )
        encoder_model = build_encoder(
            classifier, tap_layers, preprocessing=encoder_preprocessing or classifier_preprocessing
        )
    elif encoder in BACKBONES:
        spec = BACKBONES[encoder]
        layer_names = {layer.name for layer in classifier.layers}
        if set(spec.tap_layers) <= layer_names:  # the classifier is that application
            encoder_model = build_encoder(classifier, spec.tap_layers, preprocessing=spec.preprocessing)
        else:
            encoder_model = build_encoder(encoder, image_size=image_size, weights=encoder_weights)
    else:
        raise ValueError(
            f"Expected encoder in {sorted(BACKBONES) + ['classifier']} or a model. Received: {encoder!r}"
        )
    num_classes = int(classifier.outputs[0].shape[-1])
    masker = Masker(
        encoder_model,
        num_classes,
        decoder_filters=tuple(decoder_filters or default_decoder_filters(image_size)),
        mask_stride=mask_stride
        or min(default_mask_stride(image_size), feature_strides(encoder_model)[-1]),
        head=head,
        confidence=confidence,
        decoder=decoder,
        name="masker",
    )
    return SaliencyModel(
        masker,
        classifier,
        config=as_config(config),
        classifier_preprocessing=classifier_preprocessing,
        seed=seed,
    )


def compile_saliency_model(model, learning_rate=1e-3, weight_decay=None):
    """Adam (AdamW when `weight_decay` is given), as in the authors' code."""
    if weight_decay:
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
    else:
        optimizer = keras.optimizers.Adam(learning_rate)
    model.compile(optimizer=optimizer)
    return model


def completed_epochs(output_dir):
    """Epochs recorded in the output's training log (0 when there is none)."""
    path = os.path.join(output_dir, LOG_FILE)
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return max(0, sum(1 for line in f if line.strip()) - 1)


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
    with open(os.path.join(output_dir, RUN_CONFIG_FILE), "w") as f:
        json.dump(record, f, indent=2, sort_keys=True, default=str)


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
    """
    callbacks = list(callbacks or [])
    initial_epoch = 0
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        state_path = os.path.join(output_dir, FIT_STATE_FILE)
        if os.path.isdir(os.path.join(output_dir, BACKUP_DIR)) and os.path.exists(state_path):
            with open(state_path) as f:  # an interrupted run: the same epoch range again
                state = json.load(f)
            initial_epoch, epochs = state["initial_epoch"], state["epochs"]
        elif os.path.exists(os.path.join(output_dir, MODEL_FILE)):  # a finished run: continue it
            initial_epoch = completed_epochs(output_dir)
        with open(state_path, "w") as f:
            json.dump({"initial_epoch": initial_epoch, "epochs": epochs}, f)
        callbacks += [
            keras.callbacks.BackupAndRestore(os.path.join(output_dir, BACKUP_DIR)),
            keras.callbacks.CSVLogger(os.path.join(output_dir, LOG_FILE), append=True),
        ]
        model.config.save(os.path.join(output_dir, CONFIG_FILE))
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
    if output_dir:
        path = os.path.join(output_dir, MODEL_FILE)
        model.save(path)
        os.remove(os.path.join(output_dir, FIT_STATE_FILE))
        logger.info("Saved %s", path)
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
