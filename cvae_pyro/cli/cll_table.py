"""The 1/2/3-quadrant CLL table: :func:`reproduce` makes it, :func:`combine` pools runs.

For every quadrant count, seed and objective :func:`reproduce` trains what is missing
(resuming interrupted runs, reusing finished ones), evaluates every model on the test
set, and writes under the results folder:

- ``cll_table.csv``: one row per model, estimator and quadrant count;
- ``cll_table.md``: the paper's table (:func:`markdown_table`): NN, GSNN (MC), CVAE (MC),
  CVAE (IS), hybrid (IS), any CVAE trained beyond the paper (IS), with ``mask_model`` the
  rows of one model trained on random masks (``runs_dir/seed{s}/mask``) evaluated on every
  quadrant layout (``mask_only``: those rows alone, to join an earlier table with
  ``--combine``), and the performance gap;
- ``q{n}_samples.png``: the samples figure of the CVAE;
- ``run.json``: command, versions, seeds, epochs reached, wall-clock per phase, machine,
  and every row unrounded.

The results folder is locked while a command writes it. A finished set (one with a
``run.json``) is replaced only by one of the same settings (:func:`check_results`, checked
before anything is trained). :func:`publish` deletes the old ``run.json`` first, then the
old set's other files, writes each new file atomically and ``run.json`` last, so a folder
never holds files of two finished sets.

:func:`combine` (``reproduce --combine``) trains nothing: it pools the per-seed rows of
earlier runs' ``run.json``, which must be of one dataset, made with the same settings
(:data:`POOLED_SETTINGS`) and hold finite numbers; each (model, estimator, quadrants,
seed) is counted once. :func:`rewrite_tables` writes a finished set's tables again from
its rows.
"""

import importlib.metadata
import math
import os
import platform
import re
import shutil
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pandas as pd
import pyro
import torch

from ..data import dataset_info, load_splits
from .checkpoints import setting_diffs
from .config import BASELINE, ROW_NAMES, ReproduceConfig, TrainConfig, model_name, plain
from .device import resolve_device
from .errors import ConfigError
from .experiment import run
from .files import check_target, folder_lock, read_json, save_json, write_atomic
from .model_files import evaluate_run_dir

EXACT = "NN"  #: the estimator of the baseline's exact value (S = 0)
#: Rows of the markdown table: (label, model, estimator).
TABLE_ROWS = [
    ("NN (baseline)", BASELINE, EXACT),
    ("GSNN (MC)", "gsnn", "MC"),
    ("CVAE (MC)", "cvae", "MC"),
    ("CVAE (IS)", "cvae", "IS"),
    ("hybrid (IS)", "hybrid", "IS"),
    ("mask NN (baseline, any mask)", "mask_baseline", EXACT),
    ("mask CVAE (MC, any mask)", "mask", "MC"),
    ("mask CVAE (IS, any mask)", "mask", "IS"),
]
GAP = "Performance gap (NN - CVAE (IS))"  #: the last row: NN minus CVAE (IS)
MASK_NOTE = (
    " The mask rows are one model (and its baseline) trained on random masks of every "
    "kind, evaluated on each quadrant layout."
)
#: The columns of ``cll_table.csv``.
CSV_COLUMNS = (
    "model estimator quadrants nll_mean nll_stderr seeds samples nll_seed_std images".split()
)
#: How a CVAE's name beyond the paper's training reads in the table, part by part
#: (``cvae-iwae5-warmup10``: "IWAE bound, K = 5, KL warm-up 10 epochs").
NAME_PARTS = {
    "meanfield": "TraceMeanField_ELBO",
    "iwae": "IWAE bound, K = {}",
    "warmup": "KL warm-up {} epochs",
}
MANIFEST = "run.json"  #: written last: a folder holding it holds a finished set
#: The names of the files a result set holds: the table, its manifest, the samples figures.
RESULT_NAME = re.compile(r"cll_table\.(csv|md)|run\.json|q[1-3]_samples\.png")
#: Where a run reads and writes, not what it computes: left out when result sets are compared.
PLACES = ("device", "data_dir", "runs_dir", "results_dir", "quiet")
#: The settings that fix a run's numbers besides its seed (a ``run.json`` records them
#: under ``arguments``, a pooled one under ``settings``), each with what a file that
#: records none was made with (None: unknown, not compared): fp32 before ``--precision``.
POOLED_SETTINGS = {**dict.fromkeys(("epochs", "patience", "samples", "limit")), "precision": "fp32"}
#: What each training run of ``reproduce`` takes from its options (``precision``: training
#: only, the evaluations are fp32).
SHARED = ("dataset", "epochs", "patience", "device", "precision", "data_dir", "limit", "quiet")


