"""One training loop for every model: SVI with Trace_ELBO, early stopping, checkpoints, resume.

The baseline and every CVAE objective are Pyro model/guide pairs (the baseline's
guide is empty; see :mod:`cvae_pyro.objectives` for the CVAE's), so :func:`fit`
trains any of them. After every epoch it saves a *last* checkpoint with
everything needed to continue bit-for-bit (weights, Adam state, RNG states,
early-stopping state, history); the *best* checkpoint holds the weights with the
lowest validation loss. Both are written atomically.

Learning rate and stopping, decided on the validation loss after each epoch: an
epoch *improves* when it beats the best loss so far by more than
``min_improvement`` (relative). After ``lr_patience`` epochs in a row without
improvement the learning rate is multiplied by ``lr_decay``; after ``patience``
such epochs training stops. The best checkpoint is the lowest loss, however small
the gain.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import PyroOptim
from torch import nn
from tqdm import tqdm

from .checkpoints import ARCHITECTURE_DEFAULTS, load_checkpoint, save_checkpoint, setting_diffs
from .config import TrainConfig
from .data import precision_context
from .errors import (
    CheckpointError,
    ConfigError,
    Terminated,
    TrainingDiverged,
    TrainingInterrupted,
    one_line,
)
from .objectives import KLWarmup, Pair

VALIDATION_SEED_OFFSET = 10_007  #: validation noise is seeded apart from training noise
MAX_LOSS_NATS_PER_IMAGE = 1e5  #: a loss above this (nats per image) means divergence
#: Settings besides the architecture that define a run's numbers; a resumed run must match.
RUN_KEYS = ("seed", "limit", "batch_size", "lr", "lr_patience", "lr_decay", "min_improvement")
#: What every checkpoint records of its run: :data:`RUN_KEYS` and the stopping settings.
RECORDED_KEYS = (*RUN_KEYS, "epochs", "patience")


@dataclass
class TrainState:
    """Early-stopping state and history; saved in every checkpoint."""

    epoch: int = 0  # last finished epoch
    best_val_loss: float = math.inf  # lowest validation loss so far, nats per image
    best_epoch: int = 0  # epoch that reached it
    bad_epochs: int = 0  # epochs in a row without improvement (early stopping)
    plateau_epochs: int = 0  # the same, reset when the learning rate drops
    lr: float = 0.0  # learning rate of the next epoch (0: not started)
    finished: bool = False  # early-stopped or reached the epoch limit
    history: list[dict] = field(default_factory=list)  # one record per epoch


Pairs = tuple[torch.Tensor, torch.Tensor]  # (input x, output y)
Redraw = Callable[[torch.Tensor, torch.Tensor], Pairs]  # per-batch hook, e.g. fresh masks


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
    module: nn.Module, pair: Pair, lr: float, loss: object = None
) -> tuple[SVI, FusedAdam]:
    """SVI for the (model, guide) ``pair`` over ``module``'s networks.

    ``loss``: ``Trace_ELBO()`` when None, else any ``SVI`` loss
    (:func:`~cvae_pyro.objectives.svi_loss`).
    """
    pyro.clear_param_store()
    optim = FusedAdam(module, lr)
    return SVI(*pair, optim, Trace_ELBO() if loss is None else loss), optim


def elbo_loss(pair: Pair, pairs: Pairs, batch_size: int, seed: int) -> float:
    """Negative ELBO of a (model, guide) pair (Trace_ELBO, one particle), nats per image.

    The noise comes from its own seed inside a forked RNG, so calling this does
    not change the training random stream.
    """
    c, y = pairs
    devices = [y.device] if y.device.type == "cuda" else []
    elbo = Trace_ELBO()
    total = 0.0
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        for start in range(0, len(y), batch_size):
            batch = slice(start, start + batch_size)
            total += elbo.loss(*pair, c[batch], y[batch])
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
    networks under bf16 autocast (:func:`~cvae_pyro.data.precision_context`).

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
    :func:`~cvae_pyro.data.precision_context`), Pyro's validation off. Its summed loss."""
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
    pair: Pair,
    name: str,
    train: tuple[Pairs, Redraw | None],
    validation: Pairs,
    cfg: TrainConfig,
    architecture: dict,
    title: str | None = None,
    record: dict | None = None,
    loss: object = None,
    warmup: KLWarmup | None = None,
) -> TrainState:
    """Train the (model, guide) ``pair`` by SVI, early-stopping on validation.

    Without ``cfg.resume`` the model is trained afresh, except that a finished one in
    ``cfg.run_dir`` is never replaced: of the same settings it is kept (and returned), of
    other settings refused (:func:`check_finished`). So Ctrl-C never leaves a partly
    trained model where a finished one was.

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
        loss: the SVI loss (default ``Trace_ELBO()``); the validation loss is always
            the pair's negative ELBO (:func:`elbo_loss`).
        warmup: a KL warm-up for the training steps; its epochs never count against
            the patience (the validation loss is that of the whole ELBO).

    Returns:
        The final state; ``module`` holds the best weights.
    """
    kind = "baseline" if name == "baseline" else "cvae"
    title = title or name
    (pairs, redraw), rule = train, EarlyStopping.of(cfg, warmup)
    best_path, last_path = cfg.run_dir / f"{name}.pt", cfg.run_dir / f"{name}_last.pt"
    svi, optim = make_svi(module, warmup.wrap(pair) if warmup else pair, cfg.lr, loss)
    shuffle = torch.Generator()
    state = _start(cfg, module, optim, shuffle, last_path, architecture, kind, record, rule)
    if state.finished and not cfg.resume:
        _log(cfg, f"{title}: kept the finished {title} of the same settings in {cfg.run_dir}")
    elif state.epoch:
        _log(cfg, f"{title}: resuming after epoch {state.epoch} from {last_path}")
    saved = state.epoch  # the last epoch whose state is on disk
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
            val_args = (pair, validation, cfg.eval_batch_size, cfg.seed + VALIDATION_SEED_OFFSET)
            val_loss = diverged_check(elbo_loss, val_args, 1, "on the validation split")
            seconds = time.perf_counter() - start
            improved = _advance(state, epoch, train_loss, val_loss, seconds, cfg.epochs, rule)
            payload = {**(record or {}), **_payload(module, architecture, state, run_settings(cfg))}
            if state.best_epoch == epoch:
                save_checkpoint(payload, best_path, kind)
            payload.update(optimizer=optim.get_state(), rng=_rng_state(shuffle))
            save_checkpoint(payload, last_path, kind)
            saved = epoch
            _log(
                cfg,
                f"{title} epoch {epoch:3d}/{cfg.epochs}  train {train_loss:8.3f}  val {val_loss:8.3f} "
                f"nats/image  {seconds:6.1f} s  {_mark(state, improved)}",
            )
    except KeyboardInterrupt as err:
        ended = err if isinstance(err, Terminated) else None
        how = f"terminated ({ended.signal_name})" if ended else "interrupted"
        where = f"{title}: {how} during epoch {saved + 1}"
        raise TrainingInterrupted(
            f"{where}; {_saved(saved, last_path, title)}",
            terminated=ended is not None,
            exit_status=ended.exit_status if ended else None,
        ) from None
    except TrainingDiverged as err:
        raise TrainingDiverged(
            f"{title} epoch {saved + 1}: {err}; {_saved(saved, last_path, title)}"
        ) from None
    _log(cfg, f"{title}: {rule.stop_reason(state, cfg.epochs)}")
    module.load_state_dict(load_checkpoint(best_path, expect=architecture, kind=kind)["state_dict"])
    module.eval()
    return state


