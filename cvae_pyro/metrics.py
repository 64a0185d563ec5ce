r"""Negative conditional log-likelihood estimators, in nats per image.

For each image, lower is better:

- :func:`nn_nll`: the baseline's exact :math:`-\log p(y|x)` (summed binary
  cross-entropy over the output pixels, on grey levels).
- :func:`mc_nll`: Monte Carlo, :math:`-\log \frac1S \sum_s p(y|x,z_s)`,
  :math:`z_s \sim p(z|x)`.
- :func:`is_nll`: importance sampling,
  :math:`-\log \frac1S \sum_s p(y|x,z_s)\,p(z_s|x) / q(z_s|x,y)`,
  :math:`z_s \sim q(z|x,y)`.
- :func:`negative_elbo`: :math:`-\frac1S \sum_s \log [p(y|x,z_s)\,p(z_s|x) / q(z_s|x,y)]`,
  an upper bound on the negative CLL, never a CLL itself.

All are vectorized over the S samples and over images, in chunks of images
that bound the memory (about ``S * chunk * y_dim`` floats). Each image's S
latent draws come from its own seed (``seed`` and the image's index), so the
estimates do not depend on the chunk size or on what else was drawn before.
Both sampling estimators are consistent, and by Jensen's inequality they are
biased upward for finite S: their expectations decrease towards the true value
as S grows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyro
import torch

from .device import precision_context
from .models import CVAE, BaselineNN, grey_bernoulli
from .settings import DEFAULT_SAMPLES

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
    """Exact -log p(y|x) of the deterministic baseline, per image."""
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
    cvae: CVAE, x: torch.Tensor, y: torch.Tensor, eps: torch.Tensor, proposals: tuple[str, ...]
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
Plan = dict[str, dict[str, Reduce]]  #: proposal -> estimator name -> its reduction


def _estimates(
    cvae: CVAE,
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int,
    plan: Plan,
    chunk: int,
    seed: int,
    precision: str = "fp32",
) -> list[Estimate]:
    """The estimates of ``plan``, all from the same draws, in one pass over the data.

    ``precision`` "bf16" runs the networks under bf16 autocast; the log-densities are fp32.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples}")
    values: dict[str, list[torch.Tensor]] = {n: [] for reduces in plan.values() for n in reduces}
    autocast = precision_context(precision, y.device)
    with torch.inference_mode(), pyro.validation_enabled(False), autocast:
        for s in _chunks(len(y), chunk):
            eps = latent_noise(s, num_samples, cvae.z_dim, seed).to(y.device)  # (S, b, z)
            log_w = log_weights(cvae, x[s], y[s], eps, tuple(plan))  # (S, b) per proposal
            for proposal, reduces in plan.items():
                for name, reduce in reduces.items():
                    values[name].append(reduce(log_w[proposal]))  # (b,)
    return [
        Estimate(name, torch.cat(v).cpu(), num_samples) for name, v in values.items()
    ]  # (N,) each


def _estimate(
    cvae: CVAE,
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int,
    proposal: str,
    reduce: Reduce,
    name: str,
    chunk: int,
    seed: int,
) -> Estimate:
    return _estimates(cvae, x, y, num_samples, {proposal: {name: reduce}}, chunk, seed)[0]


def _neg_log_mean_exp(log_w: torch.Tensor) -> torch.Tensor:
    return -(torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0]))  # (B,)


def _neg_mean(log_w: torch.Tensor) -> torch.Tensor:
    return -log_w.mean(0)  # (B,)


def mc_nll(
    cvae: CVAE,
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int = DEFAULT_SAMPLES,
    chunk: int = DEFAULT_CHUNK,
    seed: int = 0,
) -> Estimate:
    """Monte Carlo estimate of -log p(y|x) with z from the prior network, per image."""
    return _estimate(cvae, x, y, num_samples, "prior", _neg_log_mean_exp, "MC", chunk, seed)


def is_nll(
    cvae: CVAE,
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int = DEFAULT_SAMPLES,
    chunk: int = DEFAULT_CHUNK,
    seed: int = 0,
) -> Estimate:
    """Importance-sampling estimate of -log p(y|x) with z from the recognition network."""
    return _estimate(cvae, x, y, num_samples, "posterior", _neg_log_mean_exp, "IS", chunk, seed)


def negative_elbo(
    cvae: CVAE,
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int = DEFAULT_SAMPLES,
    chunk: int = DEFAULT_CHUNK,
    seed: int = 0,
) -> Estimate:
    """The CVAE bound -E_q[log p(y|x,z) p(z|x) / q(z|x,y)], averaged over S particles.

    This is ``Trace_ELBO``'s estimate of the CVAE objective (see the tests). It is an
    upper bound on -log p(y|x), reported as such and never called a CLL.
    """
    return _estimate(cvae, x, y, num_samples, "posterior", _neg_mean, "-ELBO", chunk, seed)


def evaluate_cvae(
    cvae: CVAE,
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int = DEFAULT_SAMPLES,
    chunk: int = DEFAULT_CHUNK,
    seed: int = 0,
    objective: str = "cvae",
    precision: str = "fp32",
) -> list[Estimate]:
    """The estimates that apply to one CVAE on one split.

    MC, IS and -ELBO for a model whose recognition network was trained (objectives
    "cvae" and "hybrid"). A GSNN's guide is the prior network itself: its recognition
    network is never trained, so importance sampling through it means nothing (with
    q = p(z|x) IS is MC). A GSNN gets MC and its own bound, -E_p(z|x)[log p(y|x,z)].
    All come from one pass over the data with one draw of noise per image, shared by
    the proposals (each image's noise comes from its seed, so these are the same numbers
    as :func:`mc_nll`, :func:`is_nll` and :func:`negative_elbo` with this seed).
    ``precision`` "bf16" runs the networks under bf16 autocast (see :func:`_estimates`).
    """
    from_prior = {"MC": _neg_log_mean_exp}
    if objective == "gsnn":
        from_prior["-ELBO"] = _neg_mean  # its own bound, -E_p(z|x)[log p(y|x,z)]
        return _estimates(cvae, x, y, num_samples, {"prior": from_prior}, chunk, seed, precision)
    from_posterior = {"IS": _neg_log_mean_exp, "-ELBO": _neg_mean}
    plan = {"prior": from_prior, "posterior": from_posterior}
    return _estimates(cvae, x, y, num_samples, plan, chunk, seed, precision)
