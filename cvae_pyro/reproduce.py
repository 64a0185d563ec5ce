"""Reproduce the 1/2/3-quadrant CLL table: ``python -m cvae_pyro.reproduce``.

For every quadrant count, seed and objective it trains what is missing
(resuming interrupted runs, reusing finished ones), evaluates every model on
the test set, and writes under ``--results-dir``:

- ``cll_table.csv``: one row per model, estimator and quadrant count;
- ``cll_table.md``: the paper's table (NN, GSNN (MC), CVAE (MC), CVAE (IS),
  hybrid (IS), performance gap);
- ``q{n}_samples.png``: the samples figure of the CVAE;
- ``run.json``: command, versions, seeds, epochs reached, wall-clock per phase, machine.

``--combine RUN_JSON ...`` trains nothing: it pools the per-seed rows of earlier
runs (for example seeds run on different machines or days) into one table with
the spread over seeds, written under ``--results-dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from .build import BASELINE_NAME
from .checkpoints import save_json, write_atomic
from .cli import Parser, check_out_dir, cli
from .config import DEVICES, TrainConfig
from .errors import ConfigError
from .evaluate import evaluate_run_dir
from .metrics import DEFAULT_SAMPLES
from .models import OBJECTIVES
from .train import load_data, resolve_device, run

#: Rows of the markdown table: (label, model, estimator).
TABLE_ROWS = [
    ("NN (baseline)", BASELINE_NAME, "NN"),
    ("GSNN (MC)", "gsnn", "MC"),
    ("CVAE (MC)", "cvae", "MC"),
    ("CVAE (IS)", "cvae", "IS"),
    ("hybrid (IS)", "hybrid", "IS"),
]
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
    return table.reset_index()[CSV_COLUMNS]


def _cell(row: pd.Series) -> str:
    text = f"{row.nll_mean:.2f} ± {row.nll_stderr:.2f}"
    if row.seeds > 1:
        text += f" (± {row.nll_seed_std:.2f} over {row.seeds} seeds)"
    return text


def markdown_table(table: pd.DataFrame, quadrants: Sequence[int]) -> str:
    """The paper's table as markdown: rows of models and estimators, columns of quadrants."""
    header = "| | " + " | ".join(f"{q} quadrant{'s' if q > 1 else ''}" for q in quadrants) + " |"
    lines = [header, "| --- |" + " --- |" * len(quadrants)]
    lookup = {(r.model, r.estimator, r.quadrants): r for r in table.itertuples()}
    for label, model, estimator in TABLE_ROWS:
        cells = [lookup.get((model, estimator, q)) for q in quadrants]
        if any(c is not None for c in cells):
            lines.append(
                f"| {label} | "
                + " | ".join(_cell(c) if c is not None else "n/a" for c in cells)
                + " |"
            )
    gaps = []
    for q in quadrants:
        nn, cvae = lookup.get((BASELINE_NAME, "NN", q)), lookup.get(("cvae", "IS", q))
        gaps.append(f"{nn.nll_mean - cvae.nll_mean:.2f}" if nn and cvae else "n/a")
    lines.append("| Performance gap (NN - CVAE (IS)) | " + " | ".join(gaps) + " |")
    return "\n".join(lines)


def write_results(
    rows: list[dict], quadrants: Sequence[int], results_dir: Path, samples: int
) -> pd.DataFrame:
    """Write ``cll_table.csv`` and ``cll_table.md``; return the aggregated table."""
    table = aggregate(rows)
    write_atomic(
        results_dir / "cll_table.csv",
        lambda tmp: table.to_csv(tmp, index=False, float_format="%.4f"),
    )
    seeds = sorted({r["seed"] for r in rows})
    text = (
        "# Negative conditional log-likelihood on the MNIST test set (nats per image)\n\n"
        f"Lower is better. Mean ± standard error over the {rows[0]['images']} test images; "
        f"S = {samples} latent samples per image for MC and IS; seeds {seeds}. Likelihood: "
        "Bernoulli over the output pixels, evaluated on grey levels (binary cross-entropy). "
        "NN: exact. MC: z from the prior network. IS: z from the recognition network.\n\n"
        + markdown_table(table, quadrants)
        + "\n"
    )
    write_atomic(results_dir / "cll_table.md", lambda tmp: tmp.write_text(text))
    return table


