"""Completing a picture: its visible pixels kept, the hidden ones drawn by a CVAE.

A completion keeps the visible pixels as they are and fills the hidden ones with the
pixel probabilities of p(y | x, z), z drawn from the conditional prior p(z | x). The mask
CVAE (:class:`~cvae_pyro.beyond.any_mask.MaskCondition`) completes any region; a quadrant
CVAE only its own layout (:func:`~cvae_pyro.masks.input_mask`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import DataError
from ..masks import NUM_PIXELS
from ..models import CVAE
from .pictures import check_picture


@dataclass(frozen=True)
class Completion:
    """One picture completed n times.

    Attributes:
        picture: ``(784,)`` the picture.
        visible: ``(784,)`` bool, True where a pixel is visible.
        guess: ``(784,)`` the baseline NN's guess in the hidden pixels, visible ones kept.
        samples: ``(n, 784)`` completions: visible pixels kept, hidden ones drawn.
    """

    picture: torch.Tensor
    visible: torch.Tensor
    guess: torch.Tensor
    samples: torch.Tensor


def complete(
    cvae: CVAE, picture: torch.Tensor, visible: torch.Tensor, n: int, seed: int = 0
) -> Completion:
    """Complete ``picture`` ``(784,)`` from its ``visible`` ``(784,)`` pixels, ``n`` times.

    The noise comes from ``seed``; the global random state is left as it was.

    Raises:
        DataError: ``picture`` is not 784 grey levels in [0, 1], or ``visible`` not 784 bools.
        ValueError: the CVAE cannot complete this region (a quadrant CVAE given another
            layout, or a label CVAE).
    """
    picture = check_picture(picture)
    if not (isinstance(visible, torch.Tensor) and visible.dtype == torch.bool) or (
        visible.numel() != NUM_PIXELS
    ):
        raise DataError(f"visible must be {NUM_PIXELS} bools, True where a pixel is visible")
    device = next(cvae.parameters()).device
    picture, visible = picture.to(device), visible.reshape(NUM_PIXELS).to(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        guess, drawn = cvae.condition.complete(cvae, picture, visible, n)  # (784,), (n, 784)
    keep = visible.to(picture.dtype)  # (784,)
    guess, samples = (keep * picture + (1 - keep) * t for t in (guess, drawn))
    return Completion(picture.cpu(), visible.cpu(), guess.cpu(), samples.cpu())
