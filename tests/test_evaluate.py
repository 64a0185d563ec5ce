"""``python -m cvae_pyro.evaluate``: the numbers it reports, the file it writes, what it refuses."""

import json
import shutil

import pytest
import torch

from cvae_pyro.cli import EXIT_USAGE, checkpoints
from cvae_pyro.cli.checkpoints import weights_sha256
from cvae_pyro.cli.config import TrainConfig
from cvae_pyro.cli.experiment import run
from cvae_pyro.cli.model_files import build_baseline, load_trained
from cvae_pyro.data import load_dataset
from cvae_pyro.estimators import is_nll, nn_nll
from cvae_pyro.evaluate import main
from cvae_pyro.masks import split_xy

from .helpers import (
    call,
    copy_run,
    one_error_line,
)

IMAGES, SAMPLES = 120, 5


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """A 2-quadrant baseline and CVAE trained one epoch on 300 images."""
    out = tmp_path_factory.mktemp("runs")
    cfg = TrainConfig(
        quadrants=2, epochs=1, limit=300, hidden=(32,), z_dim=4, data_dir=str(data_dir),
        out_dir=str(out), quiet=True, figures=False,
    )  # fmt: skip
    run(cfg)
    return cfg


def evaluate(cfg, *extra):
    args = ["--quadrants", str(cfg.quadrants), "--out-dir", cfg.out_dir, "--limit", str(IMAGES)]
    return main([*args, "--data-dir", cfg.data_dir, "--samples", str(SAMPLES), *extra])


def test_rows_file_and_values(trained, capsys):
    assert evaluate(trained, "--split", "validation") == 0
    out = capsys.readouterr().out
    assert "validation split, 120 images" in out
    saved = json.loads((trained.run_dir / "evaluation_validation.json").read_text())
    rows = {(r["model"], r["estimator"]): r for r in saved["rows"]}
    assert set(rows) == {("baseline", "NN"), ("cvae", "MC"), ("cvae", "IS"), ("cvae", "-ELBO")}
    assert all(r["images"] == IMAGES for r in rows.values())
    assert rows[("cvae", "IS")]["samples"] == SAMPLES and rows[("baseline", "NN")]["samples"] == 0
    # the NN row is the baseline's exact -log p(y|x) on those images
    baseline = load_trained(trained.run_dir / "baseline.pt").module
    x, y = split_xy(load_dataset("mnist", trained.data_dir).validation.images[:IMAGES], 2)
    assert rows[("baseline", "NN")]["nll_mean"] == pytest.approx(nn_nll(baseline, x, y).mean)
    # with the same draws, IS (a log-mean-exp) is never above the bound (a mean)
    assert rows[("cvae", "IS")]["nll_mean"] <= rows[("cvae", "-ELBO")]["nll_mean"]
    # and a second evaluation with the same seed gives the same numbers
    assert evaluate(trained, "--split", "validation") == 0
    again = json.loads((trained.run_dir / "evaluation_validation.json").read_text())["rows"]
    assert [r["nll_mean"] for r in again] == [r["nll_mean"] for r in saved["rows"]]


def test_another_seed_moves_only_the_sampled_estimates(trained):
    assert evaluate(trained, "--seed", "1") == 0
    first = json.loads((trained.run_dir / "evaluation_test.json").read_text())["rows"]
    assert evaluate(trained, "--seed", "2") == 0
    second = json.loads((trained.run_dir / "evaluation_test.json").read_text())["rows"]
    for a, b in zip(first, second, strict=True):
        assert (a["nll_mean"] == b["nll_mean"]) == (a["estimator"] == "NN"), a


def test_a_checkpoint_of_another_task_is_refused(trained, tmp_path, capsys):
    """A 2-quadrant model copied into q1/ must not be reported as a 1-quadrant result."""
    wrong = tmp_path / "q1"
    wrong.mkdir()
    for name in ("baseline.pt", "cvae.pt"):
        shutil.copy(trained.run_dir / name, wrong / name)
    cfg = TrainConfig(quadrants=1, out_dir=str(tmp_path), data_dir=trained.data_dir)
    with pytest.raises(SystemExit) as exit:
        evaluate(cfg)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "baseline.pt was trained with other settings: quadrants=2 (this run: 1)" in err
    assert err.count("\n") == 1
    assert not (wrong / "evaluation_test.json").exists()


def test_missing_run_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--quadrants", "3", "--out-dir", str(tmp_path)])
    assert exit.value.code == 2
    assert "q3 does not exist: train first" in capsys.readouterr().err


def test_estimates_do_not_touch_the_global_random_stream(trained):
    cvae = load_trained(trained.run_dir / "cvae.pt").module
    x, y = cvae.condition.pairs(load_dataset("mnist", trained.data_dir).test.head(20))
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    first = is_nll(cvae, x, y, SAMPLES, seed=0).per_image
    assert torch.equal(torch.rand(3), expected)
    assert torch.equal(is_nll(cvae, x, y, SAMPLES, seed=0).per_image, first)


