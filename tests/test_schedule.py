"""The early-stopping rule and learning-rate schedule, driven directly; the fused Adam."""

import json
from dataclasses import replace

import pyro
import pyro.optim
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO

from cvae_pyro.cli.config import TrainConfig
from cvae_pyro.fit import Batches, EarlyStopping, FusedAdam, TrainState, fit
from cvae_pyro.train import main

RULE = EarlyStopping(epochs=50, patience=3, lr_patience=2, lr_decay=0.5, min_improvement=0.01)


def run(rule, losses, lr=1.0):
    """Feed ``losses`` epoch by epoch; the improved flags and the final state."""
    state, flags = TrainState(lr=lr), []
    for epoch, loss in enumerate(losses, start=1):
        state.epoch = epoch
        flags.append(rule.update(state, loss))
    return flags, state


def test_first_epoch_improves():
    flags, state = run(RULE, [100.0])
    assert flags == [True]
    assert (state.bad_epochs, state.best_epoch, state.best_val_loss) == (0, 1, 100.0)


def test_min_improvement_is_relative_to_the_best():
    # 100 -> 99.5 is a 0.5% gain (< 1%): a new best, but no improvement; 99.5 -> 98 is 1.5%.
    flags, state = run(RULE, [100.0, 99.5, 98.0])
    assert flags == [True, False, True]
    assert state.best_epoch == 3 and state.bad_epochs == 0


def test_patience_counts_epochs_in_a_row_without_improvement():
    flags, state = run(RULE, [100.0, 101.0, 102.0])
    assert flags == [True, False, False]
    assert RULE.stop_reason(state) is None
    run_more = [100.0, 101.0, 102.0, 103.0]
    _, state = run(RULE, run_more)
    assert state.bad_epochs == 3
    assert "stopped early" in RULE.stop_reason(state)


def test_plateau_decays_the_learning_rate_every_lr_patience_epochs():
    _, state = run(RULE, [100.0, 101.0], lr=1.0)
    assert state.lr == 1.0
    _, state = run(RULE, [100.0, 101.0, 101.0], lr=1.0)
    assert state.lr == 0.5
    _, state = run(RULE, [100.0, 101.0, 101.0, 101.0, 101.0], lr=1.0)
    assert state.lr == 0.25
    _, state = run(RULE, [100.0, 101.0, 101.0, 90.0, 91.0], lr=1.0)  # reset by the improvement
    assert state.lr == 0.5 and state.plateau_epochs == 1


def test_epoch_limit_is_a_reason_to_stop():
    _, state = run(RULE, [100.0, 90.0])
    assert "epoch limit" in replace(RULE, epochs=2).stop_reason(state)


def test_advance_records_the_epoch_and_its_flag():
    cfg = TrainConfig(quadrants=1, patience=1, epochs=5)
    rule = EarlyStopping(cfg.lr, cfg.epochs, cfg.patience)
    state = TrainState(lr=cfg.lr)
    rule.advance(state, 10.0, 9.0, 0.1)
    assert state.epoch == 1 and not state.finished  # inf - 9 > 0.001 * inf is false
    assert state.history[0]["improved"] is True and state.history[0]["lr"] == cfg.lr
    rule.advance(state, 10.0, 9.5, 0.1)
    assert state.history[1]["improved"] is False and state.history[1]["epoch"] == 2
    assert state.finished


def test_patience_1_trains_at_least_two_epochs(tmp_path, data_dir):
    out = tmp_path / "runs"
    argv = ["--quadrants", "1", "--data-dir", str(data_dir), "--out-dir", str(out)]
    argv += ["--limit", "200", "--epochs", "5", "--patience", "1", "--hidden", "16", "16"]
    argv += ["--z-dim", "4", "--quiet", "--no-figures"]
    assert main(argv) == 0
    found = json.loads((out / "q1" / "metrics.json").read_text())
    for name in ("baseline", "cvae"):
        assert found[name]["epochs_run"] >= 2, found[name]


