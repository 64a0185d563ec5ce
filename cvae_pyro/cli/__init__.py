"""The command line: ``python -m cvae_pyro.<command>``.

``python -m cvae_pyro.train`` (and ``evaluate``, ``reproduce``, ``sample``, ``complete``;
also the ``cvae-pyro-*`` scripts) all run :func:`main`. It sets up the process (the OpenMP
spin, which must come before torch loads, and Agg for matplotlib), then loads
:mod:`cvae_pyro.cli.config` (and with it torch and Pyro), parses the arguments into the
command's settings dataclass and runs the command. Ctrl-C and the signals that end a
process, our errors, failed file operations and failed allocations become one line on
stderr and an exit status. Nothing in the library imports this module.
"""

import errno
import functools
import importlib
import os
import shlex
import signal
import sys

from .errors import CvaePyroError, Terminated, TrainingInterrupted, one_line

EXIT_FAILURE = 1  #: the run itself failed (for example the loss diverged, or the disk is full)
EXIT_USAGE = 2  #: bad arguments, data, checkpoints or paths
EXIT_INTERRUPTED = 130  #: Ctrl-C (an ending signal exits with 128 plus its number)
#: Failed file operations that the user's path causes (exit status 2; any other is 1).
PATH_ERRORS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG, errno.EISDIR}
PATH_ERRORS |= {errno.ENOTDIR, errno.EEXIST, errno.ENOENT}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
KEPT = "files finished before are kept"


def tune_openmp() -> None:
    """Set a short OpenMP spin unless the environment chose.

    Measured on 2 cores, one CVAE SVI step: libgomp's default spin 11.8 ms alone but
    290-510 ms when two processes share the cores; ``OMP_WAIT_POLICY=PASSIVE`` (no spin)
    20 ms in both cases; ``GOMP_SPINCOUNT=3000`` 13.6 ms alone and 27 ms shared. It must
    run before torch is imported (libgomp reads it when it loads), so the commands call it
    before they load the library, and benchmarks before ``import torch``.
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", "3000")


def describe(err: BaseException, interrupted: str) -> tuple[str, int | None]:
    """The line and exit status for ``err``; status None for errors shown as tracebacks.

    ``interrupted`` is the command's advice after Ctrl-C.
    """
    if isinstance(err, KeyboardInterrupt | TrainingInterrupted):  # Ctrl-C, or a signal
        how = f"terminated ({err})" if isinstance(err, Terminated) else "interrupted (Ctrl-C)"
        what = err if isinstance(err, TrainingInterrupted) else f"{how}; {KEPT}"
        return f"{what}; {interrupted}", getattr(err, "exit_status", EXIT_INTERRUPTED)
    # Our errors, and the library's own ValueErrors (data.DataError): bad input.
    if isinstance(err, CvaePyroError | ValueError) and type(err).__module__.startswith("cvae_pyro"):
        return str(err), getattr(err, "exit_status", EXIT_USAGE)
    if isinstance(err, OSError):
        what = err.strerror.lower() if err.strerror else one_line(err)
        what += "" if err.filename is None else f" ({os.fsdecode(err.filename)})"
        if err.errno in PATH_ERRORS:
            return f"{what}; choose another path", EXIT_USAGE
        return f"{what}; {KEPT}: fix it and run the same command again", EXIT_FAILURE
    if isinstance(err, MemoryError) or "allocate memory" in str(err) or "out of memory" in str(err):
        advice = "use smaller settings (--hidden, --z-dim, --samples, --batch-size)"
        return f"not enough memory ({one_line(err, 120)}); {KEPT}: {advice}", EXIT_FAILURE
    return "", None


def _stop(signum: int, frame: object) -> None:
    """Ctrl-C or an ending signal: ignore the next ones while the command stops, and raise
    KeyboardInterrupt (or :class:`Terminated`), which the training loop and the atomic
    writes clean up after, and :func:`main` turns into one line."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated(signum)


def main(name: str, argv: list[str] | None = None) -> int:
    """Run command ``name`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    tune_openmp()
    os.environ["MPLBACKEND"] = "agg"  # the commands only write figure files
    for stream in (sys.stdout, sys.stderr):  # a file name the encoding lacks is escaped
        stream.reconfigure(errors="backslashreplace")
    config = importlib.import_module("cvae_pyro.cli.config")  # torch and Pyro load here
    parser, settings = config.build_parser(name), config.COMMANDS[name]
    args = parser.parse_args(argv)
    command = " ".join([parser.prog, *map(shlex.quote, argv)])
    previous = {n: signal.getsignal(n) for n in STOP_SIGNALS}
    for number, handler in previous.items():  # a signal ignored (nohup: SIGHUP) stays so
        signal.signal(number, signal.SIG_IGN if handler == signal.SIG_IGN else _stop)
    try:
        work = getattr(importlib.import_module("cvae_pyro.cli.commands"), f"{name}_command")
        work(settings(**vars(args)), command)
    except BaseException as err:
        line, status = describe(err, settings.interrupted)
        if status is None:
            raise
        parser.error(line, status, "")
    finally:
        if _stop in map(signal.getsignal, STOP_SIGNALS):  # no signal came
            for number, handler in previous.items():
                signal.signal(number, handler)
    return 0


#: The ``python -m cvae_pyro.<command>`` entry points (also the ``cvae-pyro-<command>``
#: scripts): each takes ``argv``.
train = functools.partial(main, "train")
evaluate = functools.partial(main, "evaluate")
reproduce = functools.partial(main, "reproduce")
sample = functools.partial(main, "sample")
complete = functools.partial(main, "complete")
