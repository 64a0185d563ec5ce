"""The mask-conditioned CVAE: input layout, a likelihood over hidden pixels only, fresh masks
per training batch, fixed validation masks, and a smoke train + evaluate."""

from __future__ import annotations

import json

import pytest
import torch
from pyro import poutine

from cvae_pyro.beyond.any_mask import MaskCondition, fixed_masks, redraw_baseline_batch
from cvae_pyro.beyond.mask_family import MaskFamilyConfig
from cvae_pyro.cli.cll_table import reproduce
from cvae_pyro.cli.config import ReproduceConfig, TrainConfig
from cvae_pyro.cli.errors import ConfigError, TrainingInterrupted
from cvae_pyro.cli.experiment import run
from cvae_pyro.cli.model_files import evaluate_run_dir, load_trained
from cvae_pyro.data import Split, load_splits
from cvae_pyro.estimators import nn_nll
from cvae_pyro.evaluate import main as evaluate_main
from cvae_pyro.fit import Batches
from cvae_pyro.masks import MASK_INPUT_DIM, NUM_PIXELS, mask_task_input
from cvae_pyro.models import CVAE, MaskBaselineNN

B = 6  # images per test batch


def mask_cvae(seed: int = 0) -> CVAE:
    torch.manual_seed(seed)
    return CVAE(MaskCondition(MaskBaselineNN((16,))), z_dim=3, hidden=(16,)).eval()


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(B, NUM_PIXELS, generator=gen)  # (B, 784)
    return images, fixed_masks(B)  # (B, 784), (B, 784)


def test_mask_condition_shapes():
    cvae = mask_cvae()
    images, visible = batch()
    x = cvae.condition.prepare(images, visible)
    assert x.shape == (B, MASK_INPUT_DIM + NUM_PIXELS)
    assert torch.equal(x[:, :NUM_PIXELS], images * visible)
    assert torch.equal(x[:, NUM_PIXELS:MASK_INPUT_DIM], visible.float())
    h, h_prior = cvae.condition(x)
    assert h.shape == (B, MASK_INPUT_DIM) and h_prior.shape == (B, MASK_INPUT_DIM + NUM_PIXELS)
    assert torch.equal(cvae.condition.counted(x), ~visible)
    trace = poutine.trace(cvae.model).get_trace(x, images)
    assert trace.nodes["z"]["value"].shape == (B, 3)
    assert trace.nodes["y"]["value"].shape == (B, NUM_PIXELS)
    assert cvae.sample(x, 4).shape == (4, B, NUM_PIXELS)


def model_log_prob(cvae: CVAE, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log p(y|x,z) per image ``(B,)``, read from the model's y site with z fixed."""
    conditioned = poutine.condition(cvae.model, data={"z": z})
    trace = poutine.trace(conditioned).get_trace(x, y)
    site = trace.nodes["y"]
    return site["fn"].log_prob(site["value"])


def test_likelihood_counts_only_hidden_pixels():
    cvae = mask_cvae()
    images, visible = batch()
    x = cvae.condition.prepare(images, visible)
    z = torch.randn(B, 3)
    before = model_log_prob(cvae, x, images, z)
    first_visible = visible[0].nonzero()[0, 0]
    first_hidden = (~visible[0]).nonzero()[0, 0]
    changed_visible = images.clone()
    changed_visible[0, first_visible] = 1 - changed_visible[0, first_visible]
    changed_hidden = images.clone()
    changed_hidden[0, first_hidden] = 1 - changed_hidden[0, first_hidden]
    assert torch.equal(model_log_prob(cvae, x, changed_visible, z), before)
    after = model_log_prob(cvae, x, changed_hidden, z)
    assert after[0] != before[0] and torch.equal(after[1:], before[1:])
    # the evaluation's likelihood and the baseline's NLL count the same pixels
    assert torch.equal(cvae.likelihood(x, z).log_prob(changed_visible), before)
    baseline = cvae.condition.baseline
    given = mask_task_input(images, visible)
    nll = nn_nll(baseline, given, images).per_image
    assert torch.equal(nn_nll(baseline, given, changed_visible).per_image, nll)
    assert nn_nll(baseline, given, changed_hidden).per_image[0] != nll[0]


def test_hidden_pixel_count_matches_a_sum_over_hidden_pixels():
    cvae = mask_cvae()
    images, visible = batch()
    x = cvae.condition.prepare(images, visible)
    z = torch.randn(B, 3)
    logits = cvae.generation_net(x[:, :MASK_INPUT_DIM], z)  # (B, 784)
    per_pixel = torch.distributions.Bernoulli(logits=logits, validate_args=False).log_prob(images)
    expected = (per_pixel * (~visible)).sum(-1)  # (B,)
    assert torch.allclose(model_log_prob(cvae, x, images, z), expected, atol=1e-4)


def test_redraw_draws_fresh_masks_for_every_batch():
    cvae = mask_cvae()
    images, visible = batch()
    x = cvae.condition.prepare(images, visible)
    torch.manual_seed(5)
    x1, y1 = cvae.condition.redraw(x, images)
    x2, _ = cvae.condition.redraw(x, images)
    torch.manual_seed(5)
    x1_again, _ = cvae.condition.redraw(x, images)
    assert torch.equal(y1, images)
    assert not torch.equal(x1[:, NUM_PIXELS:MASK_INPUT_DIM], x2[:, NUM_PIXELS:MASK_INPUT_DIM])
    assert torch.equal(x1, x1_again)  # drawn from the global generator, restored on resume
    new_visible = x1[:, NUM_PIXELS:MASK_INPUT_DIM].bool()
    assert torch.equal(x1, cvae.condition.prepare(images, new_visible))
    given, y = redraw_baseline_batch(MaskFamilyConfig())(x[:, :MASK_INPUT_DIM], images)
    assert given.shape == (B, MASK_INPUT_DIM) and torch.equal(y, images)


def test_training_batches_call_the_hook_on_every_batch():
    images = torch.rand(10, NUM_PIXELS)
    calls = []

    def redraw(x, y):
        calls.append(len(y))
        return x + 1, y

    batches = Batches(images, images, 4, torch.Generator().manual_seed(0), redraw)
    assert all(torch.equal(x, y + 1) for x, y in batches)
    assert calls == [4, 4, 2]
    batches = Batches(images, images, 4, torch.Generator().manual_seed(0))
    assert all(torch.equal(x, y) for x, y in batches)


def test_validation_masks_are_fixed():
    cvae = mask_cvae()
    images, _ = batch()
    split = Split(images, torch.zeros(B, dtype=torch.long))
    torch.manual_seed(1)
    first = cvae.condition.pairs(split)
    torch.manual_seed(2)
    second = cvae.condition.pairs(split)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], images)


