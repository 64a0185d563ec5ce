"""``python -m cvae_pyro.train``: train the baseline and one CVAE objective (see the README)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from ..config import TrainConfig
from ..experiment import run
from .common import Parser, add_config_options, check_out_dir, config_from_args, run_command

RESUME_HINT = "run the same command with --resume to continue"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m cvae_pyro.train``, generated from :class:`TrainConfig`."""
    parser = Parser(
        prog="python -m cvae_pyro.train",
        description="Train the baseline NN and the CVAE of Sohn et al. (2015) on MNIST.",
    )
    add_config_options(parser, TrainConfig)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m cvae_pyro.train`` and ``cvae-pyro-train``."""

    def body(args: argparse.Namespace, argv: list[str]) -> None:
        cfg = config_from_args(TrainConfig, args)
        check_out_dir(cfg.out_dir)
        start = time.perf_counter()
        metrics = run(cfg)
        if not cfg.quiet:
            print(
                f"done in {time.perf_counter() - start:.0f} s; best {cfg.objective} at epoch "
                f"{metrics[cfg.objective]['best_epoch']}; files in {cfg.run_dir}"
            )

    return run_command(argv, build_parser(), body, RESUME_HINT)