def _start(
    cfg: TrainConfig,
    module: nn.Module,
    optim: FusedAdam,
    shuffle: torch.Generator,
    last_path: Path,
    architecture: dict,
    kind: str,
    record: dict | None = None,
    rule: EarlyStopping | None = None,
) -> TrainState:
    """A fresh state from the seed, or with ``cfg.resume`` the state saved in ``last_path``.

    Without ``cfg.resume`` a finished model at ``last_path`` is never replaced: one of
    the same settings (and, for a CVAE, trained with the same frozen baseline,
    ``record``) is kept as it is, and its recorded state returned; one of other
    settings is refused (:func:`check_finished`).
    """
    settings = run_settings(cfg)
    if not (cfg.resume and last_path.exists()):
        if is_finished(last_path):
            ckpt = load_checkpoint(last_path, kind=kind)
            check_finished(ckpt, architecture, settings, last_path, cfg.folder_option)
            check_same_record(ckpt, record or {}, last_path, cfg.folder_option)
            return recorded_state(ckpt, last_path)
        pyro.set_rng_seed(cfg.seed)
        shuffle.manual_seed(cfg.seed)
        return TrainState(lr=cfg.lr)
    ckpt = load_checkpoint(last_path, expect=architecture, kind=kind)
    check_run_settings(ckpt, {k: settings[k] for k in RUN_KEYS}, last_path, cfg.folder_option)
    state = _restore(ckpt, module, optim, shuffle, last_path)
    rule = rule or EarlyStopping.of(cfg)
    state.finished = rule.stop_reason(state, cfg.epochs) is not None  # new --epochs, --patience
    return state


