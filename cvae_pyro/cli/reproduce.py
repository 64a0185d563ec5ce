"""``python -m cvae_pyro.reproduce``: train, evaluate and tabulate the 1/2/3-quadrant table."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from ..config import ReproduceConfig
from ..data import dataset_info
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
#: What to do after Ctrl-C: reproduce resumes interrupted runs by itself (it has no --resume).
RESUMES_ITSELF = "run the same command again to continue; it resumes by itself"


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m cvae_pyro.reproduce``, generated from :class:`ReproduceConfig`."""
    parser = Parser(prog=PROG, description="Train, evaluate and tabulate the CLL table.")
    add_config_options(parser, ReproduceConfig)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m cvae_pyro.reproduce`` and ``cvae-pyro-reproduce``."""

    bars: list[tqdm] = []

    def close_bars() -> None:
        """Close the progress bar and end its line, so an error gets a line of its own."""
        for bar in bars:
            if not bar.disable:
                bar.close()
                bar.fp.write("\n")
                bar.fp.flush()

    def body(args: argparse.Namespace, argv: list[str]) -> None:
        cfg = config_from_args(ReproduceConfig, args)
        results_dir = check_out_dir(cfg.results_dir, "--results-dir")
        command = command_line(PROG, argv)
        if cfg.combine:
            title = dataset_info(cfg.dataset).title
            table = combine(cfg.combine, results_dir, command, title)
            quadrants = sorted(table.quadrants.unique())
        else:
            check_out_dir(cfg.runs_dir, "--runs-dir")
            jobs = len(cfg.seeds) * len(cfg.quadrants) * (len(cfg.objectives) + 1)
            jobs = 0 if cfg.mask_only else jobs
            if cfg.mask_model:
                jobs += len(cfg.seeds) * (1 + len(cfg.quadrants))
            bar = tqdm(total=jobs, unit="job", desc="reproduce", position=0)
            bars.append(bar)
            started = []

            def progress(phase: str) -> None:
                bar.update(len(started))  # the phase before this one is done
                started[:] = [phase]
                bar.set_description(phase)

            table = reproduce(cfg, command, progress)
            bar.update(1)
            bar.close()
            quadrants = list(cfg.quadrants)
        print(markdown_table(table, quadrants))
        print(f"wrote {Path(cfg.results_dir) / 'cll_table.md'}")

    return run_command(argv, build_parser(), body, RESUMES_ITSELF, close_bars)
