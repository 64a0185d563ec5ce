"""Reproduce the 1/2/3-quadrant CLL table (the library behind ``cvae_pyro.reproduce``).

For every quadrant count, seed and objective :func:`reproduce` trains what is
missing (resuming interrupted runs, reusing finished ones), evaluates every model
on the test set, and writes under the results folder:

- ``cll_table.csv``: one row per model, estimator and quadrant count;
- ``cll_table.md``: the paper's table (NN, GSNN (MC), CVAE (MC), CVAE (IS),
  hybrid (IS), performance gap), and with ``mask_model`` the mask model's rows:
  one model trained on random masks (``runs_dir/seed{s}/mask``), evaluated on
  every quadrant layout (``mask_only``: those rows alone, to join an earlier
  table with :func:`combine`);
- ``q{n}_samples.png``: the samples figure of the CVAE;
- ``run.json``: command, versions, seeds, epochs reached, wall-clock per phase, machine.

:func:`combine` trains nothing: it pools the per-seed rows of earlier runs (for
example seeds run on different machines or days) into one table with the spread
over seeds.

The result files are written as one set: all of them go into
``results_dir/.staging`` first, a marker says the set is complete, then they are
moved into place with ``run.json`` last (it lists every file with its SHA-256).
If the process dies while moving, the next ``reproduce`` (or ``--combine``) in
that folder finishes the move before doing anything else; an incomplete staging
folder is deleted. The results folder is locked while a command writes it.

:func:`markdown_table` and :func:`write_table` turn the rows into the committed
tables; :func:`reproduce_command` is what ``python -m cvae_pyro.reproduce`` runs.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import math
import os
import platform
import re
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pyro
import torch
from tqdm import tqdm

from .checkpoints import (
    check_out_dir,
    check_target,
    folder_lock,
    read_json,
    save_json,
    save_text,
    write_atomic,
)
from .conditions import BASELINE
from .config import (
    DATASET_NAMES,
    DEFAULT_DATASET,
    MAX_SEED,
    VALID_QUADRANTS,
    ReproduceConfig,
    TrainConfig,
    estimator_title,
    model_name,
    model_settings,
)
from .data import MNIST, check_precision, dataset_info, load_data, resolve_device
from .errors import ConfigError
from .evaluation import MASK_BASELINE, MASK_MODEL, MODEL_FILES, evaluate_run_dir
from .experiment import run

#: Called after each phase with a short description of the next one (progress bars).
Progress = Callable[[str], None]
STAGING = ".staging"  #: folder inside the results folder where a new set is written
COMPLETE = "COMPLETE"  #: marker file: the staged set is whole and may be moved into place
MANIFEST = "run.json"  #: moved last; lists the files of the set
#: The names of the files a result set holds: the table, its manifest, the samples figures.
RESULT_NAME = re.compile(r"cll_table\.(csv|md)|run\.json|q[1-3]_samples\.png")
MAX_RUN_FILE_BYTES = 64 << 20  #: a run.json of every task, seed and estimator is under 1 MB
EXACT = "NN"  #: the estimator of the baseline's exact value (S = 0)
ESTIMATORS = (EXACT, "MC", "IS", "-ELBO")  #: the estimators a row may hold
MODELS = (*MODEL_FILES, MASK_MODEL, MASK_BASELINE)  #: the models a row may hold
#: The settings that fix a run's numbers besides its seed; ``--combine`` pools only runs
#: that agree on every one of them (a ``run.json`` records them under ``arguments``).
POOLED_SETTINGS = {"epochs": None, "patience": None, "samples": None, "limit": None}
POOLED_SETTINGS["precision"] = "fp32"  # recorded since bf16 training exists; fp32 before
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


def staging_folder(results_dir: Path) -> Path:
    """``results_dir/.staging``; ConfigError if something else than a folder of ours is there."""
    staging = results_dir / STAGING
    if staging.is_symlink() or (staging.exists() and not staging.is_dir()):
        raise ConfigError(
            f"{staging} is not a folder (a link or a file); cvae_pyro stages its results "
            "there: remove it"
        )
    return staging


def publish(results_dir: Path, write: Callable[[Path], dict]) -> None:
    """Write a set of result files with ``write(staging)`` and move them in as one set.

    ``write`` writes every file but the manifest into ``staging`` and returns the
    manifest's content; the manifest gets ``files`` (name to SHA-256) and is moved last.
    """
    staging = staging_folder(results_dir)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    manifest = write(staging)
    files = sorted(p.name for p in staging.iterdir() if _regular(p))
    manifest["files"] = {name: sha256(staging / name) for name in files}
    save_json(manifest, staging / MANIFEST)
    hashes = {**manifest["files"], MANIFEST: sha256(staging / MANIFEST)}  # the manifest last
    save_json({"files": hashes}, staging / COMPLETE)
    finish_publish(results_dir)


def finish_publish(results_dir: Path) -> None:
    """Move a complete staged set into ``results_dir`` (manifest last); drop an incomplete one.

    Before anything moves, every staged file still to be moved is checked: a regular
    file (not a link, folder or anything else) whose SHA-256 is the one the marker
    recorded, going to a target that is missing or a regular file. Otherwise nothing
    moves and ConfigError says which file is wrong; the finished set stays as it is.
    """
    staging = staging_folder(results_dir)
    if not staging.is_dir():
        return
    marker = staging / COMPLETE
    if not os.path.lexists(marker):
        shutil.rmtree(staging)  # never marked complete: an interrupted write
        return
    hashes = staged_hashes(marker)
    moves = [name for name in hashes if os.path.lexists(staging / name)]  # the rest moved
    moves.sort(key=lambda name: name == MANIFEST)  # the manifest last
    for name in moves:
        problem = staged_file_problem(staging / name, hashes[name])
        if problem is None:
            check_target(results_dir / name)
            continue
        raise ConfigError(not_ours(staging / name, problem))
    for name in moves:
        os.replace(staging / name, check_target(results_dir / name))
    shutil.rmtree(staging)


def not_ours(path: Path, problem: str) -> str:
    """The message for a staged file ``path`` that cvae_pyro did not write."""
    staging = path.parent
    return (
        f"{path} {problem}, so the staged result set is not one cvae_pyro wrote; the "
        f"results in {staging.parent} are left as they are: delete {staging} and run the "
        "command again"
    )


def staged_file_problem(path: Path, expected: str | None) -> str | None:
    """What is wrong with a staged file (None if it is a regular file of hash ``expected``;
    ``expected`` None checks only that it is a regular file)."""
    if not _regular(path):
        return "is not a regular file (a link, a folder or something else)"
    if expected is not None and sha256(path) != expected:
        return "does not have the SHA-256 its marker recorded"
    return None


def _regular(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (not a link to one)."""
    return path.is_file() and not path.is_symlink()