def _saved(epoch: int, last_path: Path, title: str) -> str:
    """What an interrupted or diverged run of the model ``title`` has on disk."""
    if epoch:
        return f"epochs up to {epoch} are saved in {last_path}"
    return f"no {title} epoch had finished, so no {title} checkpoint was saved"


def run_settings(cfg: TrainConfig) -> dict:
    """The settings of :data:`RECORDED_KEYS`, as stored in every checkpoint."""
    return {key: getattr(cfg, key) for key in RECORDED_KEYS}


def check_run_settings(
    ckpt: dict, expect: dict, path: Path, folder_option: str = "--out-dir"
) -> None:
    """Raise :class:`ConfigError` naming every setting of ``expect`` the checkpoint differs in.

    Checkpoints written before the settings were recorded are not checked.
    ``folder_option`` is the option that names the run folders (for the way out).
    """
    found = ckpt.get("run")
    if found is None:
        return
    diffs = setting_diffs(found, expect)
    if diffs:
        raise ConfigError(
            f"{path} was made with other settings: {', '.join(diffs)}; run with the same "
            f"settings, or use another {folder_option}"
        )


def check_finished(
    ckpt: dict, architecture: dict, settings: dict, path: Path, folder_option: str = "--out-dir"
) -> None:
    """Raise :class:`ConfigError` if the finished model at ``path`` has other settings.

    A run without ``--resume`` would replace it; the message names every setting that
    differs (architecture and :data:`RECORDED_KEYS`) and the ways out.
    """
    found = {**ARCHITECTURE_DEFAULTS, **ckpt.get("architecture", {})}
    diffs = setting_diffs(found, architecture)
    if ckpt.get("run") is not None:
        diffs += setting_diffs(ckpt["run"], {k: settings[k] for k in RECORDED_KEYS})
    if diffs:
        raise ConfigError(
            f"{path} holds a finished model trained with other settings: {', '.join(diffs)}; "
            f"it is not replaced: use another {folder_option}, or {_delete_both(path)} to "
            "train it again"
        )


def check_same_record(ckpt: dict, record: dict, path: Path, folder_option: str) -> None:
    """Raise :class:`ConfigError` if the finished model at ``path`` records other ``record``.

    ``record`` holds the SHA-256 of the CVAE's frozen baseline; a checkpoint that does not
    record it is not checked.
    """
    differs = [key for key, value in record.items() if ckpt.get(key, value) != value]
    if differs:
        raise ConfigError(
            f"{path} holds a finished model trained with another frozen baseline than the one "
            f"in {path.parent}; it is not replaced: use another {folder_option}, or "
            f"{_delete_both(path)} to train it again"
        )


def _delete_both(path: Path) -> str:
    """The words "delete NAME.pt and NAME_last.pt" for either checkpoint of a model."""
    stem = path.name.removesuffix(".pt").removesuffix("_last")
    return f"delete {stem}.pt and {stem}_last.pt"