def machine_info(device: torch.device) -> dict:
    """What the run ran on."""
    import pyro

    from . import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "cvae_pyro": __version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m cvae_pyro.reproduce``."""
    p = Parser(
        prog="python -m cvae_pyro.reproduce",
        description="Train, evaluate and tabulate the CLL table.",
    )
    p.add_argument("--quadrants", type=int, nargs="+", choices=(1, 2, 3), default=[1, 2, 3])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--objectives", nargs="+", choices=OBJECTIVES, default=list(OBJECTIVES))
    p.add_argument("--epochs", type=int, default=30, help="most epochs per model")
    p.add_argument("--patience", type=int, default=5, help="early stopping patience")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="S for MC and IS")
    p.add_argument("--runs-dir", default="runs/reproduce", help="checkpoints (not committed)")
    p.add_argument("--results-dir", default="results", help="where the table and figures go")
    p.add_argument("--data-dir", help="folder with the MNIST IDX files (else $CVAE_PYRO_DATA)")
    p.add_argument("--limit", type=int, help="only the first N images of each split (smoke runs)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--quiet", action="store_true", help="only the overall progress bar")
    p.add_argument(
        "--combine",
        nargs="+",
        metavar="RUN_JSON",
        help="train nothing: pool the rows of these run.json files into one table",
    )
    return p


def _command_line() -> str:
    """How this run was started, for ``run.json``."""
    return "python -m cvae_pyro.reproduce " + " ".join(sys.argv[1:])


def combine(run_files: Sequence[str | Path], results_dir: Path) -> pd.DataFrame:
    """Pool the per-seed rows of several ``run.json`` files into one table.

    Each (model, estimator, quadrants, seed) may come from one file only, and all
    files must use the same S and the same number of test images.
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
    table = write_results(rows, quadrants, results_dir, samples)
    save_json(
        {
            "command": _command_line(),
            "combined": [str(p) for p in run_files],
            "seeds": sorted({r["seed"] for r in rows}),
            "rows": rows,
        },
        results_dir / "run.json",
    )
    return table


def reproduce(args: argparse.Namespace) -> pd.DataFrame:
    """Train what is missing, evaluate on the test set, write the results."""
    if args.samples < 1:
        raise ConfigError(f"--samples must be a positive integer, got {args.samples}")
    results_dir = check_out_dir(args.results_dir, "--results-dir")
    check_out_dir(args.runs_dir, "--runs-dir")
    device = resolve_device(args.device)
    jobs = [(s, q, o) for s in args.seeds for q in args.quadrants for o in args.objectives]
    bar = tqdm(
        total=len(jobs) + len(args.seeds) * len(args.quadrants),
        unit="job",
        desc="reproduce",
        position=0,
    )
    phases, epochs_reached, rows = [], {}, []
    data = None
    for seed, q, objective in jobs:
        cfg = TrainConfig(
            quadrants=q,
            objective=objective,
            epochs=args.epochs,
            patience=args.patience,
            seed=seed,
            device=args.device,
            data_dir=args.data_dir,
            out_dir=str(Path(args.runs_dir) / f"seed{seed}"),
            limit=args.limit,
            resume=True,
            quiet=args.quiet,
        )
        bar.set_description(f"train q{q} {objective} seed {seed}")
        start = time.perf_counter()
        metrics = run(cfg)
        phases.append(
            {
                "phase": "train",
                "quadrants": q,
                "objective": objective,
                "seed": seed,
                "seconds": time.perf_counter() - start,
            }
        )
        for name in (BASELINE_NAME, objective):
            if "epochs_run" in metrics.get(name, {}):
                epochs_reached[f"seed{seed}/q{q}/{name}"] = metrics[name]["epochs_run"]
        bar.update()
        if objective == args.objectives[-1]:
            data = data or load_data(cfg, device)
            bar.set_description(f"evaluate q{q} seed {seed}")
            start = time.perf_counter()
            found = evaluate_run_dir(cfg.run_dir, data, "test", args.samples, seed)
            rows += [{**r, "quadrants": q, "seed": seed} for r in found]
            phases.append(
                {
                    "phase": "evaluate",
                    "quadrants": q,
                    "seed": seed,
                    "seconds": time.perf_counter() - start,
                }
            )
            figure = cfg.run_dir / "samples.png"
            if figure.exists() and seed == args.seeds[0]:
                shutil.copyfile(figure, results_dir / f"q{q}_samples.png")
            bar.update()
    bar.close()
    table = write_results(rows, args.quadrants, results_dir, args.samples)
    save_json(
        {
            "command": _command_line(),
            "arguments": vars(args),
            "seeds": args.seeds,
            "epochs_reached": epochs_reached,
            "phases": phases,
            "seconds_total": sum(p["seconds"] for p in phases),
            "machine": machine_info(device),
            "rows": rows,
        },
        results_dir / "run.json",
    )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m cvae_pyro.reproduce``."""

    def body(args: argparse.Namespace) -> None:
        if args.combine:
            results_dir = check_out_dir(args.results_dir, "--results-dir")
            table = combine(args.combine, results_dir)
            quadrants = sorted(table.quadrants.unique())
        else:
            table = reproduce(args)
            quadrants = args.quadrants
        print(markdown_table(table, quadrants))
        print(f"wrote {Path(args.results_dir) / 'cll_table.md'}")

    return cli(argv, build_parser(), body)


if __name__ == "__main__":
    sys.exit(main())
