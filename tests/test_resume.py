"""Robust runs: resume after SIGKILL, Ctrl-C and other signals, NaN losses, settings checked on
resume, finished models kept, atomic and checked checkpoints."""

import json
import signal
import subprocess
import sys
import time

import pyro.infer
import pytest
import torch

from cvae_pyro import data as data_module
from cvae_pyro import reproduce, train
from cvae_pyro.cli import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    checkpoints,
    describe,
    experiment,
)
from cvae_pyro.cli.checkpoints import load_checkpoint, save_checkpoint
from cvae_pyro.cli.config import TrainConfig
from cvae_pyro.cli.errors import (
    CheckpointError,
    Terminated,
    TrainingDiverged,
    TrainingInterrupted,
)
from cvae_pyro.cli.experiment import run
from cvae_pyro.cli.files import save_json, write_atomic

from .helpers import (
    QUICK,
    SMALL,
    call,
    copy_run,
    one_error_line,
    popen_module,
    run_module,
)

RUN = [
    "--quadrants",
    "1",
    "--limit",
    "2000",
    "--epochs",
    "3",
    "--patience",
    "5",
    "--quiet",
    "--no-figures",
    "--seed",
    "11",
]


def _histories(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        name: [(h["train_loss"], h["val_loss"]) for h in m["history"]]
        for name, m in metrics.items()
    }, metrics


def _kill_when(path, proc, timeout=300):
    start = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - start < timeout
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", ["baseline_last.pt", "cvae_last.pt"])
def test_sigkill_then_resume_matches_uninterrupted(tmp_path, data_dir, kill_after):
    whole = run_module("cvae_pyro.train", [*RUN, "--out-dir", str(tmp_path / "whole")], data_dir)
    assert whole.returncode == 0, whole.stderr
    killed_dir = tmp_path / "killed"
    proc = popen_module("cvae_pyro.train", [*RUN, "--out-dir", str(killed_dir)], data_dir)
    _kill_when(killed_dir / "q1" / kill_after, proc)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed_dir / "q1/metrics.json").exists()  # it really died mid-run
    resumed = run_module(
        "cvae_pyro.train", [*RUN, "--out-dir", str(killed_dir), "--resume"], data_dir
    )
    assert resumed.returncode == 0, resumed.stderr
    expected, whole_metrics = _histories(tmp_path / "whole/q1")
    got, resumed_metrics = _histories(killed_dir / "q1")
    assert got == expected  # every loss of every epoch, to the last digit
    for name in ("baseline", "cvae"):
        assert resumed_metrics[name]["best_epoch"] == whole_metrics[name]["best_epoch"]
        a = torch.load(tmp_path / f"whole/q1/{name}.pt", weights_only=True)["state_dict"]
        b = torch.load(killed_dir / f"q1/{name}.pt", weights_only=True)["state_dict"]
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert (
        resumed_metrics["cvae"]["val_negative_elbo_nats_per_image"]
        == whole_metrics["cvae"]["val_negative_elbo_nats_per_image"]
    )


@pytest.mark.slow
def test_ctrl_c_saves_and_says_how_to_resume(tmp_path, data_dir):
    out = tmp_path / "run"
    args = [
        "--quadrants",
        "2",
        "--limit",
        "3000",
        "--epochs",
        "50",
        "--out-dir",
        str(out),
        "--quiet",
        "--no-figures",
    ]
    proc = popen_module("cvae_pyro.train", args, data_dir)
    start = time.time()
    while not (out / "q2/cvae_last.pt").exists():
        assert proc.poll() is None and time.time() - start < 300
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "--resume" in err and "interrupted during epoch" in err
    assert len(err.strip().splitlines()) == 1, err
    state = load_checkpoint(out / "q2/cvae_last.pt")["train_state"]
    assert state["epoch"] >= 1 and not state["finished"]


def test_nan_loss_stops_with_epoch_and_step(tmp_path, data_dir, monkeypatch):
    cfg = TrainConfig(
        quadrants=1,
        limit=300,
        epochs=3,
        hidden=(32,),
        z_dim=4,
        quiet=True,
        figures=False,
        data_dir=str(data_dir),
        out_dir=str(tmp_path),
    )

    real_step, calls = pyro.infer.SVI.step, []

    def step(self, *args, **kwargs):
        calls.append(1)
        return float("nan") if len(calls) == 5 else real_step(self, *args, **kwargs)

    monkeypatch.setattr(pyro.infer.SVI, "step", step)
    with pytest.raises(TrainingDiverged, match="baseline epoch 2: .*at step 2.*baseline_last.pt"):
        run(cfg)  # 300 images, batch 128: 3 steps per epoch, the 5th step is epoch 2 step 2
    last = load_checkpoint(tmp_path / "q1/baseline_last.pt")
    assert last["train_state"]["epoch"] == 1  # the last good checkpoint is kept


