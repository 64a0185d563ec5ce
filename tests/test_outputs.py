"""What the commands write: never through or over what is not a regular file, never a
temporary name in a message, every output checked before the work that makes it; one
command per folder; full disks, permissions and long names as one line."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cvae_pyro import complete, evaluate, reproduce, sample, train
from cvae_pyro.cli import (
    EXIT_FAILURE,
    EXIT_USAGE,
    commands,
    experiment,
    files,
)
from cvae_pyro.cli.checkpoints import load_checkpoint, save_checkpoint
from cvae_pyro.cli.errors import ConfigError
from cvae_pyro.cli.files import LOCK_NAME, check_target, folder_lock, save_json, write_atomic

from .helpers import (
    QUICK,
    call,
    cli_env,
    copy_run,
    one_error_line,
)


def make_target(kind: str, path: Path, user_file: Path) -> None:
    """Put something that is not a regular file at ``path``."""
    if kind == "symlink":
        path.symlink_to(user_file)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "device":
        try:  # a second /dev/null (character device 1, 3): root only
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("making a device node needs root")


def assert_untouched(kind: str, path: Path, user_file: Path) -> None:
    mode = os.lstat(path).st_mode
    expected = {
        "symlink": stat.S_ISLNK,
        "fifo": stat.S_ISFIFO,
        "folder": stat.S_ISDIR,
        "device": stat.S_ISCHR,
    }
    assert expected[kind](mode), f"{path} was replaced"
    assert user_file.read_text() == "the user's own notes\n"


TARGETS = ["symlink", "fifo", "folder", "device"]


@pytest.mark.parametrize("kind", TARGETS)
def test_complete_and_sample_never_replace_what_is_not_a_file(
    kind, mask_run, label_run, seven, tmp_path, capsys
):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("the user's own notes\n")
    for name, command, args in (
        ("complete", complete.main, ["--image", seven, "--keep", "left", "--out-dir", mask_run]),
        ("sample", sample.main, ["--digit", "3", "--checkpoint", label_run / "label/cvae.pt"]),
    ):
        out = tmp_path / f"{name}.png"
        make_target(kind, out, user_file)
        code, err = call(command, [*args, "--n", "1", "--out", out], capsys)
        assert code == EXIT_USAGE
        line = one_error_line(err, out.name)
        assert ".tmp" not in line  # the user's path, not ours
        assert_untouched(kind, out, user_file)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_write_atomic_refuses_targets_that_are_not_files(kind, tmp_path):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("the user's own notes\n")
    target = tmp_path / "metrics.json"
    make_target(kind, target, user_file)
    with pytest.raises(ConfigError, match="metrics.json is a") as err:
        save_json({"a": 1}, target)
    assert "\n" not in str(err.value) and ".tmp" not in str(err.value)
    assert_untouched(kind, target, user_file)
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary left
    assert check_target(tmp_path / "missing.json") == tmp_path / "missing.json"
    save_json({"a": 1}, user_file)  # a regular file is replaced
    assert json.loads(user_file.read_text()) == {"a": 1}


def test_a_target_that_becomes_a_link_while_writing_is_refused(tmp_path):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("the user's own notes\n")
    target = tmp_path / "cll_table.md"

    def write(tmp: Path) -> None:
        tmp.write_text("table")
        target.symlink_to(user_file)  # appears between the check and the rename

    with pytest.raises(ConfigError, match="symbolic link"):
        write_atomic(target, write)
    assert target.is_symlink() and user_file.read_text() == "the user's own notes\n"


def test_evaluate_never_writes_through_a_link(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    user_file = tmp_path / "notes.txt"
    user_file.write_text("the user's own notes\n")
    (run / "q2/evaluation_test.json").symlink_to(user_file)
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "evaluation_test.json is a symbolic link")
    assert_untouched("symlink", run / "q2/evaluation_test.json", user_file)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_the_lock_file_is_never_followed(kind, tmp_path, data_dir, capsys):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("the user's own notes\n")
    (tmp_path / "out/q1").mkdir(parents=True)
    make_target(kind, tmp_path / "out/q1" / LOCK_NAME, user_file)
    args = ["--quadrants", "1", *QUICK, "--data-dir", data_dir, "--out-dir", tmp_path / "out"]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, LOCK_NAME)
    assert_untouched(kind, tmp_path / "out/q1" / LOCK_NAME, user_file)
    assert not (tmp_path / "out/q1/baseline.pt").exists()


def test_complete_refuses_an_unknown_suffix_before_working(mask_run, seven, tmp_path, capsys):
    for name in ("x.txt", "no_suffix"):
        out = tmp_path / name
        args = ["--image", seven, "--keep", "left", "--out-dir", mask_run, "--out", out]
        code, err = call(complete.main, args, capsys)
        assert code == EXIT_USAGE
        one_error_line(err, f"--out {name}", "suffix")
        assert not out.exists()


@pytest.mark.slow
def test_non_ascii_out_with_an_ascii_terminal(label_run, tmp_path):
    out = tmp_path / "Ziffer_drei_\u00fc.png"
    args = ["--digit", "3", "--n", "1", "--checkpoint", str(label_run / "label/cvae.pt")]
    proc = subprocess.run(
        [sys.executable, "-m", "cvae_pyro.sample", *args, "--out", str(out)],
        env={**cli_env(tmp_path), "PYTHONIOENCODING": "ascii"},
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"Traceback" not in proc.stderr
    assert b"Ziffer_drei_\\xfc.png" in proc.stdout and out.is_file()


def test_messages_never_name_a_temporary_file(label_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    args = ["--digit", "3", "--n", "1", "--checkpoint", label_run / "label/cvae.pt"]
    code, err = call(sample.main, [*args, "--out", out], capsys)
    assert code == EXIT_USAGE
    assert ".tmp" not in one_error_line(err, "is a folder")
    real_replace = files.os.replace

    def cross_device(src, dst):
        raise OSError(18, "Invalid cross-device link", str(src), str(dst))

    monkeypatch.setattr(files.os, "replace", cross_device)
    code, err = call(sample.main, [*args, "--out", tmp_path / "d.png"], capsys)
    monkeypatch.setattr(files.os, "replace", real_replace)
    assert code != 0
    line = one_error_line(err, "d.png")
    assert ".tmp" not in line
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_long_out_dir_keeps_the_reason(q2_run, tmp_path, data_dir, capsys):
    deep = tmp_path.joinpath(*["d" * 200] * 14)  # a legal path of about 2,900 characters
    (deep / "q2").mkdir(parents=True)
    (deep / "q2/metrics.json").write_text('{"baseline": ')
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", deep]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "q2/metrics.json is corrupt", "delete it")
    too_long = tmp_path.joinpath(*["e" * 250] * 20)  # 5,000 characters: past PATH_MAX
    code, err = call(train.main, [*args[:-1], too_long], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cannot create --out-dir", "too long")


def test_a_folder_that_is_a_file_is_named(q2_run, seven, tmp_path, data_dir, capsys):
    blocker = tmp_path / "runs"
    blocker.write_text("the user's own notes\n")
    inside = copy_run(q2_run, tmp_path / "inside")
    shutil.rmtree(inside / "q2")
    (inside / "q2").write_text("the user's own notes\n")  # the run folder itself is a file
    pooled = tmp_path / "a.json"
    rows = [{"model": "baseline", "estimator": "NN", "quadrants": 1, "seed": 0}]
    rows[0].update(nll_mean=90.0, nll_stderr=0.4, samples=0, images=100)
    pooled.write_text(json.dumps({"rows": rows}))
    data = ["--data-dir", data_dir]
    cases = [
        (train.main, ["--quadrants", "2", *QUICK, *data, "--out-dir", blocker]),
        (train.main, ["--quadrants", "2", *QUICK, *data, "--out-dir", inside]),
        (evaluate.main, ["--quadrants", "2", *data, "--out-dir", blocker]),
        (evaluate.main, ["--quadrants", "2", *data, "--out-dir", inside]),
        (complete.main, ["--image", seven, "--keep", "left", "--out-dir", blocker]),
        (sample.main, ["--digit", "3", "--out-dir", blocker]),
        (reproduce.main, ["--quadrants", "1", "--limit", "300", *data, "--runs-dir", blocker]),
        (reproduce.main, ["--combine", pooled, "--results-dir", blocker]),
    ]
    for command, args in cases:
        if command in (complete.main, sample.main):
            args = [*args, "--out", tmp_path / "out.png"]
        elif command is reproduce.main and "--results-dir" not in args:
            args = [*args, "--results-dir", tmp_path / "results"]
        code, err = call(command, args, capsys)
        assert code == EXIT_USAGE, args
        one_error_line(err, "is a file, not a folder")
    assert blocker.read_text() == (inside / "q2").read_text() == "the user's own notes\n"
    assert not (tmp_path / "out.png").exists()


def test_names_that_are_not_utf8_work(label_run, tmp_path, data_dir, capsys):
    out = tmp_path / os.fsdecode(b"drei_\xff.png")  # not UTF-8: a surrogate escape in Python
    args = ["--digit", "3", "--n", "1", "--checkpoint", label_run / "label/cvae.pt"]
    code, err = call(sample.main, [*args, "--out", out], capsys)
    assert code == 0, err
    assert b"drei_\xff.png" in os.listdir(os.fsencode(tmp_path))
    runs = tmp_path / os.fsdecode(b"runs_\xfe")
    args = ["--condition", "label", *QUICK, "--data-dir", data_dir, "--out-dir", runs]
    code, err = call(train.main, args, capsys)
    assert code == 0, err
    assert load_checkpoint(runs / "label/cvae.pt", kind="cvae")["kind"] == "cvae"


def test_a_second_live_run_is_refused(tmp_path, data_dir, capsys):
    with folder_lock(tmp_path / "q1"):
        code, err = call(train.main, ["--quadrants", "1", *QUICK, "--out-dir", tmp_path], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "in use by another process")
    assert not (tmp_path / "q1/baseline.pt").exists()


def hold_lock(folder: Path, tmp_path: Path) -> subprocess.Popen:
    """Another process holding ``folder``'s lock with a bare ``flock``, as any program may."""
    folder.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(folder / LOCK_NAME)!r}, os.O_RDONLY | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=cli_env(tmp_path),
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_lock_left_by_a_killed_process_never_blocks(tmp_path):
    folder = tmp_path / "q1"
    holder = hold_lock(folder, tmp_path)
    with pytest.raises(ConfigError, match="in use by another process"), folder_lock(folder):
        pass
    holder.send_signal(signal.SIGKILL)
    holder.communicate()
    with folder_lock(folder):  # the file stays, and does not block
        assert (folder / LOCK_NAME).is_file()


