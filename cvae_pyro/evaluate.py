"""Evaluate trained models: ``python -m cvae_pyro.evaluate --quadrants 1 --out-dir runs``.

Loads every checkpoint that training left in ``out_dir/q{n}`` (or
``out_dir/label``): the baseline gets its exact negative CLL, each CVAE
(objective cvae, gsnn or hybrid) the Monte Carlo and importance-sampling
estimates and the negative ELBO. Prints a table and saves
``evaluation_{split}.json`` beside the checkpoints.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from .build import BASELINE_NAME, load_model
from .checkpoints import save_json
from .cli import Parser, cli
from .config import DEVICES
from .data import MNIST, load_mnist
from .errors import CheckpointError, ConfigError
from .masks import split_xy
from .metrics import DEFAULT_SAMPLES, evaluate_cvae, nn_nll
from .models import OBJECTIVES
from .train import resolve_device

SPLITS = ("validation", "test")  #: splits evaluation may use


def evaluate_run_dir(
    run_dir: str | Path,
    data: MNIST,
    split: str = "test",
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> list[dict]:
    """Every estimate for every model in ``run_dir`` on ``split``.

    Returns:
        Rows with ``model``, ``estimator``, ``nll_mean``, ``nll_stderr``, ``samples``,
        ``images`` and ``seconds``.
    """
    run_dir = Path(run_dir)
    device = data.train.images.device
    part = data.split(split)
    rows = []
    for name in (BASELINE_NAME, *OBJECTIVES):
        path = run_dir / f"{name}.pt"
        if not path.exists():
            continue
        model = load_model(path, device)
        torch.manual_seed(seed)
        start = time.perf_counter()
        if name == BASELINE_NAME:
            x, y = split_xy(part.images, model.architecture["quadrants"])
            estimates = [nn_nll(model, x, y)]
        else:
            c, y = model.condition.pairs(part)
            estimates = evaluate_cvae(model, c, y, num_samples)
        seconds = time.perf_counter() - start
        rows += [{"model": name, **e.as_dict(), "seconds": seconds} for e in estimates]
    if not rows:
        raise CheckpointError(f"no trained model (baseline.pt, cvae.pt, ...) in {run_dir}")
    return rows


def format_rows(rows: list[dict]) -> str:
    """A plain-text table of evaluation rows."""
    lines = [f"{'model':10s} {'estimator':9s} {'nats/image':>12s} {'stderr':>7s} {'S':>4s}"]
    for r in rows:
        lines.append(
            f"{r['model']:10s} {r['estimator']:9s} {r['nll_mean']:12.3f} "
            f"{r['nll_stderr']:7.3f} {r['samples']:4d}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m cvae_pyro.evaluate``."""
    p = Parser(
        prog="python -m cvae_pyro.evaluate", description="Negative CLL estimates of trained models."
    )
    p.add_argument(
        "--quadrants",
        type=int,
        choices=(1, 2, 3),
        help="quadrant task to evaluate (omit with --condition label)",
    )
    p.add_argument("--condition", choices=("quadrant", "label"), default="quadrant")
    p.add_argument("--out-dir", default="runs", help="the --out-dir used for training")
    p.add_argument("--split", choices=SPLITS, default="test")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="S, latent samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", help="folder with the MNIST IDX files (else $CVAE_PYRO_DATA)")
    p.add_argument("--limit", type=int, help="evaluate only the first N images")
    p.add_argument("--device", choices=DEVICES, default="auto")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m cvae_pyro.evaluate``."""

    def body(args: argparse.Namespace) -> None:
        if args.samples < 1:
            raise ConfigError(f"--samples must be a positive integer, got {args.samples}")
        if args.limit is not None and args.limit < 1:
            raise ConfigError(f"--limit must be a positive integer, got {args.limit}")
        if args.condition == "quadrant" and args.quadrants is None:
            raise ConfigError("--quadrants is required for the quadrant task (1, 2 or 3)")
        sub = f"q{args.quadrants}" if args.condition == "quadrant" else "label"
        run_dir = Path(args.out_dir) / sub
        if not run_dir.is_dir():
            raise ConfigError(f"{run_dir} does not exist: train first, or check --out-dir")
        device = resolve_device(args.device)
        full = load_mnist(args.data_dir)
        data = MNIST(
            *(full.split(s).head(args.limit).to(device) for s in ("train", "validation", "test"))
        )
        rows = evaluate_run_dir(run_dir, data, args.split, args.samples, args.seed)
        print(
            f"{run_dir}, {args.split} split, {rows[0]['images']} images, grey-level "
            "Bernoulli likelihood; negative CLL in nats per image (lower is better)"
        )
        print(format_rows(rows))
        out = save_json(
            {"split": args.split, "rows": rows}, run_dir / f"evaluation_{args.split}.json"
        )
        print(f"saved {out}")

    return cli(argv, build_parser(), body)


if __name__ == "__main__":
    sys.exit(main())
