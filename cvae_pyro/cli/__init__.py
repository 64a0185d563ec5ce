"""The command line: parsers generated from the config dataclasses, one-line errors.

``python -m cvae_pyro.train`` (and ``evaluate``, ``reproduce``, ``sample``,
``complete``; also ``python -m cvae_pyro <command>`` and the ``cvae-pyro-*``
scripts) all run :func:`main`: it parses the arguments with a parser generated
from the command's dataclass in :mod:`cvae_pyro.cli.config`, which needs no torch,
so ``--help``, ``--version`` and a bad argument answer at once. Only then does it
set up the process (the OpenMP spin, Ctrl-C while torch loads), import the
library module that does the work (:data:`COMMANDS` names it, and
:func:`importlib.import_module` loads it: the one deferred import of the
package) and call its command function with the config. Our errors, failed file
operations and Ctrl-C become one line on stderr and an exit status. Nothing in
the library imports this module.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from .errors import (
    ENDING_SIGNALS,
    CheckpointError,
    ConfigError,
    CvaePyroError,
    FolderBusy,
    Terminated,
    TrainingInterrupted,
    one_line,
    printable,
    shorten_path,
    shorten_paths,
)
from .parsers import (
    COMMANDS,
    EXIT_USAGE,
    Parser,
    VersionAction,
    build_parser,
    command_line,
    config_from_args,
)

EXIT_FAILURE = 1  #: the run itself failed (for example the loss diverged)
EXIT_INTERRUPTED = 130  #: Ctrl-C
EXIT_TERMINATED = 128 + signal.SIGTERM  #: SIGTERM (143), as a shell reports a process it ended
MESSAGE_CHARS = 1000  #: longest error line printed
#: libgomp's spin before idle OpenMP threads sleep. Measured on 2 cores, one CVAE SVI step:
#: libgomp's default spin 11.8 ms alone but 290-510 ms when two processes share the cores;
#: OMP_WAIT_POLICY=PASSIVE (no spin) 20 ms in both cases; 3000 iterations 13.6 ms alone
#: and 27 ms shared. Set by :func:`tune_openmp` unless the environment sets either.
GOMP_SPINCOUNT = "3000"
INTERRUPTED_WHILE_STARTING = "cvae_pyro: interrupted while starting (nothing was written)"
TERMINATED_WHILE_STARTING = "cvae_pyro: terminated (SIGTERM) while starting (nothing was written)"
#: What a failed write or read of a file means, and the exit status it gets.
OS_ERRORS = {
    errno.ENOSPC: ("no space left on the disk", EXIT_FAILURE),
    errno.EDQUOT: ("disk quota exceeded", EXIT_FAILURE),
    errno.EACCES: ("permission denied", EXIT_USAGE),
    errno.EPERM: ("operation not permitted", EXIT_USAGE),
    errno.EROFS: ("read-only file system", EXIT_USAGE),
    errno.ENAMETOOLONG: ("file name too long", EXIT_USAGE),
    errno.EISDIR: ("is a folder, not a file", EXIT_USAGE),
    errno.ENOTDIR: ("a part of the path is not a folder", EXIT_USAGE),
    errno.EEXIST: ("a file is in the way of a folder", EXIT_USAGE),
    errno.ENOENT: ("no such file or folder", EXIT_USAGE),
}


def exit_code(err: Exception) -> int:
    """Exit status for an error: 2 for bad input, 130 for Ctrl-C, 1 otherwise."""
    if isinstance(err, (ConfigError, CheckpointError, FolderBusy)) or _own_value_error(err):
        return EXIT_USAGE
    if isinstance(err, TrainingInterrupted):
        return EXIT_INTERRUPTED
    return EXIT_FAILURE


def _own_value_error(err: BaseException) -> bool:
    """Whether ``err`` is one of the library's own ValueError classes (``data.DataError``):
    bad input the library names on purpose, one line like a command's own errors."""
    return isinstance(err, ValueError) and type(err).__module__.startswith("cvae_pyro.")


def os_error_line(err: OSError) -> tuple[str, int]:
    """One line for a failed file operation, and its exit status (2 if the user's path is bad)."""
    what, code = OS_ERRORS.get(err.errno, (err.strerror or type(err).__name__, EXIT_FAILURE))
    name = shorten_path(printable(os.fsdecode(err.filename))) if err.filename is not None else ""
    where = f" ({name})" if name else ""
    if code == EXIT_FAILURE:
        advice = "; files finished before are intact: fix it and run the same command again"
    else:
        advice = "; choose another path"
    return f"{what}{where}{advice}", code


def describe(err: BaseException, interrupted: str) -> tuple[str, int | None]:
    """The line and exit status for ``err``; status None for errors shown as tracebacks.

    Long paths in the line are shortened (:func:`~cvae_pyro.cli.errors.shorten_paths`), so
    that the reason after them is never cut off.
    """
    if isinstance(err, Terminated):
        return (
            f"terminated ({err.signal_name}); files finished before are kept; {interrupted}",
            err.exit_status,
        )
    if isinstance(err, KeyboardInterrupt):
        return (
            f"interrupted (Ctrl-C); files finished before are kept; {interrupted}",
            EXIT_INTERRUPTED,
        )
    if isinstance(err, TrainingInterrupted):
        code = EXIT_TERMINATED if err.terminated else EXIT_INTERRUPTED
        return f"{_line(err)}; {interrupted}", err.exit_status or code
    if isinstance(err, CvaePyroError) or _own_value_error(err):
        return _line(err), exit_code(err)
    if isinstance(err, OSError):
        return os_error_line(err)
    if out_of_memory(err):
        return (
            f"not enough memory ({one_line(err, 120)}); files finished before are kept: use "
            "smaller settings (--hidden, --z-dim, --samples, --batch-size)",
            EXIT_FAILURE,
        )
    return "", None