def staged_hashes(marker: Path) -> dict[str, str]:
    """File name to SHA-256 of a :data:`COMPLETE` marker; ConfigError if it is not one of ours.

    A marker that lists the names alone takes the hashes from the staged ``run.json``,
    whose own hash it lacks: that ``run.json`` must then be a regular file of JSON.
    """
    advice = f"delete the folder {marker.parent} and run the command again"
    if not _regular(marker):
        raise ConfigError(f"{marker} is not a regular file; {advice}")
    found = read_json(marker, "completion marker", advice)
    files = found.get("files") if isinstance(found, dict) else None
    if isinstance(files, list) and all(isinstance(n, str) for n in files):
        files = _listed_hashes(marker.parent, files, advice)
    plain = isinstance(files, dict) and all(
        _plain_name(n) and isinstance(h, str) for n, h in files.items()
    )
    if not plain:
        raise ConfigError(
            f"{marker} is corrupt (its files are not result files with their SHA-256); {advice}"
        )
    return files


def _listed_hashes(staging: Path, names: list[str], advice: str) -> dict[str, str] | None:
    """The hashes of a marker that lists names only: from the staged ``run.json``."""
    manifest = staging / MANIFEST
    if MANIFEST not in names:
        return None
    if not os.path.lexists(manifest):  # moved last: the whole set is in place
        return {}
    problem = staged_file_problem(manifest, None)
    if problem:
        raise ConfigError(not_ours(manifest, problem))
    recorded = read_json(manifest, "run.json", advice)
    hashes = recorded.get("files") if isinstance(recorded, dict) else None
    if not isinstance(hashes, dict) or not all(n in hashes for n in names if n != MANIFEST):
        return None
    return {**{n: hashes[n] for n in names if n != MANIFEST}, MANIFEST: sha256(manifest)}


