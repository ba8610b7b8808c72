"""The library's parameter names as the flags of its command lines (`keras-saliency` and the
runners of exported models): library messages name parameters (`class_name`, `data_dir=DIR`), and
the command layers print them as flags (--class, --data-dir DIR) with `as_flags`. The standard
library only.

Example:

>>> as_flags("Expected `data_dir` for the folder dataset. Received: none")
'Expected --data-dir for the folder dataset. Received: none'
"""

import re

# The one table of parameter names whose flag is not the name with "-" for "_".
PARAMETER_FLAGS = {
    "class_name": "--class",
    "class_id": "--class",
    "model_name": "--model",
    "options": "--option",
    "extra_maskers": "--extra-masker",
    "objective_options": "--objective-option",
    "overrides": "--set",
    "export_format": "--format",
    "manual_dir": "--data-dir",
}
_PARAMETER = re.compile(r"`([a-z][a-z0-9_]*)(=[^`]*)?`")


def as_flags(message):
    """A library message with its parameter names (written `name` or `name=value`) as the flags
    that set them.

    Args:
        message: the library's one-line message.

    Example:

    >>> as_flags("Expected a class id in [0, 10). Received: `class_name=zebra`")
    'Expected a class id in [0, 10). Received: --class zebra'
    """
    def flag(match):
        name, value = match.group(1), match.group(2)
        option = PARAMETER_FLAGS.get(name, "--" + name.replace("_", "-"))
        if value is None:
            return option
        value = value[1:]
        return option if value == "True" else f"{option} {value}"

    return _PARAMETER.sub(flag, message)
