"""The command-line parsers, generated from the commands' settings dataclasses.

:data:`COMMANDS` names each command's settings (:mod:`cvae_pyro.cli.config`); its work is
the ``<name>_command`` function of :mod:`cvae_pyro.cli.commands`. :func:`build_parser`
makes one option per dataclass field: its type, default and choices from the field, its
help text from the field's entry under "Attributes:" in the docstring, the description
from the docstring's first paragraph. Its errors are one line with exit status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import inspect
import shlex
from collections.abc import Sequence
from typing import NoReturn, TypeVar

from .config import (
    GIVEN,
    CompleteConfig,
    EvaluateConfig,
    ReproduceConfig,
    SampleConfig,
    TrainConfig,
    flag,
    value_type,
)
from .errors import printable

Config = TypeVar("Config")
#: The settings of each command.
COMMANDS = {
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "reproduce": ReproduceConfig,
    "sample": SampleConfig,
    "complete": CompleteConfig,
}


def description(config: type) -> str:
    """The command's description: the first paragraph of its settings' docstring."""
    return " ".join(inspect.cleandoc(config.__doc__ or "").split("\n\n")[0].split())


def help_texts(config: type) -> dict[str, str]:
    """Each field's help text: its entry under "Attributes:" in the docstrings of ``config``
    and its bases."""
    texts: dict[str, str] = {}
    for cls in reversed(config.__mro__):
        name = ""
        for line in inspect.cleandoc(cls.__doc__ or "").partition("Attributes:")[2].splitlines():
            if line.startswith(" " * 8):  # an entry's next line
                texts[name] += " " + line.strip()
            elif line.strip():
                name, _, texts[name] = line.strip().partition(": ")
    return texts


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {printable(message)} (see --help)\n")


def add_config_options(parser: argparse.ArgumentParser, config: type) -> None:
    """One option per field of the dataclass ``config`` (see the module's docstring).

    ``name: bool = False`` becomes ``--name``; ``name: bool = True`` becomes ``--no-name``;
    ``tuple[T, ...]`` takes one or more values. The parsed arguments hold only the options
    given (``argparse.SUPPRESS``): the dataclass fills in its defaults, and knows which
    settings were given (:func:`config_from_args`).
    """
    texts = help_texts(config)
    for f in dataclasses.fields(config):
        kind, several = value_type(f)
        text, options = texts.get(f.name, ""), {"dest": f.name, "default": argparse.SUPPRESS}
        if kind is bool:
            action = "store_false" if f.default else "store_true"
            text = f"do not {text[0].lower()}{text[1:]}" if f.default else text
            parser.add_argument(flag(f), action=action, help=text, **options)
            continue
        if f.default is not None:
            text += f" (default: {' '.join(map(str, f.default)) if several else f.default})"
        allowed = f.metadata.get("allowed")
        options["choices"] = allowed if isinstance(allowed, tuple) else None
        parser.add_argument(
            flag(f), type=kind, nargs="+" if several else None, help=text, **options
        )


def build_parser(name: str | None = None) -> Parser:
    """The parser of ``python -m cvae_pyro.<name>``, or of ``python -m cvae_pyro`` (None)."""
    if name:
        parser = Parser(prog=f"python -m cvae_pyro.{name}", description=description(COMMANDS[name]))
    else:
        commands = "; ".join(f"{command}: {description(c)}" for command, c in COMMANDS.items())
        parser = Parser(
            prog="python -m cvae_pyro",
            description=f"The CVAE of Sohn, Lee and Yan (2015) in Pyro. Commands: {commands}",
            epilog="python -m cvae_pyro <command> --help shows a command's options.",
        )
    version = f"cvae_pyro {importlib.metadata.version('cvae-pyro')}"
    parser.add_argument(
        "--version", action="version", version=version, help="show the version and exit"
    )
    if name:
        add_config_options(parser, COMMANDS[name])
    else:
        parser.add_argument("command", choices=tuple(COMMANDS), help="the command to run")
    return parser


def config_from_args(config: type[Config], args: argparse.Namespace) -> Config:
    """The dataclass ``config`` built (and checked) from the options given.

    While it is built, :data:`~cvae_pyro.cli.config.GIVEN` names them, so that an option
    the command would ignore is refused even when its value is the default.
    """
    token = GIVEN.set(frozenset(vars(args)))
    try:
        return config(**vars(args))
    finally:
        GIVEN.reset(token)


def command_line(prog: str, argv: Sequence[str]) -> str:
    """The command as typed: ``prog`` and the arguments passed to ``main``, shell-quoted."""
    return " ".join([prog, *map(shlex.quote, argv)])
