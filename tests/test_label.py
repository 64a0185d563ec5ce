"""The label condition: traces, sampling, the classifier check, the sample CLI and figures."""

from __future__ import annotations

import json
from pathlib import Path

import pyro
import pytest
import torch
from pyro import poutine

from cvae_pyro.beyond.classifier import (
    ClassifierConfig,
    accuracy,
    digit_accuracy,
    train_classifier,
)
from cvae_pyro.beyond.label import LabelCondition, prior_latents, sample_digits
from cvae_pyro.cli.config import TrainConfig
from cvae_pyro.cli.errors import CheckpointError
from cvae_pyro.cli.experiment import run
from cvae_pyro.cli.model_files import load_trained
from cvae_pyro.conditions import QuadrantCondition
from cvae_pyro.data import load_dataset
from cvae_pyro.models import CVAE, BaselineNN
from cvae_pyro.objectives import objective_pair
from cvae_pyro.sample import main as sample_main
from cvae_pyro.train import main as train_main
from experiments import label_quality
from experiments.label_quality import load_classifier, save_classifier

B, Z = 5, 4  # batch and latent size of the untrained models
SHORT = {"limit": 2000, "epochs": 3, "batch_size": 32, "lr": 3e-3, "z_dim": 8}  # ~3 s of training
SHORT_HIDDEN = (256, 256)


@pytest.fixture(autouse=True)
def _validation():
    with pyro.validation_enabled(True):
        yield


@pytest.fixture(scope="module")
def label_data_dir(data_dir) -> Path:
    return data_dir


@pytest.fixture(scope="module")
def data(label_data_dir):
    return load_dataset("mnist", label_data_dir)


@pytest.fixture(scope="module")
def trained(data, label_data_dir, tmp_path_factory):
    """A label CVAE and a classifier, each trained briefly on the first 2000 training images."""
    out = tmp_path_factory.mktemp("label")
    cfg = TrainConfig(
        condition="label",
        hidden=SHORT_HIDDEN,
        data_dir=str(label_data_dir),
        out_dir=str(out),
        quiet=True,
        **SHORT,
    )
    run(cfg)
    classifier = train_classifier(data.train.head(2000), ClassifierConfig(epochs=3))
    return cfg, load_trained(cfg.run_dir / "cvae.pt").module, classifier


def small_cvae(prior: str = "conditional") -> CVAE:
    torch.manual_seed(0)
    return CVAE(LabelCondition(), z_dim=Z, hidden=(16,), prior=prior)


def one_line(text: str) -> bool:
    return len(text.strip().splitlines()) == 1


def test_label_condition_is_one_hot():
    labels = torch.tensor([0, 3, 9])
    h, h_prior = LabelCondition()(labels)
    assert h.shape == h_prior.shape == (3, 10)
    assert torch.equal(h.argmax(-1), labels) and torch.equal(h.sum(-1), torch.ones(3))


@pytest.mark.parametrize("prior", ["conditional", "standard"])
@pytest.mark.parametrize("objective", ["cvae", "hybrid"])
def test_model_and_guide_site_shapes(prior, objective):
    cvae = small_cvae(prior=prior)
    model_fn, guide_fn = objective_pair(cvae, objective)
    c, y = torch.randint(0, 10, (B,)), torch.rand(B, 784)
    prefixes = ["cvae/", "gsnn/"] if objective == "hybrid" else [""]
    model = poutine.trace(model_fn).get_trace(c, y)
    guide = poutine.trace(guide_fn).get_trace(c, y)
    model.compute_log_prob()
    for s in prefixes:
        z, y_site = model.nodes[f"{s}z"], model.nodes[f"{s}y"]
        assert z["value"].shape == (B, Z) and z["fn"].event_shape == (Z,)
        assert z["fn"].batch_shape == (B,) and z["log_prob"].shape == (B,)
        assert y_site["is_observed"] and y_site["value"].shape == (B, 784)
        assert y_site["fn"].batch_shape == (B,) and y_site["fn"].event_shape == (784,)
        assert guide.nodes[f"{s}z"]["value"].shape == (B, Z)
    assert torch.isfinite(model.log_prob_sum())


def test_sample_digits_shape_range_and_shared_noise():
    cvae = small_cvae()
    two = sample_digits(cvae, [2], 16, seed=0)
    assert two.shape == (1, 16, 784) and two.min() >= 0 and two.max() <= 1
    grid = sample_digits(cvae, range(10), 3, seed=0)
    assert grid.shape == (10, 3, 784)
    alone = sample_digits(cvae, [2], 3, seed=0)[0]  # same eps, whatever else is drawn
    assert torch.allclose(grid[2], alone, atol=1e-6)
    assert not torch.equal(sample_digits(cvae, [2], 16, seed=1), two)
    standard = small_cvae(prior="standard")
    z = prior_latents(standard, torch.arange(10), torch.randn(7, Z))  # (7, 10, Z)
    assert torch.equal(z, z[:, :1].expand(-1, 10, -1))  # N(0, I): one z per column


