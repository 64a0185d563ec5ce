"""Evaluate trained models: every model of one run folder, and the label CVAE's digits.

The baseline gets its exact negative CLL; each CVAE the Monte Carlo and
importance-sampling estimates and the negative ELBO (a GSNN: MC and its own
bound). Every checkpoint is checked against the task asked for before it is used.

A mask-task run (``out_dir/mask``) is evaluated on the fixed family masks, or on
one quadrant layout when ``quadrants`` is given, so that its rows (model names
``mask_baseline`` and ``mask``) stand next to the specialists of that layout: the
likelihood counts the same hidden pixels.

A small MLP classifier (:class:`DigitClassifier`) reads the label CVAE's samples:
are they the digits asked for? (``benchmarks/label_quality.py``.)

:func:`evaluate_command` is what ``python -m cvae_pyro.evaluate`` runs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoints import (
    check_folder,
    folder_lock,
    load_checkpoint,
    save_checkpoint,
    save_json,
    weights_sha256,
)
from .conditions import BASELINE, Trained, condition_type, load_trained, sample_digits
from .config import NUM_CLASSES, OBJECTIVES, EvaluateConfig, model_settings
from .data import MNIST, Split, check_precision, load_data, resolve_device
from .errors import CheckpointError, ConfigError
from .masks import NUM_PIXELS
from .metrics import DEFAULT_SAMPLES, evaluate_cvae, nn_nll
from .models import CVAE
from .networks import mlp

#: Checkpoint file stems evaluation looks for, in table order.
MODEL_FILES = (BASELINE, *OBJECTIVES)
MASK_MODEL = "mask"  #: the mask CVAE's name in evaluation rows and tables
MASK_BASELINE = "mask_baseline"  #: the mask task's baseline NN in evaluation rows and tables


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
    return trained.condition.row_names.get(stem, stem)


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
    models = {}
    for name in names or (*MODEL_FILES, *beyond_paper(run_dir)):
        path = run_dir / f"{name}.pt"
        if not os.path.lexists(path):  # a broken link is read, and refused
            continue
        kind = BASELINE if name == BASELINE else "cvae"
        models[name] = load_trained(path, device, kind, {**(expect or {}), **_objective(name)})
    check_one_baseline(models, run_dir)
    rows = []
    for name, trained in models.items():
        start = time.perf_counter()
        x, y = model_pairs(trained, part, quadrants)
        if trained.kind == BASELINE:
            estimates = [nn_nll(trained.module, x, y)]
        else:
            estimates = evaluate_cvae(
                trained.module,
                x,
                y,
                num_samples,
                seed=seed,
                objective=trained.objective,
                precision=precision,
            )
        seconds = time.perf_counter() - start
        model = row_name(trained, name)
        extra = {"seconds": seconds, **({"precision": precision} if precision != "fp32" else {})}
        rows += [{"model": model, **e.as_dict(), **extra} for e in estimates]
    if not rows:
        raise CheckpointError(f"no trained model (baseline.pt, cvae.pt, ...) in {run_dir}")
    return rows


def check_one_baseline(models: dict[str, Trained], run_dir: Path) -> None:
    """Raise :class:`CheckpointError` unless every CVAE was trained with the folder's baseline.

    A CVAE records the hash of its frozen baseline's weights when it is trained (older
    checkpoints: the frozen weights it holds are hashed); ``baseline.pt`` must match it,
    so that the NN row and the CVAE rows come from one training run.
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
    CVAE trained on the IWAE bound with K = 5 (:func:`~cvae_pyro.config.model_settings`)."""
    return {} if stem == BASELINE else (model_settings(stem) or {})


def beyond_paper(run_dir: Path) -> list[str]:
    """The stems of the CVAEs in ``run_dir`` trained beyond the paper (``cvae-*.pt``), sorted."""
    stems = (p.name.removesuffix(".pt") for p in run_dir.glob("cvae-*.pt"))
    return sorted(s for s in stems if s not in MODEL_FILES and model_settings(s) is not None)


def format_rows(rows: list[dict]) -> str:
    """A plain-text table of evaluation rows."""
    lines = [f"{'model':13s} {'estimator':9s} {'nats/image':>12s} {'stderr':>7s} {'S':>4s}"]
    for r in rows:
        lines.append(
            f"{r['model']:13s} {r['estimator']:9s} {r['nll_mean']:12.3f} "
            f"{r['nll_stderr']:7.3f} {r['samples']:4d}"
        )
    return "\n".join(lines)


CLASSIFIER = "classifier"  #: the kind of classifier checkpoints
EVAL_BATCH = 2000  #: images per batch when predicting


@dataclass
class ClassifierConfig:
    """Settings of the classifier and its training."""

    hidden: tuple[int, ...] = (512,)  # hidden widths: 784 -> 512 -> 10
    epochs: int = 5  # passes over the training images
    batch_size: int = 128  # images per Adam step
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # seeds the initial weights and the shuffling


class DigitClassifier(nn.Module):
    """An MLP from the 784 grey levels of an image to the logits of its digit 0..9.

    Args:
        hidden: hidden layer widths.
    """

    def __init__(self, hidden: tuple[int, ...] = ClassifierConfig.hidden) -> None:
        super().__init__()
        self.hidden = tuple(hidden)
        self.net = mlp(NUM_PIXELS, self.hidden, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 784)`` grey levels to ``(B, 10)`` logits."""
        return self.net(images)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The most likely digit of each image: ``(B, 784)`` to ``(B,)`` int64."""
        with torch.no_grad():
            chunks = [self(images[i : i + EVAL_BATCH]) for i in range(0, len(images), EVAL_BATCH)]
        return torch.cat(chunks).argmax(dim=-1)  # (B,)


def train_classifier(train: Split, cfg: ClassifierConfig | None = None) -> DigitClassifier:
    """Fit a :class:`DigitClassifier` to ``train`` by Adam on the cross-entropy.

    The global RNG is left as it was: weights and shuffling use ``cfg.seed``.
    """
    cfg = cfg or ClassifierConfig()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        classifier = DigitClassifier(cfg.hidden).to(train.images.device)
    optim = torch.optim.Adam(classifier.parameters(), lr=cfg.lr)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    classifier.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(train), generator=shuffle).to(train.images.device)  # (N,)
        for start in range(0, len(train), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]  # (b,)
            loss = F.cross_entropy(classifier(train.images[idx]), train.labels[idx])
            optim.zero_grad()
            loss.backward()
            optim.step()
    return classifier.eval()


def accuracy(classifier: DigitClassifier, split: Split) -> float:
    """Share of ``split``'s images whose label the classifier predicts."""
    return (classifier.predict(split.images) == split.labels).double().mean().item()


