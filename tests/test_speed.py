"""The speed benchmark: its throughput and FLOP arithmetic on a small subset."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "speed.py"


pytestmark = pytest.mark.slow  # runs the benchmark: seconds per test


@pytest.fixture(scope="module")
def speed():
    spec = importlib.util.spec_from_file_location("speed", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def step():
    """benchmarks/step.py, a script that imports speed.py from beside it."""
    sys.path.insert(0, str(BENCHMARK.parent))
    try:
        spec = importlib.util.spec_from_file_location("step", BENCHMARK.parent / "step.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARK.parent))
    return module


def test_linear_macs_counts_every_linear_layer(speed):
    from torch import nn

    net = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 3))
    assert speed.linear_macs(net) == 10 * 20 + 20 * 3


def test_rates_of_known_numbers(speed):
    """1,000 images in 2 s at 1 GFLOP each: 500 images/s, 500 GFLOP/s, twice a 250 peak."""
    found = speed.rates(1000, 2.0, 10**9, 250.0)
    assert found == {
        "seconds": 2.0,
        "images": 1000,
        "images_per_second": 500.0,
        "gflops": 500.0,
        "fraction_of_peak": 2.0,
    }


def test_speed_benchmark_reports_consistent_figures(speed, data_dir, tmp_path, capsys):
    out = tmp_path / "speed.json"
    args = ["--data-dir", str(data_dir), "--limit", "512", "--samples", "3", "--out", str(out)]
    args += ["--repeats", "2"]
    result = speed.main(args)
    assert json.loads(out.read_text()) == result
    assert result["matmul_peak_gflops"] > 0
    for name in ("baseline", "cvae", "mc_eval", "is_eval", "elbo_eval"):
        r = result[name]
        assert r["images"] == 512
        assert r["fraction_of_peak"] > 0
    for name in ("mc_eval", "is_eval", "elbo_eval"):
        assert result[name]["samples"] == 3
        # every repeat times the same model with the same noise: the same estimate
        assert len({r["nll_untrained_model"] for r in result[name]["repeats"]}) == 1
        # an untrained model: a positive negative log-likelihood, below a few nats per pixel
        assert 0 < result[name]["nll_untrained_model"] < 588 * 2
    # with the same draws, IS (log-mean-exp) is below the bound (mean); MC has no recognition net
    assert result["is_eval"]["nll_untrained_model"] <= result["elbo_eval"]["nll_untrained_model"]
    assert result["mc_eval"]["gflops"] / result["mc_eval"]["images_per_second"] < (
        result["is_eval"]["gflops"] / result["is_eval"]["images_per_second"]
    )
    assert "% of peak" in capsys.readouterr().out


def test_step_benchmark_records_every_matrix_product_of_a_step(speed, step, data_dir, tmp_path):
    """benchmarks/step.py: the products it replays are the step's, FLOP for FLOP."""
    out = tmp_path / "step.json"
    result = step.main(
        ["--rounds", "1", "--steps", "12", "--data-dir", str(data_dir), "--out", str(out)]
    )
    assert json.loads(out.read_text()) == result
    # forward: 3 layers per network, the generation net's first one split in two (h and z);
    # backward: the weight gradient of each of the 10, the input gradient of all but the
    # 3 that read data only: the recognition and prior nets' first layers and the
    # generation net's h part (its z part passes the gradient on to the recognition net)
    assert result["matmuls_per_step"] == 10 + 10 + 7
    from cvae_pyro.cli.config import TrainConfig
    from cvae_pyro.cli.model_files import build_baseline, build_cvae

    cfg = TrainConfig(quadrants=1)
    cvae = build_cvae(cfg, build_baseline(cfg))
    h_part = cvae.condition.h_dim * cvae.generation_net.net[0].out_features
    first_layers = h_part + sum(
        n.net[0].in_features * n.net[0].out_features for n in (cvae.recognition_net, cvae.prior_net)
    )
    trained = sum(
        speed.linear_macs(n) for n in (cvae.recognition_net, cvae.prior_net, cvae.generation_net)
    )
    expected = 2 * cfg.batch_size * (3 * trained - first_layers)
    assert result["matmul_gflop_per_step"] * 1e9 == pytest.approx(expected, rel=1e-9)


def test_the_plain_pytorch_step_computes_trace_elbos_loss(step, data_dir):
    """step.py's Pyro-free step is the same loss as Trace_ELBO, draw for draw."""
    import pyro
    from pyro.infer import Trace_ELBO

    from cvae_pyro.cli.config import TrainConfig
    from cvae_pyro.cli.model_files import build_baseline, build_cvae
    from cvae_pyro.data import load_dataset

    cfg = TrainConfig(quadrants=2, hidden=(32,), z_dim=4)
    cvae = build_cvae(cfg, build_baseline(cfg))
    x, y = cvae.condition.pairs(load_dataset("mnist", data_dir).train.head(64))
    pyro.set_rng_seed(5)
    expected = Trace_ELBO().loss(cvae.model, cvae.guide, x, y)
    pyro.set_rng_seed(5)
    found = step.plain_step(cvae, None, x, y)
    assert found == pytest.approx(expected, rel=1e-6)
    assert all(p.grad is None for p in cvae.parameters())  # no optimizer: gradients cleared
    pyro.set_rng_seed(6)
    assert step.plain_step(cvae, None, x, y) != pytest.approx(expected, rel=1e-6)
