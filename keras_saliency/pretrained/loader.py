"""Opening a masker by name or file: a shipped model (`keras_saliency.pretrained`) or a
`.keras` file with the run's class names next to it; every layer that explains, evaluates or
exports starts here."""

import json
import os


def load_saliency_model(name_or_path, confidence=None):
    """Loads a masker to explain with.

    Args:
        name_or_path: a shipped model name (`keras_saliency.pretrained.available()`) or a
            `.keras` file, loaded with `keras_saliency.models.files.load_model_file` (limits
            checked, Keras' safe mode on).
        confidence: None, or the selector confidence to set.

    Returns:
        `(SaliencyModel, class names or None, info dict)`. A file's class names are the ones
        saved in the model (`SaliencyModel.class_names`), else those of the `run_config.json`
        next to it; its info is that run config (or `{}`).

    Raises:
        ValueError: with a one-line message, for a missing file, a file that holds no masker
            or an unreadable run config.

    Example:

    ```python
    model, class_names, info = load_saliency_model("cifar10")
    ```
    """
    from keras_saliency.models.model import SaliencyModel
    from keras_saliency.models.files import load_model_file
    from keras_saliency.pretrained.shipped import available, check_model, class_names, info, load

    if name_or_path in available():
        return load(name_or_path, confidence), class_names(name_or_path), info(name_or_path)
    check_model(name_or_path)
    try:
        model = load_model_file(name_or_path)
    except Exception as error:  # Keras rejects a bad file with ValueError, TypeError, KeyError...
        lines = str(error).strip().splitlines()
        raise ValueError(f"could not load the masker {name_or_path}: "
                         f"{lines[0] if lines else type(error).__name__}"[:400]) from None
    if not isinstance(model, SaliencyModel):
        raise ValueError(
            f"Expected a masker saved by keras-saliency (a SaliencyModel .keras file). Received: "
            f"{name_or_path} holds a {type(model).__name__} (to explain a classifier, train a masker for it "
            "with `keras-saliency train` or `keras_saliency.train_masker`)")
    if confidence is not None:
        model.masker.set_confidence(confidence)
    info = {}
    run_config = os.path.join(os.path.dirname(os.path.abspath(name_or_path)), "run_config.json")
    if os.path.isfile(run_config):
        try:
            with open(run_config) as f:
                info = json.load(f)
        except (ValueError, UnicodeDecodeError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"could not read {run_config} (the run's class names): {first}") from None
        names = info.get("class_names") if isinstance(info, dict) else None
        if not isinstance(info, dict) or not (names is None or (
                isinstance(names, list) and all(isinstance(n, str) for n in names))):
            raise ValueError(f"Expected a JSON object with a list of class names in {run_config}. Received: "
                             f"{type(info).__name__} with class_names={str(names)[:60]}")
    names = model.class_names or (info.get("class_names") if isinstance(info, dict) else None)
    return model, names, info
