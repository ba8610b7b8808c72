"""Packaging: one version, the code clean by the project's ruff config, the extras that keep the
library install small, and the command line's line budget."""

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tomllib

import pytest

import keras_saliency

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pyproject():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_one_version_source():
    project = _pyproject()
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "keras_saliency.__version__"}
    assert importlib.metadata.version("keras-saliency") == keras_saliency.__version__


def test_the_plain_install_has_the_command_and_leaves_out_the_runtimes():
    project = _pyproject()["project"]
    base = " ".join(project["dependencies"])
    for name in ("click", "matplotlib", "tensorflow-datasets"):  # `pip install keras-saliency` runs its command
        assert name in base
    for name in ("onnxruntime", "gradio", "apache-beam", "ai-edge-litert"):
        assert name not in base
    for extra in ("cli", "plots", "datasets"):  # still accepted by pip, as older docs name them
        assert extra in project["optional-dependencies"]
    assert project["scripts"]["keras-saliency"] == "keras_saliency.launcher:main"


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff") or os.path.join(os.path.dirname(sys.executable), "ruff")
    if not os.path.exists(ruff):
        pytest.fail("ruff is part of the test extra: pip install -e '.[test]'")
    result = subprocess.run([ruff, "check", "--no-cache", "keras_saliency", "tools", "scripts", "tests", "export"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_command_line_stays_thin():
    """Flags and one library call per command: each command module of `keras_saliency/cli/` stays
    short (at most 250 lines of at most 120 characters: ruff's E501 holds the width there, so the
    count cannot be met by long lines), and no command's body (after its flags) grows past a dozen
    lines."""
    import ast

    folder = os.path.join(REPO, "keras_saliency", "cli")
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py") or name == "console.py":
            continue
        with open(os.path.join(folder, name)) as f:
            text = f.read()
        assert len(text.splitlines()) <= 250, name
        assert max(len(line) for line in text.splitlines()) <= 120, name
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef) and node.decorator_list:
                body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body  # after the docstring
                assert body[-1].end_lineno - body[0].lineno + 1 <= 12, f"{name}: {node.name}"


@pytest.mark.slow
def test_importing_the_library_prints_no_tensorflow_start_up_lines():
    code = "import keras_saliency, keras; print('ok')"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
                            cwd=REPO)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    noisy = [line for line in result.stderr.splitlines() if "oneDNN" in line or line.startswith(("I0000", "E0000"))]
    assert not noisy, result.stderr


PACKAGE_BUDGET_MB = 60  # docs/ARCHITECTURE.md, "Installs": the wheel's size budget
MODEL_FILE_BUDGET_MB = 30


def test_the_package_stays_within_its_size_budget():
    """The files the wheel ships (the shipped models are most of it) stay within the stated
    budget; each shipped model has its JSON (commands, figures)."""
    root = os.path.join(REPO, "keras_saliency")
    sizes = {}
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name != "__pycache__"]
        for name in files:
            path = os.path.join(folder, name)
            sizes[os.path.relpath(path, root)] = os.path.getsize(path)
    total = sum(sizes.values()) / 1e6
    assert total <= PACKAGE_BUDGET_MB, f"{total:.1f} MB > {PACKAGE_BUDGET_MB} MB"
    models = [name for name in sizes if name.endswith(".keras")]
    assert models
    for name in models:
        assert sizes[name] / 1e6 <= MODEL_FILE_BUDGET_MB, name
        assert name[: -len(".keras")] + ".json" in sizes, name
