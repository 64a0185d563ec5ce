"""Reproduce the 1/2/3-quadrant CLL table (the library behind ``cvae_pyro.reproduce``).

For every quadrant count, seed and objective :func:`reproduce` trains what is
missing (resuming interrupted runs, reusing finished ones), evaluates every model
on the test set, and writes under the results folder:

- ``cll_table.csv``: one row per model, estimator and quadrant count;
- ``cll_table.md``: the paper's table (NN, GSNN (MC), CVAE (MC), CVAE (IS),
  hybrid (IS), performance gap);
- ``q{n}_samples.png``: the samples figure of the CVAE;
- ``run.json``: command, versions, seeds, epochs reached, wall-clock per phase, machine.

:func:`combine` trains nothing: it pools the per-seed rows of earlier runs (for
example seeds run on different machines or days) into one table with the spread
over seeds.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pyro
import torch

from .build import BASELINE
from .checkpoints import save_json
from .config import ReproduceConfig, TrainConfig
from .errors import ConfigError
from .evaluation import evaluate_run_dir
from .experiment import load_data, resolve_device, run
from .tables import write_table

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


def combine(run_files: Sequence[str | Path], results_dir: Path, command: str) -> pd.DataFrame:
    """Pool the per-seed rows of several ``run.json`` files into one table.

    Each (model, estimator, quadrants, seed) may come from one file only, and all
    files must use the same S and the same number of test images.

    Args:
        run_files: the ``run.json`` files of earlier runs.
        results_dir: where the pooled table and its ``run.json`` go.
        command: the command line recorded in ``run.json``.
    """
    rows, sources = [], {}
    for path in map(Path, run_files):
        try:
            found = json.loads(path.read_text())["rows"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{path}: not a run.json written by this command ({err})") from err
        for row in found:
            key = (row["model"], row["estimator"], row["quadrants"], row["seed"])
            if key in sources:
                raise ConfigError(
                    f"{path} and {sources[key]} both hold seed {key[3]} of "
                    f"{key[0]} {key[1]} at {key[2]} quadrants; combine each seed once"
                )
            sources[key] = path
        rows += found
    if not rows:
        raise ConfigError("--combine: the run.json files hold no rows")
    sampled = [r for r in rows if r["estimator"] != "NN"]  # the NN's value is exact
    for field, pool in (("samples", sampled), ("images", rows)):
        values = sorted({r[field] for r in pool})
        if len(values) > 1:
            raise ConfigError(f"--combine: the runs differ in {field} ({values})")
    samples = max((r["samples"] for r in sampled), default=0)
    quadrants = sorted({r["quadrants"] for r in rows})
    table = write_table(rows, quadrants, results_dir, samples)
    save_json(
        {
            "command": command,
            "combined": [str(p) for p in run_files],
            "seeds": sorted({r["seed"] for r in rows}),
            "rows": rows,
        },
        results_dir / "run.json",
    )
    return table


def reproduce(cfg: ReproduceConfig, command: str, progress: Progress | None = None) -> pd.DataFrame:
    """Train what is missing, evaluate on the test set, write the results.

    Args:
        cfg: what to run.
        command: the command line recorded in ``run.json``.
        progress: called with a description of each phase as it starts.
    """
    results_dir = Path(cfg.results_dir)
    device = resolve_device(cfg.device)
    jobs = [(s, q, o) for s in cfg.seeds for q in cfg.quadrants for o in cfg.objectives]
    phases, epochs_reached, rows = [], {}, []
    data = None
    for seed, q, objective in jobs:
        train_cfg = TrainConfig(
            quadrants=q,
            objective=objective,
            epochs=cfg.epochs,
            patience=cfg.patience,
            seed=seed,
            device=cfg.device,
            data_dir=cfg.data_dir,
            out_dir=str(Path(cfg.runs_dir) / f"seed{seed}"),
            limit=cfg.limit,
            resume=True,
            quiet=cfg.quiet,
        )
        if progress:
            progress(f"train q{q} {objective} seed {seed}")
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
        for name in (BASELINE, objective):
            if "epochs_run" in metrics.get(name, {}):
                epochs_reached[f"seed{seed}/q{q}/{name}"] = metrics[name]["epochs_run"]
        if objective != cfg.objectives[-1]:
            continue
        data = data or load_data(cfg.data_dir, cfg.limit, device)
        if progress:
            progress(f"evaluate q{q} seed {seed}")
        start = time.perf_counter()
        expect = {"condition": "quadrant", "quadrants": q}
        found = evaluate_run_dir(train_cfg.run_dir, data, "test", cfg.samples, seed, expect)
        rows += [{**r, "quadrants": q, "seed": seed} for r in found]
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
            shutil.copyfile(figure, results_dir / f"q{q}_samples.png")
    table = write_table(rows, cfg.quadrants, results_dir, cfg.samples)
    save_json(
        {
            "command": command,
            "arguments": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(cfg).items()},
            "seeds": list(cfg.seeds),
            "epochs_reached": epochs_reached,
            "phases": phases,
            "seconds_total": sum(p["seconds"] for p in phases),
            "machine": machine_info(device),
            "rows": rows,
        },
        results_dir / "run.json",
    )
    return table