def test_sample_digits_rejects_bad_requests():
    with pytest.raises(ValueError, match="digits must lie in 0..9"):
        sample_digits(small_cvae(), [10], 4)
    quadrant = CVAE(QuadrantCondition(1, BaselineNN(196, 588, (8,))), z_dim=Z, hidden=(8,))
    with pytest.raises(ValueError, match="not a label CVAE"):
        sample_digits(quadrant, [2], 4)


def test_classifier_reads_the_requested_digit(trained, data):
    _, cvae, classifier = trained
    assert accuracy(classifier, data.test.head(1000)) > 0.8
    result = digit_accuracy(classifier, cvae, n_per_digit=50, seed=0)
    assert set(result["per_digit"]) == {str(d) for d in range(10)}
    assert result["overall"] > 0.5  # chance is 0.1; about 0.97 is typical here


def test_classifier_checkpoint_round_trip(trained, data, tmp_path):
    cfg, _, classifier = trained
    path = tmp_path / "classifier.pt"
    save_classifier(classifier, path, ClassifierConfig(), test_accuracy=0.9)
    loaded, info = load_classifier(path)
    images = data.test.images[:100]
    assert torch.equal(loaded.predict(images), classifier.predict(images))
    assert info["test_accuracy"] == 0.9 and info["config"]["hidden"] == [512]
    with pytest.raises(CheckpointError):
        load_classifier(cfg.run_dir / "cvae.pt")
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError):
        load_classifier(path)


def test_training_writes_label_figures(trained):
    cfg, _, _ = trained
    assert (cfg.run_dir / "digits.png").stat().st_size > 5_000
    assert (cfg.run_dir / "reconstructions.png").stat().st_size > 5_000
    assert not (cfg.run_dir / "latent_scatter.png").exists()  # z_dim 8: no latent plots


@pytest.mark.parametrize(
    ("extra", "figures"),
    [
        (["--z-dim", "2"], {"digits", "reconstructions", "latent_scatter", "latent_grid"}),
        (["--prior", "standard"], {"digits", "reconstructions"}),
    ],
)
def test_train_cli_label_variants(extra, figures, label_data_dir, tmp_path):
    args = ["--condition", "label", "--limit", "300", "--epochs", "1", "--hidden", "32"]
    args += ["--quiet", "--data-dir", str(label_data_dir), "--out-dir", str(tmp_path), *extra]
    assert train_main(args) == 0
    run_dir = tmp_path / "label"
    assert {p.stem for p in run_dir.glob("*.png")} == figures
    config = json.loads((run_dir / "metrics.json").read_text())["cvae"]["config"]
    assert config["condition"] == "label"
    assert load_trained(run_dir / "cvae.pt").module.z_dim == config["z_dim"]


@pytest.mark.parametrize(("digit", "n"), [("2", 16), ("all", 3)])
def test_sample_cli_writes_png(digit, n, trained, tmp_path, capsys):
    cfg, _, _ = trained
    out = tmp_path / "out.png"
    args = ["--digit", digit, "--n", str(n), "--out", str(out), "--out-dir", cfg.out_dir]
    assert sample_main(args) == 0
    assert out.stat().st_size > 2_000 and "saved" in capsys.readouterr().out


@pytest.mark.parametrize("digit", ["10", "-1", "x"])
def test_sample_cli_bad_digit(digit, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sample_main(["--digit", digit, "--out-dir", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert one_line(err) and "--digit: invalid choice" in err


def test_sample_cli_bad_checkpoint(tmp_path, capsys, monkeypatch):
    args = ["--digit", "3", "--out", str(tmp_path / "x.png"), "--out-dir", str(tmp_path)]
    monkeypatch.setattr(
        "cvae_pyro.cli.model_files.PRETRAINED_DIR", tmp_path / "none"
    )  # none shipped
    monkeypatch.setattr("cvae_pyro.cli.model_files.PRETRAINED_MANIFEST", tmp_path / "none.json")
    with pytest.raises(SystemExit) as exit_info:
        sample_main(args)  # nothing trained, nothing shipped: the error names the command
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "no label model in" in err
    assert "python -m cvae_pyro.train --condition label" in err
    (tmp_path / "label").mkdir()
    (tmp_path / "label" / "cvae.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SystemExit) as exit_info:
        sample_main(args)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and one_line(err) and "truncated" in err


def test_label_quality_writes_its_results_and_its_command(label_data_dir, tmp_path, capsys):
    results = tmp_path / "results"
    args = ["--limit", "300", "--epochs", "1", "--z2-epochs", "1", "--classifier-epochs", "1"]
    args += ["--n-per-digit", "5", "--samples", "2", "--out-dir", str(tmp_path / "runs")]
    args += ["--results-dir", str(results), "--data-dir", str(label_data_dir), "--quiet"]
    assert label_quality.main(args) == 0
    names = {"label_quality.json", "label_quality.md", "digits.png", "reconstructions.png"}
    assert names | {"latent_scatter.png", "latent_grid.png"} <= {p.name for p in results.iterdir()}
    report = json.loads((results / "label_quality.json").read_text())
    assert report["test_estimates"]["is_nll"]["samples"] == 2
    assert "reproduce with: python -m experiments.label_quality" in capsys.readouterr().out
