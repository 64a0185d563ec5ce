"""Errors that the commands report as one line, without a traceback, and their exit statuses."""

import signal


class CvaePyroError(Exception):
    """Base class: a problem the user can fix (bad input, bad files, a diverged run)."""

    exit_status = 1  #: the command's exit status: 1, or 2 for bad input


class ConfigError(CvaePyroError, ValueError):
    """An invalid setting, such as a non-positive batch size."""

    exit_status = 2


class CheckpointError(CvaePyroError):
    """A checkpoint is missing, truncated, foreign, or made for other settings."""

    exit_status = 2


class TrainingDiverged(CvaePyroError):
    """The loss became NaN, infinite or implausibly large; the last good checkpoint is kept."""


class TrainingInterrupted(CvaePyroError):
    """Ctrl-C or a signal that ends the process during training; the saved epochs are kept.

    Args:
        message: what was interrupted and what is kept.
        exit_status: the status to exit with: 128 plus the number of the signal that ended
            training (:class:`Terminated`), or None for Ctrl-C (130).
    """

    def __init__(self, message: str, exit_status: int | None = None) -> None:
        super().__init__(message)
        self.exit_status = exit_status or 130


class Terminated(KeyboardInterrupt):
    """SIGTERM, SIGHUP or SIGQUIT arrived (the commands raise it from their signal handler).

    It is a :class:`KeyboardInterrupt`, so every step that cleans up after Ctrl-C (the
    training loop saying what is kept, atomic writes removing their temporary file)
    does the same for these signals. ``exit_status`` is 128 plus the signal's number, as a
    shell reports a process a signal ended.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        self.signal_name = signal.Signals(signum).name  #: such as "SIGTERM"
        super().__init__(self.signal_name)
        self.exit_status = 128 + int(signum)


def one_line(text: object, limit: int = 200) -> str:
    """``text`` as one short line: its first non-empty line, cut to ``limit`` characters.

    Torch's errors on loading weights start with a header line; the first line that names
    a parameter (``size mismatch for ...``, ``Missing key(s) ...``) is kept instead.
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()] or [""]
    named = ("size mismatch", "Missing key", "Unexpected key")
    line = next((line for line in lines if line.startswith(named)), lines[0])
    return line if len(line) <= limit else line[: limit - 3] + "..."
