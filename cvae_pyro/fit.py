"""The SVI training loop, with early stopping on a validation split.

Every model here, the baseline NN and each CVAE objective, is a Pyro model/guide pair
(the baseline's guide is empty), so one loop trains them all: the loop of Pyro's VAE
tutorial, ``for x, y in batches: loss += svi.step(x, y)``, one epoch after another,
and after each epoch the loss on the validation split decides what comes next
(:class:`EarlyStopping`, the experiment's rule): an epoch *improves* when it beats the
best validation loss so far by more than ``min_improvement`` (relative); after
``lr_patience`` epochs in a row without improvement the learning rate is multiplied
by ``lr_decay``; after ``patience`` such epochs, or at ``epochs``, training stops. The
best model is the epoch of the lowest validation loss, however small its gain.

:func:`fit` knows nothing of files: saving checkpoints, printing and keeping the best
weights plug in through its ``on_epoch`` callback, and a run is resumed by handing
:func:`fit` the :class:`TrainState` it saved.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import PyroOptim
from torch import nn

from .objectives import iwae_bound

Pairs = tuple[torch.Tensor, torch.Tensor]  #: (input x, output y)
Redraw = Callable[[torch.Tensor, torch.Tensor], Pairs]  #: per-batch hook, e.g. fresh masks


@dataclass
class TrainState:
    """Where training stands after ``epoch`` epochs: what early stopping keeps, and the history."""

    epoch: int = 0  # last finished epoch
    best_val_loss: float = math.inf  # lowest validation loss so far, nats per image
    best_epoch: int = 0  # epoch that reached it
    bad_epochs: int = 0  # epochs in a row without improvement (early stopping)
    plateau_epochs: int = 0  # the same, reset when the learning rate drops
    lr: float = 0.0  # learning rate of the next epoch
    finished: bool = False  # early-stopped or reached the epoch limit
    history: list[dict] = field(default_factory=list)  # one record per epoch


@dataclass(frozen=True)
class EarlyStopping:
    """The learning-rate schedule and the stopping rule, decided on the validation loss."""

    lr: float = 1e-3  # learning rate of the first epoch
    epochs: int = 200  # most epochs
    patience: int = 5  # epochs in a row without improvement before stopping
    lr_patience: int = 2  # the same, before the learning rate drops
    lr_decay: float = 0.3  # factor of each drop
    min_improvement: float = 1e-3  # relative gain that counts as an improvement
    warmup_epochs: int = 0  # KL warm-up: its epochs always count as improving

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

    def stop_reason(self, state: TrainState) -> str | None:
        """Why training ends after ``state.epoch`` (None: it goes on)."""
        if state.bad_epochs >= self.patience:
            return (
                f"stopped early: {state.bad_epochs} epochs in a row without a "
                f"{self.min_improvement:.2%} improvement; best epoch {state.best_epoch}"
            )
        if state.epoch >= self.epochs:
            return f"reached the epoch limit ({self.epochs}); best epoch {state.best_epoch}"
        return None

    def advance(
        self, state: TrainState, train_loss: float, val_loss: float, seconds: float
    ) -> None:
        """Record one more epoch in ``state``: its losses, the schedule, and whether to stop."""
        state.epoch += 1
        lr = state.lr
        improved = self.update(state, val_loss)
        state.history.append(
            {
                "epoch": state.epoch,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "lr": lr,
                "seconds": seconds,
                "improved": improved,
            }
        )
        state.finished = self.stop_reason(state) is not None


class Batches:
    """Minibatches of the pairs ``(x, y)`` in a new random order at each pass.

    Args:
        x, y: the inputs ``(N, ...)`` and outputs ``(N, ...)``.
        batch_size: pairs per batch (the last batch may be smaller).
        shuffle: the generator that draws each pass's order (saved to resume a run).
        redraw: turns each batch into the one a step sees, e.g. with fresh random masks.
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        batch_size: int,
        shuffle: torch.Generator,
        redraw: Redraw | None = None,
    ) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.redraw = shuffle, redraw

    def __len__(self) -> int:
        """The number of pairs in one pass."""
        return len(self.y)

    def __iter__(self) -> Iterator[Pairs]:
        order = torch.randperm(len(self.y), generator=self.shuffle).to(self.y.device)  # (N,)
        for start in range(0, len(self.y), self.batch_size):
            idx = order[start : start + self.batch_size]  # (b,)
            x, y = self.x[idx], self.y[idx]
            yield self.redraw(x, y) if self.redraw else (x, y)