def test_truncated_and_foreign_checkpoints(tmp_path):
    path = save_checkpoint(
        {"architecture": {"z_dim": 8}, "state_dict": {}}, tmp_path / "a.pt", "cvae"
    )
    assert load_checkpoint(path)["architecture"] == {"z_dim": 8}
    truncated = tmp_path / "t.pt"
    truncated.write_bytes(path.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="is unreadable, truncated or foreign"):
        load_checkpoint(truncated)
    foreign = tmp_path / "f.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a cvae_pyro checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_mismatch_names_the_setting(tmp_path, data_dir):
    base = [
        "--quadrants",
        "1",
        *SMALL,
        "--limit",
        "200",
        "--epochs",
        "1",
        "--quiet",
        "--no-figures",
        "--out-dir",
        str(tmp_path),
    ]
    assert run_module("cvae_pyro.train", base, data_dir).returncode == 0
    other = [
        "--quadrants",
        "1",
        "--hidden",
        "64",
        "--z-dim",
        "16",
        "--limit",
        "200",
        "--epochs",
        "2",
        "--quiet",
        "--no-figures",
        "--out-dir",
        str(tmp_path),
        "--resume",
    ]
    proc = run_module("cvae_pyro.train", other, data_dir)
    assert proc.returncode == 2
    assert "z_dim=8 (this run: 16)" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_evaluate_reports_truncated_checkpoint(tmp_path, data_dir):
    run_dir = tmp_path / "q1"
    run_dir.mkdir()
    (run_dir / "cvae.pt").write_bytes(b"PK\x03\x04 truncated")
    proc = run_module(
        "cvae_pyro.evaluate",
        ["--quadrants", "1", "--out-dir", str(tmp_path), "--limit", "50"],
        data_dir,
    )
    assert proc.returncode == 2 and "truncated" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = save_json({"good": True}, tmp_path / "metrics.json")

    def crash_half_way(tmp):
        tmp.write_text('{"half": ')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, crash_half_way)
    assert json.loads(target.read_text()) == {"good": True}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary left


@pytest.mark.parametrize(
    ("task", "extra", "named"),
    [
        ("q2", ["--z-dim", "16"], "z_dim=8 (this run: 16)"),
        ("label", ["--z-dim", "16"], "z_dim=8 (this run: 16)"),
        ("label", ["--seed", "3"], "seed=0 (this run: 3)"),
    ],
)
def test_a_finished_cvae_of_other_settings_is_not_replaced(
    task, extra, named, q2_run, label_run, tmp_path, data_dir, capsys
):
    run = copy_run(q2_run if task == "q2" else label_run, tmp_path / "run")
    condition = ["--quadrants", "2"] if task == "q2" else ["--condition", "label"]
    before = (run / task / "cvae.pt").read_bytes()
    args = [*condition, *QUICK, "--data-dir", data_dir, "--out-dir", run, *extra]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae_last.pt", named, "not replaced", "another --out-dir", "delete")
    assert (run / task / "cvae.pt").read_bytes() == before


def test_a_finished_baseline_refusal_says_the_way_out(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run]
    code, err = call(train.main, [*args, "--hidden", "32"], capsys)
    assert code == EXIT_USAGE
    line = one_error_line(err, "baseline.pt", "hidden=[64] (this run: [32])", "another --out-dir")
    assert "delete baseline.pt and baseline_last.pt to train it again" in line


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_an_ending_signal_during_training_says_what_was_kept(signum, tmp_path, data_dir):
    out = tmp_path / "out"
    args = ["--quadrants", "1", *SMALL, "--epochs", "50", "--limit", "2000", "--quiet"]
    args += ["--no-figures", "--out-dir", str(out), "--data-dir", str(data_dir)]
    proc = popen_module("cvae_pyro.train", args, data_dir)
    start = time.time()
    while not (out / "q1/baseline_last.pt").exists():
        assert proc.poll() is None and time.time() - start < 300
        time.sleep(0.02)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum
    one_error_line(err, f"terminated ({signal.Signals(signum).name})", "--resume")
    assert not list((out / "q1").glob(".*.tmp"))


def test_sigterm_is_described_like_ctrl_c():
    line, code = describe(Terminated(), "run it again")
    assert code == 143 and line.startswith("terminated (SIGTERM); files finished before")
    line, code = describe(TrainingInterrupted("cvae: terminated", exit_status=143), "resume")
    assert code == 143 and line == "cvae: terminated; resume"
    assert describe(KeyboardInterrupt(), "again")[1] == 130