def quadratic_module():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))


def model_of(module):
    def model(x):
        pyro.module("net", module)
        with pyro.plate("data", len(x)):
            pyro.factor("fit", -((module(x).squeeze(-1) - x.sum(-1)) ** 2))

    return model


def guide(x):
    pass


def steps(optim_of, n=3):
    module = quadratic_module()
    pyro.clear_param_store()
    x = torch.linspace(-1, 1, 24).reshape(8, 3)
    svi = SVI(model_of(module), guide, optim_of(module), Trace_ELBO())
    for _ in range(n):
        svi.step(x)
    return [p.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("lr", [1e-3, 0.05])
def test_fused_adam_equals_pyro_adam(lr):
    ours = steps(lambda m: FusedAdam(m, lr))
    pyros = steps(lambda m: pyro.optim.Adam({"lr": lr}))
    start = list(quadratic_module().parameters())
    for a, b, s in zip(ours, pyros, start, strict=True):
        assert not torch.equal(a, s)  # every parameter moved
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_fused_adam_trains_a_param_outside_the_module():
    module = quadratic_module()
    pyro.clear_param_store()

    def model(x):
        pyro.module("net", module)
        shift = pyro.param("shift", torch.zeros(()))
        with pyro.plate("data", len(x)):
            pyro.factor("fit", -((module(x).squeeze(-1) + shift - 5.0) ** 2))

    svi = SVI(model, guide, FusedAdam(module, 0.1), Trace_ELBO())
    for _ in range(3):
        svi.step(torch.ones(4, 3))
    assert pyro.param("shift").item() > 0.1


def pair_of(module):
    """A model/guide pair of (x, y), as fit's batches give them: y is ignored."""

    def model(x, y):
        model_of(module)(x)

    return model, lambda x, y: None


def test_fit_runs_epochs_until_the_rule_stops_and_follows_the_schedule():
    module = quadratic_module()
    pyro.clear_param_store()
    x = torch.linspace(-1, 1, 24).reshape(8, 3)
    svi = SVI(*pair_of(module), pyro.optim.Adam({"lr": 0.1}), Trace_ELBO())
    batches = Batches(x, torch.zeros(8), 4, torch.Generator().manual_seed(0))
    seen = []
    rule = EarlyStopping(lr=0.1, epochs=50, patience=3, lr_patience=2, lr_decay=0.5)
    state = fit(svi, batches, lambda: 1.0, rule, on_epoch=lambda s: seen.append(s.epoch))
    # a constant validation loss improves once, then 3 epochs without: 4 epochs
    assert seen == [1, 2, 3, 4] and state.finished and state.best_epoch == 1
    assert [r["lr"] for r in state.history] == [0.1, 0.1, 0.1, 0.05]
    assert all(g["lr"] == 0.05 for o in svi.optim.optim_objs.values() for g in o.param_groups)
    assert state.history[0]["train_loss"] > state.history[-1]["train_loss"]  # it learned


def test_fit_continues_a_saved_state_and_stops_at_the_epoch_limit():
    module = quadratic_module()
    pyro.clear_param_store()
    x = torch.linspace(-1, 1, 24).reshape(8, 3)
    svi = SVI(*pair_of(module), FusedAdam(module, 0.01), Trace_ELBO())
    batches = Batches(x, torch.zeros(8), 8, torch.Generator().manual_seed(0))
    losses = iter([5.0, 4.0, 3.0, 2.0])
    state = fit(svi, batches, lambda: next(losses), EarlyStopping(lr=0.01, epochs=2))
    assert state.epoch == 2 and state.finished
    state.finished = False
    state = fit(svi, batches, lambda: next(losses), EarlyStopping(lr=0.01, epochs=4), state)
    assert [r["epoch"] for r in state.history] == [1, 2, 3, 4] and state.best_epoch == 4