def digit_accuracy(
    classifier: DigitClassifier, cvae: CVAE, n_per_digit: int, seed: int = 0
) -> dict:
    """Share of the CVAE's samples that the classifier reads as the digit asked for.

    Args:
        classifier: a trained :class:`DigitClassifier`.
        cvae: a trained label :class:`~cvae_pyro.models.CVAE`.
        n_per_digit: samples drawn for each digit 0..9.
        seed: seed of the latent noise (see :func:`~cvae_pyro.sampling.sample_digits`).

    Returns:
        ``per_digit`` (``{"0": share, ..., "9": share}``), ``overall`` (share of all
        samples), ``n_per_digit`` and ``seed``. Samples are pixel probabilities.
    """
    samples = sample_digits(cvae, range(NUM_CLASSES), n_per_digit, seed)  # (10, n, 784)
    device = next(classifier.parameters()).device
    predicted = classifier.predict(samples.reshape(-1, NUM_PIXELS).to(device))  # (10 n,)
    asked = torch.arange(NUM_CLASSES)[:, None]  # (10, 1)
    correct = predicted.reshape(NUM_CLASSES, n_per_digit).cpu() == asked  # (10, n)
    per_digit = correct.double().mean(dim=1)  # (10,)
    return {
        "per_digit": {str(d): per_digit[d].item() for d in range(NUM_CLASSES)},
        "overall": correct.double().mean().item(),
        "n_per_digit": n_per_digit,
        "seed": seed,
    }


def save_classifier(
    classifier: DigitClassifier, path: str | os.PathLike, cfg: ClassifierConfig, **info
) -> None:
    """Save weights, settings and ``info`` (for example the test accuracy) as a checkpoint."""
    architecture = {"hidden": list(classifier.hidden)}
    settings = {**asdict(cfg), "hidden": list(cfg.hidden)}
    payload = {"state_dict": classifier.state_dict(), "config": settings, "info": info}
    save_checkpoint({"architecture": architecture, **payload}, path, CLASSIFIER)


def load_classifier(path: str | os.PathLike) -> tuple[DigitClassifier, dict]:
    """The classifier saved at ``path`` and the ``info`` saved with it, plus its ``config``.

    Raises:
        CheckpointError: missing, truncated or not a classifier checkpoint.
    """
    ckpt = load_checkpoint(path, kind=CLASSIFIER)
    try:
        classifier = DigitClassifier(tuple(ckpt["architecture"]["hidden"]))
        classifier.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{path} does not hold the classifier it claims to: {err}") from None
    return classifier.eval(), {**ckpt.get("info", {}), "config": ckpt.get("config", {})}


def evaluate_command(cfg: EvaluateConfig, command: str) -> None:
    """``python -m cvae_pyro.evaluate``: the estimates of every model in one run folder."""
    check_folder(cfg.run_dir, "--out-dir")  # a run folder that is missing, or a file
    device = resolve_device(cfg.device)
    check_precision(cfg.precision, device)
    expect = {"condition": cfg.condition, "dataset": cfg.dataset}
    on_layout = condition_type(cfg.condition).evaluates_on_layouts
    task = cfg.quadrants if on_layout else None
    if not on_layout:
        expect["quadrants"] = cfg.quadrants
    name = f"evaluation_{cfg.split}" + (f"_q{task}" if task else "")
    name += ("" if cfg.precision == "fp32" else f"_{cfg.precision}") + ".json"
    with folder_lock(cfg.run_dir):  # no training writes the folder while it is read
        data = load_data(cfg.data_dir, cfg.limit, device, cfg.dataset)
        images = len(data.split(cfg.split))
        if cfg.limit is not None and cfg.limit > images:
            raise ConfigError(
                f"--limit {cfg.limit} is more than the {images} images of the {cfg.split} split"
            )
        rows = evaluate_run_dir(
            cfg.run_dir, data, cfg.split, cfg.samples, cfg.seed, expect, task, cfg.precision
        )
        out = save_json({"split": cfg.split, "rows": rows}, cfg.run_dir / name)
    where = ""
    if on_layout:
        where = f" ({task}-quadrant layout)" if task else " (fixed family masks)"
    print(
        f"{cfg.run_dir}{where}, {cfg.split} split, {rows[0]['images']} images, grey-level "
        "Bernoulli likelihood; negative CLL in nats per image (lower is better)"
    )
    print(format_rows(rows))
    print(f"saved {out}")
