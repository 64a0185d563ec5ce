"""Helpers for tests that run the command-line tools."""

from __future__ import annotations

import io
import os
import random
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import torch

from cvae_pyro.data import DATA_ENV_VAR

#: Small networks for fast tests (the defaults are 500-500 hidden and z 200).
SMALL = ["--hidden", "64", "--z-dim", "8"]


def call(main, args: list, capsys) -> tuple[int, str]:
    """Run a command's ``main`` in-process: (exit status, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def one_error_line(err: str, *needles: str) -> str:
    """The one error line of ``err`` (asserting there is exactly one, and no traceback)."""
    lines = [line for line in err.replace("\r", "\n").splitlines() if "error:" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "\x1b" not in lines[0], err
    for needle in needles:
        assert needle in lines[0], err
    return lines[0]


def cli_env(data_dir: Path) -> dict:
    """The environment for a CLI subprocess: real MNIST, no progress bars needed."""
    return {**os.environ, DATA_ENV_VAR: str(data_dir), "PYTHONUNBUFFERED": "1"}


def run_module(
    module: str, args: list[str], data_dir: Path, **kwargs
) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=cli_env(data_dir),
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def popen_module(module: str, args: list[str], data_dir: Path) -> subprocess.Popen:
    """Start ``python -m module args`` in the background, with the ending signals at their
    default (a test run started under ``nohup`` would otherwise hand SIGHUP down ignored)."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=cli_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )


def bad_checkpoint_corpus(good: dict) -> dict[str, bytes]:
    """Fixed bad files for a checkpoint's place, the same on every run (no random input).

    ``good`` is a real checkpoint's payload; the corpus holds text, empty and short
    files, fixed-seed noise, a cut-off zip, zips of the wrong content, and payloads with
    the wrong types in their fields.
    """

    def saved(obj: object) -> bytes:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        return buffer.getvalue()

    noise = random.Random(20_151_207)
    whole = saved(good)
    foreign_zip = io.BytesIO()
    with zipfile.ZipFile(foreign_zip, "w") as archive:
        archive.writestr("notes.txt", "not a checkpoint")
    corpus = {
        "empty": b"",
        "text": b"hello, this is a text file\n",
        "utf-16 text": "\ufeffa checkpoint?".encode("utf-16"),
        "one byte": b"\x80",
        "pickle of a string": saved("cvae"),
        "zip of text": foreign_zip.getvalue(),
        "zip cut in half": whole[: len(whole) // 2],
        "zip without its last 100 bytes": whole[:-100],
        "list payload": saved([1, 2, 3]),
        "kind is a number": saved({**good, "kind": 7}),
        "architecture is a list": saved({**good, "architecture": [1]}),
        "no state_dict": saved({k: v for k, v in good.items() if k != "state_dict"}),
        "state_dict is a string": saved({**good, "state_dict": "weights"}),
        "hidden is a string": saved(
            {**good, "architecture": {**good["architecture"], "hidden": "x"}}
        ),
    }
    for size in (16, 3000, 30_000):
        corpus[f"noise {size} bytes"] = noise.randbytes(size)
    end = whole.rindex(b"PK\x05\x06")  # the zip's end-of-directory record
    corpus["zip directory zeroed"] = whole[:end] + bytes(len(whole) - end)
    return corpus


#: A quick training run: small networks, 300 images, one epoch, no output but errors.
QUICK = [*SMALL, "--limit", "300", "--epochs", "1", "--quiet", "--no-figures"]


def copy_run(src: Path, dst: Path) -> Path:
    """A copy of the run folder ``src`` at ``dst`` (links copied as links)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def nan_weights(path: Path) -> Path:
    """Overwrite one generation-network weight of the checkpoint at ``path`` with NaN."""
    ckpt = torch.load(path, weights_only=True)
    name = next(k for k in ckpt["state_dict"] if k.startswith("generation_net"))
    ckpt["state_dict"][name][0] = float("nan")
    path.unlink()
    torch.save(ckpt, path)
    return path


def lying_settings(run: Path, name: str, hidden: list[int]) -> Path:
    """The checkpoint ``name`` of ``run`` with its recorded hidden widths changed."""
    ckpt = torch.load(run / name, weights_only=True)
    ckpt["architecture"]["hidden"] = hidden
    (run / name).unlink()
    torch.save(ckpt, run / name)
    return run / name
