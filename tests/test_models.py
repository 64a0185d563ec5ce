import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

from cvae_pyro.build import build_baseline
from cvae_pyro.conditions import LabelCondition, QuadrantCondition
from cvae_pyro.masks import split_xy
from cvae_pyro.models import CVAE, grey_bernoulli
from cvae_pyro.networks import GenerationNet, PriorNet, RecognitionNet, mlp

B, Z, H = 6, 4, (32,)


def quadrant_cvae(q=1, objective="cvae", prior="conditional"):
    baseline = build_baseline(q, H)
    return CVAE(QuadrantCondition(q, baseline.net), Z, H, objective, 0.5, prior), baseline


def batch(q=1):
    return split_xy(torch.rand(B, 784), q)


def test_network_shapes():
    h, y, z = torch.rand(B, 196), torch.rand(B, 588), torch.randn(3, B, Z)
    loc, scale = RecognitionNet(196, 588, H, Z)(h, y)
    assert loc.shape == scale.shape == (B, Z) and (scale > 0).all()
    loc, scale = PriorNet(784, H, Z)(torch.rand(B, 784))
    assert loc.shape == (B, Z)
    logits = GenerationNet(196, Z, H, 588)(h, z)
    assert logits.shape == (3, B, 588)


def test_generation_net_split_first_layer_equals_concatenation():
    net = GenerationNet(10, Z, H, 7)
    h, z = torch.rand(B, 10), torch.randn(2, B, Z)
    direct = net.net(torch.cat([h.expand(2, B, 10), z], -1))
    assert torch.allclose(net(h, z), direct, atol=1e-6)


def test_mlp_layers():
    net = mlp(5, (8, 9), 3)
    assert [m.out_features for m in net if hasattr(m, "out_features")] == [8, 9, 3]


@pytest.mark.parametrize("q", [1, 2, 3])
def test_model_and_guide_trace_shapes(q):
    cvae, _ = quadrant_cvae(q)
    x, y = batch(q)
    guide_tr = poutine.trace(cvae.guide).get_trace(x, y)
    model_tr = poutine.trace(poutine.replay(cvae.model, trace=guide_tr)).get_trace(x, y)
    assert guide_tr.nodes["z"]["value"].shape == (B, Z)
    assert guide_tr.nodes["z"]["fn"].event_shape == (Z,)
    assert model_tr.nodes["z"]["fn"].batch_shape == (B,)
    assert model_tr.nodes["y"]["fn"].event_shape == (784 - 196 * q,)
    assert model_tr.nodes["y"]["is_observed"]
    assert "data" in {f.name for f in model_tr.nodes["y"]["cond_indep_stack"]}


def test_hybrid_has_two_weighted_branches():
    cvae, _ = quadrant_cvae(2, "hybrid")
    x, y = batch(2)
    tr = poutine.trace(cvae.guide).get_trace(x, y)
    assert {"z_cvae", "z_gsnn"} <= set(tr.nodes)
    assert tr.nodes["z_cvae"]["scale"] == 0.5 and tr.nodes["z_gsnn"]["scale"] == 0.5


def test_elbo_is_finite_and_cvae_bound_matches_networks():
    torch.manual_seed(0)
    cvae, _ = quadrant_cvae(1)
    x, y = batch(1)
    loss = Trace_ELBO(num_particles=200, vectorize_particles=True).loss(
        cvae.model, cvae.guide, x, y
    )
    assert torch.isfinite(torch.tensor(loss))
    q, p = cvae.posterior(x, y), cvae.prior(x)
    z = q.sample((4000,))
    by_hand = -(cvae.likelihood(x, z).log_prob(y) + p.log_prob(z) - q.log_prob(z)).mean(0).sum()
    assert loss == pytest.approx(by_hand.item(), rel=0.01)


def test_gsnn_elbo_is_expected_log_likelihood_under_prior():
    torch.manual_seed(0)
    cvae, _ = quadrant_cvae(2, "gsnn")
    x, y = batch(2)
    loss = Trace_ELBO(num_particles=300, vectorize_particles=True).loss(
        cvae.model, cvae.guide, x, y
    )
    z = cvae.prior(x).sample((6000,))
    expected = -cvae.likelihood(x, z).log_prob(y).mean(0).sum()
    assert loss == pytest.approx(expected.item(), rel=0.01)


def test_grey_level_likelihood_is_binary_cross_entropy():
    logits, y = torch.randn(B, 20), torch.rand(B, 20)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
    assert torch.allclose(-grey_bernoulli(logits).log_prob(y), bce.sum(-1), atol=1e-5)


def test_baseline_is_frozen_during_svi():
    cvae, baseline = quadrant_cvae(1)
    before = {k: v.clone() for k, v in baseline.state_dict().items()}
    assert not any(p.requires_grad for p in baseline.parameters())
    x, y = batch(1)
    svi = SVI(cvae.model, cvae.guide, Adam({"lr": 1e-2}), Trace_ELBO())
    gen_before = cvae.generation_net.net[0].weight.clone()
    for _ in range(3):
        svi.step(x, y)
    for key, value in baseline.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not torch.equal(cvae.generation_net.net[0].weight, gen_before)  # the CVAE did learn


def test_standard_prior_and_label_condition():
    cvae = CVAE(LabelCondition(), Z, H, prior="standard")
    labels = torch.tensor([0, 3, 9])
    p = cvae.prior(labels)
    assert torch.equal(p.mean, torch.zeros(3, Z))
    assert cvae.sample(labels, 2).shape == (2, 3, 784)


def test_guide_without_y_is_an_error():
    cvae, _ = quadrant_cvae(1)
    with pytest.raises(ValueError, match="needs y"):
        cvae.guide(torch.rand(2, 196))


@pytest.mark.parametrize("kwargs", [{"objective": "elbo"}, {"prior": "flat"}, {"alpha": 1.5}])
def test_bad_model_settings(kwargs):
    with pytest.raises(ValueError):
        CVAE(LabelCondition(), **kwargs)
