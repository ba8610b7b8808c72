"""The library's parameter names as the flags of its command lines (`keras-saliency` and the
runners of exported models): library messages name parameters (`class_name`, `data_dir=DIR`), and
the command layers print them as flags (--class, --data-dir DIR) with `as_flags`. The standard
library only.

Example:

>>> as_flags("Expected `data_dir` for the folder dataset. Received: none")
'Expected --data-dir for the folder dataset. Received: none'
"""

import re

# The one table: each parameter a library message may name, and the flag that sets it. A name
# not in it (a module, a field) is printed as it is.
PARAMETER_FLAGS = {
    "allow_failed_verification": "--allow-failed-verification",
    "batch_sizes": "--batch-sizes",
    "calibration_data": "--calibration-data",
    "camera": "--camera",
    "class_id": "--class",
    "class_name": "--class",
    "classifier": "--classifier",
    "data_dir": "--data-dir",
    "dataset": "--dataset",
    "epochs": "--epochs",
    "export_format": "--format",
    "extra_masker": "--extra-masker",
    "format": "--format",
    "input_dtype": "--input-dtype",
    "int8_float": "--int8-float",
    "int8_float_through": "--int8-float-through",
    "int8_ranges": "--int8-ranges",
    "manual_dir": "--data-dir",
    "masker_options": "--masker-option",
    "max_batch_size": "--max-batch-size",
    "methods": "--methods",
    "model": "--model",
    "model_name": "--model",
    "objective_options": "--objective-option",
    "option": "--option",
    "output": "--output",
    "overwrite": "--overwrite",
    "quantize": "--quantize",
    "runtime": "--runtime",
    "trt": "--trt",
    "trust_savedmodel": "--trust-savedmodel",
    "weights": "--weights",
}
_PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)(=[^`]*)?`")


def as_flags(message):
    """A library message with its parameter names (written `name` or `name=value`, a name of
    `PARAMETER_FLAGS`) as the flags that set them.

    Args:
        message: the library's one-line message.

    Example:

    >>> as_flags("Expected a class id in [0, 10). Received: `class_name=zebra`")
    'Expected a class id in [0, 10). Received: --class zebra'
    """
    def flag(match):
        name, value = match.group(1), match.group(2)
        option = PARAMETER_FLAGS.get(name)
        if option is None:
            return match.group(0)
        if value is None:
            return option
        value = value[1:]
        return option if value == "True" else f"{option} {value}"

    return _PARAMETER.sub(flag, message)
