"""Run one training experiment: the baseline (quadrant and mask tasks), then one CVAE objective.

:func:`run` is what ``python -m cvae_pyro.train`` calls, and what notebooks,
benchmarks and :mod:`cvae_pyro.reproduction` call too. For the quadrant and mask
tasks the baseline NN is trained first (or loaded from the run folder when a
finished one is there), frozen, and fed to the CVAE's prior network. The mask
task's baseline and CVAE both see fresh masks in every training batch. For the
label condition only the label CVAE is trained. Everything lands in ``cfg.run_dir``:
checkpoints, ``metrics.json`` and the figures. The folder is locked for the
whole run (:func:`~cvae_pyro.locks.folder_lock`), and a finished baseline is
reused only if it was trained with the same settings
(:data:`~cvae_pyro.training.RECORDED_KEYS`; with ``resume``, ``epochs`` and
``patience`` may differ: the finished baseline is kept as it is); otherwise the
run is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyro
import torch

from .build import BASELINE, baseline_architecture, build_baseline, build_cvae
from .checkpoints import load_checkpoint, save_json
from .conditions import fixed_masks, redraw_baseline_batch
from .config import DEFAULT_DATASET, TrainConfig
from .data import MNIST, Split, load_dataset
from .errors import ConfigError, one_line
from .figures import save_mask_figures, save_quadrant_figures
from .label_figures import save_label_figures
from .locks import folder_lock
from .masks import mask_input, split_xy
from .models import CVAE, BaselineNN
from .objectives import objective_pair
from .training import (
    RECORDED_KEYS,
    RUN_KEYS,
    TrainState,
    check_run_settings,
    elbo_loss,
    fit,
    is_finished,
    run_settings,
)


def resolve_device(name: str) -> torch.device:
    """``auto`` means cuda when available; asking for cuda without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is available")
    return torch.device(name)


def load_data(
    data_dir: str | None,
    limit: int | None,
    device: torch.device,
    dataset: str = DEFAULT_DATASET,
) -> MNIST:
    """The dataset's three splits on ``device``, each cut to its first ``limit`` images.

    A ``limit`` above the largest split's size is refused (ConfigError); a smaller split
    than ``limit`` is used whole.
    """
    data = load_dataset(dataset, data_dir)
    largest = max(len(data.split(s)) for s in ("train", "validation", "test"))
    if limit is not None and limit > largest:
        raise ConfigError(f"limit {limit} is more than the {largest} images of the largest split")
    splits = (data.split(s).head(limit).to(device) for s in ("train", "validation", "test"))
    return MNIST(*splits, dataset=dataset)


