"""What the notebooks share besides the package: data folders, figures and clean-up.

Every notebook imports it in one line from its setup cell (the notebooks run with
``notebooks/`` as their working folder, so ``import notebook_setup`` finds this file):

- :func:`use_shared_data` lets a clone of the repository find MNIST and Fashion-MNIST in
  ``shared/data/`` next to it when ``$CVAE_PYRO_DATA`` and ``$CVAE_PYRO_FASHION_DATA``
  are unset (the package reads those variables);
- :func:`show` draws a figure once and frees it;
- :func:`digit_classifier` loads ``experiments/digit_classifier.py``, the classifier that
  reads generated digits;
- :func:`remove_run` deletes the checkpoints of a smoke run (``CI`` set), and ``runs/``
  with them when nothing else is left in it.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import matplotlib.pyplot as plt
from IPython.display import display

from cvae_pyro.data import DATA_ENV_VAR, FASHION_DATA_ENV_VAR

REPO = Path(__file__).resolve().parent.parent  #: the repository's root folder
SHARED_DATA = REPO.parent / "shared" / "data"  #: data sets next to the repository, if any
RESULTS_ENV_VAR = "CVAE_PYRO_RESULTS_DIR"  #: names another results folder (as for the docs)
DATA_FOLDERS = {DATA_ENV_VAR: "mnist", FASHION_DATA_ENV_VAR: "fashion-mnist"}


def use_shared_data(root: Path = SHARED_DATA) -> dict[str, str]:
    """Point each unset data variable at its folder under ``root``, where that folder exists.

    Returns the variables it set, with their folders.
    """
    chosen = {}
    for variable, name in DATA_FOLDERS.items():
        if not os.environ.get(variable) and (root / name).is_dir():
            chosen[variable] = os.environ[variable] = str(root / name)
    return chosen


def results_dir() -> Path:
    """The committed results: ``results/`` of the repository, or ``$CVAE_PYRO_RESULTS_DIR``."""
    return Path(os.environ.get(RESULTS_ENV_VAR) or REPO / "results")


def digit_classifier() -> ModuleType:
    """``experiments/digit_classifier.py`` (the classifier is a study's tool, not the package's)."""
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))
    return importlib.import_module("experiments.digit_classifier")


def show(fig: plt.Figure) -> None:
    """Draw ``fig`` in the notebook once, then free it."""
    display(fig)
    plt.close(fig)


def remove_run(folder: Path) -> None:
    """Delete ``folder`` (a run's checkpoints), and its parent ``runs/`` if that is left empty."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    parent = folder.parent
    if parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