def _plain_name(name: object) -> bool:
    """Whether ``name`` is one of the result files a set holds (:data:`RESULT_NAME`)."""
    return isinstance(name, str) and RESULT_NAME.fullmatch(name) is not None


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def machine_info(device: torch.device) -> dict:
    """What the run ran on."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "cvae_pyro": importlib.metadata.version("cvae-pyro"),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }


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
    if not path.is_file():
        raise ConfigError(f"{path}: not a file (give the run.json of an earlier run)")
    if path.stat().st_size > MAX_RUN_FILE_BYTES:
        raise ConfigError(f"{path}: {path.stat().st_size} bytes, too big for a run.json")
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
    """The dataset a ``run.json`` records; MNIST for files from before it was recorded."""
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


def _epochs(metrics: dict) -> dict:
    """Epochs run, the best (validation) epoch and the training seconds of one model.

    The seconds are those its checkpoint recorded epoch by epoch when it was trained,
    so a model reused from an earlier (interrupted) call still reports its training time.
    """
    return {
        "run": metrics["epochs_run"],
        "best": metrics["best_epoch"],
        "seconds": round(metrics["seconds_total"], 1),
    }


class RunConfig(TrainConfig):
    """A training run of ``reproduce``: its messages name ``--runs-dir`` as the way out."""

    folder_option = "--runs-dir"


def train_config(cfg: ReproduceConfig, seed: int, **task: object) -> TrainConfig:
    """The training run of one seed and task (``quadrants`` and ``objective``, or ``condition``)."""
    return RunConfig(
        **task,
        dataset=cfg.dataset,
        epochs=cfg.epochs,
        patience=cfg.patience,
        seed=seed,
        device=cfg.device,
        precision=cfg.precision,  # training only: the evaluations are fp32
        data_dir=cfg.data_dir,
        out_dir=str(Path(cfg.runs_dir) / f"seed{seed}"),
        limit=cfg.limit,
        resume=True,
        quiet=cfg.quiet,
    )


def mask_rows(
    cfg: ReproduceConfig,
    seed: int,
    data: MNIST,
    epochs_reached: dict,
    progress: Progress | None = None,
) -> tuple[list[dict], list[dict]]:
    """Train (or reuse) the mask model of ``seed``; its rows on every quadrant layout, and phases.

    Returns:
        The evaluation rows (models ``mask_baseline`` and ``mask``) and the phase records.
    """
    train_cfg = train_config(cfg, seed, condition="mask")
    if progress:
        progress(f"train mask seed {seed}")
    start = time.perf_counter()
    metrics = run(train_cfg)
    phases = [
        {"phase": "train", "task": "mask", "seed": seed, "seconds": time.perf_counter() - start}
    ]
    for name in (BASELINE, "cvae"):
        if "epochs_run" in metrics.get(name, {}):
            epochs_reached[f"seed{seed}/mask/{name}"] = _epochs(metrics[name])
    rows = []
    expect = {"condition": "mask", "dataset": cfg.dataset}
    for q in cfg.quadrants:
        if progress:
            progress(f"evaluate mask on q{q} seed {seed}")
        start = time.perf_counter()
        found = evaluate_run_dir(train_cfg.run_dir, data, "test", cfg.samples, seed, expect, q)
        rows += [{**r, "quadrants": q, "seed": seed, "dataset": cfg.dataset} for r in found]
        phases.append(
            {
                "phase": "evaluate",
                "task": "mask",
                "quadrants": q,
                "seed": seed,
                "seconds": time.perf_counter() - start,
            }
        )
    return rows, phases


def reproduce(cfg: ReproduceConfig, command: str, progress: Progress | None = None) -> pd.DataFrame:
    """Train what is missing, evaluate on the test set, write the results.

    Args:
        cfg: what to run.
        command: the command line recorded in ``run.json``.
        progress: called with a description of each phase as it starts.
    """
    results_dir = Path(cfg.results_dir)
    check_precision(cfg.precision, resolve_device(cfg.device))  # before the folders' locks
    with folder_lock(results_dir):
        finish_publish(results_dir)
        return _reproduce(cfg, command, progress, results_dir)


def _reproduce(
    cfg: ReproduceConfig, command: str, progress: Progress | None, results_dir: Path
) -> pd.DataFrame:
    device = resolve_device(cfg.device)
    figures = {}
    jobs = [(s, q, o) for s in cfg.seeds for q in cfg.quadrants for o in cfg.objectives]
    jobs = [] if cfg.mask_only else jobs
    phases, epochs_reached, rows = [], {}, []
    data = None
    for seed, q, objective in jobs:
        estimator = {"elbo": cfg.elbo, "particles": cfg.particles, "kl_warmup": cfg.kl_warmup}
        train_cfg = train_config(cfg, seed, quadrants=q, objective=objective, **estimator)
        if progress:
            progress(f"train q{q} {train_cfg.model_name} seed {seed}")
        start = time.perf_counter()
        metrics = run(train_cfg)
        phases.append(
            {
                "phase": "train",
                "quadrants": q,
                "objective": objective,
                "seed": seed,
                "seconds": time.perf_counter() - start,
            }
        )
        for name in (BASELINE, train_cfg.model_name):
            if "epochs_run" in metrics.get(name, {}):
                epochs_reached[f"seed{seed}/q{q}/{name}"] = _epochs(metrics[name])
        if objective != cfg.objectives[-1]:
            continue
        data = data or load_data(cfg.data_dir, cfg.limit, device, cfg.dataset)
        if progress:
            progress(f"evaluate q{q} seed {seed}")
        start = time.perf_counter()
        expect = {"condition": "quadrant", "quadrants": q, "dataset": cfg.dataset}
        names = [BASELINE, *(model_name(o, **estimator) for o in cfg.objectives)]
        found = evaluate_run_dir(
            train_cfg.run_dir, data, "test", cfg.samples, seed, expect, names=names
        )
        rows += [{**r, "quadrants": q, "seed": seed, "dataset": cfg.dataset} for r in found]
        phases.append(
            {
                "phase": "evaluate",
                "quadrants": q,
                "seed": seed,
                "seconds": time.perf_counter() - start,
            }
        )
        figure = train_cfg.run_dir / "samples.png"
        if figure.exists() and seed == cfg.seeds[0]:
            figures[f"q{q}_samples.png"] = figure
    if cfg.mask_model:
        data = data or load_data(cfg.data_dir, cfg.limit, device, cfg.dataset)
        for seed in cfg.seeds:
            found, done = mask_rows(cfg, seed, data, epochs_reached, progress)
            rows += found
            phases += done
    title = dataset_info(cfg.dataset).title
    tables = []

    def write(staging: Path) -> dict:
        for name, figure in figures.items():
            write_atomic(staging / name, lambda tmp, src=figure: shutil.copyfile(src, tmp))
        tables.append(write_table(rows, cfg.quadrants, staging, cfg.samples, title))
        return {
            "command": command,
            "dataset": cfg.dataset,
            "arguments": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(cfg).items()},
            "seeds": list(cfg.seeds),
            "epochs": epochs_reached,  # per model: epochs run and the best epoch
            "phases": phases,
            "seconds_total": sum(p["seconds"] for p in phases),  # this call's wall time
            "seconds_training_recorded": round(
                sum(e["seconds"] for e in epochs_reached.values()), 1
            ),
            "machine": machine_info(device),
            "rows": rows,
        }

    publish(results_dir, write)
    return tables[0]


#: Rows of the markdown table: (label, model, estimator).
TABLE_ROWS = [
    ("NN (baseline)", BASELINE, "NN"),
    ("GSNN (MC)", "gsnn", "MC"),
    ("CVAE (MC)", "cvae", "MC"),
    ("CVAE (IS)", "cvae", "IS"),
    ("hybrid (IS)", "hybrid", "IS"),
    ("mask NN (baseline, any mask)", "mask_baseline", "NN"),
    ("mask CVAE (MC, any mask)", "mask", "MC"),
    ("mask CVAE (IS, any mask)", "mask", "IS"),
]
MASK_NOTE = (
    " The mask rows are one model (and its baseline) trained on random masks of every "
    "kind, evaluated on each quadrant layout."
)
CSV_COLUMNS = [
    "model",
    "estimator",
    "quadrants",
    "nll_mean",
    "nll_stderr",
    "seeds",
    "samples",
    "nll_seed_std",
    "images",
]


def table_rows(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """:data:`TABLE_ROWS`, with an IS row after the hybrid's for each CVAE trained beyond
    the paper (another ``--elbo`` or a KL warm-up)."""
    beyond = [m for m in dict.fromkeys(table.model) if m not in MODELS]
    extra = [(f"CVAE, {estimator_title(m)} (IS)", m, "IS") for m in beyond]
    at = [row[1] for row in TABLE_ROWS].index("hybrid") + 1
    return TABLE_ROWS[:at] + extra + TABLE_ROWS[at:]


def aggregate(rows: list[dict]) -> pd.DataFrame:
    """Per (model, estimator, quadrants): mean over seeds of the mean, stderr and seed std."""
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["model", "estimator", "quadrants"], sort=False)
    table = grouped.agg(
        nll_mean=("nll_mean", "mean"),
        nll_stderr=("nll_stderr", "mean"),
        seeds=("seed", "nunique"),
        samples=("samples", "first"),
        nll_seed_std=("nll_mean", "std"),
        images=("images", "first"),
    )
    table = table.reset_index()[CSV_COLUMNS]
    check_pooled(table)
    return table


def check_pooled(table: pd.DataFrame) -> None:
    """ConfigError naming the first pooled number (or performance gap) that is not finite.

    Finite rows can still pool to infinity: the mean of 1.7e308 and 1.7e308 overflows.
    """
    for row in table.itertuples():
        values = {"nll_mean": row.nll_mean, "nll_stderr": row.nll_stderr}
        if row.seeds > 1:  # one seed has no spread (NaN, shown as nothing)
            values["nll_seed_std"] = row.nll_seed_std
        for field, value in values.items():
            if not math.isfinite(value):
                where = f"{row.model} {row.estimator} at {row.quadrants} quadrants"
                raise ConfigError(_overflow(f"{field} of {where}", value))
    lookup = {(r.model, r.estimator, r.quadrants): r.nll_mean for r in table.itertuples()}
    for (model, estimator, q), nn in lookup.items():
        cvae = lookup.get(("cvae", "IS", q))
        if (model, estimator) == (BASELINE, EXACT) and cvae is not None:
            if not math.isfinite(nn - cvae):
                raise ConfigError(_overflow(f"the performance gap at {q} quadrants", nn - cvae))


def _overflow(what: str, value: float) -> str:
    return (
        f"pooling the rows gives {value} for {what}: their numbers are too large to pool "
        "(no CLL in nats per image is near 1e308); check the rows of the run.json files"
    )


def _cell(row: pd.Series) -> str:
    text = format_pm(row.nll_mean, row.nll_stderr)
    if row.seeds > 1:
        text += f" (± {row.nll_seed_std:.2f} over {row.seeds} seeds)"
    return text


def markdown_table(table: pd.DataFrame, quadrants: Sequence[int]) -> str:
    """The paper's table as markdown: rows of models and estimators, columns of quadrants."""
    header = "| | " + " | ".join(f"{q} quadrant{'s' if q > 1 else ''}" for q in quadrants) + " |"
    lines = [header, "| --- |" + " --- |" * len(quadrants)]
    lookup = {(r.model, r.estimator, r.quadrants): r for r in table.itertuples()}
    for label, model, estimator in table_rows(table):
        cells = [lookup.get((model, estimator, q)) for q in quadrants]
        if any(c is not None for c in cells):
            lines.append(
                f"| {label} | "
                + " | ".join(_cell(c) if c is not None else "n/a" for c in cells)
                + " |"
            )
    gaps = []
    for q in quadrants:
        nn, cvae = lookup.get((BASELINE, "NN", q)), lookup.get(("cvae", "IS", q))
        gaps.append(f"{nn.nll_mean - cvae.nll_mean:.2f}" if nn and cvae else "n/a")
    lines.append("| Performance gap (NN - CVAE (IS)) | " + " | ".join(gaps) + " |")
    return "\n".join(lines)


