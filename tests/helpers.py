"""Helpers for tests that run the command-line tools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cvae_pyro.data import DATA_ENV_VAR

#: Small networks for fast tests (the defaults are 500-500 hidden and z 200).
SMALL = ["--hidden", "64", "--z-dim", "8"]


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
    """Start ``python -m module args`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        env=cli_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
