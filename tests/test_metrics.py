"""The estimators: the Pyro expressions they are, the exact value they approach, their inputs.

The exact log p(y|x) is computed by quadrature for a model with a 1-d latent.
"""

import math

import pyro
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam
from torch import nn

from cvae_pyro.beyond.any_mask import MaskCondition
from cvae_pyro.beyond.label import LabelCondition
from cvae_pyro.cli.config import TrainConfig
from cvae_pyro.cli.model_files import build_baseline
from cvae_pyro.conditions import QuadrantCondition
from cvae_pyro.estimators import (
    MAX_ESTIMATE_SAMPLES,
    SEED_STRIDE,
    Estimate,
    evaluate_cvae,
    is_nll,
    mc_nll,
    negative_elbo,
    nn_nll,
)
from cvae_pyro.masks import mask_task_input, split_xy
from cvae_pyro.models import CVAE, BaselineNN, MaskBaselineNN
from cvae_pyro.objectives import gsnn_guide, iwae_bound, objective_pair

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
    x = torch.rand(512, X_DIM)  # inputs in [0, 1], as pixels are
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


def test_sample_counts_outside_1_to_the_bound_are_refused(toy):
    cvae, x, y = toy
    for bad in (0, -3, 2.5, True, MAX_ESTIMATE_SAMPLES + 1, 10**7):
        with pytest.raises(ValueError, match=f"at most {MAX_ESTIMATE_SAMPLES}.*got {bad!r}"):
            is_nll(cvae, x, y, bad)
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


def pyro_expression(estimator, model, guide, x, y, samples, seed):
    """``(N,)``: an estimator's Pyro expression, image by image, on the estimators' draws.

    Image i alone, after ``torch.manual_seed(seed * SEED_STRIDE + i)``: Pyro then draws
    the z that the estimators draw for it.
    """
    values = []
    for i in range(len(y)):
        torch.manual_seed(seed * SEED_STRIDE + i)
        xi, yi = x[i : i + 1], y[i : i + 1]
        if estimator == "-ELBO":
            elbo = Trace_ELBO(num_particles=samples, vectorize_particles=True, max_plate_nesting=1)
            values.append(elbo.loss(model, guide, xi, yi))
        else:
            values.append(-iwae_bound(model, guide, samples, xi, yi).item())
    return torch.tensor(values)


def quadrant_task(images):
    condition = QuadrantCondition(2, build_baseline(TrainConfig(quadrants=2, hidden=(16,))))
    given, y = images[:, :392], images[:, 392:]
    return condition, condition.prepare(given), y


def mask_task(images):
    condition = MaskCondition(MaskBaselineNN((16,)))
    visible = torch.rand(images.shape) < 0.4  # about 60% of the pixels hidden, and counted
    return condition, condition.prepare(images, visible), images


def label_task(images):
    return LabelCondition(), torch.arange(len(images)) % 10, images


@pytest.mark.parametrize("task", [quadrant_task, mask_task, label_task])
def test_estimators_are_the_pyro_expressions_on_the_same_draws(task):
    """MC, IS, -ELBO (and the GSNN's bound) equal iwae_bound and Trace_ELBO image by image."""
    torch.manual_seed(0)
    images = torch.rand(5, 784)  # grey levels
    condition, x, y = task(images)
    cvae = CVAE(condition, z_dim=3, hidden=(16,)).eval()
    samples, seed = 20, 7
    estimates = evaluate_cvae(cvae, x, y, samples, seed=seed, chunk=2)
    estimates += evaluate_cvae(cvae, x, y, samples, seed=seed, chunk=2, objective="gsnn")[1:]
    guides = [gsnn_guide(cvae), cvae.guide, cvae.guide, gsnn_guide(cvae)]  # MC, IS, -ELBOs
    for estimate, guide in zip(estimates, guides, strict=True):
        name = estimate.estimator
        expected = pyro_expression(name, cvae.model, guide, x, y, samples, seed)
        torch.testing.assert_close(estimate.per_image, expected, rtol=1e-6, atol=2e-5, msg=name)
    assert len({e.per_image[0].item() for e in estimates}) == 4  # four different numbers


