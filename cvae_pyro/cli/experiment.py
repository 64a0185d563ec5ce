"""Run one training experiment: the baseline (quadrant and mask tasks), then one CVAE objective.

:func:`run` is what ``python -m cvae_pyro.train`` calls, and what notebooks, the
scripts in ``experiments/`` and :mod:`cvae_pyro.cli.cll_table` call too. For the
quadrant and mask tasks the baseline NN is trained first, frozen, and fed to the CVAE's
prior network; for the label condition only the label CVAE is trained. Everything
lands in ``cfg.run_dir`` (checkpoints, ``metrics.json``, the figures), which is locked
for the whole run. Before any work, :func:`~cvae_pyro.cli.run_folder.plan` decides for
both models whether to train afresh, continue or keep, and refuses models of other
settings and a CVAE whose frozen baseline this run would change; a kept baseline's hash
is compared with the one the CVAE recorded before the CVAE is touched. Each model is
trained by :func:`~cvae_pyro.fit.fit`, with :class:`EpochSaver` as its ``on_epoch``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from torch import nn
from tqdm import tqdm

from ..beyond.plots import training_figures
from ..data import MNIST, load_splits
from ..fit import Batches, FusedAdam, Pairs, Redraw, TrainState, elbo_loss, fit
from ..models import CVAE
from ..objectives import KLWarmup, ModelGuide, objective_pair, svi_loss
from .checkpoints import load_checkpoint, save_checkpoint, weights_sha256
from .config import BASELINE, TITLE_PREFIXES, TrainConfig
from .device import check_precision, precision_context, resolve_device
from .errors import Terminated, TrainingDiverged, TrainingInterrupted
from .files import check_out_dir, folder_lock, read_json, save_figure, save_json
from .model_files import baseline_architecture, build_baseline, build_cvae, condition_type
from .run_folder import plan, refuse, restore, rng_state, run_settings, stopping_rule

VALIDATION_SEED_OFFSET = 10_007  #: validation noise is seeded apart from training noise
MAX_LOSS_NATS_PER_IMAGE = 1e5  #: a loss above this (nats per image) means divergence


@dataclass
class Job:
    """One model to train into a run folder, and how."""

    module: nn.Module  # the BaselineNN or CVAE whose weights are saved
    pair: ModelGuide  # (model, guide) of its objective
    name: str  # file stem of its checkpoints: "baseline", "cvae", "gsnn", ...
    architecture: dict  # settings stored in its checkpoints and checked on resume
    record: dict = field(default_factory=dict)  # more for its checkpoints (baseline hash)
    loss: object = field(default_factory=Trace_ELBO)  # the SVI loss
    warmup: KLWarmup | None = None  # a KL warm-up of the training steps


class CheckedSVI(SVI):
    """SVI as the commands run it: Pyro's validation off and ``autocast`` on in each step
    (see :func:`~cvae_pyro.cli.device.precision_context`), every loss checked for divergence."""

    def __init__(
        self, model: Callable, guide: Callable, optim: FusedAdam, loss: object, autocast=None
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
    """Training batches under a progress bar labelled ``label``, on a terminal only (a log
    file or a notebook gets the epoch lines alone), and none when ``quiet``."""

    label, quiet = "", True

    def __iter__(self):
        steps = math.ceil(len(self) / self.batch_size)
        disable = True if self.quiet else None  # None: tqdm shows it on a terminal only
        yield from tqdm(super().__iter__(), self.label, steps, leave=False, disable=disable)


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
        raise TrainingDiverged(f"invalid distribution parameters {where}") from None
    if not math.isfinite(loss) or loss / images > MAX_LOSS_NATS_PER_IMAGE:
        raise TrainingDiverged(f"the loss became {loss / images:.4g} nats/image {where}")
    return loss


class EpochSaver:
    """``fit``'s ``on_epoch``: after every epoch the best weights, the last checkpoint to
    resume from (weights, Adam state, random-number states, the training state), and the
    epoch's line."""

    def __init__(self, job: Job, cfg: TrainConfig, svi: CheckedSVI, batches: Batches) -> None:
        self.job, self.cfg, self.svi, self.batches = job, cfg, svi, batches
        self.best, self.last = (cfg.run_dir / f"{job.name}{end}.pt" for end in ("", "_last"))
        self.kind = BASELINE if job.name == BASELINE else "cvae"  # the checkpoints' kind
        self.title = TITLE_PREFIXES.get(cfg.condition, "") + job.name  # e.g. "mask cvae"
        self.saved = 0  # the last epoch on disk

    def __call__(self, state: TrainState) -> None:
        job, settings = self.job, run_settings(self.cfg)
        payload = dict(job.record, architecture=job.architecture, run=settings)
        payload.update(state_dict=job.module.state_dict(), train_state=asdict(state))
        if state.best_epoch == state.epoch:
            save_checkpoint(payload, self.best, self.kind)
        payload.update(optimizer=self.svi.optim.get_state(), rng=rng_state(self.batches.shuffle))
        save_checkpoint(payload, self.last, self.kind)
        self.saved, self.svi.steps = state.epoch, 0
        self.batches.label = f"{self.title} epoch {state.epoch + 1}"
        _log(self.cfg, epoch_line(self.title, state, self.cfg.epochs))

    def stopped(self, err: BaseException) -> Exception:
        """The one-line error of a run stopped by Ctrl-C, a signal or divergence: the
        epoch it stopped in, and what is on disk."""
        title, epoch = self.title, self.saved + 1
        where = f"no {title} epoch had finished, so no {title} checkpoint was saved"
        if self.saved:
            where = f"epochs up to {self.saved} are saved in {self.last}"
        elif self.best.exists():  # stopped between the best and the last checkpoint
            where = f"no {title} checkpoint to resume from was saved ({self.best} holds the "
            where += "weights of an unfinished training)"
        if isinstance(err, TrainingDiverged):
            return TrainingDiverged(f"{title} epoch {epoch}: {err}; {where}")
        ended = isinstance(err, Terminated)
        how = f"terminated ({err.signal_name})" if ended else "interrupted"
        status = err.exit_status if ended else None
        return TrainingInterrupted(f"{title}: {how} during epoch {epoch}; {where}", ended, status)