def fit(
    svi: SVI,
    batches: Batches,
    validation_loss: Callable[[], float],
    rule: EarlyStopping,
    state: TrainState | None = None,
    on_epoch: Callable[[TrainState], None] | None = None,
) -> TrainState:
    """Train by SVI, one pass over ``batches`` an epoch, until ``rule`` stops.

    Args:
        svi: Pyro's ``SVI`` of the model/guide pair; the schedule sets its optimizer's
            learning rate before each epoch.
        batches: the training pairs (:class:`Batches`).
        validation_loss: the loss early stopping watches, nats per image, e.g. the negative
            ELBO on the validation split (:func:`elbo_loss`).
        rule: the schedule and the stopping rule.
        state: a run to continue (``state.finished`` False), or None to start afresh.
        on_epoch: called after every epoch with the state, e.g. to keep the best weights
            (``state.best_epoch == state.epoch``) or save a checkpoint.

    Returns:
        The state after the last epoch; its ``best_epoch`` names the weights to keep.
    """
    state = TrainState(lr=rule.lr) if state is None else state
    while not state.finished:
        start = time.perf_counter()
        set_lr(svi.optim, state.lr)
        train_loss = sum(svi.step(x, y) for x, y in batches) / len(batches)  # nats per image
        rule.advance(state, train_loss, validation_loss(), time.perf_counter() - start)
        if on_epoch is not None:
            on_epoch(state)
    return state


def elbo_loss(
    model: Callable,
    guide: Callable,
    pairs: Pairs,
    batch_size: int,
    seed: int,
    particles: int | None = None,
) -> float:
    """The pair's negative ELBO on ``pairs`` (``Trace_ELBO``, one particle), nats per image.

    With ``particles`` K: minus the IWAE bound with K draws per image instead
    (:func:`~cvae_pyro.objectives.iwae_bound`), the bound ``--elbo iwae`` climbs. The
    noise comes from ``seed`` inside a forked random stream, so the training stream is
    left as it was.
    """
    x, y = pairs
    elbo, total = Trace_ELBO(), 0.0
    devices = [y.device] if y.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        for start in range(0, len(y), batch_size):
            batch = x[start : start + batch_size], y[start : start + batch_size]
            if particles is None:
                total += elbo.loss(model, guide, *batch)
            else:
                total -= iwae_bound(model, guide, particles, *batch).sum().item()
    return total / len(y)


def set_lr(optim: PyroOptim, lr: float) -> None:
    """Use learning rate ``lr`` in every torch optimizer of a Pyro optimizer from now on."""
    optim.pt_optim_args["lr"] = lr  # for parameters SVI registers later
    for torch_optim in optim.optim_objs.values():
        for group in torch_optim.param_groups:
            group["lr"] = lr


class FusedAdam(PyroOptim):
    """Adam over all trainable parameters in one fused step, a faster ``pyro.optim.Adam``.

    ``pyro.optim.Adam`` makes one torch optimizer per parameter tensor and steps them one
    by one; this steps them all in one fused kernel (the same update rule, other
    floating-point rounding; ``tests/test_schedule.py`` compares the two). It starts with
    ``module``'s trainable parameters, in their order (so that a saved state maps back
    onto them), and adds any other parameter SVI hands it (a ``pyro.param`` outside the
    networks). Gradients are cleared after each step.

    Args:
        module: the networks to train; frozen parameters (``requires_grad=False``) are left.
        lr: learning rate.
    """

    def __init__(self, module: nn.Module, lr: float) -> None:
        super().__init__(torch.optim.Adam, {"lr": lr})
        params = [p for p in module.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=lr, fused=True)
        self.optim_objs = {"all": self.optimizer}  # what set_lr and Pyro's saving see
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

    def get_state(self) -> dict:
        """The optimizer's state dict (moments and step counts)."""
        return self.optimizer.state_dict()

    def set_state(self, state_dict: dict) -> None:
        """Restore a state dict from :meth:`get_state`."""
        self.optimizer.load_state_dict(state_dict)
