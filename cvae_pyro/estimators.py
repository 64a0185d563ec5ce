r"""Negative conditional log-likelihood estimators, in nats per image.

Each estimator is a Pyro expression of a model/guide pair
(:func:`~cvae_pyro.objectives.iwae_bound` and :func:`~cvae_pyro.objectives.gsnn_guide` are in
:mod:`cvae_pyro.objectives`); per image, lower is better:

- :func:`is_nll`, importance sampling: ``-iwae_bound(cvae.model, cvae.guide, S, x, y)``, that is
  :math:`-\log \frac1S \sum_s p(y|x,z_s)\,p(z_s|x) / q(z_s|x,y)`, :math:`z_s \sim q(z|x,y)`.
- :func:`mc_nll`, Monte Carlo: the same bound with the prior network as the guide,
  ``-iwae_bound(cvae.model, gsnn_guide(cvae), S, x, y)``. With q = p(z|x) each weight is
  :math:`p(y|x,z_s)`: :math:`-\log \frac1S \sum_s p(y|x,z_s)`, :math:`z_s \sim p(z|x)`.
- :func:`negative_elbo`: ``Trace_ELBO`` 's loss of the CVAE pair with S particles,
  ``Trace_ELBO(num_particles=S, vectorize_particles=True).loss(cvae.model, cvae.guide, x, y)``,
  of each image: :math:`-\frac1S \sum_s \log [p(y|x,z_s)\,p(z_s|x) / q(z_s|x,y)]`, an upper
  bound on the negative CLL, never a CLL itself.
- :func:`nn_nll`: the baseline's exact :math:`-\log p(y|x)`,
  ``Trace_ELBO().loss(baseline.model, baseline.guide, x, y)`` of each image (its guide is
  empty): the summed binary cross-entropy over the output pixels, on grey levels.

The sampling estimators are computed without Pyro's traces (:func:`log_weights`): the
networks are called directly, once for all the estimators of a call, and the log-densities
are written out. On a CPU that is 1.2 to 1.6 times as fast as the Pyro expressions for one
estimate, 2 to 2.5 times for the three of :func:`evaluate_cvae`. The tests check the values
against the Pyro expressions above, image by image on the same draws. Each image's S latent
draws come from its own seed: on the CPU, image ``i`` of a call with ``seed`` gets the z
that the Pyro expression draws for that image alone after
``torch.manual_seed(seed * SEED_STRIDE + i)``. So the estimates do not depend on the chunk
size or on what else was drawn before.

All are vectorized over the S samples and over images, in chunks of images that bound the
memory (about ``S * chunk * y_dim`` floats). Under ``torch.autocast`` set by the caller
(``--precision bf16``) the networks' products run in that precision, the log-densities in
fp32. The inputs are checked first (:func:`~cvae_pyro.models.check_pairs`): ValueError
says what was expected. Both sampling estimators are consistent, and by Jensen's inequality
they are biased upward for finite S: their expectations decrease towards the true value as
S grows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from numbers import Integral

import torch

from .models import CVAE, BaselineNN, check_pairs, grey_bernoulli

DEFAULT_SAMPLES = 100  #: S, the number of latent samples per image
#: Most latent samples per image: the estimators hold S samples of every pixel of a chunk
#: of images at once, so memory grows with S (about 160 kB per sample per 50 images; some
#: 1.6 GB per tensor at this bound).
MAX_ESTIMATE_SAMPLES = 10_000
DEFAULT_CHUNK = 50  #: images per chunk (measured: 20-50 ran about 1.3x faster than 100-500)
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)  #: log of the Normal's normalizer, per dimension
SEED_STRIDE = 2**24  #: image i of a run with seed s draws its noise from seed s * SEED_STRIDE + i


@dataclass(frozen=True)
class Estimate:
    """A negative log-likelihood estimate over a set of images, nats per image.

    Attributes:
        estimator: "NN", "MC", "IS" or "-ELBO".
        per_image: ``(N,)`` per-image values.
        samples: S, latent samples per image (0 for the exact NN value).
    """

    estimator: str
    per_image: torch.Tensor
    samples: int

    @property
    def mean(self) -> float:
        """Mean over images."""
        return self.per_image.mean().item()

    @property
    def stderr(self) -> float:
        """Standard error of the mean over images."""
        n = self.per_image.numel()
        return (self.per_image.std() / math.sqrt(n)).item() if n > 1 else float("nan")

    def as_dict(self) -> dict:
        """``estimator``, ``nll_mean``, ``nll_stderr``, ``samples``, ``images``."""
        return {
            "estimator": self.estimator,
            "nll_mean": self.mean,
            "nll_stderr": self.stderr,
            "samples": self.samples,
            "images": self.per_image.numel(),
        }


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def latent_noise(images: slice, num_samples: int, z_dim: int, seed: int) -> torch.Tensor:
    """Standard-normal noise ``(S, B, z_dim)`` for the images ``images`` (a slice of indices).

    Image ``i`` draws its S rows from its own generator, seeded ``seed * SEED_STRIDE + i``.
    """
    rows = []
    for i in range(images.start, images.stop):
        gen = torch.Generator().manual_seed(seed * SEED_STRIDE + i)
        rows.append(torch.randn(num_samples, z_dim, generator=gen))  # (S, z)
    return torch.stack(rows, dim=1)  # (S, B, z)


def nn_nll(
    baseline: BaselineNN, x: torch.Tensor, y: torch.Tensor, chunk: int = DEFAULT_CHUNK
) -> Estimate:
    """``Trace_ELBO().loss(baseline.model, baseline.guide, x, y)`` of each image: the exact -log p(y|x).

    The baseline is deterministic and its guide empty, so the loss is the likelihood term
    alone: the summed binary cross-entropy of ``y`` ``(N, y_dim)`` (grey levels in [0, 1])
    under the baseline's pixel probabilities given ``x`` ``(N, x_dim)``.
    """
    check_pairs(baseline, x, y)
    with torch.no_grad():
        values = [
            -grey_bernoulli(baseline(x[s]), baseline.counted(x[s])).log_prob(y[s])
            for s in _chunks(len(y), chunk)
        ]
    return Estimate("NN", torch.cat(values).cpu(), 0)  # (N,)


def _sum_softplus(logits: torch.Tensor) -> torch.Tensor:
    """``softplus(l).sum(-1)`` (softplus = log(1 + exp(l))), overwriting ``logits``.

    ``softplus(l) = relu(l) + log(1 + exp(-|l|))`` and ``relu(l) = (l + |l|) / 2``, so the
    sum is three reductions of one buffer changed in place: no new ``(S, B, y_dim)``
    tensor (writing fresh memory is what made this slow) and ``log`` instead of the
    slower ``log1p`` (absolute error per pixel below 1e-7).
    """
    total = logits.sum(-1)  # (S, B)
    total += logits.abs_().sum(-1)
    total *= 0.5  # the relu part
    return total.add_(logits.neg_().exp_().add_(1.0).log_().sum(-1))


def log_likelihood(
    logits: torch.Tensor, y: torch.Tensor, counted: torch.Tensor | None
) -> torch.Tensor:
    """log p(y|x,z) ``(S, B)`` of :func:`~cvae_pyro.models.grey_bernoulli` pixels.

    ``logits`` ``(S, B, y_dim)`` (overwritten), ``y`` ``(B, y_dim)`` grey levels,
    ``counted`` ``(B, y_dim)`` bool or None. Per pixel ``y l - softplus(l)`` (which is
    ``y log sigmoid(l) + (1 - y) log sigmoid(-l)``), summed over the counted pixels: the
    ``y l`` part is one batched product per image, the softplus part a few passes over
    the logits in place. Always in fp32, also under autocast.
    """
    with torch.autocast(logits.device.type, enabled=False):
        return _log_likelihood(logits.float(), y.float(), counted)


def _log_likelihood(
    logits: torch.Tensor, y: torch.Tensor, counted: torch.Tensor | None
) -> torch.Tensor:
    correction = 0.0
    if counted is not None:  # an uncounted pixel is one with logit 0 and y = 1/2: log 2
        logits = logits.masked_fill_(~counted, 0.0)
        y = torch.where(counted, y, 0.5)
        correction = math.log(2) * (~counted).sum(-1)  # (B,)
    return torch.einsum("sbp,bp->sb", logits, y) - _sum_softplus(logits) + correction


def _normal_log_density(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Diagonal Normal log-density ``(S, B)`` of ``z`` ``(S, B, z_dim)``; loc, scale ``(B, z_dim)``."""
    u = (z - loc).div_(scale)  # (S, B, z)
    return -(0.5 * u.square_().sum(-1) + scale.log().sum(-1) + z.shape[-1] * HALF_LOG_2PI)


