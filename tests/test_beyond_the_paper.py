"""Training the cvae objective beyond the paper: --elbo meanfield|iwae, --particles, --kl-warmup."""

from __future__ import annotations

import json
import math
import re
import shlex

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO, TraceMeanField_ELBO

from cvae_pyro.cli.cll_table import estimator_title
from cvae_pyro.cli.config import ReproduceConfig, TrainConfig, model_name
from cvae_pyro.cli.errors import ConfigError
from cvae_pyro.cli.model_files import evaluate_run_dir
from cvae_pyro.data import load_splits
from cvae_pyro.evaluate import main as evaluate_main
from cvae_pyro.fit import EarlyStopping, TrainState
from cvae_pyro.objectives import KLWarmup, svi_loss
from cvae_pyro.train import main as train_main
from experiments import tuning

from .helpers import SMALL

NAMES = {
    ("cvae", "trace", 5, 0): "cvae",
    ("gsnn", "trace", 5, 0): "gsnn",
    ("cvae", "meanfield", 5, 0): "cvae-meanfield",
    ("cvae", "iwae", 5, 0): "cvae-iwae5",
    ("cvae", "iwae", 12, 3): "cvae-iwae12-warmup3",
    ("cvae", "trace", 5, 10): "cvae-warmup10",
}


@pytest.mark.parametrize(("settings", "name"), NAMES.items())
def test_a_models_name_says_how_it_was_trained_and_reads_back(settings, name):
    assert model_name(*settings) == name
    keys = ("objective", "elbo", "particles", "kl_warmup")
    assert tuning.model_settings(name) == dict(zip(keys, settings, strict=True))
    objective, elbo, particles, warmup = settings
    cfg = TrainConfig(
        quadrants=1, objective=objective, elbo=elbo, particles=particles, kl_warmup=warmup
    )
    assert cfg.model_name == name


def test_the_table_describes_each_training():
    assert estimator_title("cvae-iwae5-warmup5") == "IWAE bound, K = 5, KL warm-up 5 epochs"
    assert estimator_title("cvae-meanfield") == "TraceMeanField_ELBO"


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"objective": "gsnn", "elbo": "iwae"}, "cvae objective only"),
        ({"objective": "hybrid", "kl_warmup": 2}, "cvae objective only"),
        ({"particles": 3}, "add --elbo iwae"),
        ({"elbo": "iwae", "particles": 0}, "particles"),
        ({"elbo": "iwae", "particles": 1001}, r"\[1, 1000\]"),
        ({"kl_warmup": -1}, "kl-warmup"),
        ({"elbo": "renyi"}, "elbo must be one of"),
    ],
)
def test_settings_that_do_not_fit_are_refused(settings, named):
    with pytest.raises(ConfigError, match=named):
        TrainConfig(quadrants=1, **settings)


def test_reproduce_takes_them_for_the_cvae_objective_only():
    assert ReproduceConfig(objectives=("cvae",), elbo="iwae").elbo == "iwae"
    with pytest.raises(ConfigError, match="cvae objective only"):
        ReproduceConfig(elbo="iwae")  # every objective by default
    with pytest.raises(ConfigError, match="--mask-only"):
        ReproduceConfig(mask_only=True, kl_warmup=2)


def test_svi_loss_of_each_choice():
    assert type(svi_loss("trace")) is Trace_ELBO
    assert type(svi_loss("meanfield")) is TraceMeanField_ELBO
    with pytest.raises(ValueError):
        svi_loss("renyi")


def gaussian_pair():
    """z ~ N(0, 1), y ~ N(z, 1); guide q(z|y) = N(y / 2, 1 / 2)."""

    def model(y):
        with pyro.plate("data", y.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros_like(y), 1.0).to_event(1))
            pyro.sample("y", dist.Normal(z, 1.0).to_event(1), obs=y)

    def guide(y):
        with pyro.plate("data", y.shape[0]):
            pyro.sample("z", dist.Normal(y / 2, math.sqrt(0.5)).to_event(1))

    return model, guide


def test_kl_warmup_weighs_the_latent_site_alike_in_guide_and_model_and_rises_to_one():
    warmup = KLWarmup(epochs=2, steps_per_epoch=3)
    model, guide = warmup.wrap(gaussian_pair())
    y = torch.randn(4, 1)
    seen = []
    for _ in range(8):  # one SVI step: the guide, then the model replayed on its trace
        guide_trace = poutine.trace(guide).get_trace(y)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(y)
        scales = guide_trace.nodes["z"]["scale"], model_trace.nodes["z"]["scale"]
        assert scales[0] == scales[1]
        assert model_trace.nodes["y"]["scale"] == 1.0  # the likelihood is never weighed
        seen.append(scales[0])
    assert seen == pytest.approx([1 / 6, 2 / 6, 3 / 6, 4 / 6, 5 / 6, 1.0, 1.0, 1.0])
    warmup.start_epoch(2)  # a resumed run starts the second epoch where it left off
    poutine.trace(guide).get_trace(y)
    assert warmup.beta == pytest.approx(4 / 6)


