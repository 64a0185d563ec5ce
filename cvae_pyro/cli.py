"""Shared command-line plumbing: one-line errors with meaningful exit codes."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import (
    CheckpointError,
    ConfigError,
    CvaePyroError,
    DataError,
    TrainingInterrupted,
)

EXIT_USAGE = 2  #: bad arguments, data or checkpoints
EXIT_FAILURE = 1  #: the run itself failed (for example the loss diverged)
EXIT_INTERRUPTED = 130  #: Ctrl-C


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def check_out_dir(path: str | os.PathLike, flag: str = "--out-dir") -> Path:
    """Create ``path`` if needed; raise :class:`ConfigError` if it cannot be written."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create {flag} {out}: {err.strerror}") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"{flag} {out} is not writable")
    return out


def exit_code(err: CvaePyroError) -> int:
    """Exit status for an error: 2 for bad input, 130 for Ctrl-C, 1 otherwise."""
    if isinstance(err, (ConfigError, DataError, CheckpointError)):
        return EXIT_USAGE
    if isinstance(err, TrainingInterrupted):
        return EXIT_INTERRUPTED
    return EXIT_FAILURE


def cli(
    argv: Sequence[str] | None,
    parser: argparse.ArgumentParser,
    body: Callable[[argparse.Namespace], None],
) -> int:
    """Parse ``argv`` and run ``body(args)``, turning our errors into one line and an exit code."""
    args = parser.parse_args(argv)
    try:
        body(args)
    except CvaePyroError as err:
        parser.exit(exit_code(err), f"{parser.prog}: error: {err}\n")
    return 0
