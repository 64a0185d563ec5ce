"""The notebooks as files: valid nbformat, and the data folder their kernels are given.

nbmake runs the notebooks themselves (``pytest --nbmake notebooks``); these tests check
what must hold before a kernel starts.
"""

import os
from pathlib import Path

import nbformat
import pytest

from cvae_pyro.data import DATA_ENV_VAR

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_valid_nbformat(path):
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)  # raises nbformat.ValidationError naming the bad field


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_a_parameters_cell_with_smoke_test(path):
    """Every notebook sizes itself from one ``smoke_test`` flag in a tagged cell."""
    notebook = nbformat.read(path, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "smoke_test" in tagged[0].source


def test_relative_data_folder_is_made_absolute_for_the_kernels():
    """The root conftest.py resolves a relative CVAE_PYRO_DATA against the directory
    pytest was started in, because nbmake starts the kernels in notebooks/."""
    folder = os.environ.get(DATA_ENV_VAR)
    if not folder:
        pytest.skip(f"{DATA_ENV_VAR} is not set")
    assert Path(folder).is_absolute(), folder


def test_committed_notebooks_carry_full_run_outputs():
    """Every committed notebook shows a full run (notebooks/execute.py), never a smoke run."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(
            out.get("text", "") for cell in nb.cells for out in cell.get("outputs", [])
        )
        assert "mode: full run" in text, path.name
        assert "mode: smoke test" not in text, path.name
        assert "/tmp/" not in text and "cvae_pyro_" not in text, path.name


def test_notebook_03_shows_the_committed_label_benchmark():
    """Its benchmark cell's committed output is today's results/label/label_quality.md."""
    nb = nbformat.read(Path(__file__).parents[1] / "notebooks/03_label_conditional.ipynb", 4)
    cell = next(c for c in nb.cells if "label_quality.md" in c.source and c.cell_type == "code")
    shown = "".join(o["data"]["text/markdown"] for o in cell.outputs if "data" in o)
    committed = (Path(__file__).parents[1] / "results/label/label_quality.md").read_text()
    assert shown.strip() == committed.strip()
