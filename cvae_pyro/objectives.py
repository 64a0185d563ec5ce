r"""The paper's three training objectives, each a model/guide pair for ``Trace_ELBO``.

Sohn, Lee and Yan (2015), section 4. With the CVAE's model p(z|x) p(y|x,z) and
its guide q(z|x,y) (:class:`cvae_pyro.models.CVAE`):

- **CVAE**: the pair as it is; its ELBO is :math:`\mathcal{L}_\mathrm{CVAE}`.
- **GSNN**: the same model with the prior network as the guide,
  :math:`q(z|x,y) := p(z|x)`. The :math:`\log p(z|x) - \log q(z|x,y)` term of the
  ELBO is then zero and what remains is the paper's eq. 6,

  .. math::

      \mathcal{L}_\mathrm{GSNN}(x, y) = \mathbb{E}_{p_\theta(z|x)}[\log p_\theta(y|x,z)].

- **Hybrid** (eq. 7): both pairs side by side, each under ``poutine.scale`` and
  its own name scope, so that one ``Trace_ELBO`` of the combined pair is

  .. math::

      \mathcal{L}_\mathrm{hybrid} = \alpha\,\mathcal{L}_\mathrm{CVAE}
          + (1 - \alpha)\,\mathcal{L}_\mathrm{GSNN}.
"""

from __future__ import annotations

from collections.abc import Callable

import pyro
import torch
from pyro import poutine
from pyro.contrib.autoname import scope

from .config import OBJECTIVES
from .models import CVAE

Program = Callable[..., object]  #: a Pyro model or guide
Pair = tuple[Program, Program]  #: (model, guide)


def gsnn_guide(cvae: CVAE) -> Program:
    """The GSNN's guide: z drawn from the prior network p(z|x) instead of q(z|x,y)."""

    def guide(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        pyro.module("prior_net", cvae.prior_net)
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("z", cvae.prior(x))  # (B, z_dim)

    return guide


def hybrid_pair(cvae: CVAE, alpha: float) -> Pair:
    """alpha times the CVAE pair plus (1 - alpha) times the GSNN pair, in one trace."""
    gsnn = gsnn_guide(cvae)

    def model(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        with scope(prefix="cvae"), poutine.scale(scale=alpha):
            cvae.model(x, y)
        with scope(prefix="gsnn"), poutine.scale(scale=1.0 - alpha):
            return cvae.model(x, y)

    def guide(x: torch.Tensor, y: torch.Tensor) -> None:
        with scope(prefix="cvae"), poutine.scale(scale=alpha):
            cvae.guide(x, y)
        with scope(prefix="gsnn"), poutine.scale(scale=1.0 - alpha):
            gsnn(x, y)

    return model, guide


def objective_pair(cvae: CVAE, objective: str = "cvae", alpha: float = 0.5) -> Pair:
    """The (model, guide) pair whose ``Trace_ELBO`` is ``objective``'s lower bound.

    Args:
        cvae: the networks.
        objective: "cvae", "gsnn" or "hybrid".
        alpha: weight of the CVAE term in the hybrid objective.
    """
    if objective == "cvae":
        return cvae.model, cvae.guide
    if objective == "gsnn":
        return cvae.model, gsnn_guide(cvae)
    if objective == "hybrid":
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        return hybrid_pair(cvae, alpha)
    raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
