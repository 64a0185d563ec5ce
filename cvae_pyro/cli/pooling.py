"""``reproduce --combine``: the rows of several runs' ``run.json`` pooled into one table.

Every row is checked before anything is pooled (:func:`row_problem`); the runs must be
of one dataset and made with the same settings (:data:`POOLED_SETTINGS`, S and the
number of test images), and each (model, estimator, quadrants, seed) is counted once.

A results folder's finished set is replaced only by one of the same settings
(:func:`check_results`, for ``reproduce`` and ``--combine`` alike), and
:func:`rewrite_tables` writes a finished set's tables again from its rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..data import dataset_info
from .checkpoints import setting_diffs
from .choices import (
    DATASET_NAMES,
    DEFAULT_DATASET,
    MAX_SEED,
    VALID_QUADRANTS,
    model_settings,
    plain,
)
from .config import ReproduceConfig
from .errors import ConfigError
from .files import folder_lock, read_json, save_json, write_atomic
from .publishing import MANIFEST, finished, publish
from .tables import ESTIMATORS, EXACT, MODELS, table_files

#: The settings that fix a run's numbers besides its seed; ``--combine`` pools only runs
#: that agree on every one of them (a ``run.json`` records them under ``arguments``),
#: and on S and the number of test images of their rows. Each maps to what a file that
#: records no such setting was made with (None: unknown, so not compared): a run that
#: records no precision was trained in fp32 (``results/seed0`` is one).
POOLED_SETTINGS = {
    "epochs": None,
    "patience": None,
    "samples": None,
    "limit": None,
    "precision": "fp32",
}
#: What every row of a ``run.json`` holds (``--combine`` checks them).
ROW_KEYS = (
    "model",
    "estimator",
    "quadrants",
    "seed",
    "nll_mean",
    "nll_stderr",
    "samples",
    "images",
)
#: The largest CLL (and standard error) a row may hold, in nats per image: 784 pixels
#: at most 100 nats each stay far below, and pooled numbers of such rows stay finite.
MAX_NATS = 1e6
#: Where a run reads and writes, not what it computes: left out when result sets are compared.
PLACES = ("device", "data_dir", "runs_dir", "results_dir", "quiet")


def made_with(manifest: dict) -> dict:
    """The settings of the result set a ``run.json`` describes.

    ``reproduce``'s arguments but :data:`PLACES` (each at its default where the file
    records none), with ``combine``: the runs a pooled table pools.
    """
    recorded = manifest.get("arguments")
    recorded = recorded if isinstance(recorded, dict) else {}
    defaults = vars(ReproduceConfig())
    settings = {k: plain(recorded.get(k, v)) for k, v in defaults.items() if k not in PLACES}
    settings["dataset"] = _recorded_dataset(manifest)
    settings["combine"] = manifest.get("combined", settings["combine"])
    return settings


def check_results(results_dir: Path, manifest: dict) -> None:
    """ConfigError if ``results_dir`` holds finished results of other settings than ``manifest``'s.

    Finished results of the same settings (:func:`made_with`) may be replaced: the
    same command run again writes them again.
    """
    found = finished(results_dir)
    diffs = [] if found is None else setting_diffs(made_with(found), made_with(manifest))
    if diffs:
        raise ConfigError(
            f"{results_dir} holds finished results of other settings ({', '.join(diffs)}): "
            f"choose another --results-dir, or delete {results_dir / MANIFEST} to replace them"
        )


def combine(
    run_files: Sequence[str | Path],
    results_dir: Path,
    command: str,
    dataset: str = DEFAULT_DATASET,
) -> pd.DataFrame:
    """Pool the per-seed rows of several ``run.json`` files into one table.

    Every row is checked before anything is pooled (:func:`row_problem`); all rows must
    be of ``dataset``, each (model, estimator, quadrants, seed) is counted once (two
    files may both hold it only with the same numbers: one model, evaluated in two runs
    that shared its checkpoint), and all runs must be made with the same settings.

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
    """Write the tables of the finished result set in ``results_dir`` again from its rows.

    ``cll_table.csv`` and ``cll_table.md`` are made from the unrounded rows of its
    ``run.json``, so their numbers are the run's; nothing is trained or evaluated. The
    ``run.json`` is written again as it is, but for a ``files`` entry (the SHA-256 of
    each file of the set, which the new tables would not match).
    """
    results_dir = Path(results_dir)
    with folder_lock(results_dir):
        manifest, rows = _read_run(results_dir / MANIFEST)
        manifest.pop("files", None)
        table, files = table_files(rows, dataset_info(_recorded_dataset(manifest)).title)
        for name, write in files.items():
            write_atomic(results_dir / name, write)
        save_json(manifest, results_dir / MANIFEST)
    return table


