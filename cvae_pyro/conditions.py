"""What the CVAE is conditioned on: a partial image (the quadrant task) or a digit label.

A condition turns a split of MNIST into pairs ``(c, y)`` (raw condition and
output pixels) and encodes ``c`` into the two feature tensors the networks read:

- ``h``: the input of the recognition and generation networks;
- ``h_prior``: the input of the conditional prior network.

The CVAE's model and guide (:mod:`cvae_pyro.models`) are the same for every
condition; only this encoder differs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .data import Split
from .masks import NUM_PIXELS, check_quadrants, input_dim, output_dim, split_xy
from .networks import BaselineNet

NUM_CLASSES = 10  #: digit labels 0..9


class QuadrantCondition(nn.Module):
    """Condition on the given quadrants x; the prior also sees the frozen baseline's guess.

    ``h = x`` and ``h_prior = [x, sigmoid(baseline(x))]`` (the paper's recurrent
    connection). The baseline is frozen: its parameters never require gradients.

    Args:
        quadrants: number of quadrants given (1, 2 or 3).
        baseline: the trained deterministic network from x to y's logits.
    """

    kind = "quadrant"

    def __init__(self, quadrants: int, baseline: BaselineNet) -> None:
        super().__init__()
        self.quadrants = check_quadrants(quadrants)
        self.baseline = baseline.requires_grad_(False).eval()
        self.h_dim = input_dim(quadrants)
        self.h_prior_dim = input_dim(quadrants) + output_dim(quadrants)
        self.y_dim = output_dim(quadrants)

    def train(self, mode: bool = True) -> QuadrantCondition:
        """Switch mode, keeping the frozen baseline in evaluation mode."""
        super().train(mode)
        self.baseline.eval()
        return self

    def pairs(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """``(c, y)``: input pixels ``(N, x_dim)`` and output pixels ``(N, y_dim)``."""
        return split_xy(split.images, self.quadrants)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, x_dim)`` inputs to ``h`` ``(B, x_dim)`` and ``h_prior`` ``(B, 784)``."""
        with torch.no_grad():
            y_hat = torch.sigmoid(self.baseline(x))  # (B, y_dim)
        return x, torch.cat([x, y_hat], dim=-1)


class LabelCondition(nn.Module):
    """Condition on the digit label: ``h = h_prior = one_hot(label)``; y is the whole image."""

    kind = "label"
    h_dim = NUM_CLASSES
    h_prior_dim = NUM_CLASSES
    y_dim = NUM_PIXELS

    def pairs(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """``(c, y)``: labels ``(N,)`` and images ``(N, 784)``."""
        return split.labels, split.images

    def forward(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B,)`` labels to one-hot ``h`` and ``h_prior``, each ``(B, 10)``."""
        one_hot = F.one_hot(labels, NUM_CLASSES).to(torch.get_default_dtype())  # (B, 10)
        return one_hot, one_hot


Condition = QuadrantCondition | LabelCondition
