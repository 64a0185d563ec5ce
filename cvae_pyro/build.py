"""Build the networks a configuration describes, and load trained ones back from checkpoints."""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoints import load_checkpoint
from .conditions import LabelCondition, QuadrantCondition
from .config import TrainConfig
from .errors import CheckpointError
from .masks import input_dim, output_dim
from .models import CVAE, BaselineNN

BASELINE_NAME = "baseline"  #: file stem of the baseline's checkpoints


def baseline_architecture(cfg: TrainConfig) -> dict:
    """The settings a baseline checkpoint must match (the CVAE's extra settings do not matter)."""
    return {"condition": "quadrant", "quadrants": cfg.quadrants, "hidden": list(cfg.hidden)}


def build_baseline(quadrants: int, hidden: tuple[int, ...]) -> BaselineNN:
    """An untrained baseline NN for ``quadrants`` given quadrants."""
    return BaselineNN(input_dim(quadrants), output_dim(quadrants), hidden)


def build_cvae(cfg: TrainConfig, baseline: BaselineNN | None = None) -> CVAE:
    """An untrained CVAE for ``cfg``; the quadrant condition needs the trained ``baseline``."""
    if cfg.condition == "quadrant":
        if baseline is None:
            raise ValueError("the quadrant CVAE needs the trained baseline")
        condition = QuadrantCondition(cfg.quadrants, baseline.net)
    else:
        condition = LabelCondition()
    return CVAE(condition, cfg.z_dim, cfg.hidden, cfg.objective, cfg.alpha, cfg.prior)


def model_name(cfg: TrainConfig) -> str:
    """File stem of the CVAE's checkpoints: the objective, e.g. ``cvae`` or ``hybrid``."""
    return cfg.objective


def load_model(path: str | Path, device: str | torch.device = "cpu") -> BaselineNN | CVAE:
    """Rebuild a trained baseline or CVAE from its best checkpoint.

    Args:
        path: a checkpoint written by training (``baseline.pt``, ``cvae.pt``, ...).
        device: where to put the model.

    Raises:
        CheckpointError: the file is missing, truncated or foreign.
    """
    ckpt = load_checkpoint(path)
    arch = ckpt.get("architecture", {})
    try:
        if Path(path).stem == BASELINE_NAME:
            module = build_baseline(arch["quadrants"], tuple(arch["hidden"]))
        else:
            cfg = TrainConfig(**{**arch, "hidden": tuple(arch["hidden"])})
            baseline = None
            if cfg.condition == "quadrant":
                baseline = build_baseline(cfg.quadrants, cfg.hidden)
            module = build_cvae(cfg, baseline)
        module.load_state_dict(ckpt["state_dict"])
        module.architecture = arch
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"{path} does not hold the model it claims to: {err}") from None
    return module.to(device).eval()
