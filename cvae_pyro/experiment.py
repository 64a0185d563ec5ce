"""Run one training experiment: the baseline (quadrant and mask tasks), then one CVAE objective.

:func:`run` is what ``python -m cvae_pyro.train`` calls, and what notebooks, the
scripts in ``experiments/`` and :mod:`cvae_pyro.reproduction` call too. For the
quadrant and mask tasks the baseline NN is trained first (or loaded from the run
folder when a finished one is there), frozen, and fed to the CVAE's prior network. The mask
task's baseline and CVAE both see fresh masks in every training batch. For the
label condition only the label CVAE is trained. Everything lands in ``cfg.run_dir``:
checkpoints, ``metrics.json`` and the figures. The folder is locked for the
whole run (:func:`~cvae_pyro.files.folder_lock`). A finished model (baseline
or CVAE) is never replaced: it is kept when it was trained with the same settings
(:data:`~cvae_pyro.run_folder.RECORDED_KEYS`; with ``resume``, ``epochs`` and
``patience`` may differ: a finished baseline is kept as it is, a CVAE continues);
otherwise the run is refused.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pyro

from .checkpoints import load_checkpoint, weights_sha256
from .conditions import condition_type
from .config import TrainConfig
from .data import MNIST, load_splits
from .device import check_precision, resolve_device
from .errors import ConfigError
from .files import check_out_dir, read_json, save_json
from .models import CVAE, BaselineNN
from .objectives import KLWarmup, objective_pair, svi_loss
from .plots import save_figure, training_figures
from .run_folder import RunFolder
from .schedule import TrainState, recorded_state
from .settings import BASELINE
from .trained import baseline_architecture, build_baseline, build_cvae
from .training import fit


def train_baseline(
    cfg: TrainConfig, data: MNIST, folder: RunFolder
) -> tuple[BaselineNN, TrainState]:
    """Train the baseline, or load it when a finished one is in the run folder.

    A finished baseline is kept as it is, also with ``--resume`` and new ``--epochs``:
    the CVAEs trained on it stay valid.
    """
    device = data.train.images.device
    pyro.set_rng_seed(cfg.seed)  # initial weights depend on the seed alone
    baseline = build_baseline(cfg).to(device)
    arch = baseline_architecture(cfg)
    task = condition_type(cfg.condition)
    title = f"{task.title_prefix}{BASELINE}"
    if folder.finished(BASELINE, BASELINE) is not None:
        last = folder.resumed(BASELINE, BASELINE, arch) or folder.kept(BASELINE, BASELINE, arch)
        best = load_checkpoint(folder.best(BASELINE), expect=arch, kind=BASELINE)
        baseline.load_state_dict(best["state_dict"])
        if not cfg.quiet:
            print(f"{title}: loaded the finished {title} from {cfg.run_dir}")
        return baseline.eval(), recorded_state(last, folder.last(BASELINE))
    train = task.baseline_batches(cfg, data.train)
    val = task.baseline_pairs(cfg, data.validation)
    pair = (baseline.model, baseline.guide)
    state = fit(baseline, pair, BASELINE, train, val, cfg, arch, title, folder=folder)
    return baseline, state


def train_cvae(
    cfg: TrainConfig, data: MNIST, baseline: BaselineNN | None, folder: RunFolder
) -> tuple[CVAE, TrainState]:
    """Train the CVAE with ``cfg.objective`` (the baseline, if any, stays frozen)."""
    pyro.set_rng_seed(cfg.seed)  # initial weights depend on the seed alone
    cvae = build_cvae(cfg, baseline).to(data.train.images.device)
    train = cvae.condition.training_batches(data.train)
    val = cvae.condition.pairs(data.validation)  # (N_val, ...), (N_val, y_dim)
    pair = objective_pair(cvae, cfg.objective, cfg.alpha)
    title = f"{cvae.condition.title_prefix}{cfg.model_name}"
    # Which frozen baseline it is trained with, so that evaluate never pairs it with another.
    record = {} if baseline is None else {"baseline_sha256": weights_sha256(baseline)}
    loss = None if cfg.elbo == "trace" else svi_loss(cfg.elbo, cfg.particles)
    steps = math.ceil(len(train[0][1]) / cfg.batch_size)  # SVI steps per epoch
    warmup = KLWarmup(cfg.kl_warmup, steps) if cfg.kl_warmup else None
    arch = cfg.architecture()
    state = fit(
        cvae, pair, cfg.model_name, train, val, cfg, arch, title, record, loss, warmup, folder
    )
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
    if not os.path.lexists(path):
        return {}
    metrics = read_json(path, "metrics.json", "delete it, the checkpoints are enough")
    if not isinstance(metrics, dict):
        raise ConfigError(f"{path} does not hold a JSON object; delete it")
    return metrics


def run(cfg: TrainConfig) -> dict:
    """Train everything ``cfg`` asks for; returns the metrics written to ``metrics.json``.

    Raises:
        FolderBusy: another live command is using ``cfg.run_dir``.
    """
    device = resolve_device(cfg.device)
    check_precision(cfg.precision, device)  # before any folder is made
    check_out_dir(cfg.out_dir, cfg.folder_option)
    folder = RunFolder(cfg)
    with folder.lock():
        read_metrics(cfg.run_dir / "metrics.json")  # a corrupt file is found before training
        data = load_splits(cfg.data_dir, cfg.limit, device, cfg.dataset)
        return _run_locked(cfg, data, folder)


def _run_locked(cfg: TrainConfig, data: MNIST, folder: RunFolder) -> dict:
    entries: dict = {}
    baseline = None
    if condition_type(cfg.condition).has_baseline:
        baseline, state = train_baseline(cfg, data, folder)
        # the baseline has no latent: its validation loss is its exact negative CLL
        entries[BASELINE] = {**summary(state), "val_nll_nats_per_image": state.best_val_loss}
    cvae, state = train_cvae(cfg, data, baseline, folder)
    # the number early stopping chose the best epoch by: -ELBO, or -IWAE bound for --elbo iwae
    bound = "iwae_bound" if cfg.elbo == "iwae" else "elbo"
    entries[cfg.model_name] = {
        **summary(state),
        f"val_negative_{bound}_nats_per_image": state.best_val_loss,
        "config": cfg.to_dict(),
    }
    metrics = update_metrics(cfg, entries)
    if cfg.figures:
        suffix = "" if cfg.model_name == "cvae" else f"_{cfg.model_name}"
        figures = training_figures(cvae, data.validation, data.class_names)
        for name, fig in figures.items():
            save_figure(fig, cfg.run_dir / f"{name}{suffix}.png")
    return metrics
