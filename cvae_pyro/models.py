r"""Pyro model/guide pairs: the deterministic baseline and the conditional VAE.

Sohn, Lee and Yan, "Learning Structured Output Representation using Deep
Conditional Generative Models", NIPS 2015.

The CVAE has three networks (:mod:`cvae_pyro.networks`): the recognition
network :math:`q_\phi(z|x,y)`, the conditional prior network
:math:`p_\theta(z|x)` and the generation network :math:`p_\theta(y|x,z)`.
Its training objectives, to be maximized, are

.. math::

    \mathcal{L}_\mathrm{CVAE} &= \mathbb{E}_{q_\phi(z|x,y)}[\log p_\theta(y|x,z)]
        - \mathrm{KL}(q_\phi(z|x,y) \,\|\, p_\theta(z|x)) \le \log p_\theta(y|x),

    \mathcal{L}_\mathrm{GSNN} &= \mathbb{E}_{p_\theta(z|x)}[\log p_\theta(y|x,z)],

    \mathcal{L}_\mathrm{hybrid} &= \alpha\,\mathcal{L}_\mathrm{CVAE}
        + (1 - \alpha)\,\mathcal{L}_\mathrm{GSNN}.

All three are the ELBO of one Pyro model/guide pair, estimated by
``Trace_ELBO``: the GSNN branch's guide samples z from the prior network
itself, so its log p(z|x) - log q(z) term is zero and only the reconstruction
term remains; the hybrid runs both branches under ``poutine.scale``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn

from .conditions import Condition
from .networks import BaselineNet, GenerationNet, PriorNet, RecognitionNet, StandardNormalPrior

OBJECTIVES = ("cvae", "gsnn", "hybrid")  #: training objectives of Sohn et al.
PRIORS = ("conditional", "standard")  #: prior network choices


def grey_bernoulli(logits: torch.Tensor) -> dist.Distribution:
    """Independent Bernoulli pixels, scored on grey levels in [0, 1] (PROTOCOL.md).

    ``log_prob(y)`` is ``y log sigmoid(l) + (1 - y) log sigmoid(-l)`` summed over pixels:
    minus the binary cross-entropy. Support validation is off because grey levels
    are not in {0, 1}.
    """
    return dist.Bernoulli(logits=logits, validate_args=False).to_event(1)


class BaselineNN(nn.Module):
    """The deterministic baseline as a Pyro model: y ~ Bernoulli(sigmoid(NN(x))).

    Its guide is empty, so ``Trace_ELBO`` is exactly -log p(y|x): the summed
    binary cross-entropy over the output pixels.

    Args:
        x_dim: input pixels.
        y_dim: output pixels.
        hidden: hidden layer widths.
    """

    def __init__(self, x_dim: int, y_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        self.net = BaselineNet(x_dim, y_dim, hidden)

    def model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` ``(B, x_dim)``, ``y`` ``(B, y_dim)`` or None; returns the logits."""
        pyro.module("baseline_net", self.net)
        logits = self.net(x)  # (B, y_dim)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("y", grey_bernoulli(logits), obs=y)
        return logits

    def guide(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """No latent variables: nothing to sample."""

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities ``(B, y_dim)`` of the output given ``(B, x_dim)`` inputs."""
        with torch.no_grad():
            return torch.sigmoid(self.net(x))


class CVAE(nn.Module):
    """The conditional VAE as a Pyro model/guide pair, for any condition.

    Args:
        condition: encodes the raw condition c (see :mod:`cvae_pyro.conditions`).
        z_dim: latent size.
        hidden: hidden layer widths of every network.
        objective: "cvae", "gsnn" or "hybrid".
        alpha: weight of the CVAE term in the hybrid objective.
        prior: "conditional" (prior network p(z|x)) or "standard" (N(0, I)).
    """

    def __init__(
        self,
        condition: Condition,
        z_dim: int = 200,
        hidden: Sequence[int] = (500, 500),
        objective: str = "cvae",
        alpha: float = 0.5,
        prior: str = "conditional",
    ) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        self.condition = condition
        self.objective, self.alpha, self.z_dim = objective, alpha, z_dim
        h, y = condition.h_dim, condition.y_dim
        self.recognition_net = RecognitionNet(h, y, hidden, z_dim)
        if prior == "conditional":
            self.prior_net: nn.Module = PriorNet(condition.h_prior_dim, hidden, z_dim)
        else:
            self.prior_net = StandardNormalPrior(z_dim)
        self.generation_net = GenerationNet(h, z_dim, hidden, y)

    def branches(self) -> list[tuple[str, str, float]]:
        """``(site suffix, guide, weight)`` of each ELBO term of the objective."""
        if self.objective == "hybrid":
            return [("_cvae", "cvae", self.alpha), ("_gsnn", "gsnn", 1.0 - self.alpha)]
        return [("", self.objective, 1.0)]

    def _register(self) -> None:
        for name in ("recognition_net", "prior_net", "generation_net"):
            module = getattr(self, name)
            if any(True for _ in module.parameters()):
                pyro.module(name, module)

    def model(self, c: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """p(z|c) p(y|c,z). ``c`` raw condition ``(B, ...)``, ``y`` ``(B, y_dim)`` or None.

        Returns the Bernoulli logits of y ``(B, y_dim)`` of the last branch.
        """
        self._register()
        h, h_prior = self.condition(c)
        loc, scale = self.prior_net(h_prior)  # (B, z), (B, z)
        with pyro.plate("data", h.shape[0]):
            for suffix, _, weight in self.branches():
                with poutine.scale(scale=weight):
                    z = pyro.sample(f"z{suffix}", dist.Normal(loc, scale).to_event(1))
                    logits = self.generation_net(h, z)  # (B, y_dim)
                    pyro.sample(f"y{suffix}", grey_bernoulli(logits), obs=y)
        return logits

    def guide(self, c: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """q(z|c,y) for the CVAE branch, p(z|c) for the GSNN branch. Same arguments as model."""
        self._register()
        h, h_prior = self.condition(c)
        with pyro.plate("data", h.shape[0]):
            for suffix, guide, weight in self.branches():
                if guide == "cvae":
                    if y is None:
                        raise ValueError("the recognition network q(z|x,y) needs y")
                    loc, scale = self.recognition_net(h, y)
                else:
                    loc, scale = self.prior_net(h_prior)
                with poutine.scale(scale=weight):
                    pyro.sample(f"z{suffix}", dist.Normal(loc, scale).to_event(1))

    def prior(self, c: torch.Tensor) -> dist.Distribution:
        """p(z|c) with batch shape ``(B,)`` and event shape ``(z_dim,)``."""
        _, h_prior = self.condition(c)
        loc, scale = self.prior_net(h_prior)
        return dist.Normal(loc, scale).to_event(1)

    def posterior(self, c: torch.Tensor, y: torch.Tensor) -> dist.Distribution:
        """q(z|c,y) with batch shape ``(B,)`` and event shape ``(z_dim,)``."""
        h, _ = self.condition(c)
        loc, scale = self.recognition_net(h, y)
        return dist.Normal(loc, scale).to_event(1)

    def likelihood(self, c: torch.Tensor, z: torch.Tensor) -> dist.Distribution:
        """p(y|c,z) for ``z`` ``(..., B, z_dim)``: Bernoulli, batch ``(..., B)``."""
        h, _ = self.condition(c)
        return grey_bernoulli(self.generation_net(h, z))

    def sample(self, c: torch.Tensor, num_samples: int = 1) -> torch.Tensor:
        """Pixel probabilities of y for z drawn from the prior: ``(num_samples, B, y_dim)``."""
        with torch.no_grad():
            z = self.prior(c).sample((num_samples,))  # (S, B, z)
            return torch.sigmoid(self.generation_net(self.condition(c)[0], z))