def full_disk(self, data):
    """``Path.write_bytes`` on a full disk: part of the bytes, then ENOSPC."""
    with open(self, "wb") as file:
        file.write(data[:64])
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))


def test_disk_full_writing_a_checkpoint(tmp_path, data_dir, capsys, monkeypatch):
    monkeypatch.setattr(Path, "write_bytes", full_disk)
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


def test_permission_denied_is_one_line(q2_run, tmp_path, data_dir, capsys, monkeypatch):
    run = copy_run(q2_run, tmp_path / "run")

    def denied(self, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_text", denied)
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "permission denied", "q2")


def test_an_unwritable_run_folder_is_refused_before_any_work(
    q2_run, tmp_path, data_dir, capsys, monkeypatch
):
    """A folder without write permission (refused for root too) is found before the work."""
    run = copy_run(q2_run, tmp_path / "run")
    monkeypatch.setattr(commands, "load_splits", lambda *a, **k: pytest.fail("work started"))
    monkeypatch.setattr(experiment, "load_splits", lambda *a, **k: pytest.fail("work started"))
    (run / "q2").chmod(0o555)
    try:
        args = ["--quadrants", "2", "--out-dir", run, "--data-dir", data_dir]
        code, err = call(evaluate.main, [*args, "--limit", "50", "--samples", "2"], capsys)
        assert code == EXIT_USAGE
        one_error_line(err, "q2 is not writable")
        code, err = call(train.main, [*args, *QUICK], capsys)
        assert code == EXIT_USAGE
        one_error_line(err, "q2 is not writable")
    finally:
        (run / "q2").chmod(0o755)


