"""The estimators against a model whose exact log p(y|x) is computed by quadrature."""

import math

import pyro
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from torch import nn

from cvae_pyro.config import TrainConfig
from cvae_pyro.metrics import Estimate, evaluate_cvae, is_nll, mc_nll, negative_elbo, nn_nll
from cvae_pyro.models import CVAE
from cvae_pyro.objectives import objective_pair
from cvae_pyro.trained import build_baseline

X_DIM, Y_DIM, N = 3, 32, 8


class IdentityCondition(nn.Module):
    """A toy condition: h = h_prior = x."""

    h_dim = h_prior_dim = X_DIM
    y_dim = Y_DIM

    def forward(self, x):
        return x, x

    def counted(self, x):
        return None  # the likelihood counts every output


@pytest.fixture(scope="module")
def toy():
    """A 1-d latent CVAE fitted briefly by SVI to data from a 1-d latent model."""
    torch.manual_seed(0)
    pyro.clear_param_store()
    x = torch.randn(512, X_DIM)
    z = torch.randn(512, 1) + x[:, :1]
    w = torch.randn(1, Y_DIM) * 3.0
    y = torch.bernoulli(torch.sigmoid(z @ w + x[:, 1:2]))
    cvae = CVAE(IdentityCondition(), z_dim=1, hidden=(32,))
    svi = SVI(cvae.model, cvae.guide, Adam({"lr": 1e-2}), Trace_ELBO())
    for _ in range(600):
        idx = torch.randint(0, 512, (64,))
        svi.step(x[idx], y[idx])
    pyro.clear_param_store()
    return cvae, x[:N], y[:N]


def exact_nll(cvae, x, y, points=20001):
    """-log p(y|x) per image by quadrature over the 1-d latent."""
    with torch.no_grad():
        prior = cvae.prior(x)
        loc, scale = prior.base_dist.loc[:, 0], prior.base_dist.scale[:, 0]  # (N,)
        u = torch.linspace(-12, 12, points).unsqueeze(-1)  # (P, 1)
        z = loc + scale * u  # (P, N)
        log_joint = cvae.likelihood(x, z.unsqueeze(-1)).log_prob(y) + prior.log_prob(
            z.unsqueeze(-1)
        )
        dz = scale * (u[1, 0] - u[0, 0])
        return -(torch.logsumexp(log_joint, 0) + dz.log())


def repeated(estimator, cvae, x, y, samples, repeats=40):
    """``(repeats, N)`` estimates, each with its own noise seed."""
    runs = [estimator(cvae, x, y, samples, seed=seed).per_image for seed in range(repeats)]
    return torch.stack(runs)


def test_quadrature_is_converged(toy):
    cvae, x, y = toy
    assert torch.allclose(exact_nll(cvae, x, y), exact_nll(cvae, x, y, 40001), atol=1e-4)


@pytest.mark.parametrize("estimator", [mc_nll, is_nll])
def test_estimators_converge_to_exact(toy, estimator):
    cvae, x, y = toy
    exact = exact_nll(cvae, x, y)
    torch.manual_seed(1)
    errors = [
        (repeated(estimator, cvae, x, y, s, repeats=10).mean(0) - exact).abs().mean().item()
        for s in (2, 20, 2000)
    ]
    assert errors[2] < 0.05, errors
    assert errors[2] < errors[1] < errors[0], errors


def test_importance_sampling_has_much_lower_variance(toy):
    cvae, x, y = toy
    torch.manual_seed(2)
    mc_std = repeated(mc_nll, cvae, x, y, 10).std(0).mean()
    is_std = repeated(is_nll, cvae, x, y, 10).std(0).mean()
    assert is_std**2 < 0.25 * mc_std**2, (is_std, mc_std)  # variance at least 4x lower


def test_negative_elbo_bounds_the_nll(toy):
    cvae, x, y = toy
    torch.manual_seed(3)
    exact = exact_nll(cvae, x, y)
    elbo = repeated(negative_elbo, cvae, x, y, 100, repeats=5).mean(0)
    is_est = repeated(is_nll, cvae, x, y, 100, repeats=5).mean(0)
    assert elbo.mean() >= is_est.mean()
    assert (elbo >= exact - 0.05).all()
    assert elbo.mean() > exact.mean() + 0.01  # the bound is not tight for an approximate q


def test_negative_elbo_agrees_with_trace_elbo(toy):
    cvae, x, y = toy
    torch.manual_seed(4)
    ours = negative_elbo(cvae, x, y, 4000).per_image.sum().item()
    pyro_loss = Trace_ELBO(num_particles=4000, vectorize_particles=True).loss(
        cvae.model, cvae.guide, x, y
    )
    assert ours == pytest.approx(pyro_loss, rel=2e-3)


