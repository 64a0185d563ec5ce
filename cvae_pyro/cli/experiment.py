"""Run one training experiment into its run folder: the baseline (quadrant and mask tasks),
then one CVAE objective.

:func:`run` is what ``python -m cvae_pyro.train`` calls, and what notebooks, the
scripts in ``experiments/`` and :mod:`cvae_pyro.cli.cll_table` call too. For the
quadrant and mask tasks the baseline NN is trained first, frozen, and fed to the CVAE's
prior network; for the label condition only the label CVAE is trained. Everything
lands in ``cfg.run_dir`` (``OUT_DIR/q{n}``, ``OUT_DIR/label``, ...), which is locked for
the whole run: for each model ``NAME.pt`` (the best weights) and ``NAME_last.pt``
(everything needed to continue: weights, Adam state, random-number states, the training
state), ``metrics.json`` and the figures. Each model is trained by
:func:`~cvae_pyro.fit.fit`, whose ``on_epoch`` saves both checkpoints after every epoch.

Before any work, :func:`plan` reads each model's last checkpoint
(:func:`last_checkpoint`):

- none, or an unfinished one without ``--resume``: the model is trained afresh;
- otherwise it must record this run's settings (the architecture and :data:`RUN_KEYS`;
  without ``--resume`` also ``epochs`` and ``patience``), or the run is refused with one
  line naming each setting that differs. With ``--resume`` the model continues until the
  new ``--epochs`` and ``--patience`` stop it (a finished model continues when they
  grew); without, the finished model is kept as it is.

A CVAE is continued or kept only with the frozen baseline it was trained with: it is
refused when this run would train its baseline again or further, and a kept baseline's
hash must be the one the CVAE recorded.
"""

import contextlib
import math
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from torch import nn
from tqdm import tqdm

from ..beyond.plots import training_figures
from ..data import load_splits
from ..fit import Batches, EarlyStopping, FusedAdam, TrainState, elbo_loss, fit
from ..models import CVAE
from ..objectives import KLWarmup, objective_pair, svi_loss
from .checkpoints import load_checkpoint, save_checkpoint, setting_diffs, weights_sha256
from .config import BASELINE, TITLE_PREFIXES, TrainConfig
from .device import precision_context, resolve_device
from .errors import ConfigError, Terminated, TrainingDiverged, TrainingInterrupted
from .files import folder_lock, read_json, save_figure, save_json
from .model_files import CONDITION_TYPES, baseline_architecture, build_baseline, build_cvae

VALIDATION_SEED_OFFSET = 10_007  #: validation noise is seeded apart from training noise
MAX_LOSS_NATS_PER_IMAGE = 1e5  #: a loss above this (nats per image) means divergence
#: Settings besides the architecture that define a run's numbers (the validation noise is
#: drawn per evaluation batch, so ``eval_batch_size`` can move the best epoch).
RUN_KEYS = tuple(
    "seed limit batch_size lr lr_patience lr_decay min_improvement eval_batch_size precision".split()
)
#: What every checkpoint records of its run: :data:`RUN_KEYS` and the stopping settings.
RECORDED_KEYS = (*RUN_KEYS, "epochs", "patience")


class CheckedSVI(SVI):
    """SVI as the commands run it: Pyro's validation off and ``autocast`` on in each step
    (see :func:`~cvae_pyro.cli.device.precision_context`), every loss checked for divergence."""

    def __init__(self, model: Callable, guide: Callable, optim, loss, autocast=None) -> None:
        super().__init__(model, guide, optim, loss)
        self.autocast = autocast or contextlib.nullcontext()
        self.steps = 0  # steps of the current epoch

    def step(self, *args: torch.Tensor) -> float:
        """One SVI step; TrainingDiverged when its loss is not plausible."""
        self.steps += 1
        with self.autocast, pyro.validation_enabled(False):
            return diverged_check(super().step, args, len(args[-1]), f"at step {self.steps}")


