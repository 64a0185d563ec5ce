"""bf16 against fp32 in nats: the 1-quadrant CVAE trained to early stopping in each.

    python benchmarks/precision.py [--data-dir DIR] [--runs-dir runs/precision]
        [--out benchmarks/precision.json]

Runs the package's own commands, one after the other, at their defaults (seed 0):

    python -m cvae_pyro.train --quadrants 1 --out-dir RUNS/fp32 --quiet
    python -m cvae_pyro.train --quadrants 1 --precision bf16 --out-dir RUNS/bf16 --quiet
    python -m cvae_pyro.evaluate --quadrants 1 --out-dir RUNS/{fp32,bf16}

The bf16 run trains the baseline and the CVAE with their matrix products in bfloat16;
both are evaluated in fp32 on the 10,000 test images (S = 100). Finished
runs in ``--runs-dir`` are reused (``--resume``). Writes each run's test rows, its
epochs and its training seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from speed import bf16_speedup  # noqa: I001  (speed.py sits beside this script)

from cvae_pyro.cli.checkpoints import load_checkpoint
from cvae_pyro.cli.files import read_json, save_json
from cvae_pyro.data import DATA_ENV_VAR

PRECISIONS = ("fp32", "bf16")


def run(command: list[str], env: dict) -> float:
    """Run a package command; its seconds. Stops this benchmark if the command fails."""
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", *command], env=env, check=True)
    return time.perf_counter() - start


def history(run_dir: Path, name: str) -> dict:
    """Epochs, best epoch and validation loss of a finished model's *last* checkpoint."""
    state = load_checkpoint(run_dir / f"{name}_last.pt")["train_state"]
    return {
        "epochs": state["epoch"],
        "best_epoch": state["best_epoch"],
        "best_validation_loss": state["best_val_loss"],
        "train_seconds": sum(h["seconds"] for h in state["history"]),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--runs-dir", default="runs/precision")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if args.data_dir:
        env[DATA_ENV_VAR] = args.data_dir
    result = {"bf16_probe_speedup": bf16_speedup(torch.device("cpu")), "runs": {}}
    for precision in PRECISIONS:
        out_dir = Path(args.runs_dir) / precision
        train = ["cvae_pyro.train", "--quadrants", "1", "--out-dir", str(out_dir), "--quiet"]
        train += ["--precision", precision, "--resume"]
        seconds = run(train, env)
        run(["cvae_pyro.evaluate", "--quadrants", "1", "--out-dir", str(out_dir)], env)
        run_dir = out_dir / "q1"
        rows = read_json(run_dir / "evaluation_test.json", "evaluation", "evaluate again")["rows"]
        result["runs"][precision] = {
            "command_seconds": seconds,
            "baseline": history(run_dir, "baseline"),
            "cvae": history(run_dir, "cvae"),
            "test": {f"{r['model']} {r['estimator']}": r["nll_mean"] for r in rows},
        }
    fp32, bf16 = (result["runs"][p]["test"] for p in PRECISIONS)
    result["bf16_minus_fp32_nats"] = {key: bf16[key] - fp32[key] for key in fp32}
    for key, gap in result["bf16_minus_fp32_nats"].items():
        print(
            f"{key:14s} fp32 {fp32[key]:7.2f}  bf16 {bf16[key]:7.2f}  bf16 - fp32 {gap:+.2f} nats"
        )
    if args.out:
        save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
