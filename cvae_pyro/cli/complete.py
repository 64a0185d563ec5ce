"""``python -m cvae_pyro.complete``: complete the hidden part of a picture into a PNG."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch

from ..completion import complete, completion_figure, find_model, keep_mask
from ..config import CompleteConfig
from ..errors import ConfigError
from ..experiment import load_data
from ..figures import save_figure
from ..pictures import hide_mask, picture_to_digit, read_mask
from .common import Parser, add_config_options, check_out_dir, config_from_args, run_command


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m cvae_pyro.complete``, generated from :class:`CompleteConfig`."""
    parser = Parser(
        prog="python -m cvae_pyro.complete",
        description="Complete any region of a picture with a trained mask CVAE.",
    )
    add_config_options(parser, CompleteConfig)
    return parser


def read_picture(cfg: CompleteConfig) -> torch.Tensor:
    """``(784,)``: ``--image`` made MNIST-like, or dataset image ``--index`` of ``--split``."""
    if cfg.image is not None:
        return picture_to_digit(cfg.image)
    split = load_data(cfg.data_dir, None, torch.device("cpu"), cfg.dataset).split(cfg.split)
    if cfg.index >= len(split):
        raise ConfigError(f"--index {cfg.index}: the {cfg.split} split has {len(split)} images")
    return split.images[cfg.index]


def visible_pixels(cfg: CompleteConfig) -> torch.Tensor:
    """``(784,)`` bool visible pixels from ``--keep``, ``--mask`` or ``--hide``."""
    if cfg.keep is not None:
        return keep_mask(cfg.keep)
    if cfg.mask is not None:
        return read_mask(cfg.mask)
    return hide_mask(cfg.hide)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m cvae_pyro.complete`` and ``cvae-pyro-complete``."""

    def body(args: argparse.Namespace, argv: list[str]) -> None:
        cfg = config_from_args(CompleteConfig, args)
        visible = visible_pixels(cfg)
        picture = read_picture(cfg)
        out = Path(cfg.out)
        check_out_dir(out.parent, "--out folder")
        cvae, model = find_model(cfg.out_dir, cfg.dataset, cfg.keep)
        completion = complete(cvae, picture, visible, cfg.n, cfg.seed, model)
        print(f"completed by the {model}")
        print(f"saved {save_figure(completion_figure(completion), out)}")

    return run_command(argv, build_parser(), body)
