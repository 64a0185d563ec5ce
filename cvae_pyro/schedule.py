"""The learning-rate schedule and the stopping rule, and the training state they keep.

Decided on the validation loss after each epoch: an epoch *improves* when it beats
the best loss so far by more than ``min_improvement`` (relative). After
``lr_patience`` epochs in a row without improvement the learning rate is multiplied
by ``lr_decay``; after ``patience`` such epochs training stops. The best model is the
lowest loss, however small the gain. The epochs of a KL warm-up always count as
improving. :class:`TrainState` is saved in every checkpoint;
:func:`recorded_state` reads it back, checked field by field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from .config import TrainConfig
from .errors import CheckpointError, one_line


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


@dataclass(frozen=True)
class EarlyStopping:
    """The learning-rate schedule and stopping rule, decided on the validation loss.

    An epoch *improves* when its loss beats the best so far by more than
    ``min_improvement`` (relative); the first epoch always improves. After
    ``lr_patience`` epochs in a row without improvement the learning rate is
    multiplied by ``lr_decay``; after ``patience`` such epochs training stops.
    """

    patience: int  # epochs in a row without improvement before stopping
    lr_patience: int  # the same, before the learning rate drops
    lr_decay: float  # factor of each drop
    min_improvement: float  # relative gain that counts as an improvement
    warmup_epochs: int = 0  # KL warm-up: its epochs always count as improving

    @classmethod
    def of(cls, cfg: TrainConfig, warmup: bool = False) -> EarlyStopping:
        """The rule of a run's settings; ``warmup``: the model trains with ``cfg.kl_warmup``."""
        epochs = cfg.kl_warmup if warmup else 0
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


def advance(
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


def mark(state: TrainState, improved: bool) -> str:
    """The epoch line's last word: whether the epoch counted for early stopping."""
    if improved:
        return "improved"
    best = " (new best, gain too small)" if state.best_epoch == state.epoch else ""
    return f"no improvement ({state.bad_epochs} in a row){best}"


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
