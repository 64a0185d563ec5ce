"""Train the baseline and the CVAE: ``python -m cvae_pyro.train --quadrants 1``.

For the quadrant task the baseline NN is trained first (or loaded from
``--out-dir`` when a finished one is there), frozen, and fed to the CVAE's
prior network. For ``--condition label`` only the label CVAE is trained.
Everything lands in ``out_dir/q{n}/`` (or ``out_dir/label/``): checkpoints,
``metrics.json`` and ``samples.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import pyro
import torch

from .build import BASELINE_NAME, baseline_architecture, build_baseline, build_cvae, model_name
from .checkpoints import load_checkpoint, save_json
from .cli import Parser, check_out_dir, cli
from .conditions import QuadrantCondition
from .config import CONDITIONS, DEVICES, TrainConfig
from .data import MNIST, load_mnist
from .errors import ConfigError
from .masks import split_xy
from .models import CVAE, OBJECTIVES, PRIORS, BaselineNN
from .training import TrainState, elbo_loss, fit, is_finished


def resolve_device(name: str) -> torch.device:
    """``auto`` means cuda when available; asking for cuda without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is available")
    return torch.device(name)


def load_data(cfg: TrainConfig, device: torch.device) -> MNIST:
    """MNIST's three splits on ``device``, each cut to ``cfg.limit`` images."""
    data = load_mnist(cfg.data_dir)
    return MNIST(
        *(data.split(s).head(cfg.limit).to(device) for s in ("train", "validation", "test"))
    )


def train_baseline(cfg: TrainConfig, data: MNIST) -> tuple[BaselineNN, TrainState]:
    """Train the baseline, or load it when a finished one is in ``cfg.run_dir``."""
    device = data.train.images.device
    pyro.set_rng_seed(cfg.seed)  # initial weights depend on the seed alone
    baseline = build_baseline(cfg.quadrants, cfg.hidden).to(device)
    arch = baseline_architecture(cfg)
    last = cfg.run_dir / f"{BASELINE_NAME}_last.pt"
    if is_finished(last):
        ckpt = load_checkpoint(cfg.run_dir / f"{BASELINE_NAME}.pt", expect=arch)
        baseline.load_state_dict(ckpt["state_dict"])
        if not cfg.quiet:
            print(f"baseline: loaded the finished baseline from {cfg.run_dir}")
        return baseline.eval(), TrainState(**load_checkpoint(last)["train_state"])
    train = split_xy(data.train.images, cfg.quadrants)
    val = split_xy(data.validation.images, cfg.quadrants)
    state = fit(baseline, BASELINE_NAME, train, val, cfg, arch)
    return baseline, state


def train_cvae(
    cfg: TrainConfig, data: MNIST, baseline: BaselineNN | None
) -> tuple[CVAE, TrainState]:
    """Train the CVAE with ``cfg.objective`` (the baseline, if any, stays frozen)."""
    pyro.set_rng_seed(cfg.seed)  # initial weights depend on the seed alone
    cvae = build_cvae(cfg, baseline).to(data.train.images.device)
    train, val = cvae.condition.pairs(data.train), cvae.condition.pairs(data.validation)
    state = fit(cvae, model_name(cfg), train, val, cfg, cfg.architecture())
    return cvae, state


def _summary(state: TrainState) -> dict:
    return {
        "history": state.history,
        "best_epoch": state.best_epoch,
        "epochs_run": state.epoch,
        "best_val_loss_nats_per_image": state.best_val_loss,
        "seconds_total": sum(r["seconds"] for r in state.history),
    }


def update_metrics(cfg: TrainConfig, entries: dict) -> dict:
    """Merge ``entries`` into ``run_dir/metrics.json`` (written atomically)."""
    path = cfg.run_dir / "metrics.json"
    metrics = {}
    if path.exists():
        import json

        metrics = json.loads(path.read_text())
    metrics.update(entries)
    save_json(metrics, path)
    return metrics


