"""Every notebook runs, top to bottom, in fast mode (KERAS_SALIENCY_FAST=1: fewer images and
steps, the same code) without network: tensorflow-datasets is mocked by a cell put in front.
The committed notebooks carry no outputs."""

import glob
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notebooks", "*.ipynb")))
MOCK_DATA = (
    "import tensorflow_datasets as tfds\n"
    "_mock = tfds.testing.mock_data(num_examples=64)  # no network in the test suite\n"
    "_mock.__enter__()"
)


def test_there_are_three_notebooks_with_a_colab_badge_and_no_outputs():
    assert [os.path.basename(p) for p in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_train_your_own.ipynb", "03_deploy.ipynb"]
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert "colab.research.google.com/assets/colab-badge.svg" in notebook.cells[0].source
        assert "google.colab" in notebook.cells[1].source  # installs the package on Colab
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_in_fast_mode(path, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_SALIENCY_FAST", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(MOCK_DATA))
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    text = "\n".join(
        output.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    )
    assert "Traceback" not in text
