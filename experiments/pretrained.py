"""Make the shipped models: ``python -m experiments.pretrained --data-dir ../shared/data/mnist``.

Trains (or reuses, when a finished run is in ``--runs-dir``) each model the package
ships, with the package's own training code at its default settings (seed 0,
early stopping on the validation split), exactly as ``python -m cvae_pyro.train
--condition C --dataset D --out-dir RUNS_DIR --resume`` would. Then it writes a
float16 copy of the best weights into ``cvae_pyro/pretrained/`` (a normal
checkpoint: the loader turns the weights back into float32), evaluates the
float32 run and the float16 file on the test split (IS, MC and the negative
ELBO, S = 100; the mask model on each quadrant layout), and records everything in
``cvae_pyro/pretrained/MANIFEST.json``: each file's SHA-256 and size, the command and
settings that made it, its epochs and training seconds (with the CPU they were measured
on: train each model alone on the machine), and both evaluations, so
the cost of float16 in nats is on record. ``results/pretrained.md`` is the table.
"""

from __future__ import annotations

# ruff: noqa: E402  (the OpenMP spin is set before torch is imported)
from cvae_pyro.cli import tune_openmp

tune_openmp()  # the commands' OpenMP spin, set before torch loads its runtime

# isort: split
import argparse
import hashlib
import shlex
import sys
import time
from pathlib import Path

import torch

from benchmarks.speed import machine
from cvae_pyro.cli.checkpoints import load_checkpoint, save_checkpoint
from cvae_pyro.cli.cll_table import format_pm, machine_info
from cvae_pyro.cli.config import BASELINE, DEFAULT_SAMPLES, TrainConfig
from cvae_pyro.cli.experiment import run
from cvae_pyro.cli.files import read_json, save_json, save_text
from cvae_pyro.cli.model_files import (
    PRETRAINED_DIR,
    PRETRAINED_MANIFEST,
    Trained,
    load_trained,
    model_pairs,
)
from cvae_pyro.data import dataset_info, load_splits
from cvae_pyro.estimators import evaluate_cvae

#: (dataset, condition) of every shipped model. Fashion-MNIST's models are not shipped:
#: its mask model (11.9 MB as float16) would take the tracked weights past the 30 MB
#: budget, and its label model was left out for the time its training took here.
SHIPPED = (("mnist", "mask"), ("mnist", "label"))
#: Settings recorded in the manifest (the rest are paths and console options).
SKIPPED_SETTINGS = ("data_dir", "out_dir", "resume", "quiet", "figures", "device")
TITLES = {"mask": "mask CVAE (completes any region)", "label": "label CVAE (class-conditional)"}


def train(dataset: str, condition: str, args: argparse.Namespace) -> tuple[TrainConfig, dict]:
    """Train (or reuse) one model; returns its settings and its ``metrics.json``."""
    data_dir = args.fashion_data_dir if dataset == "fashion-mnist" else args.data_dir
    cfg = TrainConfig(
        condition=condition,
        dataset=dataset,
        data_dir=data_dir,
        out_dir=args.runs_dir,
        limit=args.limit,
        epochs=args.label_epochs if condition == "label" else args.epochs,
        resume=True,
        quiet=args.quiet,
        figures=False,
    )
    return cfg, run(cfg)


def baseline_training(metrics: dict | None) -> dict:
    """Epochs and seconds of the frozen baseline NN trained first ({} for a model without one)."""
    if metrics is None:
        return {}
    seconds = round(metrics["seconds_total"], 1)
    return {"baseline_epochs_run": metrics["epochs_run"], "baseline_training_seconds": seconds}


def half_copy(cfg: TrainConfig, out: Path) -> Path:
    """The run's best CVAE with float16 weights, saved as a checkpoint at ``out``."""
    ckpt = load_checkpoint(cfg.run_dir / "cvae.pt", kind="cvae")
    state = {k: v.to(torch.float16) for k, v in ckpt["state_dict"].items()}
    if out.is_file():  # the same weights already there: keep the file (and its SHA-256)
        old = load_checkpoint(out, kind="cvae")
        same = old["state_dict"].keys() == state.keys() and all(
            torch.equal(old["state_dict"][k], v) for k, v in state.items()
        )
        if same and old["architecture"] == ckpt["architecture"]:
            return out
    payload = {"architecture": ckpt["architecture"], "run": ckpt["run"], "state_dict": state}
    return save_checkpoint(payload, out, "cvae")


def evaluate(trained: Trained, cfg: TrainConfig, args: argparse.Namespace) -> dict:
    """Test estimates, nats per image: ``{task: {estimator: [mean, stderr]}}``."""
    data = load_splits(cfg.data_dir, args.limit, torch.device("cpu"), cfg.dataset)
    layouts = (1, 2, 3) if cfg.condition == "mask" else (None,)
    found = {}
    for quadrants in layouts:
        x, y = model_pairs(trained, data.test, quadrants)
        estimates = evaluate_cvae(trained.module, x, y, args.samples, seed=0)
        task = f"q{quadrants}" if quadrants else "all"
        found[task] = {e.estimator: [e.mean, e.stderr] for e in estimates}
        found[task]["images"] = len(y)
    return found


