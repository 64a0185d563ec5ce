"""``python -m cvae_pyro.reproduce``: train, evaluate and tabulate the 1/2/3-quadrant table."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from ..config import ReproduceConfig
from ..reproduction import combine, reproduce
from ..tables import markdown_table
from .common import (
    Parser,
    add_config_options,
    check_out_dir,
    command_line,
    config_from_args,
    run_command,
)

PROG = "python -m cvae_pyro.reproduce"


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m cvae_pyro.reproduce``, generated from :class:`ReproduceConfig`."""
    parser = Parser(prog=PROG, description="Train, evaluate and tabulate the CLL table.")
    add_config_options(parser, ReproduceConfig)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m cvae_pyro.reproduce`` and ``cvae-pyro-reproduce``."""

    def body(args: argparse.Namespace, argv: list[str]) -> None:
        cfg = config_from_args(ReproduceConfig, args)
        results_dir = check_out_dir(cfg.results_dir, "--results-dir")
        command = command_line(PROG, argv)
        if cfg.combine:
            table = combine(cfg.combine, results_dir, command)
            quadrants = sorted(table.quadrants.unique())
        else:
            check_out_dir(cfg.runs_dir, "--runs-dir")
            jobs = len(cfg.seeds) * len(cfg.quadrants) * (len(cfg.objectives) + 1)
            with tqdm(total=jobs, unit="job", desc="reproduce", position=0) as bar:
                started = []

                def progress(phase: str) -> None:
                    bar.update(len(started))  # the phase before this one is done
                    started[:] = [phase]
                    bar.set_description(phase)

                table = reproduce(cfg, command, progress)
                bar.update(1)
            quadrants = list(cfg.quadrants)
        print(markdown_table(table, quadrants))
        print(f"wrote {Path(cfg.results_dir) / 'cll_table.md'}")

    return run_command(argv, build_parser(), body)