@pytest.mark.parametrize("task", ["q2", "label"])
def test_training_again_keeps_the_finished_model(
    task, q2_run, label_run, tmp_path, data_dir, capsys
):
    run = copy_run(q2_run if task == "q2" else label_run, tmp_path / "run")
    condition = ["--quadrants", "2"] if task == "q2" else ["--condition", "label"]
    before = {p.name: p.read_bytes() for p in (run / task).glob("*.pt")}
    args = [*condition, *QUICK, "--data-dir", data_dir, "--out-dir", run]
    assert train.main([str(arg) for arg in args if arg != "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"cvae: kept the finished cvae of the same settings in {run / task}" in out
    assert {p.name: p.read_bytes() for p in (run / task).glob("*.pt")} == before


def test_ctrl_c_while_training_again_keeps_the_finished_model(
    q2_run, tmp_path, data_dir, capsys, monkeypatch
):
    """Training again into a finished folder trains nothing, so no Ctrl-C (here: right
    after a new best checkpoint would be saved) can leave a partly trained model."""
    run = copy_run(q2_run, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in (run / "q2").glob("cvae*.pt")}
    real_save = experiment.save_checkpoint

    def save_then_interrupt(payload, path, kind):
        real_save(payload, path, kind)
        if path.name == "cvae.pt":  # the best, before the last: Ctrl-C in between
            raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "save_checkpoint", save_then_interrupt)
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run]
    code, err = call(train.main, args, capsys)
    assert code == 0, err  # nothing to train: the finished CVAE is kept
    assert {p.name: p.read_bytes() for p in (run / "q2").glob("cvae*.pt")} == before


@pytest.mark.parametrize("resume", [[], ["--resume"]])
def test_a_finished_cvae_of_another_baseline_is_not_replaced(
    resume, q2_run, tmp_path, data_dir, capsys
):
    run = copy_run(q2_run, tmp_path / "run")
    for name in ("baseline.pt", "baseline_last.pt"):  # a finished baseline of other weights
        ckpt = torch.load(run / "q2" / name, weights_only=True)
        first = next(iter(ckpt["state_dict"]))
        ckpt["state_dict"][first] += 0.01
        (run / "q2" / name).unlink()
        torch.save(ckpt, run / "q2" / name)
    before = {p.name: p.read_bytes() for p in (run / "q2").iterdir()}
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run, *resume]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(
        err, "another frozen baseline", "not replaced", "delete cvae.pt and cvae_last.pt"
    )
    assert {p.name: p.read_bytes() for p in (run / "q2").iterdir()} == before


def test_every_ending_signal_is_described_like_ctrl_c():
    for signum, status in ((signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGQUIT, 131)):
        line, code = describe(Terminated(signum), "run it again")
        name = signal.Signals(signum).name
        assert code == status and line.startswith(f"terminated ({name}); files finished")
        interrupted = TrainingInterrupted("cvae: stopped", Terminated(signum).exit_status)
        assert describe(interrupted, "resume") == ("cvae: stopped; resume", status)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--resume", "--lr", "1e3"], "lr=0.001 (this run: 1000.0)"),
        (["--resume", "--seed", "7"], "seed=0 (this run: 7)"),
        (["--resume", "--batch-size", "64"], "batch_size=128 (this run: 64)"),
        (["--resume", "--eval-batch-size", "100"], "eval_batch_size=2000 (this run: 100)"),
        (["--limit", "500"], "limit=300 (this run: 500)"),  # reusing the finished baseline
        (["--epochs", "3"], "epochs=1 (this run: 3)"),
    ],
)
def test_changed_settings_are_refused(q2_run, tmp_path, data_dir, capsys, extra, named):
    run = copy_run(q2_run, tmp_path / "run")
    before = (run / "q2/cvae.pt").read_bytes()
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run, *extra]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, named)
    assert (run / "q2/cvae.pt").read_bytes() == before  # nothing overwritten


def test_epochs_may_grow_on_resume_and_are_recorded(label_run, tmp_path, data_dir, capsys):
    run = copy_run(label_run, tmp_path / "run")
    args = ["--condition", "label", *QUICK, "--data-dir", data_dir, "--out-dir", run]
    code, err = call(train.main, [*args, "--resume", "--epochs", "2"], capsys)
    assert code == 0, err
    metrics = json.loads((run / "label/metrics.json").read_text())
    assert [h["epoch"] for h in metrics["cvae"]["history"]] == [1, 2]
    assert metrics["cvae"]["config"]["epochs"] == 2


