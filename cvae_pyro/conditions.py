"""What the CVAE is conditioned on: a partial image (quadrants or any mask) or a digit label.

A condition turns a split of the data into pairs ``(x, y)``: the model's input
(what it is conditioned on) and its output pixels. Its forward pass encodes
``x`` into the two feature tensors the networks read:

- ``h``: the input of the recognition and generation networks;
- ``h_prior``: the input of the conditional prior network.

Its ``counted(x)`` says which output pixels the likelihood counts: None for all
of them, or a ``(B, y_dim)`` bool mask.

The CVAE's model and guide (:mod:`cvae_pyro.models`) are the same for every
condition; only this encoder differs.

For the quadrant task the prior network also reads the frozen baseline's guess
y_hat (the paper's "recurrent connection"). Since the baseline never changes
while the CVAE trains, :meth:`QuadrantCondition.prepare` computes y_hat once per
split and carries it with the given pixels: ``x = [given pixels, y_hat]``.

The mask task (:class:`MaskCondition`) conditions on any visible region: ``x``
carries the visible pixels, the mask and the mask baseline's guess, ``y`` is the
whole image and the likelihood counts the hidden pixels only (:meth:`counted`).
Training draws fresh masks for every batch (:meth:`MaskCondition.redraw`, the
training loop's per-batch hook); validation and evaluation use fixed masks drawn
from the seed :data:`MASK_SEED`, so their losses compare across epochs and runs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import Split
from .mask_family import MaskFamilyConfig, sample_masks
from .masks import (
    MASK_INPUT_DIM,
    NUM_PIXELS,
    check_quadrants,
    hidden_pixels,
    input_dim,
    mask_input,
    output_dim,
    split_xy,
)

NUM_CLASSES = 10  #: digit labels 0..9
PREPARE_CHUNK = 2000  #: images per baseline forward pass in :meth:`QuadrantCondition.prepare`
MASK_SEED = 20_151_207  #: seed of the fixed masks of validation and evaluation (mask task)


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

    def counted(self, x: torch.Tensor) -> None:
        """Output pixels the likelihood counts: all of y (None)."""
        return None


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

    def counted(self, labels: torch.Tensor) -> None:
        """Output pixels the likelihood counts: all of y (None)."""
        return None


def fixed_masks(n: int, family: MaskFamilyConfig | None = None) -> torch.Tensor:
    """``(n, 784)`` bool masks drawn from the seed :data:`MASK_SEED`: the same on every call."""
    return sample_masks(n, torch.Generator().manual_seed(MASK_SEED), family)


def fresh_masks(images: torch.Tensor, family: MaskFamilyConfig | None = None) -> torch.Tensor:
    """``(B, 784)`` bool masks for ``(B, 784)`` images, drawn from torch's global generator.

    The global generator is what training saves and restores on resume, so a resumed
    run draws the same masks as an uninterrupted one.
    """
    masks = sample_masks(len(images), torch.default_generator, family)  # (B, 784) on the CPU
    return masks.to(images.device)


class MaskCondition(nn.Module):
    """Condition on any visible region; the prior also sees the frozen mask baseline's guess.

    The model's input is ``x = [images * mask, mask, y_hat]`` ``(B, 2352)`` with
    ``y_hat = sigmoid(baseline([images * mask, mask]))``; ``h`` is the first two parts
    ``(B, 1568)`` and ``h_prior`` all of ``x``. The output y is the whole image
    ``(B, 784)``; :meth:`counted` tells the likelihood to count the hidden pixels only.

    Args:
        baseline: the trained :class:`~cvae_pyro.models.MaskBaselineNN`.
        family: the mask family training draws from (default: every kind equally likely).
    """

    kind = "mask"
    h_dim = MASK_INPUT_DIM
    h_prior_dim = MASK_INPUT_DIM + NUM_PIXELS
    y_dim = NUM_PIXELS

    def __init__(self, baseline: nn.Module, family: MaskFamilyConfig | None = None) -> None:
        super().__init__()
        self.baseline = baseline.requires_grad_(False).eval()
        self.family = family or MaskFamilyConfig()

    def train(self, mode: bool = True) -> MaskCondition:
        """Switch mode, keeping the frozen baseline in evaluation mode."""
        super().train(mode)
        self.baseline.eval()
        return self

    def prepare(self, images: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """The model's input ``(B, 2352)`` from images ``(B, 784)`` and masks ``(B or 1, 784)``."""
        given = mask_input(images, visible)  # (B, 1568)
        with torch.no_grad():
            y_hat = [
                torch.sigmoid(self.baseline(given[i : i + PREPARE_CHUNK]))  # (b, 784)
                for i in range(0, len(given), PREPARE_CHUNK)
            ]
        return torch.cat([given, torch.cat(y_hat)], dim=-1)  # (B, 2352)

    def pairs(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` with fixed masks (:func:`fixed_masks`): ``(N, 2352)`` and images ``(N, 784)``."""
        visible = fixed_masks(len(split), self.family).to(split.images.device)  # (N, 784)
        return self.prepare(split.images, visible), split.images

    def layout_pairs(
        self, split: Split, visible: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` with one mask ``(784,)`` for every image, e.g. a quadrant layout."""
        return self.prepare(split.images, visible.to(split.images.device)), split.images

    def redraw(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The training loop's per-batch hook: ``x`` made afresh from the images ``y`` ``(B, 784)``.

        The ``x`` passed in is not read (training stores the images as both halves).
        """
        return self.prepare(y, fresh_masks(y, self.family)), y  # (B, 2352), (B, 784)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 2352)`` inputs to ``h`` (visible pixels and mask, ``(B, 1568)``) and ``h_prior``."""
        return x[..., : self.h_dim], x  # (B, 1568), (B, 2352)

    def counted(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 784)`` bool: the hidden pixels, the only ones the likelihood counts."""
        return hidden_pixels(x)


def redraw_baseline_batch(
    family: MaskFamilyConfig,
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The mask baseline's per-batch hook: ``(x, y)`` to ``([y * mask, mask], y)``, fresh masks.

    The ``x`` passed in is not read.
    """

    def redraw(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return mask_input(y, fresh_masks(y, family)), y  # (B, 1568), (B, 784)

    return redraw


Condition = QuadrantCondition | LabelCondition | MaskCondition
