"""``reproduce --combine``: the rows of several runs' ``run.json`` pooled into one table.

Every row is checked before anything is pooled (:func:`row_problem`); the runs must be
of one dataset and made with the same settings (:data:`POOLED_SETTINGS`), and each
(model, estimator, quadrants, seed) is counted once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .data import dataset_info
from .errors import ConfigError
from .files import folder_lock, read_json
from .publishing import finish_publish, publish
from .settings import DATASET_NAMES, DEFAULT_DATASET, MAX_SEED, VALID_QUADRANTS, model_settings
from .tables import ESTIMATORS, EXACT, MODELS, aggregate, write_table

#: The settings that fix a run's numbers besides its seed; ``--combine`` pools only runs
#: that agree on every one of them (a ``run.json`` records them under ``arguments``).
#: Each maps to what a file that records no such setting was made with: a run that
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
    that shared its checkpoint), and all files must use the same S and the same number
    of test images.

    Args:
        run_files: the ``run.json`` files of earlier runs.
        results_dir: where the pooled table and its ``run.json`` go.
        command: the command line recorded in ``run.json``.
        dataset: the dataset every row must be of ("mnist" or "fashion-mnist").
    """
    with folder_lock(results_dir):
        finish_publish(results_dir)
        return _combine(run_files, results_dir, command, dataset)


def _read_rows(path: Path) -> tuple[list[dict], dict | None]:
    """The rows of one ``run.json``, each checked, with its ``dataset``, and its settings.

    The settings are :func:`_recorded_settings`'s; ConfigError for a file that is no run.json.
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
    rows = [{**row, "dataset": row.get("dataset", dataset)} for row in found]
    return rows, _recorded_settings(manifest)


def _recorded_settings(manifest: dict) -> dict | None:
    """The :data:`POOLED_SETTINGS` a ``run.json`` was made with; None where it records none.

    A run of ``reproduce`` records them under ``arguments``, a pooled table under
    ``settings``.
    """
    recorded = manifest.get("settings", manifest.get("arguments"))
    if not isinstance(recorded, dict):
        return None
    return {key: recorded.get(key, default) for key, default in POOLED_SETTINGS.items()}


def _common_settings(recorded: dict[Path, dict | None]) -> dict | None:
    """The settings every file that records them shares; ConfigError naming one that differs."""
    known = [(path, s) for path, s in recorded.items() if s is not None]
    if not known:
        return None
    first_path, first = known[0]
    for path, settings in known[1:]:
        for key, value in settings.items():
            if value != first[key]:
                raise ConfigError(
                    f"--combine: {path} was made with --{key.replace('_', '-')} {value} and "
                    f"{first_path} with {first[key]}; pool only runs made with the same settings"
                )
    return first


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
    least one image; a finite mean and a finite, non-negative standard error.
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
        "nll_mean": (_finite(row["nll_mean"]), "a finite number"),
        "nll_stderr": (_finite(row["nll_stderr"], 0.0), "a finite number >= 0"),
    }
    for field, (ok, wanted) in checks.items():
        if not ok:
            return f"{field} is {str(row[field])[:40]!r}; it must be {wanted}"
    return None


def _integer(value: object, low: int, high: float = math.inf) -> bool:
    """Whether ``value`` is an integer (not a bool) in ``low..high``."""
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _finite(value: object, low: float = -math.inf) -> bool:
    """Whether ``value`` is a finite number (not a bool, not a string) of at least ``low``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value)) and value >= low
    except OverflowError:  # an integer too large for a float
        return False


def _combine(
    run_files: Sequence[str | Path], results_dir: Path, command: str, dataset: str
) -> pd.DataFrame:
    rows, sources, recorded = [], {}, {}
    for path in map(Path, run_files):
        found, recorded[path] = _read_rows(path)
        other = sorted({r["dataset"] for r in found} - {dataset})
        if other:
            raise ConfigError(
                f"{path} holds {other[0]} rows, and this table is of {dataset}: give "
                f"--dataset {other[0]}, and combine runs of one dataset only"
            )
        for row in found:
            key = (row["model"], row["estimator"], row["quadrants"], row["seed"])
            if key in sources and _measured(sources[key][1]) != _measured(row):
                raise ConfigError(
                    f"{path} and {sources[key][0]} both hold seed {key[3]} of "
                    f"{key[0]} {key[1]} at {key[2]} quadrants, with other numbers; combine "
                    "each seed once"
                )
            if key not in sources:  # the same numbers twice: one model, reused by two runs
                sources[key] = (path, row)
                rows.append(row)
    if not rows:
        raise ConfigError("--combine: the run.json files hold no rows")
    sampled = [r for r in rows if r["estimator"] != "NN"]  # the NN's value is exact
    for field, pool in (("samples", sampled), ("images", rows)):
        values = sorted({r[field] for r in pool})
        if len(values) > 1:
            raise ConfigError(f"--combine: the runs differ in {field} ({values})")
    samples = max((r["samples"] for r in sampled), default=0)
    settings = _common_settings(recorded)
    aggregate(rows)  # refuses pooled numbers that are not finite, before anything is staged
    quadrants = sorted({r["quadrants"] for r in rows})
    tables = []

    def write(staging: Path) -> dict:
        tables.append(write_table(rows, quadrants, staging, samples, dataset_info(dataset).title))
        return {
            "command": command,
            "dataset": dataset,
            "combined": [str(p) for p in run_files],
            "settings": settings,  # what every pooled run was made with (None: not recorded)
            "seeds": sorted({r["seed"] for r in rows}),
            "rows": rows,
        }

    publish(results_dir, write)
    return tables[0]


def _measured(row: dict) -> tuple:
    """What a row measured: two rows that agree in all of it are one evaluation."""
    return tuple(row[k] for k in ("dataset", "nll_mean", "nll_stderr", "samples", "images"))
