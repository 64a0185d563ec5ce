"""``--device cuda``: every tensor of training, evaluation and sampling on the GPU.

Runs where a CUDA GPU is present and is skipped elsewhere (the project's CI machine has
none); ``device="cpu"`` is covered by every other test.
"""

import pytest
import torch

from cvae_pyro.beyond.label import sample_digits
from cvae_pyro.cli.config import TrainConfig
from cvae_pyro.cli.experiment import run
from cvae_pyro.cli.model_files import evaluate_run_dir, load_trained
from cvae_pyro.data import load_splits

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def small(tmp_path, data_dir, **kwargs) -> TrainConfig:
    return TrainConfig(
        epochs=1, limit=256, hidden=(32,), z_dim=4, device="cuda", data_dir=str(data_dir),
        out_dir=str(tmp_path), quiet=True, **kwargs,
    )  # fmt: skip


def test_quadrant_training_and_evaluation_on_cuda(tmp_path, data_dir):
    cfg = small(tmp_path, data_dir, quadrants=2, objective="hybrid")
    metrics = run(cfg)
    assert metrics["hybrid"]["epochs_run"] == 1
    trained = load_trained(cfg.run_dir / "hybrid.pt", "cuda")
    assert all(p.is_cuda for p in trained.module.parameters())
    data = load_splits(cfg.data_dir, cfg.limit, torch.device("cuda"))
    rows = evaluate_run_dir(cfg.run_dir, data, "test", 4, expect={"quadrants": 2})
    assert {r["estimator"] for r in rows} == {"NN", "MC", "IS", "-ELBO"}


def test_label_sampling_on_cuda(tmp_path, data_dir):
    cfg = small(tmp_path, data_dir, condition="label")
    run(cfg)
    cvae = load_trained(cfg.run_dir / "cvae.pt", "cuda").module
    samples = sample_digits(cvae, [2, 7], 3)
    assert samples.is_cuda and samples.shape == (2, 3, 784)