def _pooled_rows(paths: list[Path], dataset: str) -> tuple[list[dict], dict | None]:
    """The rows of every file, each counted once, and the :data:`POOLED_SETTINGS` they share.

    The settings are None where no file records them; ConfigError for rows of another
    dataset, a seed with two numbers, or runs made with other settings.
    """
    rows, first, made, recorded = {}, {}, [], False
    for path in paths:
        manifest, found = _read_run(path)
        other = sorted({r["dataset"] for r in found} - {dataset})
        if other:
            raise ConfigError(
                f"{path} holds {other[0]} rows, and this table is of {dataset}: give "
                f"--dataset {other[0]}, and combine runs of one dataset only"
            )
        settings = manifest.get("settings", manifest.get("arguments"))
        if isinstance(settings, dict):
            recorded = True
            known = {k: settings.get(k, d) for k, d in POOLED_SETTINGS.items()}
            made.append((path, {k: v for k, v in known.items() if k in settings or v is not None}))
        for row in found:
            made.append((path, {"images": row["images"]}))
            if row["estimator"] != EXACT:  # the NN's value is exact: S = 0
                made.append((path, {"samples": row["samples"]}))
            key = (row["model"], row["estimator"], row["quadrants"], row["seed"])
            if key in rows and _measured(rows[key]) != _measured(row):
                raise ConfigError(
                    f"{path} and {first[key]} both hold seed {key[3]} of {key[0]} {key[1]} "
                    f"at {key[2]} quadrants, with other numbers; combine each seed once"
                )
            rows.setdefault(key, row)  # the same numbers twice: one model, reused by two runs
            first.setdefault(key, path)
    if not rows:
        raise ConfigError("--combine: the run.json files hold no rows")
    shared = _same_settings(made)
    pooled = {k: shared.get(k, d) for k, d in POOLED_SETTINGS.items()}
    return list(rows.values()), pooled if recorded else None


def _same_settings(made: list[tuple[Path, dict]]) -> dict:
    """The settings all runs were made with; ConfigError naming two runs that differ in one."""
    first: dict = {}
    for path, settings in made:
        for key, value in settings.items():
            where, seen = first.setdefault(key, (path, value))
            if value != seen:
                raise ConfigError(
                    f"--combine: {path} was made with {key} {value} and {where} with {seen}; "
                    "pool only runs made with the same settings"
                )
    return {key: value for key, (_, value) in first.items()}


def _read_run(path: Path) -> tuple[dict, list[dict]]:
    """A ``run.json`` and its rows, each checked and holding its ``dataset``.

    ConfigError for a file that is no run.json, or a row that :func:`row_problem` refuses.
    """
    manifest = read_json(path, "run.json", "give the run.json of a reproduce run")
    found = manifest.get("rows") if isinstance(manifest, dict) else None
    if found is None:
        raise ConfigError(f"{path}: not a run.json written by reproduce (it has no rows)")
    if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
        raise ConfigError(f"{path}: its rows are not a list of objects")
    dataset = _recorded_dataset(manifest)
    for i, row in enumerate(found):
        missing = [k for k in ROW_KEYS if k not in row]
        if missing:
            raise ConfigError(f"{path}: row {i} lacks {', '.join(missing)}")
        problem = row_problem({"dataset": dataset, **row})
        if problem:
            raise ConfigError(f"{path}: row {i} ({_row_label(row)}): {problem}")
    return manifest, [{**row, "dataset": row.get("dataset", dataset)} for row in found]


def _recorded_dataset(manifest: dict) -> object:
    """The dataset a ``run.json`` records; MNIST for a file that records none (such as
    the committed ``results/seeds_0_1/run.json``)."""
    arguments = manifest.get("arguments")
    fallback = arguments.get("dataset") if isinstance(arguments, dict) else None
    return manifest.get("dataset", fallback or DEFAULT_DATASET)


def _row_label(row: dict) -> str:
    return " ".join(str(row[k])[:20] for k in ("model", "estimator") if k in row)


def row_problem(row: dict) -> str | None:
    """What is wrong with one row of a ``run.json`` (None if nothing).

    Every field is checked: a known dataset, model and estimator; quadrants 1..3; a seed
    in 0..2**32-1; S at least 1 for a sampled estimate (at least 0 for the exact NN); at
    least one image; a mean within ±:data:`MAX_NATS` and a standard error in
    0..:data:`MAX_NATS` (finite numbers, whose pooled values are finite too).
    """
    exact = row["estimator"] == EXACT
    checks = {
        "dataset": (row["dataset"] in DATASET_NAMES, f"one of {', '.join(DATASET_NAMES)}"),
        "model": (
            row["model"] in MODELS or model_settings(str(row["model"])) is not None,
            f"one of {', '.join(MODELS)}, or a cvae trained beyond the paper (cvae-iwae5, ...)",
        ),
        "estimator": (row["estimator"] in ESTIMATORS, f"one of {', '.join(ESTIMATORS)}"),
        "quadrants": (_integer(row["quadrants"], 1, max(VALID_QUADRANTS)), "1, 2 or 3"),
        "seed": (_integer(row["seed"], 0, MAX_SEED), f"an integer in 0..{MAX_SEED}"),
        "samples": (  # the NN's value is exact: it records S = 0
            _integer(row["samples"], 0 if exact else 1),
            "an integer >= 0" if exact else "a positive integer",
        ),
        "images": (_integer(row["images"], 1), "a positive integer"),
        "nll_mean": (_number(row["nll_mean"], -MAX_NATS), f"a number in ±{MAX_NATS:g}"),
        "nll_stderr": (_number(row["nll_stderr"], 0.0), f"a number in 0..{MAX_NATS:g}"),
    }
    for field, (ok, wanted) in checks.items():
        if not ok:
            return f"{field} is {str(row[field])[:40]!r}; it must be {wanted}"
    return None


def _integer(value: object, low: int, high: float = math.inf) -> bool:
    """Whether ``value`` is an integer (not a bool) in ``low..high``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _number(value: object, low: float) -> bool:
    """Whether ``value`` is a number (not a bool, not a string) in ``low..MAX_NATS``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    return low <= value <= MAX_NATS  # False for NaN; exact for integers of any size


def _measured(row: dict) -> tuple:
    """What a row measured: two rows that agree in all of it are one evaluation."""
    return tuple(row[k] for k in ("dataset", "nll_mean", "nll_stderr", "samples", "images"))