def cached_evaluations(cfg: TrainConfig, shipped: Path, args: argparse.Namespace) -> dict:
    """Both evaluations, reused from ``RUN/pretrained_test.json`` when made of the same files.

    The cache is keyed by the SHA-256 of the run's best checkpoint and of the shipped file,
    and by S and the image limit, so a changed model is always evaluated again.
    """
    best = cfg.run_dir / "cvae.pt"
    key = {
        "float32": hashlib.sha256(best.read_bytes()).hexdigest(),
        "float16": hashlib.sha256(shipped.read_bytes()).hexdigest(),
        "samples": args.samples,
        "limit": args.limit,
    }
    cache = cfg.run_dir / "pretrained_test.json"
    if cache.is_file():
        found = read_json(cache, "cache of the evaluations", "delete it to evaluate again")
        if found.get("key") == key:
            return found["test"]
    test = {
        "float32": evaluate(load_trained(best), cfg, args),
        "float16": evaluate(load_trained(shipped), cfg, args),
    }
    save_json({"key": key, "test": test}, cache)
    return test


def summary(test: dict) -> str:
    """One line for messages: the test IS estimates."""
    if "all" in test:
        return f"test IS NLL {test['all']['IS'][0]:.2f} nats"
    values = " / ".join(f"{test[f'q{q}']['IS'][0]:.2f}" for q in (1, 2, 3))
    return f"test IS NLL {values} nats on the 1/2/3-quadrant tasks"


def markdown(models: dict) -> str:
    """The tables of ``results/pretrained.md``: how each model was trained, then its tests."""
    lines = [
        "| shipped model | epochs run (cap) | best epoch | training, CVAE (+ baseline NN) "
        "| how it stopped |",
        "| --- | --- | --- | --- | --- |",
    ]
    for record in models.values():
        cap = record["settings"]["epochs"]
        stopped = "early stopping" if record["epochs_run"] < cap else "its epoch cap"
        training = f"{record['training_seconds'] / 60:.1f} min"
        if "baseline_training_seconds" in record:
            training += (
                f" (+ {record['baseline_training_seconds'] / 60:.1f} min, "
                f"{record['baseline_epochs_run']} epochs)"
            )
        lines.append(
            f"| {record['title']} | {record['epochs_run']} ({cap}) | {record['best_epoch']} "
            f"| {training} | {stopped} |"
        )
    lines += [
        "",
        "| shipped model | task | file | test IS, float32 run | test IS, float16 file "
        "| float16 cost |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for record in models.values():
        for task, f16 in record["test"]["float16"].items():
            f32 = record["test"]["float32"][task]
            name = "whole image" if task == "all" else f"{task[1]}-quadrant layout"
            lines.append(
                f"| {record['title']} | {name} | `{record['file']}` ({record['bytes'] / 2**20:.1f} MB) "
                f"| {format_pm(*f32['IS'])} | {format_pm(*f16['IS'])} "
                f"| {round(f16['IS'][0] - f32['IS'][0], 3) or 0.0:+.3f} nats |"  # no "-0.000"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Train or reuse, export, evaluate, and write the manifest and the table."""
    parser = argparse.ArgumentParser(prog="python -m experiments.pretrained", description=__doc__)
    parser.add_argument("--data-dir", help="MNIST's IDX files (else $CVAE_PYRO_DATA)")
    parser.add_argument("--fashion-data-dir", help="Fashion-MNIST's (else its variable)")
    parser.add_argument("--runs-dir", default="runs/pretrained", help="training runs")
    parser.add_argument("--out-dir", default=str(PRETRAINED_DIR), help="the shipped files")
    parser.add_argument("--results", default="results/pretrained.md", help="the table")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="S of IS and MC")
    parser.add_argument("--epochs", type=int, default=200, help="most epochs of the mask CVAE")
    parser.add_argument("--label-epochs", type=int, default=200, help="most epochs, label CVAEs")
    parser.add_argument("--limit", type=int, help="only the first N images (smoke runs)")
    parser.add_argument("--quiet", action="store_true")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    command = shlex.join(["python", "-m", "experiments.pretrained", *argv])
    out_dir = Path(args.out_dir)
    models = {}
    for dataset, condition in SHIPPED:
        start = time.perf_counter()
        cfg, metrics = train(dataset, condition, args)
        cvae, baseline = metrics[cfg.model_name], metrics.get(BASELINE)
        path = half_copy(cfg, out_dir / f"{dataset}-{condition}.pt")
        test = cached_evaluations(cfg, path, args)
        settings = {k: v for k, v in cfg.to_dict().items() if k not in SKIPPED_SETTINGS}
        record = {
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "bytes": path.stat().st_size,
            "title": f"{dataset_info(dataset).title} {TITLES[condition]}",
            "dataset": dataset,
            "condition": condition,
            "command": command,
            "trained_with": f"python -m cvae_pyro.train --condition {condition} "
            f"--dataset {dataset} --epochs {cfg.epochs} --out-dir {args.runs_dir} --resume",
            "settings": settings,
            "epochs_run": cvae["epochs_run"],
            "best_epoch": cvae["best_epoch"],
            "training_seconds": round(cvae["seconds_total"], 1),
            **baseline_training(baseline),
            "samples": args.samples,
            "test": test,
        }
        record["summary"] = summary(test["float16"])
        models[f"{dataset}-{condition}"] = record
        if not args.quiet:
            print(f"{record['title']}: {record['summary']} ({time.perf_counter() - start:.0f} s)")
    manifest = {"machine": machine_info(torch.device("cpu")) | machine(), "models": models}
    save_json(manifest, out_dir / PRETRAINED_MANIFEST.name)
    table = markdown(models)
    save_text(f"{table}\nMade by `{command}`.\n", args.results)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
