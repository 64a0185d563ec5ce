"""``python -m cvae_pyro.sample``: draw digits from a trained label CVAE into a PNG."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from ..build import load_trained
from ..config import SampleConfig, run_dir
from ..data import dataset_info
from ..errors import ConfigError
from ..experiment import resolve_device
from ..figures import save_figure
from ..label_figures import WRAP_COLUMNS, grid_figure
from ..sampling import MAX_SAMPLES, parse_digits, sample_digits
from .common import Parser, add_config_options, check_out_dir, config_from_args, run_command

MAX_NAME_BYTES = 255  #: longest file name most file systems accept


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m cvae_pyro.sample``, generated from :class:`SampleConfig`."""
    parser = Parser(
        prog="python -m cvae_pyro.sample",
        description="Draw digits from a label CVAE trained with --condition label.",
    )
    add_config_options(parser, SampleConfig)
    return parser


def samples_figure(
    samples: torch.Tensor, digits: list[int], class_names: Sequence[str] | None = None
) -> plt.Figure:
    """``samples`` ``(D, n, 784)``: one row per class, or one class's samples wrapped in rows.

    Rows are named by ``class_names`` (default: the digits themselves).
    """
    names = [class_names[d] if class_names else str(d) for d in digits]
    if len(digits) == 1:
        n = samples.shape[1]
        rows = [samples[0, i : i + WRAP_COLUMNS] for i in range(0, n, WRAP_COLUMNS)]
        row_names = [names[0]] + [""] * (len(rows) - 1)
        return grid_figure(rows, row_names, f"class {digits[0]} ({names[0]}): {n} samples")
    return grid_figure(list(samples), names, "each column: one latent draw")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m cvae_pyro.sample`` and ``cvae-pyro-sample``."""

    def body(args: argparse.Namespace, argv: list[str]) -> None:
        cfg = config_from_args(SampleConfig, args)
        digits = parse_digits(cfg.digit)
        if not 1 <= cfg.n <= MAX_SAMPLES:
            raise ConfigError(f"--n must lie in 1..{MAX_SAMPLES}, got {cfg.n}")
        default = "digits.png" if len(digits) > 1 else f"digit_{digits[0]}.png"
        out = check_image_path(Path(cfg.out or default))
        path = cfg.checkpoint or run_dir(cfg.out_dir, "label", None, cfg.dataset) / "cvae.pt"
        expect = {"dataset": cfg.dataset}
        cvae = load_trained(path, resolve_device(cfg.device), kind="label", expect=expect).module
        samples = sample_digits(cvae, digits, cfg.n, cfg.seed)  # (D, n, 784)
        names = dataset_info(cfg.dataset).class_names
        print(f"saved {save_figure(samples_figure(samples, digits, names), out)}")

    return run_command(argv, build_parser(), body, "nothing was written; run it again")


def check_image_path(out: Path) -> Path:
    """``out`` if an image can be written there in the format its suffix names; else ConfigError.

    The suffix picks the format (.png, .jpg, .pdf, .svg, ... as matplotlib writes them).
    """
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a file name such as {out / 'digits.png'}")
    if len(out.name.encode()) > MAX_NAME_BYTES:
        raise ConfigError(f"--out file name is {len(out.name.encode())} bytes; the limit is 255")
    kind = out.suffix.lstrip(".").lower()
    formats = plt.figure().canvas.get_supported_filetypes()
    plt.close("all")
    if kind not in formats:
        raise ConfigError(
            f"--out {out.name}: use a suffix matplotlib writes ({', '.join(formats)})"
        )
    check_out_dir(out.parent, "--out folder")
    return out
