"""Draw digits from a trained label CVAE (the library behind ``python -m cvae_pyro.sample``).

Samples are pixel probabilities of p(y|c,z) for z from the prior p(z|c), where
c is the requested digit. Every digit shares the same standard-normal noise:
``z = loc_c + scale_c * eps`` with ``(loc_c, scale_c)`` from the prior network
(loc 0 and scale 1 for ``--prior standard``), so column ``j`` of ``--digit all``
shows one style written as every digit.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .conditions import NUM_CLASSES
from .errors import CheckpointError, ConfigError
from .models import CVAE

MAX_SAMPLES = 100  #: most samples per digit the command draws
ALL_DIGITS = "all"  #: ``--digit all``: one row per digit 0..9


def parse_digits(text: str) -> list[int]:
    """``"all"`` to ``[0, ..., 9]``, ``"2"`` to ``[2]``; anything else is a :class:`ConfigError`."""
    if text.strip().lower() == ALL_DIGITS:
        return list(range(NUM_CLASSES))
    try:
        digit = int(text)
    except ValueError:
        digit = None
    if digit is None or not 0 <= digit < NUM_CLASSES:
        raise ConfigError(f"--digit must be a digit 0..9 or 'all', got {text!r}")
    return [digit]


def shared_noise(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """Standard-normal noise ``eps`` ``(n, z_dim)`` from its own generator (global RNG untouched)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, z_dim, generator=gen)  # (n, z)


def prior_latents(cvae: CVAE, digits: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``z = loc_c + scale_c * eps`` for every digit c and noise row: ``(n, D, z_dim)``.

    Args:
        cvae: a label :class:`~cvae_pyro.models.CVAE`.
        digits: ``(D,)`` int64 labels.
        eps: ``(n, z_dim)`` standard-normal noise shared by all digits.
    """
    _, h_prior = cvae.condition(digits)  # (D, 10)
    loc, scale = cvae.prior_net(h_prior)  # (D, z), (D, z)
    return loc + scale * eps[:, None, :]  # (n, D, z)


def decode(cvae: CVAE, digits: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Pixel probabilities of p(y|c,z) for ``z`` ``(..., D, z_dim)``: ``(..., D, 784)``."""
    h, _ = cvae.condition(digits)  # (D, 10)
    return torch.sigmoid(cvae.generation_net(h, z))


def check_label_cvae(cvae: CVAE) -> None:
    """Raise :class:`CheckpointError` unless ``cvae`` is a CVAE conditioned on the label."""
    if getattr(getattr(cvae, "condition", None), "kind", None) != "label":
        raise CheckpointError("this checkpoint is not a label CVAE (train with --condition label)")


def sample_digits(cvae: CVAE, digits: Sequence[int], n: int, seed: int = 0) -> torch.Tensor:
    """``n`` samples of each digit, the same latent noise for every digit.

    Args:
        cvae: a trained label :class:`~cvae_pyro.models.CVAE`.
        digits: the D digits to draw, each 0..9.
        n: samples per digit.
        seed: seed of the shared noise ``eps``.

    Returns:
        Pixel probabilities in [0, 1], ``(D, n, 784)``.
    """
    check_label_cvae(cvae)
    if n < 1:
        raise ConfigError(f"n must be a positive integer, got {n}")
    if any(not 0 <= int(d) < NUM_CLASSES for d in digits):
        raise ConfigError(f"digits must lie in 0..9, got {list(digits)}")
    device = next(cvae.parameters()).device
    labels = torch.as_tensor(list(digits), dtype=torch.long, device=device)  # (D,)
    eps = shared_noise(n, cvae.z_dim, seed).to(device)  # (n, z)
    with torch.no_grad():
        z = prior_latents(cvae, labels, eps)  # (n, D, z)
        return decode(cvae, labels, z).transpose(0, 1)  # (D, n, 784)
