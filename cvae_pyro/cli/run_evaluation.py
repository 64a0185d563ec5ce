"""Evaluate trained models: every model of one run folder, on the validation or test split.

The baseline gets its exact negative CLL; each CVAE the Monte Carlo and
importance-sampling estimates and the negative ELBO (a GSNN: MC and its own
bound). Every checkpoint is checked against the task asked for before it is used.

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
from .choices import BASELINE, MODEL_FILES, ROW_NAMES, model_settings
from .device import precision_context
from .errors import CheckpointError
from .model_files import Trained, load_trained
from .run_folder import recorded_state


def model_pairs(
    trained: Trained, part: Split, quadrants: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of ``part`` as the trained model reads them.

    ``quadrants``: a mask model's layout to evaluate on (None: the fixed family masks).
    """
    if trained.kind == BASELINE:
        return trained.condition.baseline_evaluation_pairs(trained.architecture, part, quadrants)
    return trained.module.condition.evaluation_pairs(part, quadrants)


def row_name(trained: Trained, stem: str) -> str:
    """A model's name in the rows: the file stem, or ``mask``/``mask_baseline`` for the mask task."""
    return ROW_NAMES.get(trained.architecture["condition"], {}).get(stem, stem)


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
        CheckpointError: no checkpoint in ``run_dir``, or one made for another task.
    """
    run_dir = Path(run_dir)
    device = data.train.images.device
    part = data.split(split)
    models = load_run_models(run_dir, device, expect, names)
    rows = []
    for name, trained in models.items():
        start = time.perf_counter()
        x, y = model_pairs(trained, part, quadrants)
        if trained.kind == BASELINE:
            estimates = [nn_nll(trained.module, x, y)]
        else:
            with precision_context(precision, device):
                estimates = evaluate_cvae(
                    trained.module, x, y, num_samples, seed=seed, objective=trained.objective
                )
        seconds = time.perf_counter() - start
        model = row_name(trained, name)
        extra = {"seconds": seconds, **({"precision": precision} if precision != "fp32" else {})}
        rows += [{"model": model, **e.as_dict(), **extra} for e in estimates]
    if not rows:
        raise CheckpointError(f"no trained model (baseline.pt, cvae.pt, ...) in {run_dir}")
    return rows


def load_run_models(
    run_dir: Path, device: torch.device, expect: dict | None, names: Sequence[str] | None
) -> dict[str, Trained]:
    """The finished models of a run folder (or those of ``names``), checked to be one run."""
    models = {}
    for name in names or (*MODEL_FILES, *beyond_paper(run_dir)):
        path = run_dir / f"{name}.pt"
        check_finished(run_dir, name)
        if not os.path.lexists(path):  # a broken link is read, and refused
            continue
        kind = BASELINE if name == BASELINE else "cvae"
        models[name] = load_trained(path, device, kind, {**(expect or {}), **_objective(name)})
    if names is None:
        check_complete(models, run_dir)
    check_one_baseline(models, run_dir)
    return models


def check_finished(run_dir: Path, name: str) -> None:
    """Raise :class:`CheckpointError` if model ``name`` in ``run_dir`` is unfinished or its
    best weights (``name.pt``) are missing while its last checkpoint is there."""
    last = run_dir / f"{name}_last.pt"
    if not os.path.lexists(last):
        return
    if not os.path.lexists(run_dir / f"{name}.pt"):
        raise CheckpointError(
            f"{run_dir / name}.pt is missing (only {last.name} is there): train it again, "
            f"or delete {last.name}"
        )
    state = recorded_state(
        load_checkpoint(last, kind=BASELINE if name == BASELINE else "cvae"), last
    )
    if not state.finished:
        raise CheckpointError(
            f"{name} in {run_dir} is unfinished (stopped after epoch {state.epoch}): finish it "
            "with the train command that made it and --resume"
        )


def check_complete(models: dict[str, Trained], run_dir: Path) -> None:
    """Raise :class:`CheckpointError` if a run folder holds a CVAE without its baseline NN,
    or a baseline NN without a CVAE: its rows would not make a table."""
    cvaes = [t for t in models.values() if t.kind != BASELINE]
    if any(t.frozen_baseline is not None for t in cvaes) and BASELINE not in models:
        raise CheckpointError(f"{run_dir / BASELINE}.pt is missing: the CVAEs' baseline NN")
    if BASELINE in models and not cvaes:
        raise CheckpointError(
            f"no CVAE in {run_dir} (cvae.pt is missing): train one with python -m cvae_pyro.train"
        )


def check_one_baseline(models: dict[str, Trained], run_dir: Path) -> None:
    """Raise :class:`CheckpointError` unless every CVAE was trained with the folder's baseline.

    A CVAE records the hash of its frozen baseline's weights when it is trained (for a
    checkpoint that records none, the frozen weights it holds are hashed); ``baseline.pt``
    must match it, so that the NN row and the CVAE rows come from one training run.
    """
    baseline = models.get(BASELINE)
    if baseline is None:
        return
    found = weights_sha256(baseline.module)
    for name, trained in models.items():
        frozen = trained.frozen_baseline
        if frozen is None:
            continue
        if (trained.baseline_sha256 or weights_sha256(frozen)) != found:
            raise CheckpointError(
                f"{run_dir / 'baseline.pt'} is not the baseline {name}.pt was trained with "
                "(its weights differ from those the CVAE recorded); the folder mixes two "
                "runs: evaluate the files of one run, or train again into an empty folder"
            )


def _objective(stem: str) -> dict:
    """What a file stem says of the model: ``gsnn.pt`` holds a GSNN, ``cvae-iwae5.pt`` a
    CVAE trained on the IWAE bound with K = 5 (:func:`~cvae_pyro.cli.choices.model_settings`)."""
    return {} if stem == BASELINE else (model_settings(stem) or {})


def beyond_paper(run_dir: Path) -> list[str]:
    """The stems of the CVAEs in ``run_dir`` trained beyond the paper (``cvae-*.pt``), sorted."""
    stems = (p.name.removesuffix(".pt") for p in run_dir.glob("cvae-*.pt"))
    return sorted(s for s in stems if s not in MODEL_FILES and model_settings(s) is not None)