def test_a_greater_epochs_never_trains_a_cvaes_baseline_further(q2_run, tmp_path, data_dir, capsys):
    """A CVAE continues only on the baseline it was trained with: a greater --epochs, which
    would train its epoch-capped baseline further, is refused before anything is written."""
    run = copy_run(q2_run, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in (run / "q2").iterdir()}
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run, "--resume"]
    code, err = call(train.main, [*args, "--epochs", "2"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae_last.pt", "baseline that this run would train further")
    assert {p.name: p.read_bytes() for p in (run / "q2").iterdir()} == before
    for name in ("cvae.pt", "cvae_last.pt"):  # without the CVAE the baseline trains on
        (run / "q2" / name).unlink()
    code, err = call(train.main, [*args, "--epochs", "2"], capsys)
    assert code == 0, err
    metrics = json.loads((run / "q2/metrics.json").read_text())
    assert metrics["baseline"]["epochs_run"] == metrics["cvae"]["epochs_run"] == 2


def test_reproduce_with_a_greater_epochs_keeps_no_stale_baseline(tmp_path, data_dir, capsys):
    """reproduce --epochs 1, then --epochs 2 into the same runs folder: refused in one line,
    so that no run records epochs 2 beside a 1-epoch baseline."""
    runs = tmp_path / "runs"
    args = ["--quadrants", "1", "--objectives", "cvae", "--limit", "300", "--samples", "2"]
    args += ["--quiet", "--runs-dir", runs, "--data-dir", data_dir]
    code, err = call(
        reproduce.main, [*args, "--epochs", "1", "--results-dir", tmp_path / "a"], capsys
    )
    assert code == 0, err
    before = {p.name: p.read_bytes() for p in (runs / "seed0/q1").glob("*.pt")}
    code, err = call(
        reproduce.main, [*args, "--epochs", "2", "--results-dir", tmp_path / "b"], capsys
    )
    assert code == EXIT_USAGE
    one_error_line(err, "q1/cvae_last.pt", "would train further", "--runs-dir")
    assert {p.name: p.read_bytes() for p in (runs / "seed0/q1").glob("*.pt")} == before
    assert not (tmp_path / "b/run.json").exists()


def test_a_corrupt_metrics_file_is_found_before_training(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    (run / "q2/metrics.json").write_text('{"baseline": ')
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run, "--resume"]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "metrics.json is corrupt")


@pytest.mark.parametrize("where", ["checkpoint", "data"])
def test_ctrl_c_outside_the_epoch_loop(tmp_path, data_dir, capsys, monkeypatch, where):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "checkpoint":
        monkeypatch.setattr(checkpoints.torch, "save", interrupt)
    else:
        monkeypatch.setattr(data_module, "load_dataset", interrupt)
    args = ["--quadrants", "1", *QUICK, "--data-dir", data_dir, "--out-dir", tmp_path]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_INTERRUPTED
    one_error_line(err, "interrupted", "--resume")  # while saving: the loop names the epoch
    assert not list((tmp_path / "q1").glob(".*.tmp"))


def test_ctrl_c_and_nan_in_epoch_1_name_no_missing_file(tmp_path, data_dir, capsys, monkeypatch):
    args = ["--quadrants", "1", *QUICK, "--data-dir", data_dir, "--out-dir", tmp_path]
    for fault, status in ((KeyboardInterrupt, EXIT_INTERRUPTED), (float("nan"), EXIT_FAILURE)):

        def step(self, x, y, fault=fault):
            if isinstance(fault, float):
                return fault
            raise fault

        monkeypatch.setattr(pyro.infer.SVI, "step", step)
        code, err = call(train.main, args, capsys)
        assert code == status
        line = one_error_line(
            err, "baseline", "epoch 1", "no baseline checkpoint to resume from was saved"
        )
        assert "_last.pt" not in line


def test_ctrl_c_between_the_two_checkpoints_names_the_one_written(
    tmp_path, data_dir, capsys, monkeypatch
):
    real_save = experiment.save_checkpoint

    def save(payload, path, kind):
        if path.name == "baseline_last.pt":
            raise KeyboardInterrupt  # after baseline.pt, before baseline_last.pt
        real_save(payload, path, kind)

    monkeypatch.setattr(experiment, "save_checkpoint", save)
    args = ["--quadrants", "1", *QUICK, "--data-dir", data_dir, "--out-dir", tmp_path]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_INTERRUPTED and (tmp_path / "q1/baseline.pt").exists()
    one_error_line(err, "no baseline checkpoint to resume from was saved")


INTERRUPT_DURING_TORCH_IMPORT = """
import os, signal, sys
class SigintWhenTorchLoads:  # Ctrl-C, delivered exactly while torch is being imported
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, SigintWhenTorchLoads())
from cvae_pyro import cli
print("parsed")
sys.exit(getattr(cli, sys.argv[1])(["--quadrants", "1", "--limit", "10", "--epochs", "1"]))
"""


@pytest.mark.slow
def test_a_library_import_keeps_the_usual_ctrl_c():
    """In a notebook or script the package does not take over SIGINT."""
    probe = INTERRUPT_DURING_TORCH_IMPORT.replace(
        "from cvae_pyro import cli", "import cvae_pyro.models"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe, "train"], capture_output=True, text=True, timeout=120
    )
    assert "KeyboardInterrupt" in proc.stderr
    assert "interrupted while starting" not in proc.stderr