def run(cfg: TrainConfig) -> dict:
    """Train everything ``cfg`` asks for; returns the metrics written to ``metrics.json``."""
    device = resolve_device(cfg.device)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    data = load_data(cfg, device)
    entries: dict = {}
    baseline = None
    if cfg.condition == "quadrant":
        baseline, state = train_baseline(cfg, data)
        entries[BASELINE_NAME] = _summary(state)
        condition = QuadrantCondition(cfg.quadrants, baseline.net)
        val = condition.pairs(data.validation)
        nll = elbo_loss(baseline, val, cfg.eval_batch_size, cfg.seed)
        entries.setdefault(BASELINE_NAME, {})["val_nll_nats_per_image"] = nll
    cvae, state = train_cvae(cfg, data, baseline)
    val = cvae.condition.pairs(data.validation)
    summary = _summary(state)
    summary["val_negative_elbo_nats_per_image"] = elbo_loss(
        cvae, val, cfg.eval_batch_size, cfg.seed
    )
    summary["config"] = cfg.to_dict()
    entries[model_name(cfg)] = summary
    metrics = update_metrics(cfg, entries)
    if cfg.figures:
        from .plots import save_training_figures

        save_training_figures(cfg, data.validation, baseline, cvae)
    return metrics


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m cvae_pyro.train``."""
    p = Parser(
        prog="python -m cvae_pyro.train",
        description="Train the baseline NN and the CVAE of Sohn et al. (2015) on MNIST.",
    )
    p.add_argument(
        "--quadrants",
        type=int,
        choices=(1, 2, 3),
        help="quadrants given as input (required for --condition quadrant)",
    )
    p.add_argument(
        "--condition",
        choices=CONDITIONS,
        default="quadrant",
        help="condition on a partial image (quadrant) or the digit label (label)",
    )
    p.add_argument("--objective", choices=OBJECTIVES, default="cvae", help="training objective")
    p.add_argument("--alpha", type=float, default=0.5, help="CVAE weight of the hybrid objective")
    p.add_argument(
        "--prior",
        choices=PRIORS,
        default="conditional",
        help="conditional prior network p(z|c), or the standard normal",
    )
    p.add_argument("--epochs", type=int, default=50, help="most epochs per model")
    p.add_argument(
        "--patience",
        type=int,
        default=5,
        help="early stopping: epochs without a better validation loss",
    )
    p.add_argument("--batch-size", type=int, default=128, help="images per step")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--z-dim", type=int, default=200, help="latent size")
    p.add_argument("--hidden", type=int, nargs="+", default=[500, 500], help="hidden widths")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--device", choices=DEVICES, default="auto", help="cpu, cuda or auto")
    p.add_argument("--data-dir", help="folder with the MNIST IDX files (else $CVAE_PYRO_DATA)")
    p.add_argument("--out-dir", default="runs", help="where checkpoints and figures go")
    p.add_argument("--limit", type=int, help="use only the first N images of each split")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--quiet", action="store_true", help="no progress bars or epoch lines")
    p.add_argument("--no-figures", action="store_true", help="skip the sample figures")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """A validated :class:`TrainConfig` from parsed arguments."""
    if args.condition == "quadrant" and args.quadrants is None:
        raise ConfigError("--quadrants is required for the quadrant task (1, 2 or 3)")
    return TrainConfig(
        quadrants=args.quadrants,
        condition=args.condition,
        objective=args.objective,
        alpha=args.alpha,
        prior=args.prior,
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        lr=args.lr,
        z_dim=args.z_dim,
        hidden=tuple(args.hidden),
        seed=args.seed,
        device=args.device,
        data_dir=args.data_dir,
        out_dir=args.out_dir,
        limit=args.limit,
        resume=args.resume,
        quiet=args.quiet,
        figures=not args.no_figures,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m cvae_pyro.train`` and ``cvae-pyro-train``."""

    def body(args: argparse.Namespace) -> None:
        cfg = config_from_args(args)
        check_out_dir(cfg.out_dir)
        start = time.perf_counter()
        metrics = run(cfg)
        if not cfg.quiet:
            name = model_name(cfg)
            print(
                f"done in {time.perf_counter() - start:.0f} s; best {name} at epoch "
                f"{metrics[name]['best_epoch']}; files in {cfg.run_dir}"
            )

    return cli(argv, build_parser(), body)


if __name__ == "__main__":
    sys.exit(main())
