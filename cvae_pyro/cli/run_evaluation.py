"""Evaluate trained models: every model of one run folder, on the validation or test split.

The baseline gets its exact negative CLL; each CVAE the Monte Carlo and
importance-sampling estimates and the negative ELBO (a GSNN: MC and its own
bound). What each checkpoint holds, and the estimates it gets, is read from the
settings it recorded when it was trained; every checkpoint is checked against the task
asked for before any number is computed.

A mask-task run (``out_dir/mask``) is evaluated on the fixed family masks, or on
one quadrant layout when ``quadrants`` is given, so that its rows (model names
``mask_baseline`` and ``mask``) stand next to the specialists of that layout: the
likelihood counts the same hidden pixels.

``python -m cvae_pyro.evaluate`` is :func:`cvae_pyro.cli.commands.evaluate_command`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from ..data import MNIST, Split
from ..estimators import DEFAULT_SAMPLES, evaluate_cvae, nn_nll
from .checkpoints import load_checkpoint, weights_sha256
from .choices import BASELINE, MODEL_FILES, ROW_NAMES
from .device import precision_context
from .errors import CheckpointError
from .experiment import recorded_state
from .model_files import Trained, load_trained


def model_pairs(
    trained: Trained, part: Split, quadrants: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of ``part`` as the trained model reads them.

    ``quadrants``: a mask model's layout to evaluate on (None: the fixed family masks).
    """
    if trained.kind == BASELINE:
        return trained.condition.baseline_evaluation_pairs(trained.architecture, part, quadrants)
    return trained.module.condition.evaluation_pairs(part, quadrants)


def row_name(trained: Trained) -> str:
    """A model's name in the rows: its file stem, or ``mask``/``mask_baseline`` for the mask task."""
    return ROW_NAMES.get(trained.architecture["condition"], {}).get(trained.name, trained.name)


def evaluate_run_dir(
    run_dir: str | Path,
    data: MNIST,
    split: str = "test",
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    expect: dict | None = None,
    quadrants: int | None = None,
    precision: str = "fp32",
    names: Sequence[str] | None = None,
) -> list[dict]:
    """Every estimate for every model in ``run_dir`` (or those of ``names``) on ``split``.

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
        precision: "bf16" runs the CVAEs' networks under bf16 autocast (fp32 otherwise).
        names: the file stems to evaluate, when not every model in the folder.

    Returns:
        Rows with ``model``, ``estimator``, ``nll_mean``, ``nll_stderr``, ``samples``,
        ``images`` and ``seconds``.

    Raises:
        CheckpointError: a model is missing, unfinished, made for another task, or
            trained with another baseline than the folder's.
    """
    device = data.train.images.device
    rows = []
    for trained in load_run_models(Path(run_dir), device, expect, names):
        start = time.perf_counter()
        x, y = model_pairs(trained, data.split(split), quadrants)
        if trained.kind == BASELINE:
            estimates = [nn_nll(trained.module, x, y)]
        else:
            with precision_context(precision, device):
                estimates = evaluate_cvae(
                    trained.module, x, y, num_samples, seed=seed, objective=trained.objective
                )
        extra = {"seconds": time.perf_counter() - start}
        extra.update({"precision": precision} if precision != "fp32" else {})
        rows += [{"model": row_name(trained), **e.as_dict(), **extra} for e in estimates]
    return rows


def load_run_models(
    run_dir: Path, device: torch.device, expect: dict | None, names: Sequence[str] | None
) -> list[Trained]:
    """The finished models of a run folder (or those of ``names``), checked to be of one run:
    a CVAE and, where it has a frozen baseline, the very baseline it was trained with."""
    stems = {p.name.removesuffix(".pt").removesuffix("_last") for p in run_dir.glob("*.pt")}
    names = names or [*(n for n in MODEL_FILES if n in stems), *sorted(stems - {*MODEL_FILES})]
    models = {name: _finished(run_dir, name, device, expect) for name in names}
    baseline = models.get(BASELINE)
    if all(t.kind == BASELINE for t in models.values()):
        raise CheckpointError(
            f"no CVAE in {run_dir} (cvae.pt is missing): train one with python -m cvae_pyro.train"
        )
    for name, trained in models.items():
        frozen = trained.frozen_baseline
        if frozen is not None and baseline is None:
            raise CheckpointError(f"{run_dir / BASELINE}.pt is missing: the CVAEs' baseline NN")
        if frozen is not None and weights_sha256(frozen) != weights_sha256(baseline.module):
            raise CheckpointError(
                f"{run_dir / BASELINE}.pt is not the baseline {name}.pt was trained with: the "
                "folder mixes two runs; evaluate the files of one run, or train again"
            )
    return list(models.values())


def _finished(run_dir: Path, name: str, device: torch.device, expect: dict | None) -> Trained:
    """Model ``name`` of ``run_dir``; CheckpointError if its training is unfinished, its
    best weights (``name.pt``) are missing beside its last checkpoint, or it holds another
    model than its name says."""
    best, last = run_dir / f"{name}.pt", run_dir / f"{name}_last.pt"
    if os.path.lexists(last) and not os.path.lexists(best):
        raise CheckpointError(f"{best} is missing (only {last.name} is there): train it again")
    if os.path.lexists(last):
        state = recorded_state(load_checkpoint(last), last)
        if not state.finished:
            raise CheckpointError(
                f"{name} in {run_dir} is unfinished (stopped after epoch {state.epoch}): "
                "finish it with the train command that made it and --resume"
            )
    trained = load_trained(best, device, expect=expect)
    if trained.name != name:  # the rows name each model by what it is
        raise CheckpointError(
            f"{best} holds {trained.name}, not {name}: rename it {trained.name}.pt"
        )
    return trained
