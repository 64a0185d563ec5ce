"""The per-image IWAE bound (:func:`cvae_pyro.objectives.iwae_bound`).

Checked on a linear-Gaussian pair whose evidence is known: z ~ N(0, 1), y ~ N(z, 1), so
p(y) = N(0, 2) and the exact posterior is q(z|y) = N(y / 2, 1 / 2).
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, RenyiELBO, Trace_ELBO

from cvae_pyro.conditions import QuadrantCondition
from cvae_pyro.models import CVAE, BaselineNN
from cvae_pyro.objectives import iwae_bound, iwae_loss

EXACT = (0.5, math.sqrt(0.5))  # (slope, scale) of the exact posterior N(y / 2, 1 / 2)
POOR = (0.0, 0.5)  # a guide that ignores y and is too narrow


def model(y: torch.Tensor, guide_params: tuple[float, float]) -> None:
    """z ~ N(0, 1), y ~ N(z, 1), one pair per row of ``y`` ``(B, 1)``."""
    with pyro.plate("data", y.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros_like(y), 1.0).to_event(1))  # (B, 1)
        pyro.sample("y", dist.Normal(z, 1.0).to_event(1), obs=y)


def guide(y: torch.Tensor, guide_params: tuple[float, float]) -> None:
    """q(z|y) = N(slope * y, scale)."""
    slope, scale = guide_params
    with pyro.plate("data", y.shape[0]):
        pyro.sample("z", dist.Normal(slope * y, scale).to_event(1))  # (B, 1)


def log_evidence(y: torch.Tensor) -> torch.Tensor:
    """log p(y) = log N(y; 0, 2), ``(B,)``."""
    return dist.Normal(0.0, math.sqrt(2.0)).log_prob(y).sum(-1)


@pytest.mark.parametrize("k", [1, 5, 50])
def test_exact_posterior_gives_the_evidence_of_every_image(k):
    y = torch.linspace(-3.0, 3.0, 7).unsqueeze(-1)  # (7, 1)
    bound = iwae_bound(model, guide, k, y, EXACT)
    assert bound.shape == (7,)
    torch.testing.assert_close(bound, log_evidence(y), atol=1e-5, rtol=0)


def test_bound_rises_with_k_and_stays_below_the_evidence():
    pyro.set_rng_seed(0)
    y = torch.randn(4000, 1) * math.sqrt(2.0)  # (4000, 1) drawn from p(y)
    evidence = log_evidence(y)  # (4000,)
    gaps = [(iwae_bound(model, guide, k, y, POOR) - evidence).mean().item() for k in (1, 5, 50)]
    # Measured on two seeds: about -0.60, -0.33, -0.13 nats (stderr of each below 0.02).
    assert gaps[0] + 0.1 < gaps[1] < gaps[2] - 0.1 < -0.15


def test_each_image_has_its_own_log_mean_exp():
    """An image's bound does not depend on the other images of its batch (same noise)."""
    y = torch.tensor([[0.3], [-1.0]])
    other = torch.tensor([[0.3], [2.5]])
    pyro.set_rng_seed(1)
    first = iwae_bound(model, guide, 5, y, POOR)
    pyro.set_rng_seed(1)
    second = iwae_bound(model, guide, 5, other, POOR)
    torch.testing.assert_close(first[0], second[0])
    assert not torch.isclose(first[1], second[1])


def small_cvae() -> tuple[CVAE, torch.Tensor, torch.Tensor]:
    pyro.set_rng_seed(0)
    condition = QuadrantCondition(1, BaselineNN(196, 588, (16,)))
    cvae = CVAE(condition, z_dim=4, hidden=(16,))
    x = condition.prepare(torch.rand(6, 196))  # (6, 784)
    return cvae, x, torch.rand(6, 588)


def test_one_particle_is_trace_elbo_with_the_same_noise():
    cvae, x, y = small_cvae()
    pyro.set_rng_seed(3)
    bound = iwae_bound(cvae.model, cvae.guide, 1, x, y)  # (6,)
    pyro.set_rng_seed(3)
    loss = Trace_ELBO().loss(cvae.model, cvae.guide, x, y)  # minus the sum over images
    assert bound.shape == (6,)
    assert math.isclose(-bound.sum().item(), loss, rel_tol=1e-5)


def test_agrees_with_pyros_renyi_elbo_at_alpha_zero_on_the_cvae():
    """With the particle plate at the same dim, the same noise gives the same bound."""
    cvae, x, y = small_cvae()
    renyi = RenyiELBO(alpha=0.0, num_particles=5, vectorize_particles=True, max_plate_nesting=1)
    pyro.set_rng_seed(4)
    loss = renyi.loss(cvae.model, cvae.guide, x, y)  # minus the sum over images
    pyro.set_rng_seed(4)
    bound = iwae_bound(cvae.model, cvae.guide, 5, x, y)  # (6,)
    assert math.isclose(-bound.sum().item(), loss, rel_tol=1e-5)


def test_iwae_loss_trains_the_cvae_with_svi():
    cvae, x, y = small_cvae()
    weights = cvae.generation_net.net[0].weight.clone()
    svi = SVI(cvae.model, cvae.guide, pyro.optim.Adam({"lr": 1e-2}), iwae_loss(5))
    losses = [svi.step(x, y) for _ in range(5)]
    assert all(math.isfinite(v) for v in losses)
    assert not torch.equal(weights, cvae.generation_net.net[0].weight)


def test_bad_particle_count():
    with pytest.raises(ValueError, match="positive"):
        iwae_bound(model, guide, 0, torch.zeros(2, 1), EXACT)


def test_a_site_outside_the_data_plate_is_refused():
    def global_model(y, guide_params):
        shift = pyro.sample("shift", dist.Normal(0.0, 1.0))  # one draw for the whole batch
        with pyro.plate("data", y.shape[0]):
            pyro.sample("y", dist.Normal(shift.unsqueeze(-1), 1.0).to_event(1), obs=y)

    def global_guide(y, guide_params):
        pyro.sample("shift", dist.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match="data plate"):
        iwae_bound(global_model, global_guide, 3, torch.zeros(4, 1), EXACT)
