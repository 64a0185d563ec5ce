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

The files are written as one set (:func:`~cvae_pyro.cli.pooling.publish`), and the results
folder is locked while a command writes it. Finished results in it are replaced only by those
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
from functools import partial
from pathlib import Path

import pandas as pd
import pyro
import torch

from ..data import dataset_info, load_splits
from .config import BASELINE, ReproduceConfig, TrainConfig, model_name, plain
from .device import check_precision, resolve_device
from .experiment import run
from .files import folder_lock
from .pooling import check_results, publish
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


class RunConfig(TrainConfig):
    """A training run of ``reproduce``: its messages name ``--runs-dir`` as the way out."""

    folder_option = "--runs-dir"


#: What each training run of ``reproduce`` takes from its options (``precision``: training
#: only, the evaluations are fp32).
SHARED = ("dataset", "epochs", "patience", "device", "precision", "data_dir", "limit", "quiet")


def train_config(cfg: ReproduceConfig, seed: int, **task: object) -> TrainConfig:
    """The training run of one seed and task (``quadrants`` and ``objective``, or ``condition``)."""
    out_dir = str(Path(cfg.runs_dir) / f"seed{seed}")
    shared = {key: getattr(cfg, key) for key in SHARED}
    return RunConfig(**task, **shared, seed=seed, out_dir=out_dir, resume=True)


def reproduce(cfg: ReproduceConfig, command: str, progress: Progress | None = None) -> pd.DataFrame:
    """Train what is missing, evaluate on the test set, write the results.

    Args:
        cfg: what to run.
        command: the command line recorded in ``run.json``.
        progress: called with a description of each phase as it starts.
    """
    results_dir = Path(cfg.results_dir)
    device = resolve_device(cfg.device)
    check_precision(cfg.precision, device)  # before the folders' locks
    arguments = {k: plain(v) for k, v in vars(cfg).items()}
    manifest = {"command": command, "dataset": cfg.dataset, "arguments": arguments}
    with folder_lock(results_dir):
        check_results(results_dir, manifest)  # before anything is trained
        done = Reproduction(cfg, device, progress)
        done.run_all()
        table, files = table_files(done.rows, dataset_info(cfg.dataset).title)
        for name, figure in done.figures.items():
            files[name] = lambda tmp, src=figure: shutil.copyfile(src, tmp)
        publish(results_dir, files, {**manifest, **done.record()})
    return table


class Reproduction:
    """The models ``reproduce`` trains (or reuses) and evaluates, and what ``run.json`` records.

    Attributes:
        rows: the evaluation rows, each with its quadrants, seed and dataset.
        figures: ``q{n}_samples.png`` to the samples figure of the first seed's CVAE.
        phases: per phase, what it did, where, and its seconds.
        epochs: per model, the epochs run, the best (validation) epoch and the training
            seconds its checkpoint recorded (so a reused model reports them too).
    """

    def __init__(self, cfg: ReproduceConfig, device: torch.device, progress: Progress | None):
        self.cfg, self.device, self.progress = cfg, device, progress or (lambda phase: None)
        self.rows, self.figures, self.phases, self.epochs, self.data = [], {}, [], {}, None

    def run_all(self) -> None:
        """Every seed's quadrant models (unless ``mask_only``), then the mask models."""
        cfg = self.cfg
        estimator = {"elbo": cfg.elbo, "particles": cfg.particles, "kl_warmup": cfg.kl_warmup}
        names = [BASELINE, *(model_name(o, **estimator) for o in cfg.objectives)]
        for seed in cfg.seeds:
            for q in () if cfg.mask_only else cfg.quadrants:
                for o in cfg.objectives:
                    task = {"quadrants": q, "objective": o}
                    run_dir = self.train(seed, task, **task, **estimator)
                expect = {"condition": "quadrant", "quadrants": q}
                self.evaluate(seed, {"quadrants": q}, run_dir, expect, names=names)
                shown = "samples.png" if names[1] == "cvae" else f"samples_{names[1]}.png"
                if (run_dir / shown).exists() and seed == cfg.seeds[0]:  # the first objective's
                    self.figures[f"q{q}_samples.png"] = run_dir / shown
        for seed in cfg.seeds if cfg.mask_model else ():
            run_dir = self.train(seed, {"task": "mask"}, condition="mask")
            for q in cfg.quadrants:
                where = {"task": "mask", "quadrants": q}
                self.evaluate(seed, where, run_dir, {"condition": "mask"}, quadrants=q)

    def timed(self, work: Callable[[], object], **phase: object) -> object:
        """``work()``, recorded as a ``phase`` (what it does, where) with its seconds."""
        self.progress(" ".join(f"{k} {v}" for k, v in phase.items()).removeprefix("phase "))
        start = time.perf_counter()
        result = work()
        self.phases.append({**phase, "seconds": time.perf_counter() - start})
        return result

    def train(self, seed: int, where: dict, **task: object) -> Path:
        """Train (or reuse) one seed's models of ``task`` (recorded as ``where``); their folder."""
        train_cfg = train_config(self.cfg, seed, **task)
        metrics = self.timed(partial(run, train_cfg), phase="train", **where, seed=seed)
        for name in (BASELINE, train_cfg.model_name):
            if "epochs_run" in metrics.get(name, {}):
                self.epochs[f"seed{seed}/{train_cfg.run_dir.name}/{name}"] = {
                    "run": metrics[name]["epochs_run"],
                    "best": metrics[name]["best_epoch"],
                    "seconds": round(metrics[name]["seconds_total"], 1),
                }
        return train_cfg.run_dir

    def evaluate(self, seed: int, where: dict, run_dir: Path, expect: dict, **how) -> None:
        """Evaluate the models of ``run_dir`` on the test set (``how``: a mask model's
        ``quadrants``, or the ``names`` of the models)."""
        cfg = self.cfg
        self.data = self.data or load_splits(cfg.data_dir, cfg.limit, self.device, cfg.dataset)
        expect = {**expect, "dataset": cfg.dataset}
        args = (run_dir, self.data, "test", cfg.samples, seed, expect)
        found = self.timed(
            partial(evaluate_run_dir, *args, **how), phase="evaluate", **where, seed=seed
        )
        at = {"quadrants": where["quadrants"], "seed": seed, "dataset": cfg.dataset}
        self.rows += [{**row, **at} for row in found]

    def record(self) -> dict:
        """What ``run.json`` records of this call besides its command and arguments."""
        return {
            "seeds": list(self.cfg.seeds),
            "epochs": self.epochs,  # per model: epochs run and the best epoch
            "phases": self.phases,
            "seconds_total": sum(p["seconds"] for p in self.phases),  # this call's wall time
            "seconds_training_recorded": round(sum(e["seconds"] for e in self.epochs.values()), 1),
            "machine": machine_info(self.device),
            "rows": self.rows,
        }