def train_model(
    job: Job, train: tuple[Pairs, Redraw | None], val: Pairs, cfg: TrainConfig, ckpt: dict | None
) -> TrainState:
    """Train ``job`` with :func:`~cvae_pyro.fit.fit`, from the seed or from ``ckpt``, its
    last checkpoint (:func:`~cvae_pyro.cli.run_folder.plan`; restored with ``--resume``)
    until the rule stops it; returns the final state, with the best weights in ``job.module``.
    Ctrl-C names the epoch it stopped in and what is saved."""
    (pairs, redraw), shuffle = train, torch.Generator()
    rule = stopping_rule(cfg, cfg.kl_warmup if job.warmup else 0)
    pyro.clear_param_store()
    pair = job.warmup.wrap(job.pair) if job.warmup else job.pair
    autocast = precision_context(cfg.precision, pairs[1].device)
    svi = CheckedSVI(*pair, FusedAdam(job.module, cfg.lr), job.loss, autocast)
    batches = ProgressBatches(*pairs, cfg.batch_size, shuffle, redraw)
    saver = EpochSaver(job, cfg, svi, batches)
    title = saver.title
    if ckpt is None:
        pyro.set_rng_seed(cfg.seed)
        shuffle.manual_seed(cfg.seed)
        state = TrainState(lr=cfg.lr)
    else:
        if cfg.resume:
            restore(ckpt, job.module, svi.optim, shuffle)
        state = TrainState(**ckpt["train_state"])  # checked by plan
        state.finished = rule.stop_reason(state) is not None  # a new --epochs or --patience
        kept = f"kept the finished {title} of the same settings in {cfg.run_dir}"
        resumed = f"resuming after epoch {state.epoch} from {saver.last}"
        _log(cfg, f"{title}: {kept if state.finished else resumed}")
    saver.saved, batches.quiet = state.epoch, cfg.quiet
    batches.label = f"{title} epoch {state.epoch + 1}"
    if job.warmup is not None:
        job.warmup.start_epoch(state.epoch + 1)
    # early stopping watches the bound the model climbs: the IWAE bound for --elbo iwae
    particles = cfg.particles if cfg.elbo == "iwae" and saver.kind == "cvae" else None
    val_args = (*job.pair, val, cfg.eval_batch_size, cfg.seed + VALIDATION_SEED_OFFSET, particles)
    try:
        check = "on the validation split"
        fit(svi, batches, lambda: diverged_check(elbo_loss, val_args, 1, check), rule, state, saver)
    except (KeyboardInterrupt, TrainingDiverged) as err:
        raise saver.stopped(err) from None
    _log(cfg, f"{title}: {rule.stop_reason(state)}")
    job.module.load_state_dict(load_checkpoint(saver.best)["state_dict"])  # the best epoch
    return state


def train_baseline(
    cfg: TrainConfig, data: MNIST, ckpt: dict | None
) -> tuple[nn.Module, TrainState]:
    """Train the baseline NN (or continue or keep the one of ``ckpt``)."""
    pyro.set_rng_seed(cfg.seed)  # initial weights depend on the seed alone
    baseline = build_baseline(cfg).to(data.train.images.device)
    task = condition_type(cfg.condition)
    job = Job(baseline, (baseline.model, baseline.guide), BASELINE, baseline_architecture(cfg))
    train = task.baseline_batches(cfg, data.train)
    return baseline, train_model(job, train, task.baseline_pairs(cfg, data.validation), cfg, ckpt)