def write_table(
    rows: list[dict],
    quadrants: Sequence[int],
    results_dir: Path,
    samples: int,
    dataset_title: str = "MNIST",
) -> pd.DataFrame:
    """Write ``cll_table.csv`` and ``cll_table.md`` into ``results_dir``; return the table."""
    table = aggregate(rows)
    write_atomic(
        results_dir / "cll_table.csv",
        lambda tmp: table.to_csv(tmp, index=False, float_format="%.4f"),
    )
    seeds = sorted({r["seed"] for r in rows})
    text = (
        f"# Negative conditional log-likelihood on the {dataset_title} test set "
        "(nats per image)\n\n"
        f"Lower is better. Mean ± standard error over the {rows[0]['images']} test images; "
        f"S = {samples} latent samples per image for MC and IS; seeds {seeds}. Likelihood: "
        "Bernoulli over the output pixels, evaluated on grey levels (binary cross-entropy). "
        "NN: exact. MC: z from the prior network. IS: z from the recognition network."
        + (MASK_NOTE if any(r["model"] == MASK_MODEL for r in rows) else "")
        + "\n\n"
        + markdown_table(table, quadrants)
        + "\n"
    )
    save_text(text, results_dir / "cll_table.md")
    return table


def format_pm(mean: float, stderr: float, digits: int = 2) -> str:
    """A mean and its standard error as ``"66.49 ± 0.21"``.

    Args:
        mean: the estimate, for example a negative CLL in nats per image.
        stderr: its standard error, in the same unit.
        digits: decimals of both numbers.

    Returns:
        Both numbers rounded to ``digits`` decimals, joined by `` ± ``. Give the
        unrounded values: rounding an already rounded number (say ``0.1150`` read back
        from a CSV written with four decimals) can move the last digit.
    """
    return f"{mean:.{digits}f} ± {stderr:.{digits}f}"


