"""The notebooks as files: valid nbformat, what their pages show, and their set-up module.

nbmake runs the notebooks themselves (``pytest --nbmake notebooks``); these tests check
what must hold before a kernel starts. The documentation renders the committed
notebooks with myst-nb, which drops cells tagged ``remove-cell`` from a page and folds
the code of cells tagged ``hide-input``.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cvae_pyro.data import DATA_ENV_VAR, FASHION_DATA_ENV_VAR

NOTEBOOK_DIR = Path(__file__).parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
HIDDEN_CODE = {"remove-cell", "remove-input", "hide-input"}  # tags that keep code off a page
MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.DOTALL)  # display or inline math


def tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


def load_setup():
    """notebooks/notebook_setup.py as a module (the notebooks import it from their folder)."""
    spec = importlib.util.spec_from_file_location(
        "notebook_setup", NOTEBOOK_DIR / "notebook_setup.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    tagged = [c for c in notebook.cells if "parameters" in tags(c)]
    assert len(tagged) == 1 and "smoke_test" in tagged[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_page_shows_no_test_switch_clean_up_or_data_plumbing(path):
    """The smoke-test switch and the removal of a smoke run's checkpoints are left off the
    page; code naming the data folders beside the repository is at least folded."""
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if "parameters" in tags(cell) or "rmtree" in cell.source or "remove_run(" in cell.source:
            assert "remove-cell" in tags(cell), f"cell {index} is shown:\n{cell.source}"
        if re.search(r"shared/data|\"shared\"", cell.source):
            assert tags(cell) & HIDDEN_CODE, f"cell {index} shows its code:\n{cell.source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_math_has_no_escaped_underscore(path):
    """MathJax shows ``\\_`` inside math with its backslash: names go outside the math."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for match in MATH.finditer(cell.source):
                assert "\\_" not in match.group(0), match.group(0)


def test_use_shared_data_sets_only_unset_variables_with_a_folder(tmp_path, monkeypatch):
    setup = load_setup()
    (tmp_path / "mnist").mkdir()
    (tmp_path / "fashion-mnist").mkdir()
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.setenv(FASHION_DATA_ENV_VAR, "/somewhere/else")
    assert setup.use_shared_data(tmp_path) == {DATA_ENV_VAR: str(tmp_path / "mnist")}
    assert os.environ[DATA_ENV_VAR] == str(tmp_path / "mnist")
    assert os.environ[FASHION_DATA_ENV_VAR] == "/somewhere/else"
    monkeypatch.delenv(DATA_ENV_VAR)
    assert setup.use_shared_data(tmp_path / "missing") == {}
    assert DATA_ENV_VAR not in os.environ


def test_remove_run_keeps_a_runs_folder_that_holds_other_runs(tmp_path):
    setup = load_setup()
    runs = tmp_path / "runs"
    for name in ("smoke", "full"):
        (runs / name).mkdir(parents=True)
        (runs / name / "cvae.pt").write_bytes(b"weights")
    setup.remove_run(runs / "smoke")
    assert not (runs / "smoke").exists() and (runs / "full" / "cvae.pt").is_file()
    setup.remove_run(runs / "full")
    assert not runs.exists() and tmp_path.is_dir()


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
    nb = nbformat.read(NOTEBOOK_DIR / "03_label_conditional.ipynb", 4)
    cell = next(c for c in nb.cells if "label_quality.md" in c.source and c.cell_type == "code")
    shown = "".join(o["data"]["text/markdown"] for o in cell.outputs if "data" in o)
    committed = (NOTEBOOK_DIR.parent / "results/label/label_quality.md").read_text()
    assert shown.strip() == committed.strip()


def test_the_runner_refuses_a_name_that_matches_no_notebook():
    runner = Path(__file__).resolve().parents[1] / "notebooks" / "execute.py"
    done = subprocess.run(
        [sys.executable, str(runner), "01", "99"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "notebooks/execute.py: error: no notebook's name starts with '99'"
    )
    assert done.stdout == ""  # refused before any notebook ran