def train_cvae(
    cfg: TrainConfig, data: MNIST, baseline: nn.Module | None, ckpt: dict | None
) -> tuple[CVAE, TrainState]:
    """Train the CVAE with ``cfg.objective`` (the baseline, if any, stays frozen)."""
    pyro.set_rng_seed(cfg.seed)  # initial weights depend on the seed alone
    cvae = build_cvae(cfg, baseline).to(data.train.images.device)
    train = cvae.condition.training_batches(data.train)
    val = cvae.condition.pairs(data.validation)  # (N_val, ...), (N_val, y_dim)
    pair = objective_pair(cvae, cfg.objective, cfg.alpha)
    # Which frozen baseline it is trained with, so that evaluate never pairs it with another.
    record = {} if baseline is None else {"baseline_sha256": weights_sha256(baseline)}
    if ckpt is not None and ckpt.get("baseline_sha256") != record.get("baseline_sha256"):
        why = f"was trained on another frozen baseline than the one in {cfg.run_dir}"
        raise refuse(cfg, cfg.model_name, why)
    loss = Trace_ELBO() if cfg.elbo == "trace" else svi_loss(cfg.elbo, cfg.particles)
    steps = math.ceil(len(train[0][1]) / cfg.batch_size)  # SVI steps per epoch
    warmup = KLWarmup(cfg.kl_warmup, steps) if cfg.kl_warmup else None
    job = Job(cvae, pair, cfg.model_name, cfg.architecture(), record, loss, warmup)
    return cvae, train_model(job, train, val, cfg, ckpt)


def epoch_line(title: str, state: TrainState, epochs: int) -> str:
    """The line printed after each epoch; its last words say whether it counted as improving."""
    last = state.history[-1]
    mark = "improved" if last["improved"] else f"no improvement ({state.bad_epochs} in a row)"
    if not last["improved"] and state.best_epoch == state.epoch:
        mark += " (new best, gain too small)"
    return (
        f"{title} epoch {state.epoch:3d}/{epochs}  train {last['train_loss']:8.3f}  "
        f"val {last['val_loss']:8.3f} nats/image  {last['seconds']:6.1f} s  {mark}"
    )


def _log(cfg: TrainConfig, message: str) -> None:
    if not cfg.quiet:
        tqdm.write(message)


def summary(state: TrainState, **more: object) -> dict:
    """What ``metrics.json`` records of one model's training, and ``more``."""
    seconds = sum(r["seconds"] for r in state.history)
    run = {"history": state.history, "best_epoch": state.best_epoch, "epochs_run": state.epoch}
    best = {"best_val_loss_nats_per_image": state.best_val_loss, "seconds_total": seconds}
    return {**run, **best, **more}


def run(cfg: TrainConfig) -> dict:
    """Train everything ``cfg`` asks for; returns the metrics written to ``metrics.json``.

    Raises:
        FolderBusy: another live command is using ``cfg.run_dir``.
        ConfigError: ``metrics.json`` is corrupt, or the run folder holds models of other
            settings (:func:`~cvae_pyro.cli.run_folder.plan`); found before any work.
    """
    device = resolve_device(cfg.device)
    check_precision(cfg.precision, device)  # before any folder is made
    check_out_dir(cfg.out_dir, cfg.folder_option)
    with folder_lock(cfg.run_dir):
        path = cfg.run_dir / "metrics.json"
        advice = "delete it, the checkpoints are enough"
        metrics = read_json(path, "metrics.json", advice) if path.exists() else {}
        base_ckpt, cvae_ckpt = plan(cfg)
        data = load_splits(cfg.data_dir, cfg.limit, device, cfg.dataset)
        baseline = None
        if condition_type(cfg.condition).has_baseline:
            baseline, state = train_baseline(cfg, data, base_ckpt)
            # the baseline has no latent: its validation loss is its exact negative CLL
            metrics[BASELINE] = summary(state, val_nll_nats_per_image=state.best_val_loss)
        cvae, state = train_cvae(cfg, data, baseline, cvae_ckpt)
        # the number early stopping chose the best epoch by: -ELBO, or -IWAE bound for --elbo iwae
        bound = f"val_negative_{'iwae_bound' if cfg.elbo == 'iwae' else 'elbo'}_nats_per_image"
        metrics[cfg.model_name] = summary(
            state, **{bound: state.best_val_loss}, config=cfg.to_dict()
        )
        save_json(metrics, path)
        if cfg.figures:
            suffix = "" if cfg.model_name == "cvae" else f"_{cfg.model_name}"
            for name, fig in training_figures(cvae, data.validation, data.class_names).items():
                save_figure(fig, cfg.run_dir / f"{name}{suffix}.png")
    return metrics
