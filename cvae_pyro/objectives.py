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

Beyond the paper, :func:`iwae_bound` is the importance-weighted bound of Burda, Grosse
and Salakhutdinov (2016) of a model/guide pair, per image, and :func:`iwae_loss` makes
it an ``SVI`` loss:

.. math::

    \mathcal{L}_K(x, y) = \mathbb{E}_{z_{1..K} \sim q_\phi(z|x,y)}
        \Big[\log \frac1K \sum_{k=1}^K \frac{p_\theta(y, z_k|x)}{q_\phi(z_k|x,y)}\Big]
        \le \log p_\theta(y|x).

Two more ways to train the CVAE objective, chosen by ``--elbo`` and ``--kl-warmup``
(:func:`svi_loss`, :class:`KLWarmup`): ``TraceMeanField_ELBO``, whose KL term is in
closed form, and a linear warm-up of the KL term's weight (Bowman et al., 2016).

The IWAE bound is written out, a few lines over ``poutine.trace``, so that the log-sum-exp over the
particles of each image is in plain sight. For a pair whose sample sites all sit in the
data plate, as the CVAE's do, Pyro's ``RenyiELBO(alpha=0)`` computes the same bound (its
log-sum-exp leaves out the plates common to every site); the tests check that the two
agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pyro
import torch
from pyro import poutine
from pyro.contrib.autoname import scope
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from pyro.poutine.messenger import Messenger
from pyro.poutine.util import site_is_subsample

from .models import CVAE

Program = Callable[..., object]  #: a Pyro model or guide
ModelGuide = tuple[Program, Program]  #: (model, guide)
OBJECTIVES = ("cvae", "gsnn", "hybrid")  #: the paper's objectives (section 4)
ELBOS = ("trace", "meanfield", "iwae")  #: estimates of the cvae objective SVI can climb
DEFAULT_ALPHA = 0.5  #: weight of the CVAE term in the hybrid objective
DEFAULT_PARTICLES = 5  #: K of the IWAE bound
PARTICLES_PLATE = "iwae_particles"  #: the plate of the K particles in :func:`iwae_bound`


