"""Errors that the command-line tools report as one line, without a traceback."""

import re
import signal


class CvaePyroError(Exception):
    """Base class: a problem the user can fix (bad input, bad files, a diverged run)."""


class ConfigError(CvaePyroError, ValueError):
    """An invalid setting, such as a non-positive batch size."""


class CheckpointError(CvaePyroError):
    """A checkpoint is missing, truncated, foreign, or made for other settings."""


class TrainingDiverged(CvaePyroError):
    """The loss became NaN, infinite or implausibly large; the last good checkpoint is kept."""


class TrainingInterrupted(CvaePyroError):
    """Ctrl-C or a signal that ends the process during training; the saved epochs are kept.

    Args:
        message: what was interrupted and what is kept.
        terminated: True for SIGTERM, SIGHUP or SIGQUIT (:class:`Terminated`), False for Ctrl-C.
        exit_status: the status to exit with (None: 143 when terminated, else 130).
    """

    def __init__(
        self, message: str, terminated: bool = False, exit_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.terminated = terminated
        self.exit_status = exit_status


#: The signals besides Ctrl-C (SIGINT) that the commands end on as they end on Ctrl-C:
#: SIGTERM (``kill``), SIGHUP (the terminal closed) and SIGQUIT (Ctrl-\).
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class Terminated(KeyboardInterrupt):
    """SIGTERM, SIGHUP or SIGQUIT arrived (the commands raise it from their signal handler).

    It is a :class:`KeyboardInterrupt`, so every step that cleans up after Ctrl-C (the
    training loop saying what is kept, atomic writes removing their temporary file)
    does the same for these signals.

    Args:
        signum: the signal's number (SIGTERM unless said otherwise).
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def signal_name(self) -> str:
        """The signal's name, such as "SIGTERM"."""
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        """128 plus the signal's number, as a shell reports a process a signal ended."""
        return 128 + self.signum


class FolderBusy(CvaePyroError):
    """Another live command holds the run folder's lock."""


ANSI_ESCAPE = re.compile(r"\x1b\x5b[0-9;?]*[A-Za-z]")  #: terminal colour and cursor codes
MESSAGE_CHARS = 200  #: longest quoted reason in a one-line message
#: How the lines of torch's errors on loading weights that name a parameter begin.
WEIGHT_PROBLEMS = ("size mismatch", "Missing key", "Unexpected key")


def one_line(text: object, limit: int = MESSAGE_CHARS) -> str:
    """``text`` as one short line: ANSI codes stripped, first non-empty line, cut to ``limit``.

    Torch's errors on loading weights start with a header line; the first line that names
    a parameter (``size mismatch for ...``, ``Missing key(s) ...``) is kept instead.
    """
    lines = [line.strip() for line in ANSI_ESCAPE.sub("", str(text)).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    named = [line for line in lines if line.startswith(WEIGHT_PROBLEMS)]
    line = (named or lines)[0]
    return line if len(line) <= limit else line[: limit - 3] + "..."


#: Control characters (a newline in a file name, say) as the escapes Python writes for them.
ESCAPES = {code: repr(chr(code))[1:-1] for code in (*range(32), 127)}


def printable(text: object) -> str:
    """``text`` with every control character escaped (``\\n``), so that it stays one line."""
    return str(text).translate(ESCAPES)


LONGEST_PATH = 160  #: longest path (or other word) a message shows whole
_LONG_WORD = re.compile(rf"\S{{{LONGEST_PATH + 1},}}")


def shorten_path(path: object, limit: int = LONGEST_PATH) -> str:
    """``path`` as text of at most ``limit`` characters: its start, "...", and its end.

    The end, which names the file, gets the larger part.
    """
    text = str(path)
    if len(text) <= limit:
        return text
    head = limit // 3
    return f"{text[:head]}...{text[-(limit - head - 3) :]}"


def shorten_paths(text: str) -> str:
    """``text`` with every word longer than :data:`LONGEST_PATH` shortened (:func:`shorten_path`)."""
    return _LONG_WORD.sub(lambda m: shorten_path(m.group()), text)
