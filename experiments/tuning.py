"""Choose a CVAE training beyond the paper's on validation: ``python -m experiments.tuning``.

At one quadrant (seed 0) it trains, each to early stopping, the paper's CVAE
(``Trace_ELBO``, the reference) and three candidates:

1. ``--elbo meanfield``: ``TraceMeanField_ELBO``, the KL term in closed form;
2. ``--elbo iwae --particles 5``: the IWAE bound with K = 5;
3. ``--kl-warmup 5`` with the better of 1 and 2 on validation: the KL term's weight
   rises from 0 to 1 over the first 5 epochs.

Every model goes where ``python -m cvae_pyro.reproduce --quadrants 1`` would put it
(``--runs-dir``, default ``runs/reproduce``), so the baseline and the chosen model are
reused when ``reproduce`` makes the table's rows. Each early-stops on the bound it
climbs (the IWAE candidate on the IWAE bound) and is scored on the validation split
only (IS, MC and -ELBO, S = 100); the candidate with the lowest validation IS is chosen. Writes ``validation.json`` (every number, the epochs and seconds of every
model, the machine) and ``validation.md`` into ``--results-dir``, and prints the
``reproduce`` command that trains the chosen configuration at 1, 2 and 3 quadrants and
evaluates it on the test split.
"""

from __future__ import annotations

# ruff: noqa: E402  (the OpenMP spin is set before torch is imported)
from cvae_pyro.cli import tune_openmp

tune_openmp()  # the commands' OpenMP spin, set before torch loads its runtime

# isort: split
import argparse
import re
import shlex
import sys
import time

import pandas as pd

from cvae_pyro.cli.cll_table import estimator_title, format_pm, machine_info, train_config
from cvae_pyro.cli.config import DEFAULT_PARTICLES, DEFAULT_SAMPLES, ReproduceConfig
from cvae_pyro.cli.device import resolve_device
from cvae_pyro.cli.experiment import run
from cvae_pyro.cli.files import check_out_dir, save_json, save_text
from cvae_pyro.cli.model_files import load_trained, model_pairs
from cvae_pyro.data import load_splits
from cvae_pyro.estimators import evaluate_cvae

QUADRANTS = 1  #: the task the choice is made on
REFERENCE = "cvae"  #: the paper's training, scored beside the candidates
FIRST = ("cvae-meanfield", "cvae-iwae5")  #: the two estimators tried first
WARMUP_EPOCHS = 5  #: the third candidate's KL warm-up, added to the better of the two


def model_settings(name: str) -> dict:
    """The settings the CVAE ``name`` stands for, the inverse of
    :func:`~cvae_pyro.cli.config.model_name`: ``cvae-iwae5-warmup5`` is ``--elbo iwae
    --particles 5 --kl-warmup 5``."""
    objective, *parts = name.split("-")
    settings = {"objective": objective, "elbo": "trace", "particles": DEFAULT_PARTICLES}
    settings["kl_warmup"] = 0
    for part in parts:  # "meanfield", "iwae5", "warmup5"
        word, number = re.fullmatch(r"(\D+)(\d*)", part).groups()
        if word == "warmup":
            settings["kl_warmup"] = int(number)
        else:
            settings.update(elbo=word, particles=int(number or DEFAULT_PARTICLES))
    return settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.tuning", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data-dir", default="data", help="folder with the MNIST files")
    parser.add_argument("--runs-dir", default="runs/reproduce", help="reproduce's --runs-dir")
    parser.add_argument("--results-dir", default="results/tuning", help="where the table goes")
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="S of the estimates")
    parser.add_argument("--limit", type=int, default=None, help="first N images (smoke runs)")
    parser.add_argument("--epochs", type=int, default=200, help="most epochs per model")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    return parser.parse_args(argv)


