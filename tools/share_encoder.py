"""Re-saves a `SaliencyModel` whose encoder is a frozen COPY of its classifier's layers (the
format of models saved before the encoder shared them) so that the encoder IS the classifier's
layers: the classifier's weights are then stored once. The masks are unchanged (checked).

    python scripts/resave_shared_encoder.py keras_saliency/pretrained/imagenet-darknet-tiny.keras
"""

import numpy as np


def tap_layer_names(encoder):
    """The classifier layers an encoder from `build_encoder` taps, shallow to deep."""
    taps = [layer for layer in encoder.layers if layer.name.endswith("_taps")]
    if len(taps) != 1:
        raise ValueError(f"Expected an encoder made by build_encoder (one '*_taps' model). Received: {encoder.name}")
    return [tensor._keras_history.operation.name for tensor in taps[0].outputs]


def share_encoder(model, check_images=None):
    """A copy of `model` whose encoder shares the classifier's layers; `check_images` (N, S, S, 3):
    the masks and "exists" of both models are compared on them (max difference returned)."""
    from keras_saliency.models import build_encoder, shared_taps
    from keras_saliency.models import Masker
    from keras_saliency.models import SaliencyModel

    old = model.masker
    if shared_taps(old.encoder):
        return model, 0.0
    preprocessing = [layer.mode for layer in old.encoder.layers if type(layer).__name__ == "Preprocessing"]
    encoder = build_encoder(model.classifier, tap_layer_names(old.encoder), image_size=old.encoder.input_shape[1],
                            preprocessing=preprocessing[0] if preprocessing else "none", name=old.encoder.name,
                            share_weights=True)
    masker = Masker.from_config({**old.get_config(), "encoder": encoder})
    for layer in old.layers:
        if layer is old.encoder or not layer.weights:
            continue
        masker.get_layer(layer.name).set_weights(layer.get_weights())
    config = model.get_config()
    shared = SaliencyModel(masker, model.classifier, clone_classifier=False, config=config["config"],
                           classifier_preprocessing=config["classifier_preprocessing"],
                           classifier_output=config["classifier_output"], upsample=config["upsample"],
                           seed=config["seed"], class_names=config["class_names"])
    difference = 0.0
    if check_images is not None:
        ids = np.arange(len(check_images)) % model.num_classes
        before, after = model.explain(check_images, ids), shared.explain(check_images, ids)
        difference = max(float(np.abs(before[k] - after[k]).max()) for k in ("mask", "exists"))
    return shared, difference
