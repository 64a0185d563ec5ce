"""``--dataset``: Fashion-MNIST runs in their own folders, checkpoints that record their dataset."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from cvae_pyro.beyond.plots import label_samples_figure
from cvae_pyro.cli.checkpoints import load_checkpoint, save_checkpoint
from cvae_pyro.cli.config import EvaluateConfig, ReproduceConfig, SampleConfig, TrainConfig, run_dir
from cvae_pyro.cli.errors import CheckpointError, ConfigError
from cvae_pyro.cli.experiment import run
from cvae_pyro.cli.model_files import load_trained
from cvae_pyro.data import DATASETS
from cvae_pyro.evaluate import main as evaluate_main
from cvae_pyro.sample import main as sample_main

FASHION = "fashion-mnist"


@pytest.fixture(scope="module")
def fashion_runs(tmp_path_factory, fashion_dir) -> Path:
    """A smoke-sized Fashion-MNIST label CVAE and 2-quadrant run."""
    out = tmp_path_factory.mktemp("fashion_runs")
    small = {"limit": 200, "epochs": 1, "hidden": (32,), "z_dim": 4, "quiet": True}
    common = {**small, "dataset": FASHION, "data_dir": str(fashion_dir), "out_dir": str(out)}
    run(TrainConfig(condition="label", **common))
    run(TrainConfig(quadrants=2, figures=False, **common))
    return out


def test_fashion_runs_go_to_their_own_folder(fashion_runs):
    assert {p.name for p in fashion_runs.iterdir()} == {FASHION}
    label = fashion_runs / FASHION / "label"
    assert (label / "digits.png").stat().st_size > 5_000
    trained = load_trained(label / "cvae.pt")
    assert (
        trained.architecture["condition"] == "label" and trained.architecture["dataset"] == FASHION
    )
    baseline = load_checkpoint(fashion_runs / FASHION / "q2" / "baseline.pt")
    assert baseline["architecture"]["dataset"] == FASHION


def test_run_folders_per_dataset():
    assert run_dir("runs", "quadrant", 1) == Path("runs/q1")
    assert run_dir("runs", "quadrant", 1, FASHION) == Path("runs/fashion-mnist/q1")
    assert TrainConfig(condition="mask", dataset=FASHION).run_dir == Path("runs/fashion-mnist/mask")
    assert EvaluateConfig(quadrants=3, dataset=FASHION).run_dir == Path("runs/fashion-mnist/q3")
    for config, args in (
        (TrainConfig, {"quadrants": 1}),
        (EvaluateConfig, {"quadrants": 1}),
        (ReproduceConfig, {}),
        (SampleConfig, {"digit": "1"}),
    ):
        with pytest.raises(ConfigError, match="dataset"):
            config(dataset="kmnist", **args)


def test_checkpoint_of_another_dataset_is_refused(
    fashion_runs, tmp_path, capsys, fashion_dir, data_dir
):
    label = fashion_runs / FASHION / "label" / "cvae.pt"
    with pytest.raises(CheckpointError, match=r"dataset='fashion-mnist' \(this run: 'mnist'\)"):
        load_trained(label, expect={"dataset": "mnist"})
    # a Fashion-MNIST model put where an MNIST one belongs
    shutil.copytree(fashion_runs / FASHION / "label", tmp_path / "label")
    with pytest.raises(SystemExit) as exit_info:
        sample_main(["--digit", "3", "--out-dir", str(tmp_path), "--out", str(tmp_path / "s.png")])
    assert exit_info.value.code == 2
    assert "dataset='fashion-mnist'" in capsys.readouterr().err
    shutil.copytree(fashion_runs / FASHION / "q2", tmp_path / "q2")
    args = ["--quadrants", "2", "--limit", "20", "--samples", "2"]
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main([*args, "--out-dir", str(tmp_path), "--data-dir", str(data_dir)])
    assert exit_info.value.code == 2
    assert "dataset='fashion-mnist'" in capsys.readouterr().err
    fashion = ["--dataset", FASHION, "--data-dir", str(fashion_dir)]
    assert evaluate_main([*args, "--out-dir", str(fashion_runs), *fashion]) == 0


def test_a_checkpoint_that_records_no_dataset_is_refused_naming_it(tmp_path):
    path = save_checkpoint({"architecture": {"hidden": [3]}}, tmp_path / "old.pt", "baseline")
    for dataset in ("mnist", FASHION):
        with pytest.raises(CheckpointError, match=f"dataset=None \\(this run: '{dataset}'\\)"):
            load_checkpoint(path, expect={"dataset": dataset})


def test_sample_rows_are_named_by_class(fashion_runs, tmp_path, capsys):
    out = tmp_path / "clothes.png"
    args = ["--digit", "all", "--n", "3", "--out", str(out), "--out-dir", str(fashion_runs)]
    assert sample_main([*args, "--dataset", FASHION]) == 0
    assert out.stat().st_size > 5_000
    names = DATASETS[FASHION].class_names
    fig = label_samples_figure(torch.rand(10, 3, 784), list(range(10)), names)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels == list(names) and labels[0] == "T-shirt/top"