def train_and_score(name: str, args: argparse.Namespace, data: object) -> dict:
    """Train (or reuse) the q1 model ``name`` and score it on the validation split."""
    settings = model_settings(name)
    estimator = {k: v for k, v in settings.items() if k != "objective"}
    reproduce = ReproduceConfig(
        quadrants=(QUADRANTS,),
        objectives=("cvae",),
        epochs=args.epochs,
        runs_dir=args.runs_dir,
        data_dir=args.data_dir,
        limit=args.limit,
        quiet=args.quiet,
        **estimator,
    )
    cfg = train_config(reproduce, 0, quadrants=QUADRANTS, objective="cvae", **estimator)
    assert cfg.model_name == name, (cfg.model_name, name)
    metrics = run(cfg)[name]
    trained = load_trained(cfg.run_dir / f"{name}.pt", data.train.images.device, "cvae", settings)
    x, y = model_pairs(trained, data.validation)
    estimates = evaluate_cvae(trained.module, x, y, args.samples, seed=0)
    return {
        "model": name,
        "training": estimator_title(name),
        **settings,
        "epochs_run": metrics["epochs_run"],
        "best_epoch": metrics["best_epoch"],
        "training_seconds": round(metrics["seconds_total"], 1),
        "validation": {e.estimator: [e.mean, e.stderr] for e in estimates},
    }


def table(rows: list[dict], chosen: str) -> str:
    """The validation table as markdown: the reference and the chosen candidate marked."""

    def role(model: str) -> str:
        return {REFERENCE: " (the paper's)", chosen: " (chosen)"}.get(model, "")

    frame = pd.DataFrame(
        {
            "training": [r["training"] + role(r["model"]) for r in rows],
            "epochs (best)": [f"{r['epochs_run']} ({r['best_epoch']})" for r in rows],
            "seconds": [f"{r['training_seconds']:.0f}" for r in rows],
            **{f"{e}": [format_pm(*r["validation"][e]) for r in rows] for e in ("IS", "-ELBO")},
        }
    )
    return frame.to_markdown(index=False)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    results_dir = check_out_dir(args.results_dir, "--results-dir")
    start = time.perf_counter()
    device = resolve_device("auto")
    data = load_splits(args.data_dir, args.limit, device, "mnist")
    rows = [train_and_score(name, args, data) for name in (REFERENCE, *FIRST)]
    better = min(rows[1:], key=lambda r: r["validation"]["IS"][0])["model"]
    rows.append(train_and_score(f"{better}-warmup{WARMUP_EPOCHS}", args, data))
    chosen = min(rows[1:], key=lambda r: r["validation"]["IS"][0])
    settings = model_settings(chosen["model"])
    options = f"--elbo {settings['elbo']}"
    if settings["elbo"] == "iwae":
        options += f" --particles {settings['particles']}"
    if settings["kl_warmup"]:
        options += f" --kl-warmup {settings['kl_warmup']}"
    reproduce = (
        f"python -m cvae_pyro.reproduce --objectives cvae {options} --data-dir {args.data_dir} "
        f"--runs-dir {args.runs_dir} --results-dir results/tuned"
    )
    reference = rows[0]["validation"]["IS"][0]
    gain = chosen["validation"]["IS"][0] - reference
    command = shlex.join(["python", "-m", "experiments.tuning", *argv])
    save_json(
        {
            "command": command,
            "quadrants": QUADRANTS,
            "seed": 0,
            "samples": args.samples,
            "images": len(data.validation.labels),
            "models": rows,
            "chosen": chosen["model"],
            "chosen_minus_reference_IS": gain,
            "reproduce": reproduce,
            "seconds_total": round(time.perf_counter() - start, 1),
            "machine": machine_info(device),
        },
        results_dir / "validation.json",
    )
    text = (
        "# Choosing a CVAE training on validation (1 quadrant, seed 0)\n\n"
        f"Negative CLL on the {len(data.validation.labels):,} validation images, nats per "
        f"image (mean ± standard error, S = {args.samples}; the MC estimates are in "
        "`validation.json`); lower is better. The paper's training is the reference, not a "
        "candidate. Every model trained with early stopping on the bound it climbs, measured "
        "on the validation split (the -ELBO; the IWAE bound for the IWAE candidate), at most "
        f"{args.epochs} epochs (epochs run, best epoch; seconds of training). Made by "
        f"`{command}`.\n\n"
        + table(rows, chosen["model"])
        + f"\n\nChosen: `{chosen['model']}` ({chosen['training']}), validation IS "
        f"{gain:+.2f} nats against the paper's training. Its rows at 1, 2 and 3 quadrants "
        f"on the test split: `{reproduce}`.\n"
    )
    save_text(text, results_dir / "validation.md")
    print(text)


if __name__ == "__main__":
    main()
