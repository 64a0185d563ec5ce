"""The speed work's guarantees: the same maths, bf16 close to fp32, validation kept."""

import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from cvae_pyro.cli.config import TrainConfig
from cvae_pyro.cli.device import precision_context
from cvae_pyro.cli.experiment import CheckedSVI
from cvae_pyro.cli.model_files import build_baseline, build_cvae
from cvae_pyro.estimators import evaluate_cvae, log_likelihood
from cvae_pyro.fit import Batches, FusedAdam
from cvae_pyro.models import grey_bernoulli

CPU = torch.device("cpu")


@pytest.mark.parametrize("masked", [False, True])
def test_fused_log_likelihood_is_the_models_bernoulli(masked):
    """The estimators' log p(y|x,z) equals grey_bernoulli's log_prob, masked pixels too."""
    gen = torch.Generator().manual_seed(0)
    logits = 6 * torch.randn(7, 5, 40, generator=gen)  # (S, B, pixels), past softplus' knee
    y = torch.rand(5, 40, generator=gen)  # grey levels
    counted = torch.rand(5, 40, generator=gen) < 0.6 if masked else None
    expected = grey_bernoulli(logits, counted).log_prob(y)  # (S, B)
    found = log_likelihood(logits.clone(), y, counted)
    assert torch.allclose(found, expected, rtol=1e-5, atol=1e-4)
    if masked:  # the uncounted pixels count for nothing
        assert not torch.allclose(found, grey_bernoulli(logits).log_prob(y), atol=1.0)


def _tiny(precision="fp32"):
    cfg = TrainConfig(quadrants=1, hidden=(64,), z_dim=8, precision=precision)
    pyro.set_rng_seed(0)
    return cfg, build_cvae(cfg, build_baseline(cfg))


def test_bf16_training_runs_in_bf16_and_close_to_fp32(small_mnist):
    """The same seed and batches: the bf16 losses differ (bf16 was used) by under 1%."""
    losses = {}
    for precision in ("fp32", "bf16"):
        cfg, cvae = _tiny(precision)
        pyro.clear_param_store()
        autocast = precision_context(precision, CPU)
        svi = CheckedSVI(cvae.model, cvae.guide, FusedAdam(cvae, cfg.lr), Trace_ELBO(), autocast)
        pairs = cvae.condition.pairs(small_mnist.train)
        shuffle = torch.Generator().manual_seed(0)
        losses[precision] = [
            sum(svi.step(x, y) for x, y in Batches(*pairs, 32, shuffle)) / len(pairs[1])
            for _ in range(2)
        ]
    for fp32, bf16 in zip(losses["fp32"], losses["bf16"], strict=True):
        assert bf16 != fp32
        assert bf16 == pytest.approx(fp32, rel=0.01)
    assert losses["bf16"][1] < losses["bf16"][0]  # and it learns


def test_bf16_estimates_are_close_to_fp32_and_fp32_is_the_default(small_mnist):
    _, cvae = _tiny()
    cvae.eval()
    x, y = cvae.condition.pairs(small_mnist.test.head(40))
    fp32 = evaluate_cvae(cvae, x, y, 20, seed=1)
    with precision_context("fp32", CPU):
        default = evaluate_cvae(cvae, x, y, 20, seed=1)
    assert all(torch.equal(a.per_image, b.per_image) for a, b in zip(fp32, default, strict=True))
    with precision_context("bf16", CPU):
        bf16 = evaluate_cvae(cvae, x, y, 20, seed=1)
    for a, b in zip(fp32, bf16, strict=True):
        assert a.estimator == b.estimator and a.mean != b.mean
        assert b.mean == pytest.approx(a.mean, rel=0.01)


def test_validation_is_off_in_the_training_steps_only(small_mnist):
    """The steps skip Pyro's checks; before and after them (and in tests) they are on."""
    cfg, cvae = _tiny()
    seen = []
    model = cvae.model

    def spy(*args, **kwargs):
        seen.append(pyro.poutine.util.is_validation_enabled())
        return model(*args, **kwargs)

    pyro.clear_param_store()
    svi = CheckedSVI(spy, cvae.guide, FusedAdam(cvae, cfg.lr), Trace_ELBO())
    assert pyro.poutine.util.is_validation_enabled()
    for x, y in Batches(*cvae.condition.pairs(small_mnist.train.head(64)), 32, torch.Generator()):
        svi.step(x, y)
    assert seen == [False, False]
    assert pyro.poutine.util.is_validation_enabled()
