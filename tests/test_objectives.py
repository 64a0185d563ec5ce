"""The objectives' ends and names (their weighted sum: tests/test_models.py)."""

import pyro
import pytest
import torch
from pyro.infer import Trace_ELBO

from cvae_pyro.conditions import QuadrantCondition
from cvae_pyro.models import CVAE, BaselineNN
from cvae_pyro.objectives import objective_pair


def tiny_cvae() -> CVAE:
    pyro.set_rng_seed(0)
    baseline = BaselineNN(196, 588, (8,))
    return CVAE(QuadrantCondition(1, baseline), 3, (8,))


def loss(pair, x, y, seed=1):
    pyro.set_rng_seed(seed)
    return Trace_ELBO().loss(*pair, x, y)


@pytest.mark.parametrize(("alpha", "end"), [(1.0, "cvae"), (0.0, "gsnn")])
def test_the_hybrid_at_its_ends_is_the_cvae_or_the_gsnn(alpha, end):
    cvae = tiny_cvae()
    x, y = cvae.condition.pairs(type("S", (), {"images": torch.rand(6, 784)})())
    found = loss(objective_pair(cvae, "hybrid", alpha), x, y)
    assert found == pytest.approx(loss(objective_pair(cvae, end), x, y), rel=1e-6)
