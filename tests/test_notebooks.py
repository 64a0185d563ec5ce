"""The notebooks: each runs alone in an empty folder against the installed wheel, and its file.

:func:`installed` installs the wheel built from this checkout (the ``wheel`` fixture) into a fresh virtual
environment whose other packages are this interpreter's (a ``.pth`` file names its
site-packages: nothing is downloaded). Each notebook is then copied alone into an empty
folder and run there in its smoke mode (``CI`` set), by a kernel of that environment,
with the data folders as the only paths it is given: a notebook that reads a file of the
repository fails. The other tests check the files: valid nbformat, the first cells every
notebook opens with, and what the documentation's pages show (myst-nb drops cells tagged
``remove-cell`` from a page and folds the code of cells tagged ``hide-input``).
"""

import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
HIDDEN_CODE = {"remove-cell", "remove-input", "hide-input"}  # tags that keep code off a page
MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.DOTALL)  # display or inline math
CELL_TIMEOUT_S = 600  #: longest a cell of a smoke run may take
#: Run by the environment's python in the notebook's folder: runs the notebook there with a
#: kernel of that python, then a last cell that prints where the kernel's cvae_pyro is from.
RUNNER = """
import sys
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells.append(nbformat.v4.new_code_cell("import cvae_pyro\\nprint(cvae_pyro.__file__)"))
client = NotebookClient(nb, timeout=int(sys.argv[2]), kernel_name="python3")
try:
    client.execute()
except CellExecutionError as error:
    sys.exit(str(error))
print(nb.cells[-1].outputs[0]["text"].strip())
"""


def tags(cell) -> set[str]:
    return set(cell.metadata.get("tags", []))


def repository_url() -> str:
    """``[project.urls] Repository`` of pyproject.toml."""
    found = re.search(r'^Repository = "(.+)"$', (REPO / "pyproject.toml").read_text(), re.M)
    assert found, "pyproject.toml has no Repository URL"
    return found.group(1)


def colab_link(path: Path) -> str:
    """The Colab address of a notebook, from the repository's URL."""
    github = repository_url().removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{github}/blob/main/notebooks/{path.name}"


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory) -> tuple[Path, Path]:
    """A fresh virtual environment with the wheel built from this checkout: its python and
    its site-packages."""
    tmp = tmp_path_factory.mktemp("venv")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    ask = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    packages = Path(
        subprocess.run([python, "-c", ask], capture_output=True, text=True).stdout.strip()
    )
    paths = sysconfig.get_paths()
    ours = {*site.getsitepackages(), paths["purelib"], paths["platlib"]}
    (packages / "dependencies.pth").write_text("".join(f"{path}\n" for path in sorted(ours)))
    install = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, capture_output=True)
    return python, packages


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_alone_in_an_empty_folder(path, installed, data_dir, fashion_dir, tmp_path):
    """Smoke mode, against the installed wheel, in a folder holding only the notebook: it runs
    to the end, its kernel imports the installed package, and it leaves nothing behind."""
    python, packages = installed
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy2(path, work / path.name)
    env = {
        "PATH": os.pathsep.join([str(python.parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "CI": "true",
        "CVAE_PYRO_DATA": str(data_dir.resolve()),
        "CVAE_PYRO_FASHION_DATA": str(fashion_dir.resolve()),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "OMP_WAIT_POLICY": "PASSIVE",
        "TQDM_DISABLE": "1",
        "PYTHONWARNINGS": "ignore:IProgress not found",  # tqdm.auto in a kernel without widgets
    }
    done = subprocess.run(
        [python, "-c", RUNNER, path.name, str(CELL_TIMEOUT_S)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    assert Path(done.stdout.strip()).is_relative_to(packages / "cvae_pyro"), done.stdout
    assert sorted(p.name for p in work.iterdir()) == [path.name]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) == 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_valid_nbformat(path):
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(notebook)  # raises nbformat.ValidationError naming the bad field


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_its_colab_link_install_and_parameters(path):
    """Title and Colab link, the shown cell that installs the package from the repository's
    URL when it is missing, then the hidden ``smoke_test`` switch, and nothing else there."""
    title, install, parameters = nbformat.read(path, as_version=4).cells[:3]
    lines = title.source.splitlines()
    assert title.cell_type == "markdown" and lines[0].startswith("# ")
    assert lines[1:4] == ["", f"[Open in Colab]({colab_link(path)})", ""]
    assert install.cell_type == "code" and not tags(install) & HIDDEN_CODE
    assert f'    url = "git+{repository_url()}"\n' in install.source
    assert 'f"cvae-pyro @ {url}"' in install.source
    assert install.source.startswith("# In Colab or a fresh Jupyter: install the package")
    assert {"parameters", "remove-cell"} <= tags(parameters)
    code = [line.partition("  #")[0] for line in parameters.source.splitlines() if line]
    assert code == [
        "import os",
        'smoke_test = "CI" in os.environ',
        'print("mode:", "smoke test (CI)" if smoke_test else "full run")',
    ]


def test_the_docs_link_every_notebook_to_colab():
    page = (REPO / "docs" / "notebooks.md").read_text()
    for path in NOTEBOOKS:
        assert f"]({colab_link(path)})" in page, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_names_no_file_of_the_repository(path):
    """What the run in an empty folder would catch, said where it is written."""
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "code":
            found = re.findall(
                r"notebook_setup|shared/data|pyproject|\.\./|tune_openmp", cell.source
            )
            assert not found, f"cell {index}: {found}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_page_shows_no_test_switch_or_clean_up(path):
    """The smoke-test switch and the removal of a smoke run's checkpoints are left off the page."""
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and ("parameters" in tags(cell) or "rmtree" in cell.source):
            assert "remove-cell" in tags(cell), f"cell {index} is shown:\n{cell.source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_math_has_no_escaped_underscore(path):
    """MathJax shows ``\\_`` inside math with its backslash: names go outside the math."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for match in MATH.finditer(cell.source):
                assert "\\_" not in match.group(0), match.group(0)


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
    committed = (REPO / "results/label/label_quality.md").read_text()
    assert shown.strip() == committed.strip()


def test_the_runner_refuses_a_name_that_matches_no_notebook():
    done = subprocess.run(
        [sys.executable, str(NOTEBOOK_DIR / "execute.py"), "01", "99"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "notebooks/execute.py: error: no notebook's name starts with '99'"
    )
    assert done.stdout == ""  # refused before any notebook ran
