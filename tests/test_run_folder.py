"""A run folder read and written once per command: checkpoints, metrics, the precision probe."""

from __future__ import annotations

import json
from collections import Counter

import pyro
import pyro.distributions as dist
import pytest
import torch

from cvae_pyro.cli import checkpoints
from cvae_pyro.fit import elbo_loss
from cvae_pyro.objectives import iwae_bound
from cvae_pyro.train import main as train_main

from .helpers import SMALL


def tiny_train(out, data_dir, *extra) -> int:
    args = ["--quadrants", "2", "--data-dir", data_dir, "--out-dir", out, "--limit", "200"]
    args += ["--epochs", "3", "--quiet", "--no-figures", *SMALL, *extra]
    return train_main([str(a) for a in args])


def test_a_rerun_on_finished_models_reads_each_checkpoint_once(tmp_path, data_dir, monkeypatch):
    out = tmp_path / "runs"
    assert tiny_train(out, data_dir) == 0
    reads = Counter()
    real = checkpoints._read_payload

    def counted(path):
        reads[path.name] += 1
        return real(path)

    monkeypatch.setattr(checkpoints, "_read_payload", counted)
    before = {p.name: p.read_bytes() for p in (out / "q2").glob("*.pt")}
    assert tiny_train(out, data_dir) == 0  # kept: nothing is trained again
    assert {p.name: p.read_bytes() for p in (out / "q2").glob("*.pt")} == before
    assert reads and max(reads.values()) == 1, reads
    assert set(reads) <= set(before)


def test_metrics_record_the_validation_loss_early_stopping_chose_by(tmp_path, data_dir):
    out = tmp_path / "runs"
    assert tiny_train(out, data_dir, "--elbo", "iwae", "--particles", "3") == 0
    assert tiny_train(out, data_dir) == 0  # the same folder: the paper's cvae beside it
    metrics = json.loads((out / "q2" / "metrics.json").read_text())
    for name, key in (
        ("cvae", "val_negative_elbo_nats_per_image"),
        ("cvae-iwae3", "val_negative_iwae_bound_nats_per_image"),
        ("baseline", "val_nll_nats_per_image"),
    ):
        history = metrics[name]["history"]
        best = history[metrics[name]["best_epoch"] - 1]["val_loss"]
        assert metrics[name][key] == best == min(r["val_loss"] for r in history), name
    assert "val_negative_elbo_nats_per_image" not in metrics["cvae-iwae3"]


@pytest.mark.parametrize("particles", [1, 5])
def test_validation_with_particles_is_minus_the_iwae_bound(particles):
    def model(x, y):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros_like(x), 1.0).to_event(1))
            pyro.sample("y", dist.Normal(z, 1.0).to_event(1), obs=y)

    def guide(x, y):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(y / 2, 0.8).to_event(1))

    x, y = torch.zeros(64, 1), torch.randn(64, 1)
    found = elbo_loss(model, guide, (x, y), 16, seed=4, particles=particles)
    with torch.random.fork_rng():
        torch.manual_seed(4)
        bounds = torch.cat(
            [
                iwae_bound(model, guide, particles, x[i : i + 16], y[i : i + 16])
                for i in range(0, 64, 16)
            ]
        )
    assert found == pytest.approx(-bounds.mean().item(), rel=1e-6)
    if particles == 1:  # one particle: the ELBO itself, the same noise
        assert found == pytest.approx(elbo_loss(model, guide, (x, y), 16, seed=4), rel=1e-6)
