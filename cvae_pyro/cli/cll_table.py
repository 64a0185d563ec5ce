"""Reproduce the 1/2/3-quadrant CLL table (the library behind ``cvae_pyro.reproduce``).

For every quadrant count, seed and objective :func:`reproduce` trains what is
missing (resuming interrupted runs, reusing finished ones), evaluates every model
on the test set, and writes under the results folder:

- ``cll_table.csv``: one row per model, estimator and quadrant count;
- ``cll_table.md``: the paper's table (:mod:`cvae_pyro.cli.tables`), and with
  ``mask_model`` the mask model's rows: one model trained on random masks
  (``runs_dir/seed{s}/mask``), evaluated on every quadrant layout (``mask_only``:
  those rows alone, to join an earlier table with ``--combine``);
- ``q{n}_samples.png``: the samples figure of the CVAE;
- ``run.json``: command, versions, seeds, epochs reached, wall-clock per phase, machine.

The files are written as one set (:mod:`cvae_pyro.cli.publishing`), and the results folder
is locked while a command writes it. Finished results in it are replaced only by those
of the same settings (:func:`~cvae_pyro.cli.pooling.check_results`), which is checked before
anything is trained. ``--combine`` (:mod:`cvae_pyro.cli.pooling`) trains nothing: it pools
the per-seed rows of earlier runs. :func:`~cvae_pyro.cli.commands.reproduce_command` is what
``python -m cvae_pyro.reproduce`` runs.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyro
import torch

from ..data import MNIST, dataset_info, load_splits
from .choices import BASELINE, model_name, plain
from .config import ReproduceConfig, TrainConfig
from .device import check_precision, resolve_device
from .experiment import run
from .files import folder_lock
from .pooling import check_results
from .publishing import publish
from .run_evaluation import evaluate_run_dir
from .tables import table_files

#: Called after each phase with a short description of the next one (progress bars).
Progress = Callable[[str], None]


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
    arguments = {k: plain(v) for k, v in vars(cfg).items()}
    manifest = {"command": command, "dataset": cfg.dataset, "arguments": arguments}
    with folder_lock(results_dir):
        check_results(results_dir, manifest)  # before anything is trained
        return _reproduce(cfg, manifest, progress, results_dir)


def _phase(kind: str, start: float, **where: object) -> dict:
    """A phase's record in ``run.json``: what it did, where, and its seconds since ``start``."""
    return {"phase": kind, **where, "seconds": time.perf_counter() - start}


def _reproduce(
    cfg: ReproduceConfig, manifest: dict, progress: Progress | None, results_dir: Path
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
        phases.append(_phase("train", start, quadrants=q, objective=objective, seed=seed))
        for name in (BASELINE, train_cfg.model_name):
            if "epochs_run" in metrics.get(name, {}):
                epochs_reached[f"seed{seed}/q{q}/{name}"] = _epochs(metrics[name])
        if objective != cfg.objectives[-1]:
            continue
        data = data or load_splits(cfg.data_dir, cfg.limit, device, cfg.dataset)
        if progress:
            progress(f"evaluate q{q} seed {seed}")
        start = time.perf_counter()
        expect = {"condition": "quadrant", "quadrants": q, "dataset": cfg.dataset}
        names = [BASELINE, *(model_name(o, **estimator) for o in cfg.objectives)]
        found = evaluate_run_dir(
            train_cfg.run_dir, data, "test", cfg.samples, seed, expect, names=names
        )
        rows += [{**r, "quadrants": q, "seed": seed, "dataset": cfg.dataset} for r in found]
        phases.append(_phase("evaluate", start, quadrants=q, seed=seed))
        shown = model_name(cfg.objectives[0], **estimator)  # the first objective's samples
        figure = train_cfg.run_dir / ("samples.png" if shown == "cvae" else f"samples_{shown}.png")
        if figure.exists() and seed == cfg.seeds[0]:
            figures[f"q{q}_samples.png"] = figure
    if cfg.mask_model:
        data = data or load_splits(cfg.data_dir, cfg.limit, device, cfg.dataset)
        for seed in cfg.seeds:
            found, done = mask_rows(cfg, seed, data, epochs_reached, progress)
            rows += found
            phases += done
    table, files = table_files(rows, dataset_info(cfg.dataset).title)
    for name, figure in figures.items():
        files[name] = lambda tmp, src=figure: shutil.copyfile(src, tmp)
    record = {
        "seeds": list(cfg.seeds),
        "epochs": epochs_reached,  # per model: epochs run and the best epoch
        "phases": phases,
        "seconds_total": sum(p["seconds"] for p in phases),  # this call's wall time
        "seconds_training_recorded": round(sum(e["seconds"] for e in epochs_reached.values()), 1),
        "machine": machine_info(device),
        "rows": rows,
    }
    publish(results_dir, files, {**manifest, **record})
    return table