def reproduce_command(cfg: ReproduceConfig, command: str) -> None:
    """``python -m cvae_pyro.reproduce``: train, evaluate and tabulate, or ``--combine``."""
    if not cfg.combine:  # refused before any folder is made
        check_precision(cfg.precision, resolve_device(cfg.device))
    results_dir = check_out_dir(cfg.results_dir, "--results-dir")
    if cfg.combine:
        table = combine(cfg.combine, results_dir, command, cfg.dataset)
        quadrants = sorted(table.quadrants.unique())
    else:
        check_out_dir(cfg.runs_dir, "--runs-dir")
        jobs = len(cfg.seeds) * len(cfg.quadrants) * (len(cfg.objectives) + 1)
        jobs = 0 if cfg.mask_only else jobs
        if cfg.mask_model:
            jobs += len(cfg.seeds) * (1 + len(cfg.quadrants))
        bar = tqdm(total=jobs, unit="job", desc="reproduce", position=0)
        started: list[str] = []

        def progress(phase: str) -> None:
            bar.update(len(started))  # the phase before this one is done
            started[:] = [phase]
            bar.set_description(phase)

        try:
            table = reproduce(cfg, command, progress)
        except BaseException:
            bar.close()  # and end its line, so that the error gets a line of its own
            bar.fp.write("\n")
            bar.fp.flush()
            raise
        bar.update(1)
        bar.close()
        quadrants = list(cfg.quadrants)
    print(markdown_table(table, quadrants))
    print(f"wrote {Path(cfg.results_dir) / 'cll_table.md'}")
