"""Run one training experiment: the baseline (quadrant and mask tasks), then one CVAE objective.

:func:`run` is what ``python -m cvae_pyro.train`` calls, and what notebooks, the
scripts in ``experiments/`` and :mod:`cvae_pyro.cli.cll_table` call too. For the
quadrant and mask tasks the baseline NN is trained first (or loaded from the run
folder when a finished one is there), frozen, and fed to the CVAE's prior network. The mask
task's baseline and CVAE both see fresh masks in every training batch. For the
label condition only the label CVAE is trained. Everything lands in ``cfg.run_dir``:
checkpoints, ``metrics.json`` and the figures. The folder is locked for the
whole run (:func:`~cvae_pyro.cli.files.folder_lock`). A finished model (baseline
or CVAE) is never replaced: it is kept when it was trained with the same settings
(:data:`~cvae_pyro.cli.run_folder.RECORDED_KEYS`; with ``resume``, ``epochs`` and
``patience`` may differ: a finished baseline is kept as it is, a CVAE continues);
otherwise the run is refused.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from torch import nn
from tqdm import tqdm

from ..beyond.plots import training_figures
from ..data import MNIST, load_splits
from ..fit import Batches, EarlyStopping, FusedAdam, Pairs, Redraw, TrainState, elbo_loss, fit
from ..models import CVAE, BaselineNN
from ..objectives import KLWarmup, ModelGuide, objective_pair, svi_loss
from .checkpoints import load_checkpoint, weights_sha256
from .choices import BASELINE, TITLE_PREFIXES
from .config import TrainConfig
from .device import check_precision, precision_context, resolve_device
from .errors import ConfigError, Terminated, TrainingDiverged, TrainingInterrupted
from .files import check_out_dir, read_json, save_figure, save_json
from .model_files import baseline_architecture, build_baseline, build_cvae, condition_type
from .run_folder import RunFolder, recorded_state, restore, rng_state, run_settings

VALIDATION_SEED_OFFSET = 10_007  #: validation noise is seeded apart from training noise
MAX_LOSS_NATS_PER_IMAGE = 1e5  #: a loss above this (nats per image) means divergence


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
    title = f"{TITLE_PREFIXES.get(cfg.condition, '')}{BASELINE}"
    if folder.finished(BASELINE, BASELINE) is not None:
        last = folder.resumed(BASELINE, BASELINE, arch) or folder.kept(BASELINE, BASELINE, arch)
        best = load_checkpoint(folder.best(BASELINE), expect=arch, kind=BASELINE)
        baseline.load_state_dict(best["state_dict"])
        if not cfg.quiet:
            print(f"{title}: loaded the finished {title} from {cfg.run_dir}")
        return baseline.eval(), recorded_state(last, folder.last(BASELINE))
    job = Job(baseline, (baseline.model, baseline.guide), BASELINE, title, arch)
    train = task.baseline_batches(cfg, data.train)
    state = train_model(job, train, task.baseline_pairs(cfg, data.validation), cfg, folder)
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
    title = f"{TITLE_PREFIXES.get(cfg.condition, '')}{cfg.model_name}"
    # Which frozen baseline it is trained with, so that evaluate never pairs it with another.
    record = {} if baseline is None else {"baseline_sha256": weights_sha256(baseline)}
    loss = Trace_ELBO() if cfg.elbo == "trace" else svi_loss(cfg.elbo, cfg.particles)
    steps = math.ceil(len(train[0][1]) / cfg.batch_size)  # SVI steps per epoch
    warmup = KLWarmup(cfg.kl_warmup, steps) if cfg.kl_warmup else None
    job = Job(cvae, pair, cfg.model_name, title, cfg.architecture(), record, loss, warmup)
    return cvae, train_model(job, train, val, cfg, folder)


@dataclass
class Job:
    """One model to train into a run folder, and how."""

    module: nn.Module  # the BaselineNN or CVAE whose weights are saved
    pair: ModelGuide  # (model, guide) of its objective
    name: str  # file stem of its checkpoints: "baseline", "cvae", "gsnn", ...
    title: str  # how messages name it, e.g. "mask cvae"
    architecture: dict  # settings stored in its checkpoints and checked on resume
    record: dict = field(default_factory=dict)  # more for its checkpoints (baseline hash)
    loss: object = field(default_factory=Trace_ELBO)  # the SVI loss
    warmup: KLWarmup | None = None  # a KL warm-up of the training steps

    @property
    def kind(self) -> str:
        """The checkpoint kind: "baseline" or "cvae"."""
        return BASELINE if self.name == BASELINE else "cvae"


class CheckedSVI(SVI):
    """SVI as the commands run it: Pyro's validation off and ``autocast`` on in each step
    (see :func:`~cvae_pyro.cli.device.precision_context`), every loss checked for divergence."""

    def __init__(
        self,
        model: Callable,
        guide: Callable,
        optim: FusedAdam,
        loss: object,
        autocast: contextlib.AbstractContextManager | None = None,
    ) -> None:
        super().__init__(model, guide, optim, loss)
        self.autocast = autocast or contextlib.nullcontext()
        self.steps = 0  # steps of the current epoch

    def step(self, *args: torch.Tensor) -> float:
        """One SVI step; TrainingDiverged when its loss is not plausible."""
        self.steps += 1
        with self.autocast, pyro.validation_enabled(False):
            return diverged_check(super().step, args, len(args[-1]), f"at step {self.steps}")


class ProgressBatches(Batches):
    """Training batches under a progress bar labelled ``label`` (none when ``quiet``, or
    when standard error is not a terminal)."""

    label, quiet = "", True

    def __iter__(self):
        steps = math.ceil(len(self) / self.batch_size)
        # a bar on a terminal only: a log file or a notebook gets the epoch lines alone
        disable = True if self.quiet else None
        bar = tqdm(super().__iter__(), self.label, steps, leave=False, disable=disable)
        yield from bar


def diverged_check(compute: Callable[..., float], args: tuple, images: int, where: str) -> float:
    """``compute(*args)``, a loss summed over ``images`` images, checked for divergence.

    Raises:
        TrainingDiverged: the loss is NaN, infinite or past :data:`MAX_LOSS_NATS_PER_IMAGE`
            per image, or a distribution rejected its parameters (NaN weights).
    """
    try:
        loss = compute(*args)
    except ValueError as err:  # a distribution's argument check: NaN or invalid parameters
        if "constraint" not in str(err) and "nan" not in str(err).lower():
            raise
        raise TrainingDiverged(
            f"the networks produced invalid distribution parameters {where}"
        ) from None
    if not math.isfinite(loss) or loss / images > MAX_LOSS_NATS_PER_IMAGE:
        raise TrainingDiverged(f"the loss became {loss / images:.4g} nats/image {where}")
    return loss


class EpochSaver:
    """``fit``'s ``on_epoch``: after every epoch the best weights (on disk and in memory),
    the last checkpoint to resume from, and the epoch's line."""

    def __init__(
        self, job: Job, cfg: TrainConfig, folder: RunFolder, svi: CheckedSVI, batches: Batches
    ) -> None:
        self.job, self.cfg, self.folder, self.svi, self.batches = job, cfg, folder, svi, batches
        self.best: dict = {}  # the best weights, once this command trained the best epoch
        self.saved = 0  # the last epoch on disk

    def __call__(self, state: TrainState) -> None:
        job, folder = self.job, self.folder
        payload = {
            **job.record,
            **_payload(job.module, job.architecture, state, run_settings(self.cfg)),
        }
        if state.best_epoch == state.epoch:
            folder.save(payload, folder.best(job.name), job.kind)
            self.best = {k: v.detach().clone() for k, v in job.module.state_dict().items()}
        payload.update(optimizer=self.svi.optim.get_state(), rng=rng_state(self.batches.shuffle))
        folder.save(payload, folder.last(job.name), job.kind)
        self.saved, self.svi.steps = state.epoch, 0
        self.batches.label = f"{job.title} epoch {state.epoch + 1}"
        _log(self.cfg, epoch_line(job.title, state, self.cfg.epochs))

    def stopped(self, err: BaseException) -> Exception:
        """The one-line error of a run stopped by Ctrl-C, a signal or divergence."""
        job, saved = self.job, self.saved
        where = self.folder.saved(job.name, saved, job.title)
        if isinstance(err, TrainingDiverged):
            return TrainingDiverged(f"{job.title} epoch {saved + 1}: {err}; {where}")
        ended = err if isinstance(err, Terminated) else None
        how = f"terminated ({ended.signal_name})" if ended else "interrupted"
        return TrainingInterrupted(
            f"{job.title}: {how} during epoch {saved + 1}; {where}",
            terminated=ended is not None,
            exit_status=ended.exit_status if ended else None,
        )