def out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation that failed (Python's, or torch's on CPU or GPU)."""
    if isinstance(err, MemoryError):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )


def _line(err: BaseException) -> str:
    """Our error's message as one line: control characters in paths escaped, long paths shortened."""
    line = shorten_paths(printable(err))
    return line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 3] + "..."


def tune_openmp() -> None:
    """Set the short OpenMP spin (:data:`GOMP_SPINCOUNT`) unless the environment chose.

    It must run before torch is imported (libgomp reads it when it loads), so the
    commands call it before they load the library, and benchmarks before ``import torch``.
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", GOMP_SPINCOUNT)


STOP_SIGNALS = (signal.SIGINT, *ENDING_SIGNALS)  #: Ctrl-C and the signals that end a command


def _stop_while_starting(signum: int, frame: object) -> None:
    """While torch loads: one line and exit at once (an exception inside torch's or numpy's
    imports can surface as some other error, or as none)."""
    _ignore_stop_signals()
    if signum == signal.SIGINT:
        line, status = INTERRUPTED_WHILE_STARTING, EXIT_INTERRUPTED
    else:
        ended = Terminated(signum)
        line = TERMINATED_WHILE_STARTING.replace("SIGTERM", ended.signal_name)
        status = ended.exit_status
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
    os._exit(status)


def _stop(signum: int, frame: object) -> None:
    """While the command works: KeyboardInterrupt (or :class:`Terminated`), which the
    training loop and the atomic writes clean up after, and :func:`main` turns into one line."""
    _ignore_stop_signals()
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


def _ignore_stop_signals() -> None:
    """Ignore Ctrl-C pressed again (and the ending signals) while the command stops, so
    that the cleanup and the one line are not cut short (and nothing at exit either)."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)


def handle_stop_signals(handler: Any) -> dict:
    """Let ``handler`` handle the :data:`STOP_SIGNALS` that the process does not ignore
    (``nohup`` ignores SIGHUP, a shell's background job SIGINT); returns their handlers
    before ({} off the main thread, where signals cannot be handled)."""
    previous = {}
    with contextlib.suppress(ValueError):  # not the main thread
        for number in STOP_SIGNALS:
            if signal.getsignal(number) is not signal.SIG_IGN:
                previous[number] = signal.signal(number, handler)
    return previous


def plain_output() -> None:
    """Let stdout and stderr write any path: characters their encoding lacks are escaped.

    With ``PYTHONIOENCODING=ascii`` (or a C locale) a non-ASCII file name would
    otherwise raise ``UnicodeEncodeError`` after the file was saved.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def main(name: str, argv: Sequence[str] | None = None) -> int:
    """Run command ``name`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Ctrl-C and the ending signals stop it with one line naming what is kept, however
    often they come; the commands only write figure files, so matplotlib draws with Agg.
    """
    command = COMMANDS[name]
    parser = build_parser(name)
    argv = list(sys.argv[1:] if argv is None else argv)
    plain_output()
    args = parser.parse_args(argv)
    previous = {}
    try:
        cfg = config_from_args(command.config, args)
        tune_openmp()
        os.environ["MPLBACKEND"] = "agg"
        previous = handle_stop_signals(_stop_while_starting)
        module, function = command.run.split(":")
        work = getattr(importlib.import_module(module), function)  # torch and Pyro load here
        handle_stop_signals(_stop)
        work(cfg, command_line(parser.prog, argv))
    except BaseException as err:
        message, code = describe(err, command.interrupted)
        if code is None:
            raise
        parser.exit(code, f"{parser.prog}: error: {message}\n")
    finally:
        if signal.SIG_IGN not in map(signal.getsignal, previous):  # no signal came
            for number, handler in previous.items():
                signal.signal(number, handler)
    return 0


def dispatch(argv: Sequence[str] | None = None) -> int:
    """``python -m cvae_pyro <command> [options]``: run one of :data:`COMMANDS`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = Parser(
        prog="python -m cvae_pyro",
        description="The CVAE of Sohn, Lee and Yan (2015) in Pyro. Commands: "
        + "; ".join(f"{name}: {c.description}" for name, c in COMMANDS.items()),
        epilog="python -m cvae_pyro <command> --help shows a command's options.",
    )
    parser.add_argument("--version", action=VersionAction)
    parser.add_argument("command", choices=tuple(COMMANDS), help="the command to run")
    if not argv or argv[0].startswith("-"):
        parser.parse_args(argv)  # --help, --version, or the error that a command is missing
    if argv[0] not in COMMANDS:
        parser.parse_args(argv[:1])  # one line naming the choices, exit status 2
    return main(argv[0], argv[1:])


def train(argv: Sequence[str] | None = None) -> int:
    """``python -m cvae_pyro.train`` and ``cvae-pyro-train``."""
    return main("train", argv)


def evaluate(argv: Sequence[str] | None = None) -> int:
    """``python -m cvae_pyro.evaluate`` and ``cvae-pyro-evaluate``."""
    return main("evaluate", argv)


def reproduce(argv: Sequence[str] | None = None) -> int:
    """``python -m cvae_pyro.reproduce`` and ``cvae-pyro-reproduce``."""
    return main("reproduce", argv)


def sample(argv: Sequence[str] | None = None) -> int:
    """``python -m cvae_pyro.sample`` and ``cvae-pyro-sample``."""
    return main("sample", argv)


def complete(argv: Sequence[str] | None = None) -> int:
    """``python -m cvae_pyro.complete`` and ``cvae-pyro-complete``."""
    return main("complete", argv)