@dataclass(frozen=True)
class EarlyStopping:
    """The learning-rate schedule and stopping rule, decided on the validation loss.

    An epoch *improves* when its loss beats the best so far by more than
    ``min_improvement`` (relative); the first epoch always improves. After
    ``lr_patience`` epochs in a row without improvement the learning rate is
    multiplied by ``lr_decay``; after ``patience`` such epochs training stops.
    """

    patience: int = 5  # epochs in a row without improvement before stopping
    lr_patience: int = 2  # the same, before the learning rate drops
    lr_decay: float = 0.3  # factor of each drop
    min_improvement: float = 1e-3  # relative gain that counts as an improvement
    warmup_epochs: int = 0  # KL warm-up: its epochs always count as improving

    @classmethod
    def of(cls, cfg: TrainConfig, warmup: KLWarmup | None = None) -> EarlyStopping:
        """The rule of a run's settings (and of the model's KL warm-up, if it has one)."""
        epochs = cfg.kl_warmup if warmup is not None else 0
        return cls(cfg.patience, cfg.lr_patience, cfg.lr_decay, cfg.min_improvement, epochs)

    def update(self, state: TrainState, val_loss: float) -> bool:
        """Record one epoch's validation loss in ``state``; whether the epoch improved."""
        best = state.best_val_loss
        improved = math.isinf(best) or best - val_loss > self.min_improvement * abs(best)
        improved = improved or state.epoch <= self.warmup_epochs
        if val_loss < best:
            state.best_val_loss, state.best_epoch = val_loss, state.epoch
        if improved:
            state.bad_epochs = state.plateau_epochs = 0
        else:
            state.bad_epochs += 1
            state.plateau_epochs += 1
        if state.plateau_epochs >= self.lr_patience:
            state.lr *= self.lr_decay
            state.plateau_epochs = 0
        return improved

    def stop_reason(self, state: TrainState, epochs: int) -> str | None:
        """Why training ends after ``state.epoch`` (None: it goes on)."""
        if state.bad_epochs >= self.patience:
            return (
                f"stopped early: {state.bad_epochs} epochs in a row without a "
                f"{self.min_improvement:.2%} improvement; best epoch {state.best_epoch}"
            )
        if state.epoch >= epochs:
            return f"reached the epoch limit ({epochs}); best epoch {state.best_epoch}"
        return None


def _advance(
    state: TrainState,
    epoch: int,
    train_loss: float,
    val_loss: float,
    seconds: float,
    epochs: int,
    rule: EarlyStopping,
) -> bool:
    state.epoch = epoch
    lr = state.lr
    improved = rule.update(state, val_loss)
    state.history.append(
        {
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": val_loss,
            "lr": lr,
            "seconds": seconds,
            "improved": improved,
        }
    )
    state.finished = rule.stop_reason(state, epochs) is not None
    return improved


def _mark(state: TrainState, improved: bool) -> str:
    """The epoch line's last word: whether the epoch counted for early stopping."""
    if improved:
        return "improved"
    best = " (new best, gain too small)" if state.best_epoch == state.epoch else ""
    return f"no improvement ({state.bad_epochs} in a row){best}"


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


def recorded_state(ckpt: dict, path: Path) -> TrainState:
    """The training state a checkpoint recorded; CheckpointError if it holds none, or one
    whose fields do not have their types (:func:`state_problem`)."""
    try:
        state = TrainState(**ckpt["train_state"])
    except (KeyError, TypeError) as err:
        problem = f"no training state ({one_line(err, 80)})"
    else:
        problem = state_problem(state)
    if problem:
        raise CheckpointError(
            f"{path} has {problem}; it is not a *_last.pt written by training: delete it "
            "to train again"
        )
    return state


def state_problem(state: TrainState) -> str | None:
    """What is wrong with a training state read from a file (None if nothing).

    Counts are non-negative integers, the loss and learning rate numbers, ``finished`` a
    bool, and the history a list of per-epoch records with their numbers.
    """
    for name in ("epoch", "best_epoch", "bad_epochs", "plateau_epochs"):
        value = getattr(state, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"a training state whose {name} is not a count"
    for name in ("best_val_loss", "lr"):
        if isinstance(getattr(state, name), bool) or not isinstance(
            getattr(state, name), int | float
        ):
            return f"a training state whose {name} is not a number"
    if not isinstance(state.finished, bool):
        return "a training state whose finished is not true or false"
    numbers = ("train_loss", "val_loss", "lr", "seconds")
    records = state.history if isinstance(state.history, list) else [None]
    for record in records:
        if not isinstance(record, dict) or not all(
            isinstance(record.get(k), int | float) and not isinstance(record.get(k), bool)
            for k in numbers
        ):
            return "a training state whose history is not a list of epoch records"
    return None


def _log(cfg: TrainConfig, message: str) -> None:
    if not cfg.quiet:
        tqdm.write(message)


def is_finished(path: Path) -> bool:
    """Whether the *last* checkpoint at ``path`` records a finished run."""
    if not path.exists():
        return False
    try:
        return bool(load_checkpoint(path)["train_state"]["finished"])
    except (KeyError, TypeError) as err:
        raise CheckpointError(
            f"{path} has no training state ({one_line(err, 80)}); it is not a *_last.pt "
            "written by training: delete it to train again"
        ) from None