def test_the_loss_under_warmup_is_the_likelihood_term_plus_beta_times_the_kl_term():
    y = torch.randn(16, 1)
    plain = gaussian_pair()
    warmup = KLWarmup(epochs=1, steps_per_epoch=4)  # beta 1/4 at the first step
    scaled = warmup.wrap(plain)
    pyro.set_rng_seed(3)
    guide_trace = poutine.trace(plain[1]).get_trace(y)
    model_trace = poutine.trace(poutine.replay(plain[0], trace=guide_trace)).get_trace(y)
    likelihood = model_trace.nodes["y"]["fn"].log_prob(y).sum()
    z = guide_trace.nodes["z"]["value"]
    kl_term = (
        guide_trace.nodes["z"]["fn"].log_prob(z).sum()
        - model_trace.nodes["z"]["fn"].log_prob(z).sum()
    )
    pyro.set_rng_seed(3)
    loss = Trace_ELBO().loss(*scaled, y)
    assert loss == pytest.approx((-likelihood + 0.25 * kl_term).item(), rel=1e-5)


def test_warmup_epochs_never_count_against_the_patience():
    rule = EarlyStopping(
        epochs=10, patience=1, lr_patience=1, lr_decay=0.3, min_improvement=1e-3, warmup_epochs=3
    )
    state = TrainState(lr=1.0)
    for epoch, loss in enumerate([100.0, 120.0, 130.0, 140.0], start=1):
        state.epoch = epoch
        rule.update(state, loss)
        stop = rule.stop_reason(state)
        assert (stop is None) == (epoch <= 3), epoch
    assert state.lr == pytest.approx(0.3)  # one drop (lr_decay 0.3), after the warm-up
    assert state.best_epoch == 1


def test_each_training_gets_its_own_files_rows_and_numbers(tmp_path, data_dir, capsys):
    out = tmp_path / "runs"
    base = ["--quadrants", "1", "--data-dir", data_dir, "--out-dir", out, "--limit", "200"]
    base += ["--epochs", "2", "--quiet", "--no-figures", *SMALL]
    variants = {
        "cvae": [],
        "cvae-meanfield": ["--elbo", "meanfield"],
        "cvae-iwae3-warmup1": ["--elbo", "iwae", "--particles", "3", "--kl-warmup", "1"],
    }
    for args in variants.values():
        assert train_main([str(a) for a in base + args]) == 0
    run_dir = out / "q1"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(variants) <= set(metrics)
    ckpts = {name: torch.load(run_dir / f"{name}.pt", weights_only=False) for name in variants}
    assert ckpts["cvae-iwae3-warmup1"]["architecture"]["particles"] == 3
    weights = {
        n: torch.cat([w.flatten() for w in c["state_dict"].values()]) for n, c in ckpts.items()
    }
    assert not torch.equal(weights["cvae"], weights["cvae-meanfield"])
    assert not torch.equal(weights["cvae"], weights["cvae-iwae3-warmup1"])
    # the same initial weights: the first epoch's validation loss is close, not equal
    first = {n: metrics[n]["history"][0]["val_loss"] for n in variants}
    assert abs(first["cvae"] - first["cvae-meanfield"]) < 5.0
    data = load_splits(data_dir, 200, torch.device("cpu"))
    rows = evaluate_run_dir(run_dir, data, "validation", 5)
    assert {r["model"] for r in rows} == {"baseline", *variants}
    only = evaluate_run_dir(run_dir, data, "validation", 5, names=["baseline", "cvae-meanfield"])
    assert {r["model"] for r in only} == {"baseline", "cvae-meanfield"}
    capsys.readouterr()
    args = ["--quadrants", "1", "--out-dir", out, "--data-dir", data_dir, "--limit", "200"]
    assert evaluate_main([str(a) for a in [*args, "--samples", "5"]]) == 0
    assert re.search(r"\n *cvae-iwae3-warmup1 +IS +\d+\.\d{3} ", capsys.readouterr().out)


def test_the_choice_is_the_candidate_with_the_lowest_validation_is(data_dir, tmp_path):
    results = tmp_path / "results"
    args = ["--data-dir", str(data_dir), "--limit", "200", "--epochs", "1", "--samples", "3"]
    args += ["--runs-dir", str(tmp_path / "runs"), "--results-dir", str(results), "--quiet"]
    tuning.main(args)
    report = json.loads((results / "validation.json").read_text())
    models = {m["model"]: m["validation"]["IS"][0] for m in report["models"]}
    first = min(("cvae-meanfield", "cvae-iwae5"), key=models.get)
    assert list(models) == ["cvae", "cvae-meanfield", "cvae-iwae5", f"{first}-warmup5"]
    chosen = min(list(models)[1:], key=models.get)  # the paper's cvae is not a candidate
    assert report["chosen"] == chosen and report["images"] == 200
    assert report["chosen_minus_reference_IS"] == pytest.approx(models[chosen] - models["cvae"])
    assert "--results-dir results/tuned" in report["reproduce"]
    assert report["command"] == shlex.join(["python", "-m", "experiments.tuning", *args])
    text = (results / "validation.md").read_text()
    assert re.search(rf"\| {re.escape(estimator_title(chosen))} \(chosen\) +\|", text), text
    assert re.search(r"\| Trace_ELBO \(the paper's\) +\|", text), text
    # every model is where reproduce looks for it (its --runs-dir), so the chosen one is reused
    q1 = tmp_path / "runs" / "seed0" / "q1"
    assert {f"{m}.pt" for m in models} | {"baseline.pt"} <= {p.name for p in q1.iterdir()}
