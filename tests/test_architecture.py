"""docs/ARCHITECTURE.md's "may import" table held against the code: every import of every module
of the package (those inside functions included) between two of its parts must be one the table
allows, every part must have a row, and no import loop may exist."""

import ast
import collections
import os
import pathlib
import re

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = REPO / "keras_saliency"
ARCHITECTURE = REPO / "docs" / "ARCHITECTURE.md"
EVERYTHING = "everything"


def module_name(path):
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules():
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def part_of(module):
    """The part of the package a module belongs to: its folder, or the top-level module's name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path, modules):
    """`(imported module, line)` for every import statement of the file (relative ones resolved;
    `from package import submodule` counts as the submodule)."""
    name = module_name(path)
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                yield (submodule if submodule in modules else source), node.lineno


def package_imports():
    """`(importing module, imported module, line)` for every import inside the package."""
    modules = package_modules()
    edges = []
    for name, path in sorted(modules.items()):
        for target, line in imports_of(path, modules):
            if target == "keras_saliency" or target.startswith("keras_saliency."):
                edges.append((name, target, line))
    return edges


def read_rules(text):
    """{part: set of the parts it may import, or EVERYTHING} from the table's rows."""
    rules = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) != 3:
            continue
        parts = [token.rstrip("/") for token in re.findall(r"`([^`]+)`", cells[0])]
        allowed = cells[2]
        if allowed.startswith(EVERYTHING):
            value = EVERYTHING
        else:
            value = {token.rstrip("/") for token in re.findall(r"`([^`]+)`", allowed)}
        for part in parts:
            rules[part] = value
    return rules


def violations(edges, rules):
    """One line per import the rules do not allow."""
    found = []
    for source, target, line in edges:
        a, b = part_of(source), part_of(target)
        if a == b:
            continue
        allowed = rules.get(a, set())
        if allowed != EVERYTHING and b not in allowed:
            found.append(f"{source} (line {line}) imports {target}: `{a}` may import only {sorted(allowed)}")
    return found


def import_loops(edges):
    """The groups of modules that import each other, directly or through others (Tarjan)."""
    graph = collections.defaultdict(set)
    for source, target, _ in edges:
        if source != target:
            graph[source].add(target)
    index, low, stack, on_stack, loops = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                loops.append(sorted(group))

    for node in sorted(set(graph) | {t for targets in graph.values() for t in targets}):
        if node not in index:
            visit(node)
    return loops


RULES = read_rules(ARCHITECTURE.read_text())


def test_every_import_between_parts_is_one_the_table_allows():
    assert violations(package_imports(), RULES) == []


def test_every_part_of_the_package_has_a_row():
    parts = {part_of(name) for name in package_modules()}
    assert sorted(parts - set(RULES)) == []
    assert sorted(set(RULES) - parts) == []  # no row for a part that is gone


def test_no_import_loop_inside_the_package():
    assert import_loops(package_imports()) == []


# What the checker must catch: the misplaced pieces and the loop of an earlier layout.
OLD_LAYOUT = [
    ("keras_saliency.training.callbacks", "keras_saliency.explain.pictures", 9),
    ("keras_saliency.evaluation.runner", "keras_saliency.explain.pictures", 451),
    ("keras_saliency.deployment.benchmark", "keras_saliency.evaluation.tables", 16),
    ("keras_saliency.deployment.export_files", "keras_saliency.explain.files", 195),
    ("keras_saliency.evaluation.evaluate", "keras_saliency.explain.files", 95),
    ("keras_saliency.models.classifiers", "keras_saliency.training.fit", 376),
    ("keras_saliency.deployment.benchmark", "keras_saliency.training.fit", 315),
]


def test_the_checker_reports_each_import_of_an_earlier_layout():
    found = violations(OLD_LAYOUT, RULES)
    assert len(found) == len(OLD_LAYOUT), found
    assert "keras_saliency.models.classifiers (line 376) imports keras_saliency.training.fit" in found[5]


def test_the_checker_finds_a_loop_between_two_modules():
    loop = [("keras_saliency.models.model", "keras_saliency.models.ensemble", 21),
            ("keras_saliency.models.ensemble", "keras_saliency.models.model", 105),
            ("keras_saliency.models.ensemble", "keras_saliency.models.layers", 20)]
    assert import_loops(loop) == [["keras_saliency.models.ensemble", "keras_saliency.models.model"]]
    assert import_loops(loop[:1] + loop[2:]) == []