def test_gsnn_gets_mc_and_its_own_bound(toy):
    """A GSNN's recognition network is untrained: no IS, and its bound uses q = p(z|x)."""
    cvae, x, y = toy
    gsnn = CVAE(IdentityCondition(), z_dim=1, hidden=(32,))
    gsnn.load_state_dict(cvae.state_dict())
    torch.manual_seed(6)
    estimates = evaluate_cvae(gsnn, x, y, 4000, seed=6, objective="gsnn")
    assert [e.estimator for e in estimates] == ["MC", "-ELBO"]
    mc, bound = estimates
    # the exact bound -E_p(z|x)[log p(y|x,z)], by quadrature over the 1-d latent
    with torch.no_grad():
        prior = gsnn.prior(x)
        u = torch.linspace(-12, 12, 20001).unsqueeze(-1)  # (P, 1)
        z = (prior.base_dist.loc[:, 0] + prior.base_dist.scale[:, 0] * u).unsqueeze(-1)
        weights = torch.distributions.Normal(0.0, 1.0).log_prob(u).exp() * (u[1] - u[0])
        exact_bound = -(weights * gsnn.likelihood(x, z).log_prob(y)).sum(0)  # (N,)
    assert bound.per_image.sum().item() == pytest.approx(exact_bound.sum().item(), rel=1e-2)
    pyro_loss = Trace_ELBO(num_particles=4000, vectorize_particles=True).loss(
        *objective_pair(gsnn, "gsnn"), x, y
    )
    assert pyro_loss == pytest.approx(exact_bound.sum().item(), rel=1e-2)
    assert bound.mean > mc.mean >= exact_nll(cvae, x, y).mean().item() - 0.05


@pytest.mark.parametrize("estimator", [mc_nll, is_nll, negative_elbo])
def test_chunk_size_does_not_change_estimates(toy, estimator):
    """Each image draws its noise from its own seed, so chunks of 1, 7 or 500 agree."""
    cvae, x, y = toy
    x, y = x.repeat(3, 1), y.repeat(3, 1)  # 24 images: chunks of 7 split them unevenly
    by_chunk = {c: estimator(cvae, x, y, 50, chunk=c, seed=3).per_image for c in (1, 7, 500)}
    for chunk in (1, 7):
        assert torch.allclose(by_chunk[chunk], by_chunk[500], rtol=1e-6, atol=1e-5), chunk
    # the copies of an image are different images with their own draws
    assert not torch.equal(by_chunk[500][:N], by_chunk[500][N : 2 * N])
    assert not torch.equal(by_chunk[500], estimator(cvae, x, y, 50, chunk=500, seed=4).per_image)


def test_nn_nll_is_summed_binary_cross_entropy():
    baseline = build_baseline(TrainConfig(quadrants=2, hidden=(16,)))
    x, y = torch.rand(5, 392), torch.rand(5, 392)
    expected = nn.functional.binary_cross_entropy_with_logits(baseline.net(x), y, reduction="none")
    est = nn_nll(baseline, x, y, chunk=2)
    assert torch.allclose(est.per_image, expected.sum(-1).detach(), atol=1e-4)
    assert est.samples == 0 and est.estimator == "NN"


def test_estimate_statistics():
    est = Estimate("IS", torch.tensor([1.0, 2.0, 3.0, 4.0]), 10)
    assert est.mean == 2.5
    assert est.stderr == pytest.approx(torch.tensor([1.0, 2, 3, 4]).std().item() / 2)
    assert est.as_dict()["images"] == 4


def test_bad_sample_count(toy):
    cvae, x, y = toy
    with pytest.raises(ValueError, match="positive"):
        is_nll(cvae, x, y, 0)
    assert math.isfinite(mc_nll(cvae, x, y, 1).mean)


def test_evaluate_cvae_shares_draws_but_not_numbers_across_proposals(toy):
    """IS and -ELBO come from one pass with shared draws: the same as the separate calls."""
    cvae, x, y = toy
    mc, is_, bound = evaluate_cvae(cvae, x, y, 30, chunk=3, seed=9)
    assert [e.estimator for e in (mc, is_, bound)] == ["MC", "IS", "-ELBO"]
    assert torch.equal(is_.per_image, is_nll(cvae, x, y, 30, chunk=3, seed=9).per_image)
    assert torch.equal(bound.per_image, negative_elbo(cvae, x, y, 30, chunk=3, seed=9).per_image)
    assert torch.equal(mc.per_image, mc_nll(cvae, x, y, 30, chunk=3, seed=9).per_image)
    assert (is_.per_image <= bound.per_image + 1e-5).all()  # log-mean-exp >= mean, per image
