"""Result sets: a results folder's files written as one set, and ``reproduce --combine``.

:func:`publish` deletes the old set's ``run.json`` first, so that from then on the folder
holds no finished set, then the old set's other files (the table, the samples figures),
writes each new file atomically (:func:`~cvae_pyro.cli.files.write_atomic`), and
``run.json`` last. A results folder therefore holds the old finished set, the new
finished set, or, when a command was killed while writing, part of the new set without
a ``run.json``: never files of two sets. A finished set is replaced only by one of the
same settings (:func:`check_results`), as a finished model is: the same command run
again writes it again.

:func:`combine` pools the rows of several runs' ``run.json`` into one table. The runs
must be of one dataset and made with the same settings (:data:`POOLED_SETTINGS`), their
numbers finite, and each (model, estimator, quadrants, seed) is counted once.
:func:`rewrite_tables` writes a finished set's tables again from its rows.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from ..data import dataset_info
from .checkpoints import setting_diffs
from .config import DEFAULT_DATASET, ReproduceConfig, plain
from .errors import ConfigError
from .files import check_target, folder_lock, read_json, save_json, write_atomic
from .tables import table_files

MANIFEST = "run.json"  #: written last: a folder holding it holds a finished set
#: The names of the files a result set holds: the table, its manifest, the samples figures.
RESULT_NAME = re.compile(r"cll_table\.(csv|md)|run\.json|q[1-3]_samples\.png")
#: Where a run reads and writes, not what it computes: left out when result sets are compared.
PLACES = ("device", "data_dir", "runs_dir", "results_dir", "quiet")
#: The settings that fix a run's numbers besides its seed (a ``run.json`` records them
#: under ``arguments``, a pooled one under ``settings``), each with what a file that
#: records none was made with (None: unknown, not compared): fp32 before ``--precision``.
POOLED_SETTINGS = {**dict.fromkeys(("epochs", "patience", "samples", "limit")), "precision": "fp32"}
KEY = ("model", "estimator", "quadrants", "seed")  #: what a row is of: one number per key
ROW_KEYS = (*KEY, "nll_mean", "nll_stderr", "samples", "images")  #: what every row holds


def recorded_dataset(manifest: dict) -> str:
    """The dataset a ``run.json`` records; MNIST for one that records none."""
    return manifest.get("dataset") or manifest.get("arguments", {}).get("dataset", DEFAULT_DATASET)


def made_with(manifest: dict) -> dict:
    """The settings of the result set a ``run.json`` describes: ``reproduce``'s arguments
    but :data:`PLACES` (defaults where it records none), and the runs a pooled set pools."""
    recorded = {**vars(ReproduceConfig()), **manifest.get("arguments", {})}
    recorded.update(combine=manifest.get("combined"), dataset=recorded_dataset(manifest))
    return {key: plain(value) for key, value in recorded.items() if key not in PLACES}


def check_results(results_dir: Path, manifest: dict) -> None:
    """ConfigError if ``results_dir`` holds finished results of other settings than ``manifest``'s."""
    path = results_dir / MANIFEST
    if not os.path.lexists(path):
        return
    found = read_json(path, "run.json", f"delete it to write new results in {results_dir}")
    diffs = setting_diffs(made_with(found if isinstance(found, dict) else {}), made_with(manifest))
    if diffs:
        raise ConfigError(
            f"{results_dir} holds finished results of other settings ({', '.join(diffs)}): "
            f"choose another --results-dir, or delete {path} to replace them"
        )


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


