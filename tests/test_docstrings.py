"""Every public class and function of the package documents its arguments (`Args:`) and shows a
call (`Example:`), and every `>>>` example in the package runs and gives what it says."""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import keras_saliency

MODULES = sorted(m.name for m in pkgutil.walk_packages(keras_saliency.__path__, "keras_saliency."))


def _public(module):
    for name, obj in vars(module).items():
        if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if getattr(obj, "__module__", None) == module.__name__:
            yield name, obj


@pytest.mark.parametrize("name", MODULES)
def test_public_objects_have_args_and_an_example(name):
    module = importlib.import_module(name)
    missing = []
    for attribute, obj in _public(module):
        doc = inspect.getdoc(obj) or ""
        takes_arguments = (not inspect.isfunction(obj)) or any(
            p not in ("self", "args", "kwargs") for p in inspect.signature(obj).parameters)
        if "Example" not in doc or (takes_arguments and "Args:" not in doc):
            missing.append(attribute)
    assert not missing, f"{name}: add Args: and Example: to {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
