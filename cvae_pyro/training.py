"""One training loop for every model: SVI, early stopping, checkpoints, resume.

The baseline and every CVAE objective are Pyro model/guide pairs (the baseline's
guide is empty; see :mod:`cvae_pyro.objectives` for the CVAE's), so :func:`fit`
trains any of them, with ``Trace_ELBO`` or another SVI loss. After every epoch it
saves a *last* checkpoint with everything needed to continue bit-for-bit (weights,
Adam state, RNG states, early-stopping state, history) into the run folder
(:mod:`cvae_pyro.run_folder`); the *best* checkpoint holds the weights with the
lowest validation loss, which training also keeps in memory. The learning rate and
the stopping rule are :mod:`cvae_pyro.schedule`'s.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import PyroOptim
from torch import nn
from tqdm import tqdm

from .checkpoints import load_checkpoint
from .conditions import Pairs, Redraw
from .config import TrainConfig
from .device import precision_context
from .errors import (
    CheckpointError,
    Terminated,
    TrainingDiverged,
    TrainingInterrupted,
    one_line,
)
from .objectives import KLWarmup, ModelGuide, iwae_bound
from .run_folder import RunFolder, run_settings
from .schedule import EarlyStopping, TrainState, advance, mark, recorded_state
from .settings import BASELINE

VALIDATION_SEED_OFFSET = 10_007  #: validation noise is seeded apart from training noise
MAX_LOSS_NATS_PER_IMAGE = 1e5  #: a loss above this (nats per image) means divergence


class FusedAdam(PyroOptim):
    """One fused ``torch.optim.Adam`` over all trainable parameters, for SVI.

    ``pyro.optim.Adam`` makes one optimizer per parameter tensor and steps them one
    by one; this steps them all in one fused kernel (the same update rule, other
    floating-point rounding; ``tests/test_schedule.py`` compares the two). It starts
    with ``module``'s trainable parameters, in their order (so that a saved state
    maps back onto them), and adds any other parameter SVI hands it (a ``pyro.param``
    outside the networks). Gradients are cleared after each step.

    Args:
        module: the networks to train; frozen parameters (``requires_grad=False``) are left.
        lr: learning rate.
    """

    def __init__(self, module: nn.Module, lr: float) -> None:
        super().__init__(torch.optim.Adam, {"lr": lr})
        params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=lr, fused=True)
        self._known = {id(p) for p in params}

    def __call__(self, params: Iterable[torch.Tensor], *args: Any, **kwargs: Any) -> None:
        """One Adam step of every parameter, those SVI passes that are new included."""
        new = [p for p in params if p.requires_grad and id(p) not in self._known]
        if new:
            lr = self.optimizer.param_groups[0]["lr"]
            self.optimizer.add_param_group({"params": new, "lr": lr})
            self._known.update(id(p) for p in new)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def set_lr(self, lr: float) -> None:
        """Use learning rate ``lr`` from the next step on."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def get_state(self) -> dict:
        """The optimizer's state dict (moments and step counts)."""
        return self.optimizer.state_dict()

    def set_state(self, state_dict: dict) -> None:
        """Restore a state dict from :meth:`get_state`."""
        self.optimizer.load_state_dict(state_dict)


def make_svi(
    module: nn.Module, pair: ModelGuide, lr: float, loss: object = None
) -> tuple[SVI, FusedAdam]:
    """SVI for the (model, guide) ``pair`` over ``module``'s networks.

    ``loss``: ``Trace_ELBO()`` when None, else any ``SVI`` loss
    (:func:`~cvae_pyro.objectives.svi_loss`).
    """
    pyro.clear_param_store()
    optim = FusedAdam(module, lr)
    return SVI(*pair, optim, Trace_ELBO() if loss is None else loss), optim


def elbo_loss(
    pair: ModelGuide, pairs: Pairs, batch_size: int, seed: int, particles: int | None = None
) -> float:
    """Negative ELBO of a (model, guide) pair (Trace_ELBO, one particle), nats per image.

    With ``particles`` K: minus the IWAE bound with K draws per image instead
    (:func:`~cvae_pyro.objectives.iwae_bound`), the bound a model trained with
    ``--elbo iwae`` climbs. The noise comes from its own seed inside a forked RNG, so
    calling this does not change the training random stream.
    """
    c, y = pairs
    devices = [y.device] if y.device.type == "cuda" else []
    elbo = Trace_ELBO()
    total = 0.0
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        for start in range(0, len(y), batch_size):
            batch = slice(start, start + batch_size)
            if particles is None:
                total += elbo.loss(*pair, c[batch], y[batch])
            else:
                total -= iwae_bound(*pair, particles, c[batch], y[batch]).sum().item()
    return total / len(y)


def _rng_state(shuffle: torch.Generator) -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": list(random.getstate()[1]),
        "numpy": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "shuffle": shuffle.get_state(),
    }