def format_pm(mean: float, stderr: float, digits: int = 2) -> str:
    """A mean and its standard error as ``"66.49 ± 0.21"``, both to ``digits`` decimals
    (give the unrounded values: rounding a rounded number can move the last digit)."""
    return f"{mean:.{digits}f} ± {stderr:.{digits}f}"


def estimator_title(name: str) -> str:
    """How the table describes the training of the CVAE ``name`` (``model_name``'s parts)."""
    parts = (re.fullmatch(r"(\D*)(\d*)", part).groups() for part in name.split("-")[1:])
    return ", ".join(NAME_PARTS.get(w, w).format(n) for w, n in parts) or "Trace_ELBO"


def aggregate(rows: list[dict]) -> pd.DataFrame:
    """Per (model, estimator, quadrants): the columns of :data:`CSV_COLUMNS` (means over
    seeds of each mean and stderr, the spread over seeds), and ``first_seed``: the lowest seed."""
    grouped = pd.DataFrame(rows).groupby(["model", "estimator", "quadrants"], sort=False)
    table = grouped.agg(
        nll_mean=("nll_mean", "mean"),
        nll_stderr=("nll_stderr", "mean"),
        seeds=("seed", "nunique"),
        samples=("samples", "first"),
        nll_seed_std=("nll_mean", "std"),
        images=("images", "first"),
        first_seed=("seed", "min"),
    )
    return table.reset_index()


def _cell(row: pd.Series, pooled: bool) -> str:
    text = format_pm(row.nll_mean, row.nll_stderr)
    if row.seeds > 1:
        return text + f" (± {row.nll_seed_std:.2f} over {row.seeds} seeds)"
    return text + (f" (seed {row.first_seed} only)" if pooled else "")


def markdown_table(table: pd.DataFrame, quadrants: Sequence[int] | None = None) -> str:
    """The paper's table as markdown: rows of models and estimators, columns of quadrants.

    :data:`TABLE_ROWS`, with an IS row after the hybrid's for each CVAE trained beyond the
    paper. In a table of several seeds, a row of one seed names it ("(seed 0 only)").
    """
    quadrants = sorted(table.quadrants.unique()) if quadrants is None else list(quadrants)
    pooled = table.seeds.max() > 1 or table.first_seed.nunique() > 1
    cells = table.assign(cell=[_cell(row, pooled) for row in table.itertuples()])
    wide = cells.pivot(index=["model", "estimator"], columns="quadrants", values="cell")
    known = [row[1] for row in TABLE_ROWS]
    extra = [(f"CVAE, {estimator_title(m)} (IS)", m, "IS") for m in table.model.unique()]
    at = known.index("hybrid") + 1
    rows = TABLE_ROWS[:at] + [row for row in extra if row[1] not in known] + TABLE_ROWS[at:]
    shown = [(label, (m, e)) for label, m, e in rows if (m, e) in wide.index]
    body = wide.reindex(index=[key for _, key in shown], columns=quadrants)
    body.index = [label for label, _ in shown]
    means = table.pivot(index=["model", "estimator"], columns="quadrants", values="nll_mean")
    if {(BASELINE, EXACT), ("cvae", "IS")} <= set(means.index):
        gap = means.loc[(BASELINE, EXACT)] - means.loc[("cvae", "IS")]
        body.loc[GAP] = gap.reindex(quadrants).map(lambda g: f"{g:.2f}", na_action="ignore")
    body = body.dropna(how="all").fillna("n/a")
    body.columns = [f"{q} quadrant{'s' if q > 1 else ''}" for q in quadrants]
    return body.to_markdown(disable_numparse=True)  # numbers stay as formatted