def log_weights(
    cvae: CVAE, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, proposals: Collection[str]
) -> dict[str, torch.Tensor]:
    """Log importance weights ``(S, B)`` for one chunk of images, per proposal.

    The condition, the prior and the noise are computed once and shared by the proposals;
    the networks are called directly, as :meth:`~cvae_pyro.models.CVAE.prior` and
    :meth:`~cvae_pyro.models.CVAE.posterior` call them, without distribution objects.

    Args:
        cvae: the trained model.
        x: ``(B, ...)`` inputs, as the condition prepares them.
        y: ``(B, y_dim)`` outputs.
        eps: ``(S, B, z_dim)`` standard-normal noise; z = loc + scale * eps.
        proposals: "prior" (weights are p(y|x,z), z ~ p(z|x)) and/or "posterior"
            (weights are p(y|x,z) p(z|x) / q(z|x,y), z ~ q(z|x,y)).
    """
    h, h_prior = cvae.condition(x)  # (B, h_dim), (B, h_prior_dim)
    counted = cvae.condition.counted(x)  # (B, y_dim) or None
    loc_p, scale_p = cvae.prior_net(h_prior)  # p(z|x): (B, z) each
    weights = {}
    if "prior" in proposals:
        z = torch.addcmul(loc_p, scale_p, eps)  # (S, B, z)
        weights["prior"] = log_likelihood(cvae.generation_net(h, z), y, counted)
    if "posterior" in proposals:
        loc_q, scale_q = cvae.recognition_net(h, y)  # q(z|x,y): (B, z) each
        z = torch.addcmul(loc_q, scale_q, eps)  # (S, B, z)
        # log q(z|x,y) from the noise itself: (z - loc_q) / scale_q is eps
        log_q = -(0.5 * eps.square().sum(-1) + scale_q.log().sum(-1) + z.shape[-1] * HALF_LOG_2PI)
        log_lik = log_likelihood(cvae.generation_net(h, z), y, counted)
        weights["posterior"] = log_lik + _normal_log_density(z, loc_p, scale_p) - log_q
    return weights


