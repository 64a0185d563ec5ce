"""How many latent samples do the CLL estimates need? ``python -m experiments.s_curve``.

For each trained CVAE given as ``NAME=PATH`` (a best checkpoint, ``cvae.pt``), estimates
the negative CLL of the first ``--images`` test images by Monte Carlo (z from the prior
network), importance sampling (z from the recognition network) and the negative ELBO,
at every S of ``--samples`` (seeded: image i of every S draws its noise from the same
seed, as :mod:`cvae_pyro.estimators` does). MC and IS are biased upward for a finite S
and fall towards the true value as S grows; the negative ELBO does not depend on S (only
its noise does). Writes ``s_curve.json`` (every estimate with its standard error over the
images, the seconds it took, the machine) and ``s_curve.png`` (estimate against S, log
axis, one panel per model) into ``--results-dir``::

    python -m experiments.s_curve --data-dir ../shared/data/mnist \\
        q1=runs/reproduce/seed0/q1/cvae.pt q2=runs/reproduce/seed0/q2/cvae.pt

Memory grows with S (about 160 kB per sample per chunk of 50 images, for each of a few
tensors): S = 10,000 holds some 1.2 GB per tensor.
"""

from __future__ import annotations

# ruff: noqa: E402  (the OpenMP spin is set before torch is imported)
from cvae_pyro.cli import tune_openmp

tune_openmp()  # the commands' OpenMP spin, set before torch loads its runtime

# isort: split
import argparse
import functools
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt

from cvae_pyro.cli.cll_table import machine_info
from cvae_pyro.cli.device import resolve_device
from cvae_pyro.cli.files import check_out_dir, save_figure, save_json
from cvae_pyro.cli.model_files import load_trained
from cvae_pyro.data import MNIST, load_splits
from cvae_pyro.estimators import check_samples, evaluate_cvae

ESTIMATORS = ("MC", "IS", "-ELBO")  #: in the order evaluate_cvae returns them


def curve(
    path: Path, splits: Callable[[str], MNIST], samples: list[int], seed: int, device
) -> list:
    """Every estimate of the CVAE at ``path`` on the test split of ``splits(dataset)``, per S."""
    trained = load_trained(path, device, "cvae")
    test = splits(trained.architecture.get("dataset", "mnist")).test
    x, y = trained.module.condition.evaluation_pairs(test)
    rows = []
    for s in samples:
        start = time.perf_counter()
        estimates = evaluate_cvae(trained.module, x, y, s, seed=seed)
        seconds = time.perf_counter() - start
        rows += [{**e.as_dict(), "seconds": seconds} for e in estimates]
        print(f"{path}: S = {s}: " + ", ".join(f"{e.estimator} {e.mean:.3f}" for e in estimates))
    return rows


def figure(models: dict[str, list]) -> plt.Figure:
    """Estimate against S (log axis), ± its standard error over the images, a panel per model."""
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
    for ax, (name, rows) in zip(axes[0], models.items(), strict=True):
        for estimator in ESTIMATORS:
            shown = [r for r in rows if r["estimator"] == estimator]
            ax.errorbar(
                [r["samples"] for r in shown],
                [r["nll_mean"] for r in shown],
                yerr=[r["nll_stderr"] for r in shown],
                marker="o",
                capsize=3,
                label=estimator,
            )
        ax.set_xscale("log")
        ax.set_xlabel("S, latent samples per image")
        ax.set_title(name)
    axes[0][0].set_ylabel("negative CLL estimate (nats per image)")
    axes[0][0].legend()
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> dict:
    """Estimate, write ``s_curve.json`` and ``s_curve.png``; returns what the JSON holds."""
    p = argparse.ArgumentParser(prog="python -m experiments.s_curve", description=__doc__)
    p.add_argument("models", nargs="+", metavar="NAME=PATH", help="a name and a cvae.pt")
    p.add_argument("--samples", type=int, nargs="+", default=[10, 100, 1000, 10_000])
    p.add_argument("--images", type=int, default=1000, help="the first N test images")
    p.add_argument("--seed", type=int, default=0, help="seed of the estimators' noise")
    p.add_argument("--results-dir", default="results/s_curve")
    p.add_argument("--data-dir", help="MNIST folder (else $CVAE_PYRO_DATA)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = p.parse_args(argv)
    try:  # before any model is estimated
        for s in args.samples:
            check_samples(s)
    except ValueError as err:
        p.error(f"--samples: {err}")
    if any("=" not in m for m in args.models):
        p.error("give each model as NAME=PATH, e.g. q1=runs/reproduce/seed0/q1/cvae.pt")
    paths = dict(m.split("=", 1) for m in args.models)
    out = check_out_dir(args.results_dir, "--results-dir")
    device = resolve_device(args.device)
    samples = sorted(set(args.samples))
    # each dataset's splits are read once, cut to the first --images images
    splits = functools.cache(
        lambda dataset: load_splits(args.data_dir, args.images, device, dataset)
    )
    models = {
        name: curve(Path(path), splits, samples, args.seed, device) for name, path in paths.items()
    }
    record = {
        "command": " ".join(
            ["python -m experiments.s_curve", *map(shlex.quote, argv or sys.argv[1:])]
        ),
        "checkpoints": paths,
        "images": args.images,
        "seed": args.seed,
        "machine": machine_info(device),
        "models": models,
    }
    save_json(record, out / "s_curve.json")
    save_figure(figure(models), out / "s_curve.png")
    print(f"wrote {out / 's_curve.json'} and {out / 's_curve.png'}")
    return record


if __name__ == "__main__":
    main()
