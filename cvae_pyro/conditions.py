"""What the CVAE is conditioned on: a partial image (the quadrant task) or a digit label.

A condition turns a split of the data into pairs ``(x, y)``: the model's input
(what it is conditioned on) and its output pixels. Its forward pass encodes
``x`` into the two feature tensors the networks read:

- ``h``: the input of the recognition and generation networks;
- ``h_prior``: the input of the conditional prior network.

The CVAE's model and guide (:mod:`cvae_pyro.models`) are the same for every
condition; only this encoder differs.

For the quadrant task the prior network also reads the frozen baseline's guess
y_hat (the paper's "recurrent connection"). Since the baseline never changes
while the CVAE trains, :meth:`QuadrantCondition.prepare` computes y_hat once per
split and carries it with the given pixels: ``x = [given pixels, y_hat]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .data import Split
from .masks import NUM_PIXELS, check_quadrants, input_dim, output_dim, split_xy

NUM_CLASSES = 10  #: digit labels 0..9
PREPARE_CHUNK = 2000  #: images per baseline forward pass in :meth:`QuadrantCondition.prepare`


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

    kind = "quadrant"

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


class LabelCondition(nn.Module):
    """Condition on the digit label: ``h = h_prior = one_hot(label)``; y is the whole image."""

    kind = "label"
    h_dim = NUM_CLASSES
    h_prior_dim = NUM_CLASSES
    y_dim = NUM_PIXELS

    def pairs(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: labels ``(N,)`` and images ``(N, 784)``."""
        return split.labels, split.images

    def forward(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B,)`` labels to one-hot ``h`` and ``h_prior``, each ``(B, 10)``."""
        one_hot = F.one_hot(labels, NUM_CLASSES).to(torch.get_default_dtype())  # (B, 10)
        return one_hot, one_hot


Condition = QuadrantCondition | LabelCondition
