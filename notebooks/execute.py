"""Run the notebooks in full mode and write their outputs back: ``python notebooks/execute.py``.

Each notebook is executed top to bottom with nbclient in a fresh kernel of this
python, from the ``notebooks/`` folder (its runs go to ``notebooks/runs/``), with ``CI``
unset (so ``smoke_test`` is False) and the data folders of ``--data-dir`` /
``--fashion-data-dir``. The kernel must import this checkout's package and results
(``pip install -e .``): the runner stops before any notebook if it would not. The
executed notebook replaces the committed one only if it ran to the end and no output
holds a machine path (this checkout's folder, the data folders or the system's temporary
folder); the seconds each took go to ``notebooks/execution.json``. The tests run the
notebooks in smoke mode and never write them back (``tests/test_notebooks.py`` fails on
a committed notebook with smoke-mode outputs).

    python notebooks/execute.py                 # all of them
    python notebooks/execute.py 01 04           # the notebooks whose names start so
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
REPO = NOTEBOOKS.parent
TIMES = NOTEBOOKS / "execution.json"  #: seconds per notebook of the last full runs
TIMEOUT_S = 3600  #: longest a cell may run


def outputs_text(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook's outputs show as text (streams, results, errors)."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts += [str(v) for k, v in out.get("data", {}).items() if k.startswith("text/")]
            parts += out.get("traceback", [])
    return "\n".join(parts)


def machine_paths(text: str, data_dirs: list[str]) -> list[str]:
    """The machine paths that ``text`` names (they must not be committed)."""
    paths = [str(REPO), tempfile.gettempdir() + "/", *data_dirs, str(Path.home()) + "/"]
    return [p for p in paths if p and p in text]


def check_install(env: dict[str, str]) -> None:
    """Stop unless a kernel of this python imports this checkout's package and its results."""
    probe = (
        "import importlib.resources, cvae_pyro\n"
        "print(cvae_pyro.__file__)\n"
        "print(importlib.resources.files('cvae_pyro.results') / 'cll_table.csv')"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=NOTEBOOKS, capture_output=True, text=True
    )
    expected = [str(REPO / "cvae_pyro" / "__init__.py"), str(REPO / "results" / "cll_table.csv")]
    if done.stdout.split() != expected:
        found = done.stdout.strip() or done.stderr.strip().splitlines()[-1]
        raise SystemExit(
            f"the kernels would not run this checkout's package and results ({found}): "
            "install it with `pip install -e .`"
        )


def execute(path: Path, env: dict[str, str], data_dirs: list[str]) -> float:
    """Run ``path`` in full mode; write it back if clean. Returns its seconds."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.perf_counter()
    old_env = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old_env)
    seconds = time.perf_counter() - start
    text = outputs_text(nb)
    found = machine_paths(text, data_dirs)
    if found:
        lines = [line for line in text.splitlines() if any(p in line for p in found)]
        kept = Path(tempfile.gettempdir()) / f"{path.stem}.executed.ipynb"
        nbformat.write(nb, kept)
        raise SystemExit(
            f"{path.name}: outputs name machine paths {found}, e.g. {lines[:3]}; not written "
            f"(the executed notebook is in {kept})"
        )
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Execute the notebooks asked for (all by default) and record their times."""
    parser = argparse.ArgumentParser(prog="notebooks/execute.py", description=__doc__)
    parser.add_argument("names", nargs="*", help="name prefixes, e.g. 01 04 (default: all)")
    parser.add_argument("--data-dir", default=str(REPO.parent / "shared/data/mnist"))
    parser.add_argument(
        "--fashion-data-dir", default=str(REPO.parent / "shared/data/fashion-mnist")
    )
    args = parser.parse_args(argv)
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    unmatched = [n for n in args.names if not any(p.name.startswith(n) for p in paths)]
    if unmatched:
        parser.error(f"no notebook's name starts with {unmatched[0]!r}")
    if args.names:
        paths = [p for p in paths if any(p.name.startswith(n) for n in args.names)]
    data_dirs = [str(Path(d).resolve()) for d in (args.data_dir, args.fashion_data_dir)]
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(CVAE_PYRO_DATA=data_dirs[0], CVAE_PYRO_FASHION_DATA=data_dirs[1])
    env.update(MPLBACKEND="module://matplotlib_inline.backend_inline", TQDM_DISABLE="1")
    # tqdm.auto (which Pyro imports) warns in a kernel without ipywidgets, naming its path
    env.update(PYTHONWARNINGS="ignore:IProgress not found")
    check_install(env)
    times = json.loads(TIMES.read_text()) if TIMES.exists() else {}
    for path in paths:
        print(f"{path.name}: running in full mode ...", flush=True)
        seconds = execute(path, env, data_dirs)
        times[path.name] = {"seconds": round(seconds), "cpus": os.cpu_count()}
        TIMES.write_text(json.dumps(times, indent=1, sort_keys=True) + "\n")
        print(f"{path.name}: {seconds:.0f} s, written back", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