Reduce = Callable[[torch.Tensor], torch.Tensor]  #: log weights (S, B) to values (B,)
Plan = dict[str, tuple[str, Reduce]]  #: estimator name -> (proposal, reduction of its log weights)


def check_samples(num_samples: object) -> None:
    """Raise ValueError unless ``num_samples`` is an integer in 1..:data:`MAX_ESTIMATE_SAMPLES`."""
    if (
        isinstance(num_samples, bool)
        or not isinstance(num_samples, Integral)
        or not 1 <= num_samples <= MAX_ESTIMATE_SAMPLES
    ):
        raise ValueError(
            f"num_samples must be a positive integer, at most {MAX_ESTIMATE_SAMPLES} "
            f"(the memory grows with S); got {num_samples!r}"
        )


def _estimates(
    cvae: CVAE,
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int,
    plan: Plan,
    chunk: int,
    seed: int,
) -> list[Estimate]:
    """The estimates of ``plan``, all from the same draws, in one pass over the data."""
    check_samples(num_samples)
    check_pairs(cvae, x, y)
    values: dict[str, list[torch.Tensor]] = {name: [] for name in plan}
    proposals = {proposal for proposal, _ in plan.values()}
    with torch.inference_mode():
        for s in _chunks(len(y), chunk):
            eps = latent_noise(s, num_samples, cvae.z_dim, seed).to(y.device)  # (S, b, z)
            log_w = log_weights(cvae, x[s], y[s], eps, proposals)  # (S, b) per proposal
            for name, (proposal, reduce) in plan.items():
                values[name].append(reduce(log_w[proposal]))  # (b,)
    return [
        Estimate(name, torch.cat(v).cpu(), num_samples) for name, v in values.items()
    ]  # (N,) each


def _neg_log_mean_exp(log_w: torch.Tensor) -> torch.Tensor:
    return -(torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0]))  # (B,)


def _neg_mean(log_w: torch.Tensor) -> torch.Tensor:
    return -log_w.mean(0)  # (B,)


