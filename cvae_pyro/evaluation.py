"""Evaluate every model trained into one run folder (the library behind ``cvae_pyro.evaluate``).

The baseline gets its exact negative CLL; each CVAE the Monte Carlo and
importance-sampling estimates and the negative ELBO (a GSNN: MC and its own
bound). Every checkpoint is checked against the task asked for before it is used.
"""

from __future__ import annotations

import time
from pathlib import Path

from .build import BASELINE, load_trained
from .data import MNIST
from .errors import CheckpointError
from .masks import split_xy
from .metrics import DEFAULT_SAMPLES, evaluate_cvae, nn_nll
from .objectives import OBJECTIVES

#: Checkpoint file stems evaluation looks for, in table order.
MODEL_FILES = (BASELINE, *OBJECTIVES)
#: The kinds each file may hold (``cvae.pt`` holds the label CVAE in a label run).
FILE_KINDS = {BASELINE: (BASELINE,), "cvae": ("cvae", "label"), "gsnn": ("gsnn",)}


def evaluate_run_dir(
    run_dir: str | Path,
    data: MNIST,
    split: str = "test",
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    expect: dict | None = None,
) -> list[dict]:
    """Every estimate for every model in ``run_dir`` on ``split``.

    Args:
        run_dir: a training run's folder (``out_dir/q{n}`` or ``out_dir/label``).
        data: the splits, on the device to evaluate on.
        split: "validation" or "test".
        num_samples: S, latent samples per image.
        seed: seed of the estimators' noise.
        expect: settings every checkpoint must have been trained with, for example
            ``{"condition": "quadrant", "quadrants": 2}``.

    Returns:
        Rows with ``model``, ``estimator``, ``nll_mean``, ``nll_stderr``, ``samples``,
        ``images`` and ``seconds``.

    Raises:
        CheckpointError: no checkpoint in ``run_dir``, or one made for another task.
    """
    run_dir = Path(run_dir)
    device = data.train.images.device
    part = data.split(split)
    rows = []
    for name in MODEL_FILES:
        path = run_dir / f"{name}.pt"
        if not path.exists():
            continue
        trained = load_trained(path, device, FILE_KINDS.get(name, (name,)), expect)
        start = time.perf_counter()
        if trained.kind == BASELINE:
            x, y = split_xy(part.images, trained.architecture["quadrants"])  # (N, x), (N, y)
            estimates = [nn_nll(trained.module, x, y)]
        else:
            x, y = trained.module.condition.pairs(part)  # (N, ...), (N, y_dim)
            estimates = evaluate_cvae(
                trained.module, x, y, num_samples, seed=seed, kind=trained.kind
            )
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