def write_tables(folder: Path, rows: list[dict], dataset: str) -> pd.DataFrame:
    """Write ``cll_table.csv`` and ``cll_table.md`` of ``rows`` into ``folder``; the table."""
    table = aggregate(rows)
    samples = max((r["samples"] for r in rows if r["estimator"] != EXACT), default=0)
    text = (
        f"# Negative conditional log-likelihood on the {dataset_info(dataset).title} test set "
        "(nats per image)\n\n"
        f"Lower is better. Mean ± standard error over the {rows[0]['images']} test images; "
        f"S = {samples} latent samples per image for MC and IS; "
        f"seeds {sorted({r['seed'] for r in rows})}. Likelihood: "
        "Bernoulli over the output pixels, evaluated on grey levels (binary cross-entropy). "
        "NN: exact. MC: z from the prior network. IS: z from the recognition network."
        + (MASK_NOTE if any(r["model"] == ROW_NAMES["mask"]["cvae"] for r in rows) else "")
        + f"\n\n{markdown_table(table)}\n"
    )
    csv = partial(table.to_csv, columns=CSV_COLUMNS, index=False, float_format="%.4f")
    write_atomic(folder / "cll_table.csv", csv)
    write_atomic(folder / "cll_table.md", lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return table


def recorded_dataset(manifest: dict) -> str:
    """The dataset a ``run.json`` records; MNIST (the default) for one that records none."""
    return manifest.get("dataset") or manifest.get("arguments", {}).get("dataset", "mnist")


def check_results(results_dir: Path, manifest: dict) -> None:
    """ConfigError if ``results_dir`` holds finished results of other settings than
    ``manifest``'s: ``reproduce``'s arguments but :data:`PLACES` (defaults where a file
    records none), and the runs a pooled set pools."""

    def made_with(manifest: dict) -> dict:
        recorded = {**vars(ReproduceConfig()), **manifest.get("arguments", {})}
        recorded.update(combine=manifest.get("combined"), dataset=recorded_dataset(manifest))
        return {key: plain(value) for key, value in recorded.items() if key not in PLACES}

    path = results_dir / MANIFEST
    if os.path.lexists(path):
        found = read_json(path, "run.json", f"delete it to write new results in {results_dir}")
        if diffs := setting_diffs(made_with(found), made_with(manifest)):
            raise ConfigError(
                f"{results_dir} holds finished results of other settings ({', '.join(diffs)}): "
                f"choose another --results-dir, or delete {path} to replace them"
            )


def publish(results_dir: Path, manifest: dict, figures: dict[str, Path]) -> pd.DataFrame:
    """Replace the result set in ``results_dir`` (locked by the caller) by the tables of
    ``manifest``'s rows, ``figures`` (file name to the file to copy) and ``run.json``
    (``manifest``), written last; the table."""
    old = [p for p in results_dir.iterdir() if RESULT_NAME.fullmatch(p.name)]
    for path in sorted(old, key=lambda p: p.name != MANIFEST):  # run.json first
        check_target(path).unlink()
    table = write_tables(results_dir, manifest["rows"], recorded_dataset(manifest))
    for name, source in figures.items():
        write_atomic(results_dir / name, partial(shutil.copyfile, source))
    save_json(manifest, results_dir / MANIFEST)
    return table


#: What every row of a run.json holds.
ROW_KEYS = "model estimator quadrants seed nll_mean nll_stderr samples images".split()


def combine(run_files: Sequence, results_dir: Path, command: str, dataset: str) -> pd.DataFrame:
    """Pool the per-seed rows of the ``run.json`` files (or results folders) ``run_files``
    into one table in ``results_dir``, which must hold none of them; ``command`` is recorded.

    Each row is counted once; the runs must share ``dataset`` and :data:`POOLED_SETTINGS`
    (recorded as ``settings``). ConfigError for a file that is no run.json, a number that
    is not finite, a seed with two numbers, or runs made with other settings.
    """
    rows, first = {}, {"dataset": ("--dataset", dataset)}
    for given in run_files:
        path = Path(given) / MANIFEST if Path(given).is_dir() else Path(given)
        if path.resolve().parent == Path(results_dir).resolve():
            raise ConfigError(
                f"--combine: --results-dir {results_dir} holds {path}, one of the runs to "
                "pool, which the pooled table would replace: choose another --results-dir"
            )
        pooled = read_json(path, "run.json", "give the run.json of a reproduce run")
        found = pooled.get("rows") if isinstance(pooled, dict) else None
        if not found or not isinstance(found, list):
            raise ConfigError(f"{path}: not a run.json written by reproduce (it has no rows)")
        recorded = pooled.get("settings") or pooled.get("arguments") or {}
        made = {k: recorded.get(k, d) for k, d in POOLED_SETTINGS.items() if k in recorded or d}
        made["dataset"] = recorded_dataset(pooled)
        for key, value in made.items():  # a setting neither recorded nor known is not compared
            where, seen = first.setdefault(key, (path, value))
            if value != seen:
                raise ConfigError(
                    f"--combine: {path} was made with {key} {value} and {where} with {seen}; "
                    "pool only runs made with the same settings"
                )
        for i, row in enumerate(found):
            if not isinstance(row, dict) or not set(ROW_KEYS) <= set(row):
                raise ConfigError(f"{path}: row {i} lacks some of {', '.join(ROW_KEYS)}")
            for k in ("nll_mean", "nll_stderr"):
                if not isinstance(row[k], float) or not math.isfinite(row[k]):
                    raise ConfigError(f"{path}: row {i}: {k} is {row[k]!r}, not a finite number")
            key = row["model"], row["estimator"], row["quadrants"], row["seed"]  # one number each
            kept = rows.setdefault(key, {**row, "dataset": dataset})
            if any(kept[k] != row[k] for k in ("nll_mean", "nll_stderr", "samples", "images")):
                raise ConfigError(
                    f"{path} and an earlier run both hold seed {row['seed']} of {row['model']} "
                    f"{row['estimator']} at {row['quadrants']} quadrants, with other numbers; "
                    "combine each seed once"
                )
    rows = list(rows.values())
    manifest = {"command": command, "dataset": dataset, "combined": [str(p) for p in run_files]}
    manifest["settings"] = {k: first[k][1] for k in POOLED_SETTINGS if k in first}
    manifest |= {"seeds": sorted({r["seed"] for r in rows}), "rows": rows}
    with folder_lock(results_dir, "--results-dir") as results_dir:
        check_results(results_dir, manifest)
        return publish(results_dir, manifest, {})


def rewrite_tables(results_dir: str | Path) -> pd.DataFrame:
    """Write ``cll_table.csv`` and ``cll_table.md`` of the finished set in ``results_dir``
    again from the unrounded rows of its ``run.json``; nothing is trained or evaluated."""
    with folder_lock(results_dir) as folder:
        manifest = read_json(folder / MANIFEST, "run.json", "give a reproduce run's folder")
        return write_tables(folder, manifest["rows"], recorded_dataset(manifest))


def machine_info(device: torch.device) -> dict:
    """What the run ran on: versions, the CPU (its model name where Linux gives it, and the
    instruction set torch's kernels use) and the device."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "cvae_pyro": importlib.metadata.version("cvae-pyro"),
        "platform": platform.platform(),
        "cpu": ", ".join(sorted(set(re.findall(r"model name\s*: (.*)", cpuinfo)))),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # AVX512, AVX2, ...
        "amx": torch.cpu._is_amx_tile_supported(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }


class RunConfig(TrainConfig):
    """A training run of ``reproduce``: its messages name ``--runs-dir`` as the way out."""

    folder_option = "--runs-dir"


def train_config(cfg: ReproduceConfig, seed: int, **task: object) -> TrainConfig:
    """The training run of one seed and task (``quadrants`` and ``objective``, or ``condition``)."""
    shared = {key: getattr(cfg, key) for key in SHARED}
    return RunConfig(**task, **shared, seed=seed, out_dir=f"{cfg.runs_dir}/seed{seed}", resume=True)


def reproduce(
    cfg: ReproduceConfig, command: str, progress: Callable[[str], None] | None = None
) -> pd.DataFrame:
    """Train what is missing, evaluate on the test set, write the results (see the module).

    ``command`` is recorded in ``run.json``; ``progress`` is called with a description
    of each phase as it starts.
    """
    device = resolve_device(cfg.device)
    arguments = {k: plain(v) for k, v in vars(cfg).items()}
    manifest = {"command": command, "dataset": cfg.dataset, "arguments": arguments}
    with folder_lock(cfg.results_dir, "--results-dir") as results_dir:
        check_results(results_dir, manifest)  # before anything is trained
        record, figures = _train_and_evaluate(cfg, device, progress or (lambda phase: None))
        return publish(results_dir, {**manifest, **record}, figures)


def _train_and_evaluate(cfg: ReproduceConfig, device: torch.device, progress: Callable) -> tuple:
    """Every seed's quadrant models (unless ``mask_only``), then the mask models: what
    ``run.json`` records of them (rows, epochs, phases, ...) and the samples figures."""
    rows, epochs, phases, figures = [], {}, [], {}
    data = load_splits(cfg.data_dir, cfg.limit, device, cfg.dataset)

    def timed(work: Callable[[], object], **phase: object) -> object:  # recorded with its seconds
        progress(" ".join(f"{k} {v}" for k, v in phase.items()).removeprefix("phase "))
        start = time.perf_counter()
        result = work()
        phases.append({**phase, "seconds": time.perf_counter() - start})
        return result

    def train(seed: int, where: dict, **task: object) -> TrainConfig:
        done = train_config(cfg, seed, **task)
        metrics = timed(partial(run, done), phase="train", **where, seed=seed)
        for name in (BASELINE, done.model_name):  # as their checkpoints recorded it
            if "epochs_run" in (m := metrics.get(name, {})):
                epochs[f"seed{seed}/{done.run_dir.name}/{name}"] = dict(
                    run=m["epochs_run"], best=m["best_epoch"], seconds=round(m["seconds_total"], 1)
                )
        return done

    def evaluate(seed: int, where: dict, done: TrainConfig, **how: object) -> None:
        expect = {key: getattr(done, key) for key in ("condition", "quadrants", "dataset")}
        args = (done.run_dir, data, "test", cfg.samples, seed, expect)
        found = timed(partial(evaluate_run_dir, *args, **how), phase="evaluate", **where, seed=seed)
        at = {"quadrants": where["quadrants"], "seed": seed, "dataset": cfg.dataset}
        rows.extend({**row, **at} for row in found)

    estimator = {"elbo": cfg.elbo, "particles": cfg.particles, "kl_warmup": cfg.kl_warmup}
    names = [BASELINE, *(model_name(o, **estimator) for o in cfg.objectives)]
    for seed in cfg.seeds:
        for q in () if cfg.mask_only else cfg.quadrants:
            for o in cfg.objectives:
                task = {"quadrants": q, "objective": o}
                done = train(seed, task, **task, **estimator)
            evaluate(seed, {"quadrants": q}, done, names=names)
            shown = "samples.png" if names[1] == "cvae" else f"samples_{names[1]}.png"
            if (done.run_dir / shown).exists() and seed == cfg.seeds[0]:  # the first objective's
                figures[f"q{q}_samples.png"] = done.run_dir / shown
    for seed in cfg.seeds if cfg.mask_model else ():
        done = train(seed, {"task": "mask"}, condition="mask")
        for q in cfg.quadrants:
            evaluate(seed, {"task": "mask", "quadrants": q}, done, quadrants=q)
    record = {"seeds": list(cfg.seeds), "epochs": epochs, "phases": phases}
    record["seconds_total"] = sum(p["seconds"] for p in phases)  # this call's wall time
    record["seconds_training_recorded"] = round(sum(e["seconds"] for e in epochs.values()), 1)
    return {**record, "machine": machine_info(device), "rows": rows}, figures
