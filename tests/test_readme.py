"""The README's Python blocks run as written (in a fresh folder), and the README says what a user
needs: the export extra, `classifier_preprocessing`, no development history.

A block that cannot run here (it needs data that is not shipped) would carry the line
`<!-- readme-test: skip REASON -->` right above its fence and is skipped with that reason;
today every block runs."""

import os
import re

import pytest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
SKIP = re.compile(r"<!-- readme-test: skip (.+?) -->\s*$")


def python_blocks():
    """(first line number, code, skip reason or None) of each ```python block."""
    lines = open(README, encoding="utf-8").read().splitlines()
    blocks, start = [], None
    for number, line in enumerate(lines, 1):
        if start is None and line.strip() == "```python":
            start = number
        elif start is not None and line.strip() == "```":
            marker = SKIP.search(lines[start - 2]) if start >= 2 else None
            blocks.append((start, "\n".join(lines[start:number - 1]), marker.group(1) if marker else None))
            start = None
    return blocks


BLOCKS = python_blocks()


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("start, code, skip", BLOCKS, ids=[f"line{b[0]}" for b in BLOCKS])
def test_python_block_runs(start, code, skip, tmp_path, monkeypatch):
    if skip:
        pytest.skip(f"README.md line {start}: {skip}")
    monkeypatch.chdir(tmp_path)  # files the block writes land here
    exec(compile(code, f"README.md:{start}", "exec"), {"__name__": "__readme__"})


def test_the_readme_names_the_export_extra_and_preprocessing():
    text = open(README, encoding="utf-8").read()
    assert "keras-saliency[export]" in text and '".[export]"' in text
    assert "classifier_preprocessing" in text
    api = text[text.index("## Python API"):]
    assert 'classifier_preprocessing="unit"' in api[: api.index("## Notebooks")]


def test_the_readme_has_no_issue_numbers():
    text = open(README, encoding="utf-8").read()
    assert not re.search(r"\bissues? \d+|#\d+\b", text, re.I)