@pytest.mark.parametrize("source, expected", [("from . import sibling", "keras_saliency.explain"),
                                              ("from ..models import layers", "keras_saliency.models")])
def test_relative_imports_resolve_to_the_package(tmp_path, source, expected):
    folder = tmp_path / "keras_saliency" / "explain"
    folder.mkdir(parents=True)
    path = folder / "files.py"
    path.write_text(source + "\n")
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        targets = [target for target, _ in imports_of(path, {})]
    finally:
        REPO = saved
    assert targets == [expected]


def test_the_table_is_read_row_by_row():
    rules = read_rules("| `a/`, `b` | owns | `c/`, `d`; NumPy |\n| `e/` | x | everything, lazily |\n| no | x | y |")
    assert rules == {"a": {"c", "d"}, "b": {"c", "d"}, "e": EVERYTHING}
    assert os.path.exists(ARCHITECTURE)


# The command layers: click's commands, the entry point, the flag table, the runners' command line.
COMMAND_LAYER = ("cli/", "launcher.py", "flags.py", "runtime/command.py")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
OPTION_ASSIGNMENT = re.compile(r"^--[a-z_]+=$")  # an option string built for another program (Beam)


def library_strings():
    """`(file, line, text)` of every string of the library outside the command layers that is not
    a docstring (messages, log lines, f-string parts)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(COMMAND_LAYER):
            continue
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                yield relative, node.lineno, node.value


def test_no_library_message_names_a_flag_or_a_command_error():
    flagged = [f"{file}:{line}: {text[:80]!r}" for file, line, text in library_strings()
               if FLAG.search(text) and not OPTION_ASSIGNMENT.match(text)]
    assert flagged == []
    names = [f"{path.relative_to(PACKAGE)}" for path in PACKAGE.rglob("*.py")
             if re.search(r"\b(CommandError|TrainError)\b", path.read_text())]
    assert names == []


def test_the_flag_scan_sees_messages_and_not_docstrings(tmp_path):
    package = tmp_path / "keras_saliency"
    package.mkdir()
    (package / "library.py").write_text('"""Run with --epochs 3."""\n\n\ndef f(x):\n    """--ok in a docstring."""\n'
                                        '    raise ValueError(f"give --epochs, not {x}")\n')
    (package / "flags.py").write_text('TABLE = {"epochs": "--epochs"}\n')
    global PACKAGE
    saved, PACKAGE = PACKAGE, package
    try:
        found = [(file, line) for file, line, text in library_strings() if FLAG.search(text)]
    finally:
        PACKAGE = saved
    assert found == [("library.py", 6)]


def test_every_flag_of_the_table_is_a_flag_of_a_command():
    import click

    from keras_saliency.cli import main
    from keras_saliency.flags import PARAMETER_FLAGS, as_flags

    flags = {option for command in main.commands.values() for parameter in command.params
             if isinstance(parameter, click.Option) for option in parameter.opts}
    assert sorted(set(PARAMETER_FLAGS.values()) - flags) == []
    assert as_flags("give `overwrite=True`, `class_name=cat` or `tensorrt`") == "give --overwrite, --class cat or `tensorrt`"


def private_names_used(source):
    """`(module, name)` for each `from keras_saliency... import name` in `source` whose module
    does not declare `name` in its `__all__` (a sub-module imported by name counts as declared)."""
    import importlib
    import types

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "keras_saliency":
            module = importlib.import_module(node.module)
            declared = set(getattr(module, "__all__", ()))
            for alias in node.names:
                if alias.name not in declared and not isinstance(getattr(module, alias.name, None), types.ModuleType):
                    found.append((node.module, alias.name))
    return found


def test_tools_use_only_the_declared_api():
    """The recipes in tools/ are what a user can write: they import only names that the package's
    modules declare in `__all__`."""
    tools = pathlib.Path(__file__).resolve().parents[1] / "tools"
    used = {path.name: private_names_used(path.read_text()) for path in sorted(tools.glob("*.py"))}
    assert used and not any(used.values()), used


def test_the_declared_api_check_reports_a_private_name():
    source = "from keras_saliency.training import train_masker\nfrom keras_saliency.training.run import _train\n"
    assert private_names_used(source) == [("keras_saliency.training.run", "_train")]
