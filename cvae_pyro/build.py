"""Build the networks a configuration describes, and load trained ones back from checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .checkpoints import load_checkpoint
from .conditions import LabelCondition, MaskCondition, QuadrantCondition
from .config import DEFAULT_DATASET, TrainConfig
from .errors import CheckpointError, one_line
from .masks import input_dim, output_dim
from .models import CVAE, BaselineNN, MaskBaselineNN

BASELINE = "baseline"  #: kind and file stem of the baseline's checkpoints
#: Checkpoints load_trained reads.
MODEL_KINDS = ("baseline", "cvae", "gsnn", "hybrid", "label", "mask")


def baseline_architecture(cfg: TrainConfig) -> dict:
    """The settings a baseline checkpoint must match (the CVAE's extra settings do not matter)."""
    arch = {"condition": cfg.condition, "quadrants": cfg.quadrants, "hidden": list(cfg.hidden)}
    if cfg.condition == "mask":
        arch["mask_weights"] = list(cfg.mask_weights)
    return {**arch, "dataset": cfg.dataset}


def build_baseline(quadrants: int | None, hidden: tuple[int, ...]) -> BaselineNN:
    """An untrained baseline NN for ``quadrants`` given quadrants, or the mask task's (None)."""
    if quadrants is None:
        return MaskBaselineNN(hidden)
    return BaselineNN(input_dim(quadrants), output_dim(quadrants), hidden)


def build_cvae(cfg: TrainConfig, baseline: BaselineNN | None = None) -> CVAE:
    """An untrained CVAE for ``cfg``; the quadrant and mask conditions need the trained ``baseline``."""
    if cfg.condition != "label" and baseline is None:
        raise ValueError(f"the {cfg.condition} CVAE needs the trained baseline")
    if cfg.condition == "quadrant":
        condition = QuadrantCondition(cfg.quadrants, baseline, cfg.guess)
    elif cfg.condition == "mask":
        condition = MaskCondition(baseline, cfg.family)
    else:
        condition = LabelCondition()
    return CVAE(condition, cfg.z_dim, cfg.hidden, cfg.prior)


@dataclass
class Trained:
    """A model loaded from its best checkpoint.

    Attributes:
        kind: "baseline", "cvae", "gsnn", "hybrid", "label" or "mask".
        architecture: the settings it was trained with (``TrainConfig.architecture()``).
        module: the :class:`~cvae_pyro.models.BaselineNN` or :class:`~cvae_pyro.models.CVAE`,
            in evaluation mode.
    """

    kind: str
    architecture: dict
    module: nn.Module


def load_trained(
    path: str | Path,
    device: str | torch.device = "cpu",
    kind: str | tuple[str, ...] = MODEL_KINDS,
    expect: dict | None = None,
) -> Trained:
    """Rebuild a trained baseline or CVAE from its best checkpoint.

    Args:
        path: a checkpoint written by training (``baseline.pt``, ``cvae.pt``, ...).
        device: where to put the model.
        kind: the kind (or kinds) the caller can use.
        expect: settings the checkpoint must have been trained with (for example
            ``{"quadrants": 2}``).

    Raises:
        CheckpointError: the file is missing, truncated, foreign, of another kind, or
            trained with other settings.
    """
    ckpt = load_checkpoint(path, expect=expect, kind=kind)
    arch = ckpt.get("architecture", {})
    state = ckpt.get("state_dict", {})
    try:
        if ckpt["kind"] == BASELINE:
            module = build_baseline(arch.get("quadrants"), tuple(arch["hidden"]))
            state = {k.replace("net.net.", "net.", 1): v for k, v in state.items()}  # version 1
        else:
            cfg = TrainConfig(**{**arch, "hidden": tuple(arch["hidden"])})
            baseline = None
            if cfg.condition != "label":
                baseline = build_baseline(cfg.quadrants, cfg.hidden)
            module = build_cvae(cfg, baseline)
        module.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        reason = one_line(err, 160)
        raise CheckpointError(f"{path} does not hold the model it claims to: {reason}") from None
    arch = {"dataset": DEFAULT_DATASET, **arch}  # older checkpoints hold MNIST models
    return Trained(ckpt["kind"], arch, module.to(device).eval())


def load_model(path: str | Path, device: str | torch.device = "cpu") -> BaselineNN | CVAE:
    """The trained baseline or CVAE at ``path`` (see :func:`load_trained`)."""
    return load_trained(path, device).module
