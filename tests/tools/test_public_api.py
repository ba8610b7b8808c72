"""`tools/` (the recipes of the shipped models) uses the package's declared API only: every name it
imports from keras_saliency is in the `__all__` of `keras_saliency` or of one of its sub-packages."""

import ast
import importlib
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _imports(folder):
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(folder, name)) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_saliency"):
                yield name, node.module, [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("keras_saliency."):
                        yield name, alias.name, []


def test_tools_import_only_declared_names():
    found, wrong = 0, []
    for file, module, names in _imports(os.path.join(ROOT, "tools")):
        found += 1
        package = importlib.import_module(module)
        if not hasattr(package, "__path__") and module != "keras_saliency":
            wrong.append(f"{file}: {module} is a module, not a package")
            continue
        declared = set(getattr(package, "__all__", ()))
        wrong += [f"{file}: {module}.{name}" for name in names if name not in declared]
    assert found > 10 and not wrong, wrong


def test_the_declared_names_exist():
    for module in ("keras_saliency", "keras_saliency.data", "keras_saliency.models", "keras_saliency.training"):
        package = importlib.import_module(module)
        missing = [name for name in package.__all__ if not hasattr(package, name)]
        assert not missing, (module, missing)
