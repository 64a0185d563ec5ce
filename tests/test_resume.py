"""Robust runs: resume after SIGKILL, Ctrl-C, NaN losses, atomic and checked checkpoints."""

import json
import signal
import time

import pytest
import torch

from cvae_pyro.checkpoints import load_checkpoint, save_checkpoint, save_json, write_atomic
from cvae_pyro.config import TrainConfig
from cvae_pyro.errors import CheckpointError, TrainingDiverged
from cvae_pyro.experiment import run

from .helpers import SMALL, popen_module, run_module

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
    import pyro.infer

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
    with pytest.raises(CheckpointError, match="truncated or not a cvae_pyro checkpoint"):
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
