"""The README as a reader meets it: its commands run as written, its Pyro code is the
package's, and its notebook links open the repository's notebooks."""

import inspect
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cvae_pyro.cli import config
from cvae_pyro.models import CVAE

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
EXAMPLES = Path("docs") / "_static" / "examples"


def code_blocks(language: str, section: str = "") -> list[str]:
    """The ``language`` code blocks of the README, from heading ``section`` on."""
    text = README[README.index(section) :] if section else README
    return re.findall(rf"```{language}\n(.*?)```", text, re.DOTALL)


def commands() -> list[list[str]]:
    """Every ``python -m cvae_pyro.<command> ...`` line of the README, as words."""
    lines = [line for block in code_blocks("bash") for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("python -m cvae_pyro.")]


def test_every_command_of_the_readme_is_accepted_by_its_command():
    """Each line parses into its command's settings (a renamed or removed flag fails)."""
    seen = set()
    for words in commands():
        name = words[2].removeprefix("cvae_pyro.")
        args = config.build_parser(name).parse_args(words[3:])  # exits 2 on a bad flag
        config.COMMANDS[name](**vars(args))
        seen.add(name)
    assert seen == {"complete", "sample", "train", "evaluate", "reproduce"}


def test_the_model_and_guide_shown_are_the_package_code():
    """The README's Python block is CVAE.model and CVAE.guide, line for line."""
    block = code_blocks("python", "## The model in Pyro")[0]
    shown = [line.strip() for line in block.splitlines() if line.strip()]
    source = [
        line.strip()
        for method in (CVAE.model, CVAE.guide)
        for line in inspect.getsource(method).splitlines()
        if line.strip() and not line.strip().startswith(('"""', "#"))
    ]
    assert shown == source


def test_every_notebook_has_its_colab_link_built_from_the_repository_address():
    pyproject = (ROOT / "pyproject.toml").read_text()
    repository = re.search(r'^Repository = "https://github.com/(.+)"$', pyproject, re.M)[1]
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        link = f"https://colab.research.google.com/github/{repository}/blob/main/notebooks/{notebook.name}"
        assert f"]({link})" in README, notebook.name


@pytest.mark.slow
def test_the_quick_start_runs_as_written_in_an_empty_folder(tmp_path):
    section = code_blocks("bash", "## Try it in a minute")[0]
    lines = [line for line in section.splitlines() if line.startswith("python -m cvae_pyro.")]
    assert [line.split()[2] for line in lines] == [
        "cvae_pyro.complete",
        "cvae_pyro.sample",
        "cvae_pyro.sample",
    ]
    shutil.copytree(ROOT / EXAMPLES, tmp_path / EXAMPLES)  # a clone has them; no data, no runs/
    for line in lines:
        args = line.split()[1:]
        done = subprocess.run(
            [sys.executable, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        assert "by the shipped MNIST" in done.stdout  # no model trained: the shipped ones draw
        out = tmp_path / args[args.index("--out") + 1]
        with Image.open(out) as figure:
            assert figure.format == "PNG" and figure.width > 400 and figure.height > 100
    read = [row for row in done.stdout.splitlines() if row.endswith("<- read")]
    assert [row.split()[0] for row in read] == ["7"]  # --style-of read the 7 as a 7
