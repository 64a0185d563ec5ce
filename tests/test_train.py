"""The training CLI end to end, its outputs, determinism, divergence and its errors."""

import dataclasses
import json
import shutil

import pyro.infer
import pytest
import torch

from cvae_pyro import reproduce, train
from cvae_pyro.cli import EXIT_FAILURE, EXIT_USAGE, experiment
from cvae_pyro.cli.config import TrainConfig
from cvae_pyro.cli.experiment import run
from cvae_pyro.cli.model_files import build_baseline, build_cvae, load_trained
from cvae_pyro.data import load_dataset
from cvae_pyro.fit import elbo_loss
from cvae_pyro.train import main

from .helpers import (
    QUICK,
    SMALL,
    call,
    copy_run,
    lying_settings,
    one_error_line,
)

TRAIN_FILES = {
    "baseline.pt",
    "baseline_last.pt",
    "cvae.pt",
    "cvae_last.pt",
    "metrics.json",
    "samples.png",
}


def test_end_to_end_cli_run(tmp_path, data_dir, capsys):
    args = [
        "--quadrants",
        "1",
        "--data-dir",
        str(data_dir),
        "--out-dir",
        str(tmp_path),
        "--limit",
        "300",
        "--epochs",
        "1",
        "--seed",
        "3",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "cvae epoch   1/1" in out and "nats/image" in out
    run_dir = tmp_path / "q1"
    assert TRAIN_FILES <= {p.name for p in run_dir.iterdir()}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["cvae"]["best_epoch"] == 1 and len(metrics["cvae"]["history"]) == 1
    assert metrics["cvae"]["config"]["quadrants"] == 1
    assert (run_dir / "samples.png").stat().st_size > 10_000
    # the trained CVAE beats an untrained one of the same seed on validation
    cfg = TrainConfig(quadrants=1, limit=300, seed=3)
    data = load_dataset("mnist", data_dir)
    val = data.validation.head(300)
    torch.manual_seed(3)
    untrained = build_cvae(cfg, build_baseline(TrainConfig(quadrants=1, hidden=cfg.hidden)))
    trained = load_trained(run_dir / "cvae.pt").module
    before = elbo_loss(untrained.model, untrained.guide, untrained.condition.pairs(val), 1000, 0)
    after = elbo_loss(trained.model, trained.guide, trained.condition.pairs(val), 1000, 0)
    assert after < before - 20, (before, after)
    assert metrics["cvae"]["best_val_loss_nats_per_image"] < before


def test_baseline_is_reused_and_frozen(tmp_path, data_dir):
    cfg = TrainConfig(
        quadrants=2,
        limit=200,
        epochs=1,
        hidden=(64,),
        z_dim=8,
        data_dir=str(data_dir),
        out_dir=str(tmp_path),
        quiet=True,
        figures=False,
    )
    run(cfg)
    baseline_before = torch.load(tmp_path / "q2/baseline.pt", weights_only=True)["state_dict"]
    stamp = (tmp_path / "q2/baseline.pt").stat().st_mtime_ns
    metrics = run(dataclasses.replace(cfg, objective="hybrid"))
    assert (tmp_path / "q2/baseline.pt").stat().st_mtime_ns == stamp  # loaded, not retrained
    hybrid = torch.load(tmp_path / "q2/hybrid.pt", weights_only=True)["state_dict"]
    for key, value in baseline_before.items():
        assert torch.equal(hybrid[f"condition.baseline.{key}"], value)
    assert {"baseline", "cvae", "hybrid"} <= set(metrics)


def _losses(metrics):
    return {
        name: [(h["train_loss"], h["val_loss"]) for h in m["history"]]
        for name, m in metrics.items()
        if "history" in m
    }


def test_same_seed_same_numbers(tmp_path, data_dir):
    common = dict(
        quadrants=3,
        limit=256,
        epochs=2,
        hidden=(64,),
        z_dim=8,
        seed=7,
        data_dir=str(data_dir),
        quiet=True,
        figures=False,
    )
    first = run(TrainConfig(out_dir=str(tmp_path / "a"), **common))
    second = run(TrainConfig(out_dir=str(tmp_path / "b"), **common))
    third = run(TrainConfig(out_dir=str(tmp_path / "c"), **{**common, "seed": 8}))
    assert _losses(first) == _losses(second)
    assert _losses(first) != _losses(third)


BAD_ARGS = [
    (["--quadrants", "0"], "invalid choice"),
    (["--quadrants", "4"], "invalid choice"),
    (["--quadrants", "-1"], "invalid choice"),
    (["--quadrants", "two"], "invalid int value"),
    ([], "quadrants must be 1, 2 or 3 (the number of quadrants given)"),
    (["--quadrants", "1", "--epochs", "0"], "epochs must be in [1, inf), got 0"),
    (["--quadrants", "1", "--batch-size", "-5"], "--batch-size must be in [1, inf), got -5"),
    (["--quadrants", "1", "--lr", "0"], "lr must be in (0, inf)"),
    (["--quadrants", "1", "--lr", "-0.001"], "lr must be in (0, inf)"),
    (["--quadrants", "1", "--lr", "inf"], "lr must be in (0, inf)"),
    (["--quadrants", "1", "--lr", "1e999"], "lr must be in (0, inf)"),
    (["--quadrants", "1", "--seed", "-1"], "seed must be in [0, 4294967295]"),
    (["--quadrants", "1", "--seed", "4294967296"], "seed must be in [0, 4294967295]"),
    (["--quadrants", "1", "--z-dim", "0"], "z-dim must be in [1, 8192]"),
    (["--quadrants", "1", "--limit", "0"], "limit must be in [1, inf), got 0"),
    (["--quadrants", "1", "--alpha", "2"], "alpha must be in [0, 1]"),
    (["--quadrants", "1", "--objective", "elbo"], "invalid choice"),
    (["--quadrants", "1", "--condition", "label"], "quadrants applies to the quadrant"),
]


@pytest.mark.parametrize("argv, message", BAD_ARGS)
def test_bad_arguments_exit_2_with_one_line(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out-dir", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1, err


def _error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return exc.value.code, err


def test_missing_and_empty_data_folders(tmp_path, capsys):
    code, err = _error(
        [
            "--quadrants",
            "1",
            "--data-dir",
            str(tmp_path / "nope"),
            "--out-dir",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert code == 2 and "does not exist" in err
    (tmp_path / "empty").mkdir()
    code, err = _error(
        [
            "--quadrants",
            "1",
            "--data-dir",
            str(tmp_path / "empty"),
            "--out-dir",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert code == 2 and "train-images-idx3-ubyte(.gz) is missing" in err


def test_corrupt_idx_file(tmp_path, data_dir, capsys):
    for f in data_dir.glob("*.gz"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-100])
    code, err = _error(
        ["--quadrants", "1", "--data-dir", str(tmp_path), "--out-dir", str(tmp_path / "o")], capsys
    )
    assert code == 2 and "train-labels-idx1-ubyte.gz" in err


def test_unwritable_out_dir(tmp_path, data_dir, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, err = _error(
        ["--quadrants", "1", "--data-dir", str(data_dir), "--out-dir", str(blocker / "sub")], capsys
    )
    assert code == 2 and "--out-dir" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu(tmp_path, data_dir, capsys):
    code, err = _error(
        [
            "--quadrants",
            "1",
            "--device",
            "cuda",
            "--data-dir",
            str(data_dir),
            "--out-dir",
            str(tmp_path),
        ],
        capsys,
    )
    assert code == 2 and "no CUDA GPU" in err


def test_small_networks_run(tmp_path, data_dir):
    assert (
        main(
            [
                "--quadrants",
                "2",
                *SMALL,
                "--limit",
                "200",
                "--epochs",
                "1",
                "--quiet",
                "--data-dir",
                str(data_dir),
                "--out-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    model = load_trained(tmp_path / "q2/cvae.pt").module
    assert model.z_dim == 8


def nan_steps(monkeypatch) -> None:
    monkeypatch.setattr(pyro.infer.SVI, "step", lambda self, x, y: float("nan"))


@pytest.mark.parametrize("task", ["q2", "mask"])
def test_a_cvae_diverging_after_its_baseline_was_saved(
    task, q2_run, mask_run, tmp_path, data_dir, capsys, monkeypatch
):
    run = copy_run(q2_run if task == "q2" else mask_run, tmp_path / "run")
    for name in ("cvae.pt", "cvae_last.pt"):
        (run / task / name).unlink()  # the baseline is finished, the CVAE not yet trained
    nan_steps(monkeypatch)
    condition = ["--quadrants", "2"] if task == "q2" else ["--condition", "mask"]
    args = [*condition, *QUICK, "--data-dir", data_dir, "--out-dir", run]
    code, err = call(train.main, args, capsys)
    assert code == 1
    model = "cvae" if task == "q2" else "mask cvae"
    line = one_error_line(
        err, f"{model} epoch 1", f"no {model} checkpoint to resume from was saved"
    )
    assert "nothing was saved" not in line
    assert (run / task / "baseline.pt").is_file()


def test_reproduce_names_its_own_folder_option(q2_run, tmp_path, data_dir, capsys):
    runs = tmp_path / "runs"
    (runs / "seed0/q2").mkdir(parents=True)
    for name in ("baseline.pt", "baseline_last.pt"):  # reproduce's own sizes, limit 300
        shutil.copy(q2_run / "q2" / name, runs / "seed0/q2" / name)
        lying_settings(runs / "seed0/q2", name, [500, 500])
    args = ["--quadrants", "2", "--objectives", "cvae", "--limit", "200", "--quiet"]
    args += ["--runs-dir", runs, "--results-dir", tmp_path / "res", "--data-dir", data_dir]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_USAGE
    line = one_error_line(err, "limit=300 (this run: 200)", "another --runs-dir")
    assert "--out-dir" not in line


def test_lr_1e3_diverges_with_one_line_and_no_phantom_file(tmp_path, data_dir, capsys):
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", tmp_path]
    code, err = call(train.main, [*args, "--lr", "1e3"], capsys)
    assert code == EXIT_FAILURE
    line = one_error_line(err, "baseline epoch 1", "at step")
    assert "_last.pt" not in line and not (tmp_path / "q2/baseline_last.pt").exists()


@pytest.mark.parametrize("objective", ["gsnn", "hybrid"])
def test_huge_finite_losses_are_divergence(
    q2_run, tmp_path, data_dir, capsys, monkeypatch, objective
):
    run = copy_run(q2_run, tmp_path / "run")
    monkeypatch.setattr(pyro.infer.SVI, "step", lambda self, x, y: 3e27 * len(y))
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run]
    code, err = call(train.main, [*args, "--objective", objective], capsys)
    assert code == EXIT_FAILURE
    one_error_line(err, f"{objective} epoch 1", "at step 1", "3e+27 nats/image")


def test_a_distribution_argument_check_is_divergence(
    q2_run, tmp_path, data_dir, capsys, monkeypatch
):
    run = copy_run(q2_run, tmp_path / "run")
    message = "Expected parameter probs (Tensor of shape (3,)) to satisfy the constraint"

    def step(self, x, y):
        raise ValueError(f"Error while computing log_prob at site 'y':\n{message}")

    monkeypatch.setattr(pyro.infer.SVI, "step", step)
    for name in ("cvae.pt", "cvae_last.pt"):  # a finished CVAE of other settings is kept
        (run / "q2" / name).unlink()
    args = [
        "--quadrants",
        "2",
        *QUICK,
        "--data-dir",
        data_dir,
        "--out-dir",
        run,
        "--prior",
        "standard",
    ]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_FAILURE
    one_error_line(err, "cvae epoch 1", "invalid distribution parameters at step 1")


def test_a_validation_loss_past_the_bound_is_divergence(tmp_path, data_dir, capsys, monkeypatch):
    monkeypatch.setattr(experiment, "elbo_loss", lambda *args: 3.2e11)
    args = ["--quadrants", "1", *QUICK, "--data-dir", data_dir, "--out-dir", tmp_path]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_FAILURE
    one_error_line(err, "baseline epoch 1", "validation")