def gsnn_guide(cvae: CVAE) -> Program:
    """The GSNN's guide: z drawn from the prior network p(z|x) instead of q(z|x,y)."""

    def guide(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        pyro.module("prior_net", cvae.prior_net)
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("z", cvae.prior(x))  # (B, z_dim)

    return guide


def hybrid_pair(cvae: CVAE, alpha: float) -> ModelGuide:
    """alpha times the CVAE pair plus (1 - alpha) times the GSNN pair, in one trace.

    A term of weight 0 is left out (``poutine.scale`` takes positive weights only), so
    alpha 1 trains the CVAE and alpha 0 the GSNN, under the hybrid's site names.
    """
    gsnn = gsnn_guide(cvae)
    terms = [(p, w) for p, w in (("cvae", alpha), ("gsnn", 1.0 - alpha)) if w > 0]

    def model(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        for prefix, weight in terms:
            with scope(prefix=prefix), poutine.scale(scale=weight):
                out = cvae.model(x, y)
        return out

    def guide(x: torch.Tensor, y: torch.Tensor) -> None:
        for prefix, weight in terms:
            with scope(prefix=prefix), poutine.scale(scale=weight):
                (cvae.guide if prefix == "cvae" else gsnn)(x, y)

    return model, guide


def objective_pair(cvae: CVAE, objective: str = "cvae", alpha: float = DEFAULT_ALPHA) -> ModelGuide:
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


def iwae_bound(
    model: Program, guide: Program, num_particles: int, *args: object, **kwargs: object
) -> torch.Tensor:
    """The importance-weighted bound of each image, ``(B,)``: differentiable, reparameterized.

    The K particles are a plate left of the pair's ``"data"`` plate, so every site's
    log-density is ``(K, B)``; the log weights ``log p(y, z_k|x) - log q(z_k|x,y)`` are
    summed over sites, never over images, and each image gets its own log-mean-exp.
    ``num_particles = 1`` is the one-sample ELBO of each image. Every sample site must
    sit in the data plate (one latent per image); a site outside it raises ValueError.

    Args:
        model: draws z in a ``pyro.plate("data", B)`` and observes y.
        guide: draws the same latent sites, with the same arguments.
        num_particles: K, latent draws per image.
        *args: the arguments of the model and the guide, e.g. ``(x, y)``.
        **kwargs: their keyword arguments.
    """
    if num_particles < 1:
        raise ValueError(f"num_particles must be a positive integer, got {num_particles}")
    with pyro.plate(PARTICLES_PLATE, num_particles, dim=-2):
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        replayed = poutine.replay(model, trace=guide_trace)
        model_trace = poutine.trace(replayed).get_trace(*args, **kwargs)
    terms = []
    for trace, sign in ((model_trace, 1.0), (guide_trace, -1.0)):
        trace.compute_log_prob()  # each sample site's "log_prob": (K, B)
        sites = [s for s in trace.nodes.values() if s["type"] == "sample"]
        terms += [sign * s["log_prob"] for s in sites if not site_is_subsample(s)]
    if len({term.shape for term in terms}) != 1 or terms[0].dim() != 2:
        shapes = sorted({tuple(term.shape) for term in terms})
        raise ValueError(f"every sample site must sit in the data plate, got shapes {shapes}")
    log_w = torch.stack(terms).sum(0)  # (K, B)
    return torch.logsumexp(log_w, dim=0) - math.log(num_particles)  # (B,)


def iwae_loss(num_particles: int) -> Callable[..., torch.Tensor]:
    """An ``SVI`` loss: minus the sum over the batch of :func:`iwae_bound` with K particles."""

    def loss(model: Program, guide: Program, *args: object, **kwargs: object) -> torch.Tensor:
        return -iwae_bound(model, guide, num_particles, *args, **kwargs).sum()

    return loss


def svi_loss(elbo: str = "trace", particles: int = DEFAULT_PARTICLES) -> object:
    """The loss ``SVI`` minimises for ``--elbo``: an ELBO object, or :func:`iwae_loss`.

    Args:
        elbo: "trace" (``Trace_ELBO``), "meanfield" (``TraceMeanField_ELBO``: the KL
            between q(z|x,y) and p(z|x) in closed form, the same expectation with less
            variance) or "iwae" (minus the IWAE bound with ``particles`` draws per image).
        particles: K of the IWAE bound.
    """
    if elbo == "trace":
        return Trace_ELBO()
    if elbo == "meanfield":
        return TraceMeanField_ELBO()
    if elbo == "iwae":
        return iwae_loss(particles)
    raise ValueError(f"elbo must be one of {ELBOS}, got {elbo!r}")


class KLWarmup(Messenger):
    """Scales the log-densities of the latent site ``z`` by a weight beta that rises to 1.

    Wrapped around a model and its guide (:meth:`wrap`), the ELBO becomes
    ``E[log p(y|x,z)] - beta KL(q(z|x,y) || p(z|x))`` (for the IWAE bound, beta weighs
    ``log p(z|x) - log q(z|x,y)`` in each particle's weight). Beta rises in a straight
    line from ``1 / steps`` at the first SVI step to 1 at step ``steps`` and stays there.
    Each run of the guide starts a step (SVI runs the guide, then the model, so both see
    the same beta); :meth:`start_epoch` sets the count from the epoch, so a resumed run
    carries on where it stopped.

    Args:
        epochs: the warm-up's length in epochs.
        steps_per_epoch: SVI steps per epoch.
    """

    def __init__(self, epochs: int, steps_per_epoch: int) -> None:
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.steps = max(1, epochs * steps_per_epoch)
        self.done = 0  # SVI steps started

    @property
    def beta(self) -> float:
        """The weight of the KL term in the current step."""
        return min(1.0, max(self.done, 1) / self.steps)

    def start_epoch(self, epoch: int) -> None:
        """Set the step count to the start of ``epoch`` (from 1)."""
        self.done = (epoch - 1) * self.steps_per_epoch

    def _process_message(self, msg: dict) -> None:
        if msg["type"] == "sample" and msg["name"] == "z":
            msg["scale"] = msg["scale"] * self.beta

    def wrap(self, pair: ModelGuide) -> ModelGuide:
        """The pair with its ``z`` sites scaled by beta; each guide run starts a step."""
        model, guide = pair

        def scaled_model(*args: object, **kwargs: object) -> object:
            with self:
                return model(*args, **kwargs)

        def scaled_guide(*args: object, **kwargs: object) -> object:
            self.done += 1
            with self:
                return guide(*args, **kwargs)

        return scaled_model, scaled_guide