class ProgressBatches(Batches):
    """Training batches under a progress bar naming ``title`` and the epoch, on a terminal
    only (a log file or a notebook gets the epoch lines alone), and none when ``quiet``."""

    title, epoch, quiet = "", 0, True

    def __iter__(self):
        self.epoch += 1
        bar = f"{self.title} epoch {self.epoch}"
        steps = math.ceil(len(self) / self.batch_size)  # disable None: on a terminal only
        yield from tqdm(super().__iter__(), bar, steps, leave=False, disable=self.quiet or None)


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


def stopping_rule(cfg: TrainConfig, warmup: int = 0) -> EarlyStopping:
    """The learning-rate schedule and stopping rule of ``cfg`` (``warmup``: KL warm-up epochs)."""
    return EarlyStopping(
        cfg.lr, cfg.epochs, cfg.patience, cfg.lr_patience, cfg.lr_decay, cfg.min_improvement, warmup
    )


def refuse(cfg: TrainConfig, name: str, why: str) -> ConfigError:
    """The error that keeps model ``name`` (``why``: what differs) and names the ways out."""
    return ConfigError(
        f"{cfg.run_dir / name}_last.pt {why}; it is not replaced: use another "
        f"{cfg.folder_option}, or delete {name}.pt and {name}_last.pt to train it again"
    )


def last_checkpoint(cfg: TrainConfig, name: str, architecture: dict) -> dict | None:
    """The last checkpoint of model ``name`` that this run continues or keeps (None:
    train afresh); ConfigError when it records other settings (see the module)."""
    path = cfg.run_dir / f"{name}_last.pt"
    if not os.path.lexists(path):
        return None
    ckpt = load_checkpoint(path, kind=BASELINE if name == BASELINE else "cvae")
    if not (ckpt["train_state"]["finished"] or cfg.resume):
        return None
    settings = {key: getattr(cfg, key) for key in (RUN_KEYS if cfg.resume else RECORDED_KEYS)}
    diffs = setting_diffs(ckpt.get("architecture"), architecture)
    diffs += setting_diffs(ckpt.get("run"), settings)
    if diffs:
        raise refuse(cfg, name, f"was trained with other settings: {', '.join(diffs)}")
    return ckpt


def plan(cfg: TrainConfig) -> tuple[dict | None, dict | None]:
    """The last checkpoints of the baseline and of the CVAE that this run continues or
    keeps; ConfigError for one of other settings, or for a CVAE whose baseline this run
    would train again or further."""
    has_baseline = CONDITION_TYPES[cfg.condition].has_baseline
    base = has_baseline and last_checkpoint(cfg, BASELINE, baseline_architecture(cfg))
    cvae = last_checkpoint(cfg, cfg.model_name, cfg.architecture())
    if has_baseline and cvae is not None:
        state = base and TrainState(**base["train_state"])
        if not state or stopping_rule(cfg).stop_reason(state) is None:
            how = "further (a greater --epochs or --patience)" if base else "again"
            why = f"was trained on the baseline that this run would train {how}"
            raise refuse(cfg, cfg.model_name, why)
    return base or None, cvae


