"""Faults a careful or hostile user meets: each gives one line, the right exit status, no traceback.

Checkpoints checked against the task, one run per folder, settings checked on resume
and reuse, reproduce's result files as one set, divergence, disk full, permissions,
long names, corrupt files, Ctrl-C.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pyro.infer
import pytest
import torch

from cvae_pyro import (
    checkpoints,
    evaluate,
    reproduce,
    reproduction,
    sample,
    train,
    training,
)
from cvae_pyro import data as data_module
from cvae_pyro.checkpoints import LOCK_NAME, folder_lock, save_checkpoint
from cvae_pyro.cli import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE
from cvae_pyro.errors import CheckpointError, one_line

from .helpers import (
    QUICK,
    bad_checkpoint_corpus,
    call,
    cli_env,
    copy_run,
    one_error_line,
    popen_module,
)

# --- 1. evaluate checks every checkpoint against the task -------------------------------


def test_evaluate_refuses_checkpoints_of_another_task(q2_run, tmp_path, data_dir, capsys):
    (tmp_path / "q1").mkdir()
    for pt in (q2_run / "q2").glob("*.pt"):
        shutil.copy(pt, tmp_path / "q1" / pt.name)
    args = ["--quadrants", "1", "--out-dir", tmp_path, "--limit", "200", "--samples", "5"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "baseline.pt", "quadrants=2 (this run: 1)")
    assert not (tmp_path / "q1/evaluation_test.json").exists()


def test_evaluate_refuses_a_file_of_another_kind(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    shutil.copy(run / "q2/cvae.pt", run / "q2/gsnn.pt")  # a CVAE under the GSNN's name
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "gsnn.pt", "objective='cvae' (this run: 'gsnn')")


def test_size_mismatch_and_random_files_are_one_clean_line(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    ckpt = torch.load(run / "q2/cvae.pt", weights_only=True)
    ckpt["architecture"]["z_dim"] = 9  # the recorded size no longer matches the weights
    torch.save(ckpt, run / "q2/cvae.pt")
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae.pt", "size mismatch for")
    assert len(err.strip().splitlines()) == 1
    for name, data in bad_checkpoint_corpus(ckpt).items():
        (run / "q2/cvae.pt").unlink()
        (run / "q2/cvae.pt").write_bytes(data)
        code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
        assert code == EXIT_USAGE, name
        one_error_line(err, "cvae.pt")


def test_weights_that_are_not_numbers_are_a_broken_checkpoint(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    ckpt = torch.load(run / "q2/cvae.pt", weights_only=True)
    name = next(k for k in ckpt["state_dict"] if k.startswith("generation_net"))
    ckpt["state_dict"][name][0] = float("nan")
    torch.save(ckpt, run / "q2/cvae.pt")
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae.pt", "not finite numbers")
    assert not (run / "q2/evaluation_test.json").exists()


def test_one_line_strips_ansi_and_keeps_the_named_line():
    text = "\x1b[1mError(s) in loading\x1b[0m:\n\tsize mismatch for w: copying [2] into [3].\n"
    assert one_line(text) == "size mismatch for w: copying [2] into [3]."
    assert one_line("x" * 500, 50).endswith("...") and len(one_line("x" * 500, 50)) == 50


# --- 2. one run per folder ----------------------------------------------------------------


def test_a_second_live_run_is_refused_naming_the_pid(tmp_path, data_dir, capsys):
    with folder_lock(tmp_path / "q1"):
        code, err = call(train.main, ["--quadrants", "1", *QUICK, "--out-dir", tmp_path], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, f"pid {os.getpid()}", "in use")
    assert not (tmp_path / "q1/baseline.pt").exists()


def test_a_lock_left_by_a_killed_process_never_blocks(tmp_path):
    folder = tmp_path / "q1"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom cvae_pyro.checkpoints import folder_lock\n"
            f"with folder_lock({str(folder)!r}):\n    print('held', flush=True)\n    time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(tmp_path),
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(Exception, match=f"pid {holder.pid}"), folder_lock(folder):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    assert (folder / LOCK_NAME).read_text().strip() == str(holder.pid)  # the stale file stays
    with folder_lock(folder):  # ... and does not block
        assert (folder / LOCK_NAME).read_text().strip() == str(os.getpid())


# --- 3. settings checked on resume and reuse ----------------------------------------------


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--resume", "--lr", "1e3"], "lr=0.001 (this run: 1000.0)"),
        (["--resume", "--seed", "7"], "seed=0 (this run: 7)"),
        (["--resume", "--batch-size", "64"], "batch_size=128 (this run: 64)"),
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


def test_a_best_checkpoint_copied_over_the_last_one(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    shutil.copy(run / "q2/cvae.pt", run / "q2/cvae_last.pt")  # no optimizer state in it
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run, "--resume"]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae_last.pt", "cannot be resumed from")


def test_a_last_checkpoint_without_training_state(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    ckpt = torch.load(run / "q2/baseline_last.pt", weights_only=True)
    del ckpt["train_state"]
    torch.save(ckpt, run / "q2/baseline_last.pt")
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "baseline_last.pt", "no training state")


def test_a_corrupt_metrics_file_is_found_before_training(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    (run / "q2/metrics.json").write_text('{"baseline": ')
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run, "--resume"]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "metrics.json is corrupt")


# --- 4. reproduce's result files are one set ---------------------------------------------


def _write_set(tag: str):
    def write(staging: Path) -> dict:
        for name in ("cll_table.csv", "cll_table.md", "q1_samples.png"):
            (staging / name).write_text(f"{tag} {name}")
        return {"tag": tag}

    return write


def test_result_set_killed_while_moving_is_finished_next_time(tmp_path, monkeypatch):
    reproduction.publish(tmp_path, _write_set("old"))
    real_replace, moves = os.replace, []

    def replace_then_die(src, dst):
        if Path(dst).parent == tmp_path:  # a move out of the staging folder
            if len(moves) == 1:
                raise KeyboardInterrupt
            moves.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(reproduction.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        reproduction.publish(tmp_path, _write_set("new"))
    monkeypatch.undo()
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["tag"] == "old"  # the manifest, moved last, still describes the old set
    reproduction.finish_publish(tmp_path)  # what the next reproduce or --combine does first
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["tag"] == "new"
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest
        assert (tmp_path / name).read_text() == f"new {name}"
    assert not (tmp_path / reproduction.STAGING).exists()


def test_an_incomplete_staged_set_is_dropped(tmp_path):
    reproduction.publish(tmp_path, _write_set("old"))
    (tmp_path / reproduction.STAGING).mkdir()
    (tmp_path / reproduction.STAGING / "cll_table.md").write_text("half")
    reproduction.finish_publish(tmp_path)
    assert (tmp_path / "cll_table.md").read_text() == "old cll_table.md"
    assert not (tmp_path / reproduction.STAGING).exists()


def test_combine_rows_missing_keys(tmp_path, capsys):
    bad = tmp_path / "run.json"
    bad.write_text(json.dumps({"rows": [{"model": "cvae", "estimator": "IS"}]}))
    code, err = call(reproduce.main, ["--combine", bad, "--results-dir", tmp_path / "r"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "run.json", "row 0 lacks quadrants")
    bad.write_text("[1, 2")
    code, err = call(reproduce.main, ["--combine", bad, "--results-dir", tmp_path / "r"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "not a run.json")


def test_reproduce_errors_get_their_own_line(tmp_path, data_dir, monkeypatch, capsys):
    def mismatch(cfg):
        raise CheckpointError(f"{cfg.run_dir}/baseline.pt was trained with other settings")

    monkeypatch.setattr(reproduction, "run", mismatch)
    args = ["--quadrants", "1", "--objectives", "cvae", "--quiet", "--data-dir", data_dir]
    args += ["--runs-dir", tmp_path / "runs", "--results-dir", tmp_path / "results"]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_USAGE
    assert any(line.startswith("python -m cvae_pyro.reproduce: error:") for line in err.split("\n"))


def test_reproduce_ctrl_c_says_to_run_again_not_resume(tmp_path, data_dir, monkeypatch, capsys):
    def interrupted(cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduction, "run", interrupted)
    args = ["--quadrants", "1", "--objectives", "cvae", "--data-dir", data_dir]
    args += ["--runs-dir", tmp_path / "runs", "--results-dir", tmp_path / "results"]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_INTERRUPTED
    line = one_error_line(err, "interrupted", "run the same command again")
    assert "--resume" not in line


@pytest.mark.slow
def test_reproduce_sigint_mid_run_gives_one_line(tmp_path, data_dir):
    runs = tmp_path / "runs"
    args = ["--quadrants", "1", "--objectives", "cvae", "--epochs", "50", "--limit", "2000"]
    args += ["--samples", "2", "--runs-dir", str(runs), "--results-dir", str(tmp_path / "res")]
    proc = popen_module("cvae_pyro.reproduce", [*args, "--data-dir", str(data_dir)], data_dir)
    start = time.time()
    while not (runs / "seed0/q1/baseline_last.pt").exists():
        assert proc.poll() is None and time.time() - start < 300
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED
    line = one_error_line(err, "interrupted")
    assert "--resume" not in line and "AttributeError" not in err


# --- 5. divergence ------------------------------------------------------------------------


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
    monkeypatch.setattr(training, "elbo_loss", lambda *args: 3.2e11)
    args = ["--quadrants", "1", *QUICK, "--data-dir", data_dir, "--out-dir", tmp_path]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_FAILURE
    one_error_line(err, "baseline epoch 1", "validation")


# --- 6.-9. disk full, Ctrl-C, permissions, names ----------------------------------------


def test_disk_full_during_torch_save(tmp_path, data_dir, capsys, monkeypatch):
    def full(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK half")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(checkpoints.torch, "save", full)
    args = ["--quadrants", "1", *QUICK, "--data-dir", data_dir, "--out-dir", tmp_path]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_FAILURE
    one_error_line(err, "no space left", "baseline")
    assert not list((tmp_path / "q1").glob(".*.tmp"))


def test_disk_full_writing_json(q2_run, tmp_path, data_dir, capsys, monkeypatch):
    run = copy_run(q2_run, tmp_path / "run")

    def full(self, text, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", full)
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_FAILURE
    one_error_line(err, "no space left", "evaluation_test.json")


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
        line = one_error_line(err, "baseline", "epoch 1", "no baseline checkpoint was saved")
        assert "_last.pt" not in line


def test_permission_denied_is_one_line(q2_run, tmp_path, data_dir, capsys, monkeypatch):
    run = copy_run(q2_run, tmp_path / "run")

    def denied(dir=None, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(dir))

    monkeypatch.setattr(checkpoints.tempfile, "mkstemp", denied)
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "permission denied", "q2")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_run_folder(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    (run / "q2").chmod(0o555)
    try:
        args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
        code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    finally:
        (run / "q2").chmod(0o755)
    assert code == EXIT_USAGE
    one_error_line(err, "permission denied")


def test_names_too_long(label_run, tmp_path, data_dir, capsys):
    long = "x" * 300
    code, err = call(
        train.main, ["--quadrants", "1", *QUICK, "--data-dir", tmp_path / long], capsys
    )
    assert code == EXIT_USAGE
    one_error_line(err, "too long")
    code, err = call(evaluate.main, ["--quadrants", "1", "--out-dir", tmp_path / long], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "too long")
    code, err = call(sample.main, ["--digit", "3", "--checkpoint", tmp_path / long], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "too long")
    ckpt = label_run / "label/cvae.pt"
    code, err = call(
        sample.main,
        ["--digit", "3", "--checkpoint", ckpt, "--out", tmp_path / f"{long}.png"],
        capsys,
    )
    assert code == EXIT_USAGE
    one_error_line(err, "too long")
    legal = tmp_path / ("y" * 245 + ".png")  # 249 characters: legal, its temporary name short
    code, err = call(sample.main, ["--digit", "3", "--checkpoint", ckpt, "--out", legal], capsys)
    assert code == 0, err
    assert legal.read_bytes()[:4] == b"\x89PNG"


def test_sample_out_folder_unwritable_and_formats(label_run, tmp_path, capsys):
    ckpt = label_run / "label/cvae.pt"
    base = ["--digit", "3", "--n", "2", "--checkpoint", ckpt, "--out"]
    code, err = call(sample.main, [*base, tmp_path], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "is a folder")
    code, err = call(sample.main, [*base, "/proc/x.png"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "/proc")
    code, err = call(sample.main, [*base, tmp_path / "x.bmp2"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "suffix")
    code, err = call(sample.main, [*base, tmp_path / "x.jpg"], capsys)
    assert code == 0, err
    assert (tmp_path / "x.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # a real JPEG


# --- 10.-14. small defects ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--seed", "-1"],
        ["--seed", "4294967296"],
        ["--seed", "1e23"],
        ["--lr", "inf"],
        ["--lr", "1e999"],
        ["--lr", "nan"],
        ["--limit", "100000"],
    ],
)
def test_bad_numbers_exit_2(tmp_path, data_dir, capsys, argv):
    args = ["--quadrants", "1", *QUICK, "--data-dir", data_dir, "--out-dir", tmp_path, *argv]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_evaluate_rejects_label_with_quadrants(tmp_path, capsys):
    code, err = call(evaluate.main, ["--condition", "label", "--quadrants", "2"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "quadrants applies to the quadrant condition only")


def test_empty_data_dir_leaves_no_cache_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    args = ["--quadrants", "1", *QUICK, "--data-dir", "", "--out-dir", tmp_path / "out"]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "empty")
    assert not (tmp_path / "cache").exists()


def test_corrupt_gzip_in_train_and_evaluate(q2_run, tmp_path, data_dir, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for f in Path(data_dir).iterdir():
        (data / f.name).symlink_to(f.resolve())
    name = "t10k-labels-idx1-ubyte.gz"
    corrupt = bytearray((Path(data_dir) / name).read_bytes())
    corrupt[len(corrupt) // 2] ^= 0xFF
    (data / name).unlink()
    (data / name).write_bytes(bytes(corrupt))
    code, err = call(
        train.main, ["--quadrants", "2", *QUICK, "--data-dir", data, "--out-dir", tmp_path], capsys
    )
    assert code == EXIT_USAGE
    one_error_line(err, name)
    args = ["--quadrants", "2", "--out-dir", q2_run, "--limit", "50", "--data-dir", data]
    code, err = call(evaluate.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, name)


def test_files_get_the_umask_and_stale_temporaries_are_removed(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    stale = run / "q2" / ".cvae.pt.cvae_pyro-k3j9x2ab.tmp"  # as write_atomic names them
    stale.write_bytes(b"left by SIGKILL")
    old = os.umask(0o027)
    try:
        args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
        code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    finally:
        os.umask(old)
    assert code == 0, err
    assert not stale.exists()
    mode = stat.S_IMODE((run / "q2/evaluation_test.json").stat().st_mode)
    assert mode == 0o640
    path = save_checkpoint({"architecture": {}}, tmp_path / "c.pt", "cvae")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~old


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
@pytest.mark.parametrize("command", ["train", "evaluate", "reproduce", "sample", "complete"])
def test_ctrl_c_while_a_command_starts_is_one_line(command, tmp_path):
    """Ctrl-C while torch and Pyro load: one line, exit 130, no traceback."""
    probe = INTERRUPT_DURING_TORCH_IMPORT
    if command != "train":  # arguments each accepts
        args = {"sample": '["--digit", "2"]', "complete": '["--index", "0", "--keep", "left"]'}
        args.update(reproduce='["--limit", "10"]', evaluate='["--quadrants", "1"]')
        probe = probe.replace(
            '["--quadrants", "1", "--limit", "10", "--epochs", "1"]', args[command]
        )
    proc = subprocess.run(
        [sys.executable, "-c", probe, command],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == EXIT_INTERRUPTED, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "cvae_pyro: interrupted while starting (nothing was written)"
    ]
    assert proc.stdout.strip() == "parsed"
    assert not list(tmp_path.iterdir())


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
