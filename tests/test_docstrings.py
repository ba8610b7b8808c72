"""The declared API (each sub-package's `__all__`, and the package's own) documents its arguments
(`Args:`) and shows a call (`Example:`); every `>>>` example in the package runs and gives what it
says."""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import keras_saliency

MODULES = sorted(m.name for m in pkgutil.walk_packages(keras_saliency.__path__, "keras_saliency."))
SUBPACKAGES = sorted(m.name for m in pkgutil.iter_modules(keras_saliency.__path__, "keras_saliency.") if m.ispkg
                     and m.name not in ("keras_saliency.cli", "keras_saliency.samples"))


def declared(package):
    """`(name, object)` of the package's `__all__` that are functions or classes."""
    module = importlib.import_module(package)
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            yield name, obj


def undocumented(objects):
    missing = []
    for name, obj in objects:
        doc = inspect.getdoc(obj) or ""
        takes_arguments = (not inspect.isfunction(obj)) or any(
            p not in ("self", "args", "kwargs") for p in inspect.signature(obj).parameters)
        if "Example" not in doc or (takes_arguments and "Args:" not in doc):
            missing.append(name)
    return missing


def test_every_subpackage_declares_its_api():
    assert "keras_saliency.reports" in SUBPACKAGES and "keras_saliency.training" in SUBPACKAGES
    for package in SUBPACKAGES + ["keras_saliency"]:
        module = importlib.import_module(package)
        names = getattr(module, "__all__", None)
        assert names, f"{package} declares no __all__"
        unknown = [name for name in names if not hasattr(module, name)]
        assert not unknown, f"{package}.__all__ names what it does not have: {unknown}"


@pytest.mark.parametrize("package", SUBPACKAGES + ["keras_saliency"])
def test_the_declared_api_has_args_and_an_example(package):
    missing = undocumented(declared(package))
    assert not missing, f"{package}: add Args: and Example: to {missing}"


def test_the_check_finds_a_function_without_an_example():
    def documented(x):
        """Doubles.

        Args:
            x: a number.

        Example:

        >>> documented(2)
        4
        """
        return 2 * x

    def bare(x):
        """Doubles."""
        return 2 * x

    assert undocumented([("documented", documented), ("bare", bare)]) == ["bare"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name):
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