def restore(ckpt: dict, module: nn.Module, optim: FusedAdam, shuffle: torch.Generator) -> None:
    """Put a last checkpoint's weights, optimizer state and random-number states back."""
    module.load_state_dict(ckpt["state_dict"])
    optim.set_state(ckpt["optimizer"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    if ckpt["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
    shuffle.set_state(ckpt["rng"]["shuffle"])


def epoch_line(title: str, state: TrainState, epochs: int) -> str:
    """The line printed after each epoch; its last words say whether it counted as improving."""
    epoch = state.history[-1]
    mark = "improved" if epoch["improved"] else f"no improvement ({state.bad_epochs} in a row)"
    return (
        f"{title} epoch {state.epoch:3d}/{epochs}  train {epoch['train_loss']:8.3f}  "
        f"val {epoch['val_loss']:8.3f} nats/image  {epoch['seconds']:6.1f} s  {mark}"
    )


def stopped(err: BaseException, title: str, saved: int, last: Path) -> Exception:
    """The one-line error of a training stopped by Ctrl-C, a signal or divergence after
    ``saved`` epochs were written (``last``: the checkpoint to resume from)."""
    where = f"epochs up to {saved} are saved in {last}" if saved else ""
    where = where or f"no {title} checkpoint to resume from was saved"
    if isinstance(err, TrainingDiverged):
        return TrainingDiverged(f"{title} epoch {saved + 1}: {err}; {where}")
    how = f"terminated ({err.signal_name})" if isinstance(err, Terminated) else "interrupted"
    line = f"{title}: {how} during epoch {saved + 1}; {where}"
    return TrainingInterrupted(line, exit_status=getattr(err, "exit_status", None))


def training_svi(
    cfg: TrainConfig, module: nn.Module, y: torch.Tensor
) -> tuple[CheckedSVI, tuple, KLWarmup | None]:
    """The SVI that trains ``module`` (a baseline NN or a CVAE) on the training outputs
    ``y``; the (model, guide) pair of its objective, and its KL warm-up if any."""
    cvae = isinstance(module, CVAE)
    pair = (
        objective_pair(module, cfg.objective, cfg.alpha) if cvae else (module.model, module.guide)
    )
    steps = math.ceil(len(y) / cfg.batch_size)  # SVI steps per epoch
    warmup = KLWarmup(cfg.kl_warmup, steps) if cvae and cfg.kl_warmup else None
    loss = svi_loss(cfg.elbo, cfg.particles) if cvae else Trace_ELBO()
    pyro.clear_param_store()
    optim, autocast = FusedAdam(module, cfg.lr), precision_context(cfg.precision, y.device)
    svi = CheckedSVI(*(warmup.wrap(pair) if warmup else pair), optim, loss, autocast)
    return svi, pair, warmup


def train_model(
    cfg: TrainConfig, module: nn.Module, train: tuple, val: tuple, ckpt: dict | None, baseline=None
) -> TrainState:
    """Train ``module`` (the baseline NN, or a CVAE on the frozen ``baseline``) by
    :func:`~cvae_pyro.fit.fit` from the seed or its last checkpoint ``ckpt`` (:func:`plan`),
    saving both checkpoints each epoch; the final state, the best weights in ``module``."""
    (pairs, redraw), shuffle, cvae = train, torch.Generator(), isinstance(module, CVAE)
    name, kind = (cfg.model_name, "cvae") if cvae else (BASELINE, BASELINE)
    # Which frozen baseline a CVAE is trained with, so that evaluate never pairs it with another.
    record = {} if baseline is None else {"baseline_sha256": weights_sha256(baseline)}
    if ckpt is not None and ckpt.get("baseline_sha256") != record.get("baseline_sha256"):
        why = f"was trained on another frozen baseline than the one in {cfg.run_dir}"
        raise refuse(cfg, name, why)
    svi, pair, warmup = training_svi(cfg, module, pairs[1])
    rule = stopping_rule(cfg, cfg.kl_warmup if warmup else 0)
    batches = ProgressBatches(*pairs, cfg.batch_size, shuffle, redraw)
    log = (lambda line: None) if cfg.quiet else tqdm.write
    title = TITLE_PREFIXES.get(cfg.condition, "") + name  # e.g. "mask cvae"
    best, last = cfg.run_dir / f"{name}.pt", cfg.run_dir / f"{name}_last.pt"
    if ckpt is None:
        pyro.set_rng_seed(cfg.seed)
        shuffle.manual_seed(cfg.seed)
        state = TrainState(lr=cfg.lr)
    else:
        if cfg.resume:
            restore(ckpt, module, svi.optim, shuffle)
        state = TrainState(**ckpt["train_state"])  # checked by plan
        state.finished = rule.stop_reason(state) is not None  # a new --epochs or --patience
        kept = f"kept the finished {title} of the same settings in {cfg.run_dir}"
        resumed = f"resuming after epoch {state.epoch} from {last}"
        log(f"{title}: {kept if state.finished else resumed}")
    saved = batches.epoch = state.epoch  # the last epoch on disk; the progress bar's
    batches.title, batches.quiet = title, cfg.quiet
    if warmup is not None:
        warmup.start_epoch(state.epoch + 1)
    record["architecture"] = cfg.architecture() if cvae else baseline_architecture(cfg)
    record["run"] = {key: getattr(cfg, key) for key in RECORDED_KEYS}

    def save(state: TrainState) -> None:  # fit's on_epoch
        nonlocal saved
        payload = dict(record, state_dict=module.state_dict(), train_state=asdict(state))
        if state.best_epoch == state.epoch:
            save_checkpoint(payload, best, kind)
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        rng = {"torch": torch.get_rng_state(), "cuda": cuda, "shuffle": shuffle.get_state()}
        save_checkpoint(dict(payload, optimizer=svi.optim.get_state(), rng=rng), last, kind)
        saved, svi.steps = state.epoch, 0
        log(epoch_line(title, state, cfg.epochs))

    # early stopping watches the bound the model climbs: the IWAE bound for --elbo iwae
    particles = cfg.particles if cfg.elbo == "iwae" and cvae else None
    val_args = (*pair, val, cfg.eval_batch_size, cfg.seed + VALIDATION_SEED_OFFSET, particles)
    check = "on the validation split"
    try:
        fit(svi, batches, lambda: diverged_check(elbo_loss, val_args, 1, check), rule, state, save)
    except (KeyboardInterrupt, TrainingDiverged) as err:
        raise stopped(err, title, saved, last) from None
    log(f"{title}: {rule.stop_reason(state)}")
    module.load_state_dict(load_checkpoint(best)["state_dict"])  # the best epoch
    return state


def summary(state: TrainState, loss: str, **more: object) -> dict:
    """What ``metrics.json`` records of one model's training: the best validation loss as
    ``loss`` too, and ``more``."""
    seconds = sum(r["seconds"] for r in state.history)
    run = {"history": state.history, "best_epoch": state.best_epoch, "epochs_run": state.epoch}
    best = {"best_val_loss_nats_per_image": state.best_val_loss, "seconds_total": seconds}
    return {**run, **best, loss: state.best_val_loss, **more}


def run(cfg: TrainConfig) -> dict:
    """Train everything ``cfg`` asks for; returns the metrics written to ``metrics.json``.

    Raises:
        ConfigError: another live command is using ``cfg.run_dir``, ``metrics.json`` is
            corrupt, or the run folder holds models of other settings (:func:`plan`); found
            before any work.
    """
    device = resolve_device(cfg.device)
    with folder_lock(cfg.run_dir, cfg.folder_option):
        path = cfg.run_dir / "metrics.json"
        advice = "delete it, the checkpoints are enough"
        metrics = read_json(path, "metrics.json", advice) if path.exists() else {}
        base_ckpt, cvae_ckpt = plan(cfg)
        data = load_splits(cfg.data_dir, cfg.limit, device, cfg.dataset)
        baseline, task = None, CONDITION_TYPES[cfg.condition]
        if task.has_baseline:
            pyro.set_rng_seed(cfg.seed)  # initial weights depend on the seed alone
            baseline = build_baseline(cfg).to(device)
            train = task.baseline_batches(cfg, data.train)
            val = task.baseline_pairs(cfg, data.validation)
            state = train_model(cfg, baseline, train, val, base_ckpt)
            # the baseline has no latent: its validation loss is its exact negative CLL
            metrics[BASELINE] = summary(state, "val_nll_nats_per_image")
        pyro.set_rng_seed(cfg.seed)
        cvae = build_cvae(cfg, baseline).to(device)  # the baseline, if any, stays frozen
        train = cvae.condition.training_batches(data.train)
        val = cvae.condition.pairs(data.validation)
        state = train_model(cfg, cvae, train, val, cvae_ckpt, baseline)
        # the number early stopping chose the best epoch by: -ELBO, or -IWAE bound for --elbo iwae
        bound = f"val_negative_{'iwae_bound' if cfg.elbo == 'iwae' else 'elbo'}_nats_per_image"
        metrics[cfg.model_name] = summary(state, bound, config=cfg.to_dict())
        save_json(metrics, path)
        if cfg.figures:
            suffix = "" if cfg.model_name == "cvae" else f"_{cfg.model_name}"
            for name, fig in training_figures(cvae, data.validation, data.class_names).items():
                save_figure(fig, cfg.run_dir / f"{name}{suffix}.png")
    return metrics
