"""A results folder's files written as one set, marked finished by its ``run.json``.

:func:`publish` deletes the old set's ``run.json`` first, so that from then on the folder
holds no finished set, then the old set's other files (the table, the samples figures),
writes each new file atomically (:func:`~cvae_pyro.cli.files.write_atomic`), and
``run.json`` last. A results folder therefore holds the old finished set, the new
finished set, or, when a command was killed while writing, part of the new set without
a ``run.json``: never files of two sets.
:func:`finished` reads the ``run.json`` of the set a folder holds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from .errors import ConfigError
from .files import check_target, read_json, save_json, write_atomic

MANIFEST = "run.json"  #: written last: a folder holding it holds a finished set
#: The names of the files a result set holds: the table, its manifest, the samples figures.
RESULT_NAME = re.compile(r"cll_table\.(csv|md)|run\.json|q[1-3]_samples\.png")


def finished(results_dir: Path) -> dict | None:
    """The ``run.json`` of the finished result set in ``results_dir``; None if it holds none."""
    path = results_dir / MANIFEST
    if not os.path.lexists(path):
        return None
    advice = f"delete it to write new results in {results_dir}"
    manifest = read_json(path, "run.json", advice)
    if not isinstance(manifest, dict):
        raise ConfigError(f"{path} is not a run.json cvae_pyro wrote (no JSON object); {advice}")
    return manifest


def publish(results_dir: Path, files: dict[str, Callable[[Path], None]], manifest: dict) -> None:
    """Replace the result set in ``results_dir`` by ``files`` and their ``manifest``.

    Args:
        results_dir: the results folder (its lock held by the caller).
        files: file name to a function that writes that file (given a temporary path).
        manifest: what ``run.json`` holds, written last.
    """
    old = [p for p in results_dir.iterdir() if RESULT_NAME.fullmatch(p.name)]
    for path in sorted(old, key=lambda p: p.name != MANIFEST):  # run.json first
        check_target(path).unlink()
    for name, write in files.items():
        write_atomic(results_dir / name, write)
    save_json(manifest, results_dir / MANIFEST)
