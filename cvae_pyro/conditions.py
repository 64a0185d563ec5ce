"""What the CVAE is conditioned on, and the paper's condition: the given quadrants.

A condition turns a split of the data into pairs ``(x, y)``: the model's input (what it
is conditioned on) and its output pixels. Its forward pass encodes ``x`` into ``h``
(the input of the recognition and generation networks) and ``h_prior`` (the input of
the conditional prior network); ``counted(x)`` says which output pixels the likelihood
counts (None: all). The CVAE's model and guide (:mod:`cvae_pyro.models`) are the same
for every condition; only this encoder differs. :class:`Condition` writes down what
every condition has; one with a baseline NN also has :class:`BaselineTask`'s methods.

For the quadrant task the prior network also reads the frozen baseline's guess y_hat
(the paper's "recurrent connection"), computed once per split
(:meth:`QuadrantCondition.prepare`): ``x = [given pixels, y_hat]``. Beyond the paper,
the label condition (:class:`~cvae_pyro.beyond.label.LabelCondition`) and any visible
region (:class:`~cvae_pyro.beyond.any_mask.MaskCondition`) live with what they need.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import torch
from torch import nn

from .data import Split
from .fit import Pairs, Redraw
from .masks import (
    NUM_PIXELS,
    check_quadrants,
    input_dim,
    input_mask,
    merge_xy,
    output_dim,
    split_xy,
)
from .models import CVAE, BaselineNN, check_pairs

PREPARE_CHUNK = 2000  #: images per baseline forward pass in ``prepare``
Batches = tuple[Pairs, "Redraw | None"]  #: training pairs and their per-batch hook


class TaskSettings(Protocol):
    """The settings a condition reads (a :class:`~cvae_pyro.cli.config.TrainConfig` has them)."""

    quadrants: int | None  #: quadrants given (the quadrant condition)
    guess: bool  #: whether the prior network reads the baseline's guess (quadrants)
    hidden: tuple[int, ...]  #: hidden widths of the baseline NN
    family: object  #: the masks training draws (the mask condition's MaskFamilyConfig)


class Condition(Protocol):
    """What every condition is: an encoder of ``x`` and the pairs its CVAE reads."""

    name: ClassVar[str]  #: its name in the settings ("quadrant", "label" or "mask")
    has_baseline: ClassVar[bool]  #: whether a baseline NN (:class:`BaselineTask`) comes first
    h_dim: int  #: width of ``h``
    h_prior_dim: int  #: width of ``h_prior``
    y_dim: int  #: output pixels

    @classmethod
    def build(cls, cfg: TaskSettings, baseline: BaselineNN | None) -> Condition:
        """The condition of ``cfg``'s CVAE (around its trained baseline, if it has one)."""

    def pairs(self, split: Split) -> Pairs:
        """``(x, y)`` of a split: the model's input from the images, and its output."""

    def training_batches(self, split: Split) -> Batches:
        """The CVAE's training pairs and the per-batch hook, if any."""

    def evaluation_pairs(self, split: Split, quadrants: int | None = None) -> Pairs:
        """The CVAE's evaluation pairs (``quadrants``: a layout to evaluate on)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` to ``(h, h_prior)``."""

    def counted(self, x: torch.Tensor) -> torch.Tensor | None:
        """The output pixels the likelihood counts (None: all)."""

    def complete(
        self, cvae: CVAE, picture: torch.Tensor, visible: torch.Tensor, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The baseline's guess ``(784,)`` and ``n`` completions ``(n, 784)`` of a picture."""


class BaselineTask(Protocol):
    """The baseline NN of a condition that has one (``has_baseline``)."""

    @staticmethod
    def make_baseline(cfg: TaskSettings) -> BaselineNN:
        """An untrained baseline NN of ``cfg``."""

    @staticmethod
    def baseline_pairs(cfg: TaskSettings, split: Split) -> Pairs:
        """The baseline's validation pairs."""

    @staticmethod
    def baseline_batches(cfg: TaskSettings, split: Split) -> Batches:
        """The baseline's training pairs and per-batch hook."""

    @staticmethod
    def baseline_evaluation_pairs(arch: dict, split: Split, quadrants: int | None) -> Pairs:
        """A trained baseline's evaluation pairs."""


class QuadrantCondition(nn.Module):
    """Condition on the given quadrants; the prior also sees the frozen baseline's guess.

    The model's input is ``x = [given pixels, y_hat]`` ``(B, 784)`` with
    ``y_hat = sigmoid(baseline(given pixels))``; ``h`` is the given pixels and
    ``h_prior`` all of ``x`` (or only the given pixels when ``guess`` is off, to
    see what the guess buys). The baseline is frozen: its parameters never
    require gradients.

    Args:
        quadrants: number of quadrants given (1, 2 or 3).
        baseline: the trained :class:`~cvae_pyro.models.BaselineNN`, given pixels to
            the logits of y.
        guess: whether the prior network reads the baseline's guess y_hat.
    """

    name = "quadrant"
    has_baseline = True  #: a baseline NN is trained first; the prior reads its guess

    def __init__(self, quadrants: int, baseline: nn.Module, guess: bool = True) -> None:
        super().__init__()
        self.quadrants = check_quadrants(quadrants)
        self.baseline = baseline.requires_grad_(False).eval()
        self.guess = guess
        self.h_dim = input_dim(quadrants)
        self.h_prior_dim = NUM_PIXELS if guess else self.h_dim
        self.y_dim = output_dim(quadrants)

    def train(self, mode: bool = True) -> QuadrantCondition:
        """Switch mode, keeping the frozen baseline in evaluation mode."""
        super().train(mode)
        self.baseline.eval()
        return self

    def prepare(self, given: torch.Tensor) -> torch.Tensor:
        """The model's input ``[given, y_hat]`` ``(B, 784)`` from the given pixels ``(B, x_dim)``."""
        check_pairs(self.baseline, given)
        with torch.no_grad():
            y_hat = [
                torch.sigmoid(self.baseline(given[i : i + PREPARE_CHUNK]))  # (b, y_dim)
                for i in range(0, len(given), PREPARE_CHUNK)
            ]
        return torch.cat([given, torch.cat(y_hat)], dim=-1)  # (B, 784)

    def pairs(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: model inputs ``(N, 784)`` (see :meth:`prepare`) and outputs ``(N, y_dim)``."""
        given, y = split_xy(split.images, self.quadrants)  # (N, x_dim), (N, y_dim)
        return self.prepare(given), y

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 784)`` inputs to ``h`` (the given pixels, ``(B, x_dim)``) and ``h_prior``."""
        given = x[..., : self.h_dim]  # (B, x_dim)
        return given, x[..., : self.h_prior_dim]  # (B, x_dim), (B, 784) or (B, x_dim)

    def counted(self, x: torch.Tensor) -> None:
        """Output pixels the likelihood counts: all of y (None)."""
        return None

    @classmethod
    def build(cls, cfg: TaskSettings, baseline: BaselineNN | None) -> QuadrantCondition:
        """The condition of ``cfg``'s CVAE around its trained ``baseline``."""
        return cls(cfg.quadrants, need_baseline(baseline, cls.name), cfg.guess)

    @staticmethod
    def make_baseline(cfg: TaskSettings) -> BaselineNN:
        """An untrained baseline NN for ``cfg.quadrants`` given quadrants."""
        return BaselineNN(input_dim(cfg.quadrants), output_dim(cfg.quadrants), cfg.hidden)

    @staticmethod
    def baseline_pairs(cfg: TaskSettings, split: Split) -> Pairs:
        """The baseline's ``(x, y)``: the given quadrants and the rest."""
        return split_xy(split.images, cfg.quadrants)

    @classmethod
    def baseline_batches(cls, cfg: TaskSettings, split: Split) -> Batches:
        """The baseline's training pairs (no per-batch hook)."""
        return cls.baseline_pairs(cfg, split), None

    @staticmethod
    def baseline_evaluation_pairs(arch: dict, split: Split, quadrants: int | None) -> Pairs:
        """A trained baseline's evaluation pairs (``quadrants`` is its own layout)."""
        return split_xy(split.images, arch["quadrants"])

    def training_batches(self, split: Split) -> Batches:
        """The CVAE's training pairs (no per-batch hook: y_hat is computed once)."""
        return self.pairs(split), None

    def evaluation_pairs(self, split: Split, quadrants: int | None = None) -> Pairs:
        """The CVAE's evaluation pairs."""
        return self.pairs(split)

    def complete(
        self, cvae: CVAE, picture: torch.Tensor, visible: torch.Tensor, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The NN's guess ``(784,)`` and ``n`` drawn pictures ``(n, 784)`` of ``picture``.

        Raises:
            ValueError: ``visible`` is not this condition's own quadrant layout.
        """
        layout = input_mask(self.quadrants).to(picture.device)  # (784,)
        if not torch.equal(layout, visible):
            raise ValueError(
                "a quadrant CVAE completes its own layout only: use --keep, or train "
                "the mask model (python -m cvae_pyro.train --condition mask)"
            )
        given = picture[None, layout]  # (1, x_dim)
        x = self.prepare(given)  # (1, 784)
        guess = merge_xy(given, x[:, given.shape[1] :], self.quadrants)[0]  # (784,)
        return guess, merge_xy(given, cvae.sample(x, n)[:, 0], self.quadrants)  # (n, 784)


def need_baseline(baseline: BaselineNN | None, name: str) -> BaselineNN:
    """``baseline``, the trained baseline the ``name`` condition is built around."""
    if baseline is None:
        raise ValueError(f"the {name} CVAE needs the trained baseline")
    return baseline