def test_bf16_evaluation_is_its_own_file_and_close_to_fp32(trained, monkeypatch):
    """--precision bf16: rows marked bf16 in evaluation_test_bf16.json; fp32's file kept."""
    assert evaluate(trained) == 0
    fp32 = json.loads((trained.run_dir / "evaluation_test.json").read_text())["rows"]
    assert evaluate(trained, "--precision", "bf16") == 0
    bf16 = json.loads((trained.run_dir / "evaluation_test_bf16.json").read_text())["rows"]
    assert json.loads((trained.run_dir / "evaluation_test.json").read_text())["rows"] == fp32
    assert [r.get("precision") for r in fp32] == [None] * 4
    assert [r["precision"] for r in bf16 if r["model"] == "cvae"] == ["bf16"] * 3
    for a, b in zip(fp32, bf16, strict=True):
        assert (a["model"], a["estimator"]) == (b["model"], b["estimator"])
        assert b["nll_mean"] == pytest.approx(a["nll_mean"], rel=0.01)
    assert any(a["nll_mean"] != b["nll_mean"] for a, b in zip(fp32, bf16, strict=True))


def test_the_cvae_records_its_baseline_and_evaluate_checks_it(
    q2_run, mask_run, tmp_path, data_dir, capsys
):
    for folder, task in ((q2_run, "q2"), (mask_run, "mask")):
        baseline = load_trained(folder / task / "baseline.pt").module
        recorded = torch.load(folder / task / "cvae.pt", weights_only=True)["baseline_sha256"]
        assert recorded == weights_sha256(baseline)
    run = copy_run(q2_run, tmp_path / "run")
    ckpt = torch.load(run / "q2/baseline.pt", weights_only=True)
    other = build_baseline(TrainConfig(quadrants=2, hidden=(32,)))  # another run's baseline
    arch = {**ckpt["architecture"], "hidden": [32]}
    (run / "q2/baseline.pt").unlink()
    checkpoints.save_checkpoint(
        {**ckpt, "architecture": arch, "state_dict": other.state_dict()},
        run / "q2/baseline.pt",
        "baseline",
    )
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "is not the baseline cvae.pt was trained with")
    assert not (run / "q2/evaluation_test.json").exists()


def test_checkpoints_without_the_baseline_hash_are_checked_by_their_weights(
    q2_run, tmp_path, data_dir, capsys
):
    run = copy_run(q2_run, tmp_path / "run")
    cvae = torch.load(run / "q2/cvae.pt", weights_only=True)
    del cvae["baseline_sha256"]  # a checkpoint that records no hash
    torch.save(cvae, run / "q2/cvae.pt")
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(main, [*args, "--data-dir", data_dir], capsys)
    assert code == 0, err
    baseline = torch.load(run / "q2/baseline.pt", weights_only=True)
    name = next(iter(baseline["state_dict"]))
    baseline["state_dict"][name] += 0.01  # retrained: same settings, other weights
    torch.save(baseline, run / "q2/baseline.pt")
    code, err = call(main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "is not the baseline cvae.pt was trained with")


def test_a_mask_run_of_one_training_evaluates(mask_run, tmp_path, data_dir, capsys):
    run = copy_run(mask_run, tmp_path / "run")
    args = ["--condition", "mask", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(main, [*args, "--data-dir", data_dir], capsys)
    assert code == 0, err


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        (["cvae.pt"], "no checkpoint at"),
        (["baseline.pt"], "no checkpoint at"),
        (
            ["baseline.pt", "baseline_last.pt"],
            "baseline.pt is missing or is not the baseline cvae.pt",
        ),
        (["cvae.pt", "cvae_last.pt"], "no CVAE in"),
    ],
)
def test_a_run_folder_missing_a_model_names_it(missing, named, q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    for name in missing:
        (run / "q2" / name).unlink()
    args = ["--quadrants", "2", "--out-dir", str(run), "--data-dir", str(data_dir)]
    code, err = call(main, [*args, "--limit", "20", "--samples", "2"], capsys)
    assert code == 2
    one_error_line(err, named)


def test_an_unfinished_model_is_not_evaluated(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    path = run / "q2" / "cvae_last.pt"
    ckpt = torch.load(path, weights_only=True)
    ckpt["train_state"]["finished"] = False
    torch.save(ckpt, path)
    args = ["--quadrants", "2", "--out-dir", str(run), "--data-dir", str(data_dir)]
    code, err = call(main, [*args, "--limit", "20", "--samples", "2"], capsys)
    assert code == 2
    one_error_line(err, "cvae in", "is unfinished (stopped after epoch 1)", "--resume")
