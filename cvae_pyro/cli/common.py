"""Shared command-line plumbing: parsers generated from the config dataclasses, one-line errors."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import shlex
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import (
    CheckpointError,
    ConfigError,
    CvaePyroError,
    DataError,
    FolderBusy,
    TrainingInterrupted,
    one_line,
)

EXIT_USAGE = 2  #: bad arguments, data or checkpoints
EXIT_FAILURE = 1  #: the run itself failed (for example the loss diverged)
EXIT_INTERRUPTED = 130  #: Ctrl-C
MESSAGE_CHARS = 1000  #: longest error line printed
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
    errno.ENOENT: ("no such file or folder", EXIT_USAGE),
}

Config = TypeVar("Config")


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _unwrap_optional(kind: Any) -> Any:
    """``int | None`` to ``int``; other types unchanged."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return kind


def add_config_options(parser: argparse.ArgumentParser, config: type) -> None:
    """One option per field of the dataclass ``config``: type, default and help from the field.

    ``name: bool = False`` becomes ``--name``; ``name: bool = True`` becomes ``--no-name``;
    ``tuple[T, ...]`` takes one or more values; ``choices`` comes from the field's metadata.
    """
    hints = typing.get_type_hints(config)
    for f in dataclasses.fields(config):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        kind = _unwrap_optional(hints[f.name])
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        required = default is dataclasses.MISSING
        if kind is bool:
            if default:
                parser.add_argument(
                    f"--no-{f.name.replace('_', '-')}",
                    dest=f.name,
                    action="store_false",
                    help=f"do not {help_text[:1].lower()}{help_text[1:]}",
                )
            else:
                parser.add_argument(flag, dest=f.name, action="store_true", help=help_text)
            continue
        options: dict[str, Any] = {"dest": f.name, "help": help_text}
        if typing.get_origin(kind) is tuple:
            kind = typing.get_args(kind)[0]
            options["nargs"] = "+"
        if "choices" in f.metadata:
            options["choices"] = f.metadata["choices"]
        if required:
            options["required"] = True
        else:
            options["default"] = default
            shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
            if default is not None:
                options["help"] = f"{help_text} (default: {shown})"
        parser.add_argument(flag, type=kind, **options)


def config_from_args(config: type[Config], args: argparse.Namespace) -> Config:
    """The dataclass ``config`` built (and validated) from parsed arguments."""
    return config(**{f.name: getattr(args, f.name) for f in dataclasses.fields(config)})


def command_line(prog: str, argv: Sequence[str]) -> str:
    """The command as typed: ``prog`` and the arguments passed to ``main``, shell-quoted."""
    return " ".join([prog, *map(shlex.quote, argv)])


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
    if isinstance(err, (ConfigError, DataError, CheckpointError, FolderBusy)):
        return EXIT_USAGE
    if isinstance(err, TrainingInterrupted):
        return EXIT_INTERRUPTED
    return EXIT_FAILURE


def os_error_line(err: OSError) -> tuple[str, int]:
    """One line for a failed file operation, and its exit status (2 if the user's path is bad)."""
    what, code = OS_ERRORS.get(err.errno, (err.strerror or type(err).__name__, EXIT_FAILURE))
    name = err.filename if err.filename is not None else ""
    name = str(name) if len(str(name)) <= 120 else str(name)[:117] + "..."
    where = f" ({name})" if name else ""
    if code == EXIT_FAILURE:
        advice = "; files finished before are intact: fix it and run the same command again"
    else:
        advice = "; choose another path"
    return f"{what}{where}{advice}", code


def run_command(
    argv: Sequence[str] | None,
    parser: argparse.ArgumentParser,
    body: Callable[[argparse.Namespace, list[str]], None],
    interrupted: str = "run the same command again",
    cleanup: Callable[[], None] | None = None,
) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run ``body(args, argv)``.

    Our errors, failed file operations and Ctrl-C become one line on stderr and an exit
    status (see :func:`exit_code`); ``interrupted`` ends a Ctrl-C message (what to do
    next). ``cleanup`` (for example closing a progress bar) runs before any message.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        body(args, argv)
    except BaseException as err:
        if cleanup is not None:
            cleanup()
        message, code = describe(err, interrupted)
        if code is None:
            raise
        parser.exit(code, f"{parser.prog}: error: {message}\n")
    return 0


def describe(err: BaseException, interrupted: str) -> tuple[str, int | None]:
    """The line and exit status for ``err``; status None for errors shown as tracebacks."""
    if isinstance(err, KeyboardInterrupt):
        return (
            f"interrupted (Ctrl-C); files finished before are kept; {interrupted}",
            EXIT_INTERRUPTED,
        )
    if isinstance(err, TrainingInterrupted):
        return f"{one_line(err, MESSAGE_CHARS)}; {interrupted}", EXIT_INTERRUPTED
    if isinstance(err, CvaePyroError):
        return one_line(err, MESSAGE_CHARS), exit_code(err)
    if isinstance(err, OSError):
        return os_error_line(err)
    return "", None
