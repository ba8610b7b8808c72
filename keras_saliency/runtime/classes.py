"""Class names for an exported masker: read from the export report written next to it
(`MODEL.report.json`), and `--class` values (an id or a name) resolved against them."""

import json
import os

AUTO = "auto"


def load_metadata(model_path):
    """The export report next to the model (`MODEL.report.json`; for an engine or a float16 /
    int8 ONNX model, that of the ONNX model it came from) as a dict, `{}` when there is none.

    Args:
        model_path: the exported model file (`.tflite`, `.onnx`, `.engine`, `.plan`).

    Raises:
        ValueError: the report is not readable JSON.

    Example:

    ```python
    class_names = load_metadata("cifar10.onnx").get("class_names")
    ```
    """
    model_path = os.fspath(model_path).rstrip("/")
    stem = os.path.splitext(model_path)[0]
    for suffix in (".float16", ".int8"):
        stem = stem[: -len(suffix)] if stem.endswith(suffix) else stem
    for path in (model_path + ".report.json", stem + ".onnx.report.json"):
        if os.path.exists(path):
            try:
                with open(path) as f:
                    metadata = json.load(f)
            except (OSError, ValueError) as error:
                raise ValueError(f"Expected a readable JSON report in {path}. Received: {error}") from None
            return metadata if isinstance(metadata, dict) else {}
    return {}


def resolve_class(value, class_names=None, num_classes=None):
    """A `--class` value as a class id: "auto" stays "auto"; digits are an id (checked against
    `num_classes` or the number of names); a name matches exactly, then ignoring case, then the
    first name of a "goldfish, Carassius auratus" list.

    Args:
        value: the `--class` value: "auto", a class id (digits) or a class name.
        class_names: the model's class names, or `None`.
        num_classes: the number of classes ids are checked against, or `None` (the number of
            names).

    Raises:
        ValueError: an id out of range, an unknown name (the message gives examples) or a name
            several classes share (e.g. ImageNet's two "crane"s: the message gives their ids).

    Example:

    ```python
    resolve_class("Cat", ["airplane", "automobile", "bird", "cat"])  # 3
    ```
    """
    value = str(value)
    if value == AUTO:
        return value
    names = [str(n) for n in class_names or []]
    count = num_classes or len(names) or None
    if value.isdigit():
        if count and int(value) >= count:
            raise ValueError(f"Expected a class id in [0, {count}). Received: `class_name={value}`")
        return int(value)
    for same in (lambda n: n == value, lambda n: n.lower() == value.lower(),
                 lambda n: n.split(",")[0].strip().lower() == value.lower()):
        matches = [i for i, n in enumerate(names) if same(n)]
        if len(matches) > 1:
            raise ValueError(f"Expected a name of one class. Received: `class_name={value}`, which names classes "
                             f"{', '.join(map(str, matches))} (give the id)")
        if matches:
            return matches[0]
    if not names:
        raise ValueError(f"Expected a class id (this model has no class names: no MODEL.report.json next "
                         f"to it). Received: `class_name={value}`")
    raise ValueError(f"Expected a class id or one of the model's {len(names)} class names "
                     f"({_suggestions(value, names)}). Received: `class_name={value}`")


def _suggestions(value, names, count=3):
    """"did you mean golden retriever (207)?": names containing the value, then close spellings;
    else a few examples."""
    import difflib

    lowered = [n.lower() for n in names]
    found = [i for i, n in enumerate(lowered) if value.lower() in n]
    close = difflib.get_close_matches(value.lower(), lowered, n=count, cutoff=0.6)
    found += [i for i in (lowered.index(c) for c in close) if i not in found]
    if found:
        return "did you mean " + ", ".join(f"{names[i]} ({i})" for i in found[:count]) + "?"
    return "e.g. " + ", ".join(names[:count])
