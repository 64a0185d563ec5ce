"""Evaluate every model trained into one run folder (the library behind ``cvae_pyro.evaluate``).

The baseline gets its exact negative CLL; each CVAE the Monte Carlo and
importance-sampling estimates and the negative ELBO (a GSNN: MC and its own
bound). Every checkpoint is checked against the task asked for before it is used.

A mask-task run (``out_dir/mask``) is evaluated on the fixed family masks, or on
one quadrant layout when ``quadrants`` is given, so that its rows (model names
``mask_baseline`` and ``mask``) stand next to the specialists of that layout: the
likelihood counts the same hidden pixels.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .build import BASELINE, Trained, load_trained
from .conditions import fixed_masks
from .config import mask_family
from .data import MNIST, Split
from .errors import CheckpointError
from .masks import input_mask, mask_input, split_xy
from .metrics import DEFAULT_SAMPLES, evaluate_cvae, nn_nll
from .objectives import OBJECTIVES

#: Checkpoint file stems evaluation looks for, in table order.
MODEL_FILES = (BASELINE, *OBJECTIVES)
#: The kinds each file may hold (``cvae.pt`` holds the label or mask CVAE in those runs).
FILE_KINDS = {BASELINE: (BASELINE,), "cvae": ("cvae", "label", "mask"), "gsnn": ("gsnn",)}
MASK_MODEL = "mask"  #: the mask CVAE's name in evaluation rows and tables
MASK_BASELINE = "mask_baseline"  #: the mask task's baseline NN in evaluation rows and tables


def task_masks(trained: Trained, part: Split, quadrants: int | None) -> torch.Tensor:
    """Visible pixels of a mask model's evaluation: ``(784,)`` layout or ``(N, 784)`` fixed masks."""
    if quadrants is not None:
        return input_mask(quadrants).to(part.images.device)  # (784,)
    family = mask_family(tuple(trained.architecture["mask_weights"]))
    return fixed_masks(len(part), family).to(part.images.device)  # (N, 784)


def model_pairs(
    trained: Trained, part: Split, quadrants: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of ``part`` as the trained model reads them (see :func:`task_masks`)."""
    arch = trained.architecture
    if arch.get("condition") == "mask":
        visible = task_masks(trained, part, quadrants)
        if trained.kind == BASELINE:
            return mask_input(part.images, visible), part.images  # (N, 1568), (N, 784)
        return trained.module.condition.prepare(part.images, visible), part.images
    if trained.kind == BASELINE:
        return split_xy(part.images, arch["quadrants"])
    return trained.module.condition.pairs(part)


def row_name(trained: Trained, stem: str) -> str:
    """A model's name in the rows: the file stem, or ``mask``/``mask_baseline`` for the mask task."""
    if trained.architecture.get("condition") != "mask":
        return stem
    return MASK_BASELINE if trained.kind == BASELINE else MASK_MODEL


def evaluate_run_dir(
    run_dir: str | Path,
    data: MNIST,
    split: str = "test",
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    expect: dict | None = None,
    quadrants: int | None = None,
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
        quadrants: for a mask-task run, evaluate on this quadrant layout instead of the
            fixed family masks.

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
        x, y = model_pairs(trained, part, quadrants)
        if trained.kind == BASELINE:
            estimates = [nn_nll(trained.module, x, y)]
        else:
            estimates = evaluate_cvae(
                trained.module, x, y, num_samples, seed=seed, kind=trained.kind
            )
        seconds = time.perf_counter() - start
        model = row_name(trained, name)
        rows += [{"model": model, **e.as_dict(), "seconds": seconds} for e in estimates]
    if not rows:
        raise CheckpointError(f"no trained model (baseline.pt, cvae.pt, ...) in {run_dir}")
    return rows


def format_rows(rows: list[dict]) -> str:
    """A plain-text table of evaluation rows."""
    lines = [f"{'model':13s} {'estimator':9s} {'nats/image':>12s} {'stderr':>7s} {'S':>4s}"]
    for r in rows:
        lines.append(
            f"{r['model']:13s} {r['estimator']:9s} {r['nll_mean']:12.3f} "
            f"{r['nll_stderr']:7.3f} {r['samples']:4d}"
        )
    return "\n".join(lines)