def test_a_write_protected_output_is_never_replaced(
    q2_run, label_run, tmp_path, data_dir, capsys, monkeypatch
):
    out = tmp_path / "digits.png"
    out.write_bytes(b"the user's own picture")
    out.chmod(0o444)
    args = ["--digit", "3", "--n", "1", "--checkpoint", label_run / "label/cvae.pt", "--out", out]
    code, err = call(sample.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "digits.png is write-protected")
    assert out.read_bytes() == b"the user's own picture"
    run = copy_run(q2_run, tmp_path / "run")
    (run / "q2/evaluation_test.json").write_text("the user's own notes\n")
    (run / "q2/evaluation_test.json").chmod(0o444)
    monkeypatch.setattr(commands, "load_splits", lambda *a, **k: pytest.fail("work started"))
    args = ["--quadrants", "2", "--out-dir", run, "--data-dir", data_dir, "--samples", "2"]
    code, err = call(evaluate.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "evaluation_test.json is write-protected")
    assert (run / "q2/evaluation_test.json").read_text() == "the user's own notes\n"


def test_an_input_picture_is_never_the_output(label_run, seven, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(commands, "picture_to_digit", lambda path: pytest.fail("work started"))
    picture, mask = tmp_path / "d.png", tmp_path / "m.png"
    shutil.copy(seven, picture)
    shutil.copy(seven, mask)
    before = picture.read_bytes()
    ckpt = ["--checkpoint", label_run / "label/cvae.pt"]
    cases = [
        (complete.main, ["--image", picture, "--keep", "left", "--out", picture]),
        (complete.main, ["--index", "0", "--mask", mask, "--out", tmp_path / "." / "m.png"]),
        (sample.main, ["--style-of", picture, *ckpt, "--out", picture]),
        (sample.main, ["--interpolate", seven, picture, "--label", "7", *ckpt, "--out", picture]),
    ]
    for command, args in cases:
        code, err = call(command, args, capsys)
        assert code == EXIT_USAGE, args
        one_error_line(err, "is also a picture this command reads")
    assert picture.read_bytes() == mask.read_bytes() == before


def test_a_full_disk_while_writing_a_pdf_is_one_line(
    mask_run, seven, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(Path, "write_bytes", full_disk)
    out = tmp_path / "x.pdf"
    args = ["--image", seven, "--keep", "left", "--out-dir", mask_run, "--n", "1", "--out", out]
    code, err = call(complete.main, args, capsys)
    assert code == EXIT_FAILURE
    one_error_line(err, "no space left", "x.pdf")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_an_unknown_matplotlib_backend_in_the_environment_is_not_used(label_run, tmp_path):
    out = tmp_path / "digit.png"
    args = ["--digit", "3", "--n", "1", "--checkpoint", str(label_run / "label/cvae.pt")]
    proc = subprocess.run(
        [sys.executable, "-m", "cvae_pyro.sample", *args, "--out", str(out)],
        env={**cli_env(tmp_path), "MPLBACKEND": "nonexistent"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_names_too_long(label_run, tmp_path, data_dir, capsys):
    long = "x" * 300
    code, err = call(
        train.main, ["--quadrants", "1", *QUICK, "--data-dir", tmp_path / long], capsys
    )
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


def test_files_get_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = save_checkpoint({"architecture": {}}, tmp_path / "c.pt", "cvae")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_files_reach_the_disk_before_their_name(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    save_json({"a": 1}, tmp_path / "metrics.json")
    assert [kind for kind, _ in events] == ["fsync", "replace", "fsync"]
    assert events[0][1].endswith(".tmp") and events[1][1] == str(tmp_path / "metrics.json")
    assert events[2][1] == str(tmp_path)  # the folder, which holds the new name