def test_nn_nll_is_trace_elbos_loss_of_the_baseline_pair():
    torch.manual_seed(0)
    images = torch.rand(4, 784)
    visible = torch.rand(images.shape) < 0.5
    cases = [(BaselineNN(392, 392, (16,)), images[:, :392], images[:, 392:])]
    cases += [(MaskBaselineNN((16,)), mask_task_input(images, visible), images)]
    for baseline, x, y in cases:
        expected = [
            Trace_ELBO().loss(baseline.model, baseline.guide, x[i : i + 1], y[i : i + 1])
            for i in range(4)
        ]
        torch.testing.assert_close(nn_nll(baseline, x, y).per_image, torch.tensor(expected))


def one_quadrant_models():
    """A 1-quadrant baseline and CVAE, with six images: given pixels, CVAE inputs, outputs."""
    torch.manual_seed(0)
    baseline = BaselineNN(196, 588, (16,))
    cvae = CVAE(QuadrantCondition(1, baseline), z_dim=3, hidden=(16,))
    given, y = split_xy(torch.rand(6, 784), 1)  # (6, 196), (6, 588)
    return baseline, cvae, given, cvae.condition.prepare(given), y


#: What a learner may pass by mistake: (x, y) -> the bad (x, y), and the message expected.
BAD_PAIRS = {
    "rows that differ": (lambda x, y: (x, y[:4]), "x and y must have one row per image each; got 6 and 4"),
    "y of another width": (lambda x, y: (x, torch.rand(6, 784)), r"y must be \(B, 588\) grey levels in \[0, 1\].*; got \(6, 784\) float32"),
    "y in 0..255 as uint8": (lambda x, y: (x, (255 * y).to(torch.uint8)), r"y must be \(B, 588\) grey levels in \[0, 1\].*; got \(6, 588\) uint8$"),
    "y in 0..255 as floats": (lambda x, y: (x, 255 * y), r"y must be \(B, 588\) grey levels in \[0, 1\].*; got \(6, 588\) float32 in \[0\.\d+, 25\d\.\d+\]"),
    "y as integers": (lambda x, y: (x, y.round().long()), r"; got \(6, 588\) int64$"),
    "y as a numpy array": (lambda x, y: (x, y.numpy()), "; got ndarray$"),
    "x in 0..255": (lambda x, y: (255 * x, y), r"x must be .*\(B, .*\) (inputs|values) in \[0, 1\].*; got \(6, \d+\) float32 in \[0\.\d+, 25\d\.\d+\]"),
    "x as uint8": (lambda x, y: ((255 * x).to(torch.uint8), y), r"x must be .*; got \(6, \d+\) uint8$"),
}  # fmt: skip


@pytest.mark.parametrize("estimator", [is_nll, mc_nll, negative_elbo, evaluate_cvae, nn_nll])
@pytest.mark.parametrize("case", BAD_PAIRS)
def test_inputs_are_checked_with_a_message_that_says_what_was_expected(estimator, case):
    baseline, cvae, given, x, y = one_quadrant_models()
    model, x = (baseline, given) if estimator is nn_nll else (cvae, x)
    spoil, message = BAD_PAIRS[case]
    with pytest.raises(ValueError, match=message):
        estimator(model, *spoil(x, y))
    if model is cvae and case.startswith("y "):  # the CVAE's messages say what its y is
        with pytest.raises(ValueError, match="for 1 given quadrant;"):
            estimator(model, *spoil(x, y))
    good = estimator(model, x, y)  # the same pair, unspoiled, is read
    assert all(math.isfinite(e.mean) for e in (good if isinstance(good, list) else [good]))


def test_a_cvaes_input_must_be_what_its_condition_prepares():
    _, cvae, given, _, y = one_quadrant_models()
    with pytest.raises(
        ValueError,
        match=r"as its condition prepares them .* for 1 given quadrant.*; got \(6, 196\) float32",
    ):
        is_nll(cvae, given, y)  # the given pixels without the baseline's guess
    label_cvae = CVAE(LabelCondition(), z_dim=3, hidden=(16,))
    with pytest.raises(
        ValueError, match=r"or \(B,\) int64 labels for a label CVAE; got \(6,\) float32"
    ):
        is_nll(label_cvae, torch.arange(6.0) / 10, torch.rand(6, 784))