def baseline_pairs(cfg: TrainConfig, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    """The baseline's ``(x, y)``: quadrants cut apart, or fixed masks for the mask task."""
    if cfg.condition == "mask":
        visible = fixed_masks(len(split), cfg.family).to(split.images.device)  # (N, 784)
        return mask_input(split.images, visible), split.images  # (N, 1568), (N, 784)
    return split_xy(split.images, cfg.quadrants)


def mask_training_pairs(split: Split) -> tuple[torch.Tensor, torch.Tensor]:
    """The mask task's training pairs before the per-batch hook: ``(images, images)``.

    The hook (:meth:`~cvae_pyro.conditions.MaskCondition.redraw` and its baseline's
    counterpart) builds each batch's input from its images, so no input is stored.
    """
    return split.images, split.images  # (N, 784) each


def train_baseline(cfg: TrainConfig, data: MNIST) -> tuple[BaselineNN, TrainState]:
    """Train the baseline, or load it when a finished one is in ``cfg.run_dir``."""
    device = data.train.images.device
    pyro.set_rng_seed(cfg.seed)  # initial weights depend on the seed alone
    baseline = build_baseline(cfg.quadrants, cfg.hidden).to(device)
    arch = baseline_architecture(cfg)
    last = cfg.run_dir / f"{BASELINE}_last.pt"
    if is_finished(last):
        best = cfg.run_dir / f"{BASELINE}.pt"
        ckpt = load_checkpoint(best, expect=arch, kind=BASELINE)
        settings = run_settings(cfg)
        keys = RUN_KEYS if cfg.resume else RECORDED_KEYS  # --resume keeps it, new epochs or not
        check_run_settings(ckpt, {k: settings[k] for k in keys}, best)
        baseline.load_state_dict(ckpt["state_dict"])
        if not cfg.quiet:
            print(f"baseline: loaded the finished baseline from {cfg.run_dir}")
        return baseline.eval(), TrainState(**load_checkpoint(last)["train_state"])
    train, val = baseline_pairs(cfg, data.train), baseline_pairs(cfg, data.validation)
    redraw = None
    if cfg.condition == "mask":  # the hook draws every batch's masks and inputs afresh
        train, redraw = mask_training_pairs(data.train), redraw_baseline_batch(cfg.family)
    pair = (baseline.model, baseline.guide)
    state = fit(baseline, pair, BASELINE, BASELINE, train, val, cfg, arch, redraw)
    return baseline, state


def train_cvae(
    cfg: TrainConfig, data: MNIST, baseline: BaselineNN | None
) -> tuple[CVAE, TrainState]:
    """Train the CVAE with ``cfg.objective`` (the baseline, if any, stays frozen)."""
    pyro.set_rng_seed(cfg.seed)  # initial weights depend on the seed alone
    cvae = build_cvae(cfg, baseline).to(data.train.images.device)
    val = cvae.condition.pairs(data.validation)  # (N_val, ...), (N_val, y_dim)
    if cfg.condition == "mask":  # the hook draws every batch's masks and inputs afresh
        train, redraw = mask_training_pairs(data.train), cvae.condition.redraw
    else:
        train, redraw = cvae.condition.pairs(data.train), None  # (N, ...), (N, y_dim)
    pair = objective_pair(cvae, cfg.objective, cfg.alpha)
    state = fit(cvae, pair, cfg.objective, cfg.kind, train, val, cfg, cfg.architecture(), redraw)
    return cvae, state


def summary(state: TrainState) -> dict:
    """What ``metrics.json`` records of one model's training."""
    return {
        "history": state.history,
        "best_epoch": state.best_epoch,
        "epochs_run": state.epoch,
        "best_val_loss_nats_per_image": state.best_val_loss,
        "seconds_total": sum(r["seconds"] for r in state.history),
    }


def update_metrics(cfg: TrainConfig, entries: dict) -> dict:
    """Merge ``entries`` into ``run_dir/metrics.json`` (written atomically)."""
    path = cfg.run_dir / "metrics.json"
    metrics = read_metrics(path)
    metrics.update(entries)
    save_json(metrics, path)
    return metrics


def read_metrics(path: Path) -> dict:
    """The ``metrics.json`` at ``path`` ({} if none); ConfigError if it is not a JSON object."""
    if not path.exists():
        return {}
    try:
        metrics = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"{path} is corrupt ({one_line(err, 80)}); delete it, the checkpoints are enough"
        ) from None
    if not isinstance(metrics, dict):
        raise ConfigError(f"{path} does not hold a JSON object; delete it")
    return metrics


def run(cfg: TrainConfig) -> dict:
    """Train everything ``cfg`` asks for; returns the metrics written to ``metrics.json``.

    Raises:
        FolderBusy: another live command is using ``cfg.run_dir``.
    """
    device = resolve_device(cfg.device)
    with folder_lock(cfg.run_dir):
        read_metrics(cfg.run_dir / "metrics.json")  # a corrupt file is found before training
        data = load_data(cfg.data_dir, cfg.limit, device, cfg.dataset)
        return _run_locked(cfg, data)


def _run_locked(cfg: TrainConfig, data: MNIST) -> dict:
    entries: dict = {}
    baseline = None
    if cfg.condition != "label":
        baseline, state = train_baseline(cfg, data)
        val = baseline_pairs(cfg, data.validation)
        nll = elbo_loss((baseline.model, baseline.guide), val, cfg.eval_batch_size, cfg.seed)
        entries[BASELINE] = {**summary(state), "val_nll_nats_per_image": nll}
    cvae, state = train_cvae(cfg, data, baseline)
    val = cvae.condition.pairs(data.validation)  # (N_val, ...), (N_val, y_dim)
    pair = objective_pair(cvae, cfg.objective, cfg.alpha)
    entries[cfg.objective] = {
        **summary(state),
        "val_negative_elbo_nats_per_image": elbo_loss(pair, val, cfg.eval_batch_size, cfg.seed),
        "config": cfg.to_dict(),
    }
    metrics = update_metrics(cfg, entries)
    if cfg.figures:
        if cfg.condition == "quadrant":
            save_quadrant_figures(cfg, data.validation, baseline, cvae)
        elif cfg.condition == "mask":
            save_mask_figures(cfg, data.validation, cvae)
        else:
            save_label_figures(cfg, data.validation, cvae, data.class_names)
    return metrics