def combine(
    run_files: Sequence[str | Path], results_dir: Path, command: str, dataset: str = DEFAULT_DATASET
) -> pd.DataFrame:
    """Pool the per-seed rows of several ``run.json`` files into one table.

    Args:
        run_files: the ``run.json`` files of earlier runs, or their results folders.
        results_dir: where the pooled table and its ``run.json`` go; it must not hold
            one of ``run_files``.
        command: the command line recorded in ``run.json``.
        dataset: the dataset every row must be of ("mnist" or "fashion-mnist").
    """
    paths = [Path(p) / MANIFEST if Path(p).is_dir() else Path(p) for p in run_files]
    for path in paths:
        if path.resolve().parent == Path(results_dir).resolve():
            raise ConfigError(
                f"--combine: --results-dir {results_dir} holds {path}, one of the runs to "
                "pool, which the pooled table would replace: choose another --results-dir"
            )
    manifest = {"command": command, "dataset": dataset, "combined": [str(p) for p in run_files]}
    with folder_lock(results_dir):
        check_results(results_dir, manifest)
        rows, settings = _pooled_rows(paths, dataset)
        table, files = table_files(rows, dataset_info(dataset).title)
        seeds = sorted({r["seed"] for r in rows})
        publish(
            results_dir, files, {**manifest, "settings": settings, "seeds": seeds, "rows": rows}
        )
    return table


def rewrite_tables(results_dir: str | Path) -> pd.DataFrame:
    """Write ``cll_table.csv`` and ``cll_table.md`` of the finished set in ``results_dir``
    again from the unrounded rows of its ``run.json``; nothing is trained or evaluated."""
    results_dir = Path(results_dir)
    with folder_lock(results_dir):
        manifest = read_json(results_dir / MANIFEST, "run.json", "give a reproduce run's folder")
        table, files = table_files(manifest["rows"], dataset_info(recorded_dataset(manifest)).title)
        for name, write in files.items():
            write_atomic(results_dir / name, write)
    return table


def _pooled_rows(paths: list[Path], dataset: str) -> tuple[list[dict], dict]:
    """The rows of every file, each counted once, and the :data:`POOLED_SETTINGS` they share.

    ConfigError for a file that is no run.json, a row that lacks a key or holds a number
    that is not finite, rows of another dataset, a seed with two numbers, or runs made
    with other settings.
    """
    rows, made = {}, []
    for path in paths:
        manifest = read_json(path, "run.json", "give the run.json of a reproduce run")
        found = manifest.get("rows") if isinstance(manifest, dict) else None
        if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
            raise ConfigError(f"{path}: not a run.json written by reproduce (it has no rows)")
        if recorded_dataset(manifest) != dataset:
            raise ConfigError(
                f"{path} holds {recorded_dataset(manifest)} rows, and this table is of {dataset}: "
                f"give --dataset {recorded_dataset(manifest)}, and combine runs of one dataset only"
            )
        recorded = manifest.get("settings") or manifest.get("arguments") or {}
        made += [
            (path, k, recorded.get(k, d)) for k, d in POOLED_SETTINGS.items() if k in recorded or d
        ]
        for i, row in enumerate(found):
            _check_row(path, i, row)
            row = {**row, "dataset": dataset}
            key = tuple(row[k] for k in KEY)
            if _measured(rows.setdefault(key, row)) != _measured(row):  # one model, two runs
                raise ConfigError(
                    f"{path} and an earlier run both hold seed {key[3]} of {key[0]} {key[1]} "
                    f"at {key[2]} quadrants, with other numbers; combine each seed once"
                )
    if not rows:
        raise ConfigError("--combine: the run.json files hold no rows")
    first: dict = {}
    for path, key, value in made:
        where, seen = first.setdefault(key, (path, value))
        if value != seen:
            raise ConfigError(
                f"--combine: {path} was made with {key} {value} and {where} with {seen}; "
                "pool only runs made with the same settings"
            )
    return list(rows.values()), {k: first[k][1] for k in POOLED_SETTINGS if k in first}


def _check_row(path: Path, i: int, row: dict) -> None:
    """ConfigError if row ``i`` of ``path`` lacks a key or holds a number that is not finite."""
    missing = [k for k in ROW_KEYS if k not in row]
    if missing:
        raise ConfigError(f"{path}: row {i} lacks {', '.join(missing)}")
    for key in ("nll_mean", "nll_stderr"):
        if not isinstance(row[key], float) or not math.isfinite(row[key]):
            raise ConfigError(f"{path}: row {i}: {key} is {row[key]!r}, not a finite number")


def _measured(row: dict) -> tuple:
    """What a row measured: two rows that agree in all of it are one evaluation."""
    return tuple(row[k] for k in ("nll_mean", "nll_stderr", "samples", "images"))
