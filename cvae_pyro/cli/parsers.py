"""The command-line parsers, generated from the commands' settings dataclasses.

:data:`COMMANDS` names each command's settings (:mod:`cvae_pyro.cli.config`,
:mod:`cvae_pyro.cli.draw_config`), its help line, the library function that does its work
and its advice after Ctrl-C. :func:`build_parser` makes one option per dataclass field
(type, default, help and choices from the field); its errors are one line with exit
status 2. Nothing here imports torch, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .choices import GIVEN
from .config import EvaluateConfig, ReproduceConfig, TrainConfig
from .draw_config import CompleteConfig, SampleConfig
from .errors import printable

EXIT_USAGE = 2  #: bad arguments, data or checkpoints


Config = TypeVar("Config")


@dataclass(frozen=True)
class Command:
    """One command: its settings, its help line, where its work is done, its Ctrl-C advice."""

    config: type
    description: str
    run: str  # "module:function", called with (config, command line) once parsed
    interrupted: str = "run the same command again"


COMMANDS = {
    "train": Command(
        TrainConfig,
        "Train the baseline NN and the CVAE of Sohn et al. (2015).",
        "cvae_pyro.cli.commands:train_command",
        "run the same command with --resume to continue",
    ),
    "evaluate": Command(
        EvaluateConfig,
        "Negative CLL estimates of trained models.",
        "cvae_pyro.cli.commands:evaluate_command",
        "nothing was saved; run it again",
    ),
    "reproduce": Command(
        ReproduceConfig,
        "Train, evaluate and tabulate the CLL table.",
        "cvae_pyro.cli.commands:reproduce_command",
        "run the same command again to continue; it resumes by itself",
    ),
    "sample": Command(
        SampleConfig,
        "Draw digits from a label CVAE trained with --condition label, or a picture's style "
        "as every class.",
        "cvae_pyro.cli.commands:sample_command",
        "nothing was written; run it again",
    ),
    "complete": Command(
        CompleteConfig,
        "Complete any region of a picture with a trained mask CVAE.",
        "cvae_pyro.cli.commands:complete_command",
    ),
}


def version() -> str:
    """The installed package's version (written once, in pyproject.toml)."""
    import importlib.metadata  # only for --version: it reads every installed package's files

    try:
        return importlib.metadata.version("cvae-pyro")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


class VersionAction(argparse.Action):
    """``--version``: print the version and exit (looked up only when asked for)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        help_text = "show the version and exit"
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help_text)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        print(f"cvae_pyro {version()}")
        parser.exit()


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2).

    A value that starts with ``-`` (``--hide -1,0,10,10``, ``--image -dash.png``) reads as
    an option, so argparse says only that the value is missing; the line then names the
    value and how to give it (``--hide=-1,0,10,10``).
    """

    argv: Sequence[str] = ()  #: the arguments being parsed, for the messages

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:
        """Parse ``args`` (default ``sys.argv[1:]``), remembering them for :meth:`error`."""
        self.argv = list(sys.argv[1:] if args is None else args)
        return super().parse_args(self.argv, namespace)

    def error(self, message: str) -> typing.NoReturn:
        for option, value in zip(self.argv, self.argv[1:], strict=False):
            missing = message.startswith(f"argument {option}:") and "expected" in message
            if missing and value.startswith("-") and value not in self._option_string_actions:
                message = (
                    f"argument {option}: the value {value!r} starts with '-', so it reads as "
                    f"an option; write {option}={value}"
                )
                break
        self.exit(EXIT_USAGE, f"{self.prog}: error: {printable(message)} (see --help)\n")


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
    The parsed arguments hold only the options given (``argparse.SUPPRESS``): the
    dataclass fills in its defaults, and knows which settings were given
    (:func:`config_from_args`).
    """
    hints = typing.get_type_hints(config)
    for f in dataclasses.fields(config):
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "")
        kind = _unwrap_optional(hints[f.name])
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        options: dict[str, Any] = {"dest": f.name, "help": help_text, "default": argparse.SUPPRESS}
        if kind is bool:
            if default:
                flag = "--no-" + flag.removeprefix("--")
                options["help"] = f"do not {help_text[:1].lower()}{help_text[1:]}"
            parser.add_argument(flag, action="store_false" if default else "store_true", **options)
            continue
        if typing.get_origin(kind) is tuple:
            kind = typing.get_args(kind)[0]
            options["nargs"] = "+"
        if "choices" in f.metadata:
            options["choices"] = f.metadata["choices"]
        if default is dataclasses.MISSING:
            options["required"] = True
        elif default is not None:
            shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
            options["help"] = f"{help_text} (default: {shown})"
        parser.add_argument(flag, type=kind, **options)


def build_parser(name: str) -> Parser:
    """The parser of ``python -m cvae_pyro.<name>``, generated from its config dataclass."""
    command = COMMANDS[name]
    parser = Parser(prog=f"python -m cvae_pyro.{name}", description=command.description)
    parser.add_argument("--version", action=VersionAction)
    add_config_options(parser, command.config)
    return parser


def config_from_args(config: type[Config], args: argparse.Namespace) -> Config:
    """The dataclass ``config`` built (and validated) from the options given.

    While it is built, :data:`~cvae_pyro.cli.choices.GIVEN` names them, so that an option
    the command would ignore is refused even when its value is the default.
    """
    given = vars(args)
    token = GIVEN.set(frozenset(given))
    try:
        return config(**given)
    finally:
        GIVEN.reset(token)


def command_line(prog: str, argv: Sequence[str]) -> str:
    """The command as typed: ``prog`` and the arguments passed to ``main``, shell-quoted."""
    return " ".join([prog, *map(shlex.quote, argv)])