def _set_rng_state(state: dict, shuffle: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate((3, tuple(state["python"]), None))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"]))
    shuffle.set_state(state["shuffle"])


def train_epoch(
    svi: SVI,
    pairs: Pairs,
    batch_size: int,
    shuffle: torch.Generator,
    label: str = "epoch",
    quiet: bool = True,
    redraw: Redraw | None = None,
    precision: str = "fp32",
) -> float:
    """One pass of SVI steps over ``pairs`` in an order drawn from ``shuffle``.

    ``redraw``, when given, turns each batch ``(x, y)`` into the one the step sees
    (the mask task draws fresh masks for every batch). ``precision`` "bf16" runs the
    networks under bf16 autocast (:func:`~cvae_pyro.device.precision_context`).

    Pyro's validation (of distribution arguments and traces) is off during the steps,
    which saves its checks in every step; it stays on everywhere else (the validation
    losses, the tests). A NaN weight still shows: the loss is checked every step.

    Returns:
        The mean training loss, nats per image.

    Raises:
        TrainingDiverged: a step's loss is NaN, infinite or implausibly large.
    """
    x, y = pairs
    order = torch.randperm(len(y), generator=shuffle).to(y.device)
    steps = range(0, len(y), batch_size)
    total = 0.0
    bar = tqdm(steps, desc=label, leave=False, disable=quiet, unit="step")
    autocast = precision_context(precision, y.device)
    try:
        for step, start in enumerate(bar, start=1):
            idx = order[start : start + batch_size]  # (b,)
            batch = (redraw or _same)(x[idx], y[idx])
            loss = diverged_check(svi_step, (svi, batch, autocast), len(idx), f"at step {step}")
            total += loss
            bar.set_postfix(loss=f"{total / min(start + batch_size, len(y)):.2f}", refresh=False)
    finally:
        bar.close()
    return total / len(y)


def svi_step(svi: SVI, batch: Pairs, autocast: contextlib.AbstractContextManager) -> float:
    """One SVI step on ``batch`` as training takes it: under ``autocast`` (see
    :func:`~cvae_pyro.device.precision_context`), Pyro's validation off. Its summed loss."""
    with autocast, pyro.validation_enabled(False):
        return svi.step(*batch)


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


def _same(x: torch.Tensor, y: torch.Tensor) -> Pairs:
    return x, y


def fit(
    module: nn.Module,
    pair: ModelGuide,
    name: str,
    train: tuple[Pairs, Redraw | None],
    validation: Pairs,
    cfg: TrainConfig,
    architecture: dict,
    title: str | None = None,
    record: dict | None = None,
    loss: object = None,
    warmup: KLWarmup | None = None,
    folder: RunFolder | None = None,
) -> TrainState:
    """Train the (model, guide) ``pair`` by SVI, early-stopping on validation.

    Without ``cfg.resume`` the model is trained afresh, except that a finished one in
    ``cfg.run_dir`` is never replaced: of the same settings it is kept (and returned), of
    other settings refused (:meth:`~cvae_pyro.run_folder.RunFolder.kept`). So Ctrl-C
    never leaves a partly trained model where a finished one was. The best weights are
    kept in memory as training finds them; each checkpoint is read at most once.

    Args:
        module: the :class:`~cvae_pyro.models.BaselineNN` or :class:`~cvae_pyro.models.CVAE`
            whose networks the pair uses; its weights are saved.
        pair: ``(model, guide)``, for example ``objective_pair(cvae, "gsnn")``.
        name: file stem of its checkpoints in ``cfg.run_dir``: ``{name}.pt`` (best weights)
            and ``{name}_last.pt`` (state to resume from); "baseline" or the objective.
        train: ``((x, y), redraw)``: the training pairs on the training device and the
            per-batch hook (see :func:`train_epoch`), or None.
        validation: ``(x, y)`` validation pairs.
        cfg: the run's settings (epochs, patience, batch size, learning rate, seed, resume).
        architecture: settings stored in the checkpoints and checked on resume.
        title: how messages name the model (default ``name``), e.g. "mask cvae".
        record: more entries for its checkpoints, e.g. the hash of the frozen baseline.
        loss: the SVI loss (default ``Trace_ELBO()``). The validation loss is the pair's
            negative ELBO (:func:`elbo_loss`), or for ``--elbo iwae`` minus its IWAE bound.
        warmup: a KL warm-up for the training steps; its epochs never count against
            the patience (the validation loss is that of the whole ELBO).
        folder: the run folder (default: a new one of ``cfg``), whose checkpoints a
            caller may already have read.

    Returns:
        The final state; ``module`` holds the best weights.
    """
    kind = "baseline" if name == BASELINE else "cvae"
    title = title or name
    (pairs, redraw), rule = train, EarlyStopping.of(cfg, warmup is not None)
    folder = folder or RunFolder(cfg)
    svi, optim = make_svi(module, warmup.wrap(pair) if warmup else pair, cfg.lr, loss)
    shuffle = torch.Generator()
    # early stopping watches the bound the model climbs: the IWAE bound for --elbo iwae
    particles = cfg.particles if cfg.elbo == "iwae" and kind == "cvae" else None
    state = _start(folder, name, kind, module, optim, shuffle, architecture, record, rule)
    if state.finished and not cfg.resume:
        _log(cfg, f"{title}: kept the finished {title} of the same settings in {folder.path}")
    elif state.epoch:
        _log(cfg, f"{title}: resuming after epoch {state.epoch} from {folder.last(name)}")
    saved, best = state.epoch, None  # the last epoch on disk; the best weights in memory
    try:  # Ctrl-C at any moment names the epoch it stopped and what is saved
        while not state.finished:
            epoch, start = state.epoch + 1, time.perf_counter()
            module.train()
            optim.set_lr(state.lr)
            label = f"{title} epoch {epoch}"
            if warmup is not None:
                warmup.start_epoch(epoch)
            train_loss = train_epoch(
                svi, pairs, cfg.batch_size, shuffle, label, cfg.quiet, redraw, cfg.precision
            )
            module.eval()
            seed = cfg.seed + VALIDATION_SEED_OFFSET
            val_args = (pair, validation, cfg.eval_batch_size, seed, particles)
            val_loss = diverged_check(elbo_loss, val_args, 1, "on the validation split")
            seconds = time.perf_counter() - start
            improved = advance(state, epoch, train_loss, val_loss, seconds, cfg.epochs, rule)
            payload = {**(record or {}), **_payload(module, architecture, state, run_settings(cfg))}
            if state.best_epoch == epoch:
                folder.save(payload, folder.best(name), kind)
                best = {k: v.detach().clone() for k, v in module.state_dict().items()}
            payload.update(optimizer=optim.get_state(), rng=_rng_state(shuffle))
            folder.save(payload, folder.last(name), kind)
            saved = epoch
            _log(
                cfg,
                f"{title} epoch {epoch:3d}/{cfg.epochs}  train {train_loss:8.3f}  val {val_loss:8.3f} "
                f"nats/image  {seconds:6.1f} s  {mark(state, improved)}",
            )
    except KeyboardInterrupt as err:
        ended = err if isinstance(err, Terminated) else None
        how = f"terminated ({ended.signal_name})" if ended else "interrupted"
        where = f"{title}: {how} during epoch {saved + 1}"
        raise TrainingInterrupted(
            f"{where}; {folder.saved(name, saved, title)}",
            terminated=ended is not None,
            exit_status=ended.exit_status if ended else None,
        ) from None
    except TrainingDiverged as err:
        raise TrainingDiverged(
            f"{title} epoch {saved + 1}: {err}; {folder.saved(name, saved, title)}"
        ) from None
    _log(cfg, f"{title}: {rule.stop_reason(state, cfg.epochs)}")
    if best is None:  # the best epoch was trained by an earlier command: read its weights
        ckpt = load_checkpoint(folder.best(name), expect=architecture, kind=kind)
        best = ckpt["state_dict"]
    module.load_state_dict(best)
    module.eval()
    return state


def _start(
    folder: RunFolder,
    name: str,
    kind: str,
    module: nn.Module,
    optim: FusedAdam,
    shuffle: torch.Generator,
    architecture: dict,
    record: dict | None,
    rule: EarlyStopping,
) -> TrainState:
    """A fresh state from the seed, the state of a kept finished model, or with
    ``--resume`` the state saved in the last checkpoint (:class:`RunFolder`)."""
    cfg = folder.cfg
    ckpt = folder.resumed(name, kind, architecture)
    if ckpt is not None:
        state = _restore(ckpt, module, optim, shuffle, folder.last(name))
        state.finished = rule.stop_reason(state, cfg.epochs) is not None  # new --epochs
        return state
    kept = folder.kept(name, kind, architecture, record)
    if kept is not None:
        return recorded_state(kept, folder.last(name))
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


def _restore(
    ckpt: dict, module: nn.Module, optim: FusedAdam, shuffle: torch.Generator, path: Path
) -> TrainState:
    state = recorded_state(ckpt, path)
    try:
        module.load_state_dict(ckpt["state_dict"])
        optim.set_state(ckpt["optimizer"])
        _set_rng_state(ckpt["rng"], shuffle)
    except Exception as err:  # any content: torch, numpy and random raise many kinds
        raise CheckpointError(
            f"{path} cannot be resumed from: it is not a *_last.pt written by training (its "
            f"weights, optimizer or random-number state: {one_line(err, 80)}); delete it, or "
            "run without --resume"
        ) from None
    return state


def _log(cfg: TrainConfig, message: str) -> None:
    if not cfg.quiet:
        tqdm.write(message)
