"""Command options as data, without click: `KEY=VALUE` assignments (`--set`, `--option`) and
the optional modules a command needs (`missing_modules`).

Example:

>>> parse_assignments(["epochs=3"])
{'epochs': 3}
"""

import json
import sys

from keras_saliency.errors import CommandError


def install_hint(extra):
    """How to install one of the package's extras, from PyPI and from a clone of the repository.

    Args:
        extra: the extra's name ("export", "beam", "app", ...).

    Example:

    >>> install_hint("export")
    'pip install "keras-saliency[export]" (from a clone: pip install ".[export]")'
    """
    return f'pip install "keras-saliency[{extra}]" (from a clone: pip install ".[{extra}]")'


def parse_assignments(items, field=None):
    """`["a=1", "b.c=[2, 3]", "d=text"]` -> `{"a": 1, "b.c": [2, 3], "d": "text"}`: values are
    JSON, or plain strings when they are not JSON. `field`: the option named in errors.

    Args:
        items: the `KEY=VALUE` strings.
        field: the option named in the `CommandError` raised for an item without `=`
            (default: none).

    Example:

    >>> parse_assignments(["a=1", "b=text"])
    {'a': 1, 'b': 'text'}
    """
    parsed = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"expected KEY=VALUE; received {item!r}", kind="parameter", field=field)
        try:
            parsed[key] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key] = value
    return parsed


def missing_modules(names):
    """The modules of `names` that cannot be imported (found without importing them).

    Args:
        names: top-level module names, e.g. `["onnx", "tensorrt"]`.

    Example:

    >>> missing_modules(["json", "no_such_module_here"])
    ['no_such_module_here']
    """
    import importlib.util

    missing = []
    for name in names:
        try:
            found = sys.modules[name] is not None if name in sys.modules else importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing
