"""Run one training experiment: the baseline (quadrant and mask tasks), then one CVAE objective.

:func:`run` is what ``python -m cvae_pyro.train`` calls, and what notebooks,
benchmarks and :mod:`cvae_pyro.reproduction` call too. For the quadrant and mask
tasks the baseline NN is trained first (or loaded from the run folder when a
finished one is there), frozen, and fed to the CVAE's prior network. The mask
task's baseline and CVAE both see fresh masks in every training batch. For the
label condition only the label CVAE is trained. Everything lands in ``cfg.run_dir``:
checkpoints, ``metrics.json`` and the figures. The folder is locked for the
whole run (:func:`~cvae_pyro.checkpoints.folder_lock`). A finished model (baseline
or CVAE) is never replaced: it is kept when it was trained with the same settings
(:data:`~cvae_pyro.training.RECORDED_KEYS`; with ``resume``, ``epochs`` and
``patience`` may differ: a finished baseline is kept as it is, a CVAE continues);
otherwise the run is refused.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pyro

from .checkpoints import (
    check_out_dir,
    folder_lock,
    load_checkpoint,
    read_json,
    save_figure,
    save_json,
    weights_sha256,
)
from .conditions import (
    BASELINE,
    baseline_architecture,
    build_baseline,
    build_cvae,
    condition_type,
)
from .config import TrainConfig
from .data import MNIST, check_precision, load_data, resolve_device
from .errors import ConfigError
from .models import CVAE, BaselineNN
from .objectives import KLWarmup, objective_pair, svi_loss
from .training import (
    RUN_KEYS,
    TrainState,
    check_finished,
    check_run_settings,
    elbo_loss,
    fit,
    is_finished,
    recorded_state,
    run_settings,
)


def train_baseline(cfg: TrainConfig, data: MNIST) -> tuple[BaselineNN, TrainState]:
    """Train the baseline, or load it when a finished one is in ``cfg.run_dir``."""
    device = data.train.images.device
    pyro.set_rng_seed(cfg.seed)  # initial weights depend on the seed alone
    baseline = build_baseline(cfg).to(device)
    arch = baseline_architecture(cfg)
    last = cfg.run_dir / f"{BASELINE}_last.pt"
    task = condition_type(cfg.condition)
    title = f"{task.title_prefix}{BASELINE}"
    if is_finished(last):
        best = cfg.run_dir / f"{BASELINE}.pt"
        ckpt = load_checkpoint(best, kind=BASELINE)
        settings = run_settings(cfg)
        if cfg.resume:  # --resume keeps it, new epochs or not
            load_checkpoint(best, expect=arch, kind=BASELINE)
            check_run_settings(ckpt, {k: settings[k] for k in RUN_KEYS}, best, cfg.folder_option)
        else:
            check_finished(ckpt, arch, settings, best, cfg.folder_option)
        baseline.load_state_dict(ckpt["state_dict"])
        if not cfg.quiet:
            print(f"{title}: loaded the finished {title} from {cfg.run_dir}")
        return baseline.eval(), recorded_state(load_checkpoint(last), last)
    train = task.baseline_batches(cfg, data.train)
    val = task.baseline_pairs(cfg, data.validation)
    pair = (baseline.model, baseline.guide)
    state = fit(baseline, pair, BASELINE, train, val, cfg, arch, title)
    return baseline, state


def train_cvae(
    cfg: TrainConfig, data: MNIST, baseline: BaselineNN | None
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
    state = fit(cvae, pair, cfg.model_name, train, val, cfg, arch, title, record, loss, warmup)
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
    with folder_lock(cfg.run_dir):
        read_metrics(cfg.run_dir / "metrics.json")  # a corrupt file is found before training
        data = load_data(cfg.data_dir, cfg.limit, device, cfg.dataset)
        return _run_locked(cfg, data)


def _run_locked(cfg: TrainConfig, data: MNIST) -> dict:
    entries: dict = {}
    baseline = None
    task = condition_type(cfg.condition)
    if task.make_baseline is not None:
        baseline, state = train_baseline(cfg, data)
        val = task.baseline_pairs(cfg, data.validation)
        nll = elbo_loss((baseline.model, baseline.guide), val, cfg.eval_batch_size, cfg.seed)
        entries[BASELINE] = {**summary(state), "val_nll_nats_per_image": nll}
    cvae, state = train_cvae(cfg, data, baseline)
    val = cvae.condition.pairs(data.validation)  # (N_val, ...), (N_val, y_dim)
    pair = objective_pair(cvae, cfg.objective, cfg.alpha)
    entries[cfg.model_name] = {
        **summary(state),
        "val_negative_elbo_nats_per_image": elbo_loss(pair, val, cfg.eval_batch_size, cfg.seed),
        "config": cfg.to_dict(),
    }
    metrics = update_metrics(cfg, entries)
    if cfg.figures:
        suffix = "" if cfg.model_name == "cvae" else f"_{cfg.model_name}"
        figures = cvae.condition.figures(cvae, data.validation, data.class_names)
        for name, fig in figures.items():
            save_figure(fig, cfg.run_dir / f"{name}{suffix}.png")
    return metrics


def train_command(cfg: TrainConfig, command: str) -> None:
    """``python -m cvae_pyro.train``: train, then say where the files are."""
    check_precision(cfg.precision, resolve_device(cfg.device))  # before any folder is made
    check_out_dir(cfg.out_dir)
    start = time.perf_counter()
    metrics = run(cfg)
    if not cfg.quiet:
        print(
            f"done in {time.perf_counter() - start:.0f} s; best {cfg.model_name} at epoch "
            f"{metrics[cfg.model_name]['best_epoch']}; files in {cfg.run_dir}"
        )