MC = {"MC": ("prior", _neg_log_mean_exp)}  #: -iwae_bound with q = p(z|x)
IS = {"IS": ("posterior", _neg_log_mean_exp)}  #: -iwae_bound with q = q(z|x,y)
NEGATIVE_ELBO = {"-ELBO": ("posterior", _neg_mean)}  #: Trace_ELBO's loss of the CVAE pair
GSNN_BOUND = {"-ELBO": ("prior", _neg_mean)}  #: Trace_ELBO's loss of the GSNN pair


def mc_nll(
    cvae: CVAE,
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int = DEFAULT_SAMPLES,
    chunk: int = DEFAULT_CHUNK,
    seed: int = 0,
) -> Estimate:
    r"""Monte Carlo: ``-iwae_bound(cvae.model, gsnn_guide(cvae), num_samples, x, y)``, per image.

    The importance-weighted bound with the prior network as the guide (q = p(z|x)):
    :math:`-\log \frac1S \sum_s p(y|x,z_s)`, :math:`z_s \sim p(z|x)`. Computed by
    :func:`log_weights` (see the module docstring for the draws).

    Args:
        cvae: the trained model.
        x: ``(N, ...)`` inputs, as the condition prepares them (``cvae.condition.pairs``).
        y: ``(N, y_dim)`` output grey levels in [0, 1].
        num_samples: S, latent draws per image (1..:data:`MAX_ESTIMATE_SAMPLES`).
        chunk: images per vectorized pass (the numbers do not depend on it).
        seed: seed of the draws.

    Raises:
        ValueError: ``x``, ``y`` or ``num_samples`` are not what is expected.
    """
    return _estimates(cvae, x, y, num_samples, MC, chunk, seed)[0]


def is_nll(
    cvae: CVAE,
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int = DEFAULT_SAMPLES,
    chunk: int = DEFAULT_CHUNK,
    seed: int = 0,
) -> Estimate:
    r"""Importance sampling: ``-iwae_bound(cvae.model, cvae.guide, num_samples, x, y)``, per image.

    :math:`-\log \frac1S \sum_s p(y|x,z_s)\,p(z_s|x) / q(z_s|x,y)`,
    :math:`z_s \sim q(z|x,y)` (the recognition network). Computed by :func:`log_weights`;
    the arguments are :func:`mc_nll`'s.
    """
    return _estimates(cvae, x, y, num_samples, IS, chunk, seed)[0]


def negative_elbo(
    cvae: CVAE,
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int = DEFAULT_SAMPLES,
    chunk: int = DEFAULT_CHUNK,
    seed: int = 0,
) -> Estimate:
    r"""``Trace_ELBO(num_particles=S, vectorize_particles=True).loss(cvae.model, cvae.guide, x, y)`` per image.

    The CVAE bound :math:`-\frac1S \sum_s \log [p(y|x,z_s)\,p(z_s|x) / q(z_s|x,y)]`,
    :math:`z_s \sim q(z|x,y)`: an upper bound on -log p(y|x), reported as such and never
    called a CLL. Computed by :func:`log_weights`; the arguments are :func:`mc_nll`'s.
    """
    return _estimates(cvae, x, y, num_samples, NEGATIVE_ELBO, chunk, seed)[0]


def evaluate_cvae(
    cvae: CVAE,
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int = DEFAULT_SAMPLES,
    chunk: int = DEFAULT_CHUNK,
    seed: int = 0,
    objective: str = "cvae",
) -> list[Estimate]:
    """The estimates that apply to one CVAE on one split.

    MC, IS and -ELBO for a model whose recognition network was trained (objectives
    "cvae" and "hybrid"). A GSNN's guide is the prior network itself: its recognition
    network is never trained, so importance sampling through it means nothing (with
    q = p(z|x) IS is MC). A GSNN gets MC and its own bound, ``Trace_ELBO``'s loss of the
    GSNN pair, -E_p(z|x)[log p(y|x,z)]. All come from one pass over the data with one draw
    of noise per image, shared by the proposals (each image's noise comes from its seed, so
    these are the same numbers as :func:`mc_nll`, :func:`is_nll` and :func:`negative_elbo`
    with this seed).
    """
    plan = {**MC, **GSNN_BOUND} if objective == "gsnn" else {**MC, **IS, **NEGATIVE_ELBO}
    return _estimates(cvae, x, y, num_samples, plan, chunk, seed)
