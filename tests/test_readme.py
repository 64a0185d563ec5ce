"""The README's quick start runs as written: the shipped models, the committed example pictures."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = Path("docs") / "_static" / "examples"


def quick_start() -> list[str]:
    """The ``python -m cvae_pyro...`` lines of the README's "Try it in a minute" block."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Try it in a minute") :]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)[1]
    return [line for line in block.splitlines() if line.startswith("python -m cvae_pyro.")]


@pytest.mark.slow
def test_the_quick_start_runs_as_written_in_an_empty_folder(tmp_path):
    lines = quick_start()
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
