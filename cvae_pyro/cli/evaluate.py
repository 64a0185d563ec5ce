"""``python -m cvae_pyro.evaluate``: negative CLL estimates of the models in one run folder."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ..checkpoints import save_json
from ..config import EvaluateConfig
from ..errors import ConfigError
from ..evaluation import evaluate_run_dir, format_rows
from ..experiment import load_data, resolve_device
from ..locks import folder_lock
from .common import Parser, add_config_options, config_from_args, run_command


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m cvae_pyro.evaluate``, generated from :class:`EvaluateConfig`."""
    parser = Parser(
        prog="python -m cvae_pyro.evaluate",
        description="Negative CLL estimates of trained models.",
    )
    add_config_options(parser, EvaluateConfig)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m cvae_pyro.evaluate`` and ``cvae-pyro-evaluate``."""

    def body(args: argparse.Namespace, argv: list[str]) -> None:
        cfg = config_from_args(EvaluateConfig, args)
        if not cfg.run_dir.is_dir():
            raise ConfigError(f"{cfg.run_dir} does not exist: train first, or check --out-dir")
        device = resolve_device(cfg.device)
        expect = {"condition": cfg.condition, "dataset": cfg.dataset}
        task = None
        if cfg.condition == "mask":
            task = cfg.quadrants
        else:
            expect["quadrants"] = cfg.quadrants
        name = f"evaluation_{cfg.split}" + (f"_q{task}" if task else "") + ".json"
        with folder_lock(cfg.run_dir):  # no training writes the folder while it is read
            data = load_data(cfg.data_dir, cfg.limit, device, cfg.dataset)
            rows = evaluate_run_dir(
                cfg.run_dir, data, cfg.split, cfg.samples, cfg.seed, expect, quadrants=task
            )
            out = save_json({"split": cfg.split, "rows": rows}, cfg.run_dir / name)
        masks = f"{task}-quadrant layout" if task else "fixed family masks"
        where = f" ({masks})" if cfg.condition == "mask" else ""
        print(
            f"{cfg.run_dir}{where}, {cfg.split} split, {rows[0]['images']} images, grey-level "
            "Bernoulli likelihood; negative CLL in nats per image (lower is better)"
        )
        print(format_rows(rows))
        print(f"saved {out}")

    return run_command(argv, build_parser(), body, "nothing was saved; run it again")
