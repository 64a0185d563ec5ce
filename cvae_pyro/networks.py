"""The three neural networks of the CVAE, named after Sohn et al. (2015).

Notation: ``h`` is the encoded condition (for the quadrant task the given
pixels x, for the label task a one-hot label), ``h_prior`` the prior network's
input (for the quadrant task x together with the baseline's guess y_hat, the
paper's "recurrent connection"), ``y`` the output pixels and ``z`` the latent.

- :class:`RecognitionNet`: q(z | x, y), a diagonal Normal.
- :class:`PriorNet`: the conditional prior network p(z | x, y_hat), a diagonal Normal.
- :class:`StandardNormalPrior`: p(z) = N(0, I), the unconditional alternative.
- :class:`GenerationNet`: p(y | x, z), independent Bernoulli logits.

The deterministic baseline NN is :class:`cvae_pyro.models.BaselineNN`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

MIN_SCALE = 1e-4  #: floor on the Normal scales, keeps log-densities finite


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    """A ReLU multilayer perceptron ``in_dim -> hidden... -> out_dim`` (last layer linear)."""
    dims = [in_dim, *hidden]
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(d_in, d_out), nn.ReLU(inplace=True)]  # in place: no new tensor
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


class _DiagonalNormalNet(nn.Module):
    """An MLP whose output is split into the loc and scale of a diagonal Normal."""

    def __init__(self, in_dim: int, hidden: Sequence[int], z_dim: int) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.net = mlp(in_dim, hidden, 2 * z_dim)

    def _normal_params(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # fp32 out, also under bf16 autocast: the log-densities are computed in fp32
        loc, raw_scale = self.net(inputs).float().split(self.z_dim, dim=-1)  # (B, z), (B, z)
        return loc, F.softplus(raw_scale) + MIN_SCALE


class RecognitionNet(_DiagonalNormalNet):
    """The recognition network q(z | x, y): a diagonal Normal over z.

    Args:
        h_dim: size of the encoded condition h.
        y_dim: output pixels.
        hidden: hidden layer widths.
        z_dim: latent size.
    """

    def __init__(self, h_dim: int, y_dim: int, hidden: Sequence[int], z_dim: int) -> None:
        super().__init__(h_dim + y_dim, hidden, z_dim)

    def forward(self, h: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, h_dim)``, ``(B, y_dim)`` to loc and scale, each ``(B, z_dim)``."""
        return self._normal_params(torch.cat([h, y], dim=-1))  # input (B, h_dim + y_dim)


class PriorNet(_DiagonalNormalNet):
    """The conditional prior network p(z | x): a diagonal Normal over z.

    For the quadrant task its input is x together with the baseline's guess
    y_hat (Sohn et al.'s recurrent connection).

    Args:
        h_prior_dim: size of the prior network's input.
        hidden: hidden layer widths.
        z_dim: latent size.
    """

    def forward(self, h_prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, h_prior_dim)`` to loc and scale, each ``(B, z_dim)``."""
        return self._normal_params(h_prior)


class StandardNormalPrior(nn.Module):
    """The unconditional prior p(z) = N(0, I), ignoring the condition.

    Args:
        z_dim: latent size.
    """

    def __init__(self, z_dim: int) -> None:
        super().__init__()
        self.z_dim = z_dim

    def forward(self, h_prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """loc 0 and scale 1, each ``(B, z_dim)``."""
        loc = h_prior.new_zeros(h_prior.shape[0], self.z_dim)  # (B, z)
        return loc, torch.ones_like(loc)


class GenerationNet(nn.Module):
    """The generation network p(y | x, z): Bernoulli logits of the output pixels.

    Unlike Pyro's example, it sees the condition h as well as z.

    Args:
        h_dim: size of the encoded condition h.
        z_dim: latent size.
        hidden: hidden layer widths.
        y_dim: output pixels.
    """

    def __init__(self, h_dim: int, z_dim: int, hidden: Sequence[int], y_dim: int) -> None:
        super().__init__()
        self.net = mlp(h_dim + z_dim, hidden, y_dim)

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``(B, h_dim)`` and ``(..., B, z_dim)`` to ``(..., B, y_dim)`` logits.

        The first layer acts on ``[h, z]``; its h part is computed once per image
        and broadcast over any leading sample dimensions of z (same result as
        concatenating, much cheaper for many samples).
        """
        first, rest = self.net[0], self.net[1:]
        h_dim = h.shape[-1]
        from_h = F.linear(h, first.weight[:, :h_dim], first.bias)  # (B, H)
        from_z = F.linear(z, first.weight[:, h_dim:])  # (..., B, H)
        return rest(from_h + from_z).float()  # fp32, also under bf16 autocast