def test_mask_settings_are_checked():
    with pytest.raises(ConfigError, match="mask_weights needs 5"):
        TrainConfig(condition="mask", mask_weights=(1.0, 1.0))
    with pytest.raises(ConfigError, match="mask weights"):
        TrainConfig(condition="mask", mask_weights=(0.0,) * 5)
    assert TrainConfig(condition="mask").run_dir.name == "mask"
    assert "mask_weights" in TrainConfig(condition="mask").architecture()
    assert "mask_weights" not in TrainConfig(quadrants=1).architecture()


def test_smoke_train_and_evaluate(tmp_path, data_dir, capsys):
    cfg = TrainConfig(
        condition="mask",
        limit=300,
        epochs=1,
        hidden=(64,),
        z_dim=8,
        data_dir=str(data_dir),
        out_dir=str(tmp_path),
        quiet=True,
    )
    metrics = run(cfg)
    run_dir = tmp_path / "mask"
    files = {p.name for p in run_dir.iterdir()}
    assert {"baseline.pt", "cvae.pt", "cvae_last.pt", "metrics.json", "samples.png"} <= files
    assert metrics["cvae"]["epochs_run"] == 1
    trained = load_trained(run_dir / "cvae.pt")
    assert (
        trained.architecture["condition"] == "mask" and trained.architecture["dataset"] == "mnist"
    )
    data = load_splits(str(data_dir), 100, torch.device("cpu"))
    rows = evaluate_run_dir(run_dir, data, "test", 4, 0, {"condition": "mask"}, quadrants=1)
    found = {(r["model"], r["estimator"]) for r in rows}
    assert found == {("mask_baseline", "NN"), ("mask", "MC"), ("mask", "IS"), ("mask", "-ELBO")}
    assert all(torch.isfinite(torch.tensor(r["nll_mean"])) for r in rows)
    args = ["--condition", "mask", "--out-dir", str(tmp_path), "--data-dir", str(data_dir)]
    assert evaluate_main([*args, "--limit", "50", "--samples", "3", "--quadrants", "2"]) == 0
    assert "2-quadrant layout" in capsys.readouterr().out
    saved = json.loads((run_dir / "evaluation_test_q2.json").read_text())
    assert {r["model"] for r in saved["rows"]} == {"mask_baseline", "mask"}


def test_reproduce_adds_the_mask_rows(tmp_path, data_dir):
    cfg = ReproduceConfig(
        quadrants=(1, 3),
        mask_only=True,
        epochs=1,
        samples=2,
        limit=100,
        data_dir=str(data_dir),
        runs_dir=str(tmp_path / "runs"),
        results_dir=str(tmp_path / "results"),
        quiet=True,
    )
    table = reproduce(cfg, "test")
    assert set(zip(table.model, table.quadrants, strict=True)) == {
        (model, q) for model in ("mask_baseline", "mask") for q in (1, 3)
    }
    text = (tmp_path / "results" / "cll_table.md").read_text()
    assert "\n| mask CVAE (IS, any mask) " in text and "one model" in text
    assert (tmp_path / "runs" / "seed0" / "mask" / "cvae.pt").exists()


def test_interrupted_mask_run_resumes_to_the_same_losses(tmp_path, data_dir, monkeypatch):
    """Fresh masks come from the generator the checkpoints save: resuming changes nothing."""

    def config(out: str, resume: bool = False) -> TrainConfig:
        return TrainConfig(
            condition="mask",
            limit=300,
            epochs=2,
            hidden=(32,),
            z_dim=4,
            seed=7,
            data_dir=str(data_dir),
            out_dir=str(tmp_path / out),
            quiet=True,
            figures=False,
            resume=resume,
        )

    whole = run(config("whole"))
    redraw, calls = MaskCondition.redraw, []

    def interrupting(self, x, y):
        calls.append(1)
        if len(calls) == 5:  # the CVAE's second epoch
            raise KeyboardInterrupt
        return redraw(self, x, y)

    monkeypatch.setattr(MaskCondition, "redraw", interrupting)
    with pytest.raises(TrainingInterrupted, match="interrupted during epoch 2"):
        run(config("killed"))
    monkeypatch.setattr(MaskCondition, "redraw", redraw)
    resumed = run(config("killed", resume=True))
    for name in ("baseline", "cvae"):
        assert resumed[name]["history"][1]["val_loss"] == whole[name]["history"][1]["val_loss"]
        assert resumed[name]["history"][1]["train_loss"] == whole[name]["history"][1]["train_loss"]