def train_model(
    job: Job, train: tuple[Pairs, Redraw | None], val: Pairs, cfg: TrainConfig, folder: RunFolder
) -> TrainState:
    """Train ``job`` with :func:`~cvae_pyro.fit.fit`, saving both checkpoints each epoch.

    Without ``cfg.resume`` the model is trained afresh, except that a finished one in the
    run folder is never replaced: of the same settings it is kept, of other settings
    refused (:meth:`~cvae_pyro.cli.run_folder.RunFolder.kept`). After every epoch the *last*
    checkpoint holds everything needed to continue bit for bit (weights, Adam state,
    random-number states, the training state); the *best* one the weights of the lowest
    validation loss, which are also kept in memory. Ctrl-C names the epoch it stopped.
    Returns the final state; ``job.module`` holds the best weights.
    """
    (pairs, redraw), shuffle = train, torch.Generator()
    warmup = cfg.kl_warmup if job.warmup else 0
    rule = EarlyStopping(
        cfg.lr, cfg.epochs, cfg.patience, cfg.lr_patience, cfg.lr_decay, cfg.min_improvement, warmup
    )
    pyro.clear_param_store()
    pair = job.warmup.wrap(job.pair) if job.warmup else job.pair
    autocast = precision_context(cfg.precision, pairs[1].device)
    svi = CheckedSVI(*pair, FusedAdam(job.module, cfg.lr), job.loss, autocast)
    batches = ProgressBatches(*pairs, cfg.batch_size, shuffle, redraw)
    state = _start(folder, job, svi, shuffle, rule)
    saver = EpochSaver(job, cfg, folder, svi, batches)
    saver.saved, batches.quiet = state.epoch, cfg.quiet
    batches.label = f"{job.title} epoch {state.epoch + 1}"
    if job.warmup is not None:
        job.warmup.start_epoch(state.epoch + 1)
    # early stopping watches the bound the model climbs: the IWAE bound for --elbo iwae
    particles = cfg.particles if cfg.elbo == "iwae" and job.kind == "cvae" else None
    val_args = (*job.pair, val, cfg.eval_batch_size, cfg.seed + VALIDATION_SEED_OFFSET, particles)
    try:  # Ctrl-C at any moment names the epoch it stopped and what is saved
        fit(
            svi,
            batches,
            lambda: diverged_check(elbo_loss, val_args, 1, "on the validation split"),
            rule,
            state,
            saver,
        )
    except (KeyboardInterrupt, TrainingDiverged) as err:
        raise saver.stopped(err) from None
    _log(cfg, f"{job.title}: {rule.stop_reason(state)}")
    best = (
        saver.best
        or load_checkpoint(folder.best(job.name), expect=job.architecture, kind=job.kind)[
            "state_dict"
        ]
    )
    job.module.load_state_dict(best)  # the best epoch: this command's, or an earlier one's
    return state


def _start(
    folder: RunFolder, job: Job, svi: CheckedSVI, shuffle: torch.Generator, rule: EarlyStopping
) -> TrainState:
    """A fresh state from the seed, the state of a kept finished model, or with
    ``--resume`` the state saved in the last checkpoint (:class:`RunFolder`)."""
    cfg, title = folder.cfg, job.title
    ckpt = folder.resumed(job.name, job.kind, job.architecture)
    if ckpt is not None:
        state = restore(ckpt, job.module, svi.optim, shuffle, folder.last(job.name))
        state.finished = rule.stop_reason(state) is not None  # a new --epochs
        _log(cfg, f"{title}: resuming after epoch {state.epoch} from {folder.last(job.name)}")
        return state
    kept = folder.kept(job.name, job.kind, job.architecture, job.record)
    if kept is not None:
        _log(cfg, f"{title}: kept the finished {title} of the same settings in {folder.path}")
        return recorded_state(kept, folder.last(job.name))
    pyro.set_rng_seed(cfg.seed)
    shuffle.manual_seed(cfg.seed)
    return TrainState(lr=cfg.lr)


def _payload(module: nn.Module, architecture: dict, state: TrainState, settings: dict) -> dict:
    return {
        "architecture": architecture,
        "run": settings,
        "state_dict": module.state_dict(),
        "train_state": asdict(state),
    }


def epoch_line(title: str, state: TrainState, epochs: int) -> str:
    """The line printed after each epoch; its last words say whether it counted as improving."""
    last = state.history[-1]
    if last["improved"]:
        mark = "improved"
    else:
        new_best = " (new best, gain too small)" if state.best_epoch == state.epoch else ""
        mark = f"no improvement ({state.bad_epochs} in a row){new_best}"
    return (
        f"{title} epoch {state.epoch:3d}/{epochs}  train {last['train_loss']:8.3f}  "
        f"val {last['val_loss']:8.3f} nats/image  {last['seconds']:6.1f} s  {mark}"
    )


def _log(cfg: TrainConfig, message: str) -> None:
    if not cfg.quiet:
        tqdm.write(message)


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
