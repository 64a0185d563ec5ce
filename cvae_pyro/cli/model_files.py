"""Trained models: building them from settings, loading them back, and the shipped ones.

:func:`build_baseline` and :func:`build_cvae` make the untrained networks of a
:class:`~cvae_pyro.cli.config.TrainConfig`; :func:`load_trained` rebuilds any trained
baseline or CVAE from its best checkpoint, checked against the settings it claims
(weights that do not fit them are refused in one line). The models shipped inside the
package (``cvae_pyro/pretrained/``, made by ``python -m experiments.pretrained``) are found through
their manifest (:func:`pretrained_models`) and loaded only when their SHA-256 is the one
recorded when they were made (:func:`load_pretrained`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..beyond.any_mask import MaskCondition
from ..beyond.label import LabelCondition
from ..conditions import Condition, QuadrantCondition
from ..models import CVAE, BaselineNN
from .checkpoints import load_checkpoint
from .config import BASELINE, TrainConfig, model_name
from .errors import CheckpointError, one_line

PRETRAINED_DIR = Path(__file__).parents[1] / "pretrained"  #: the shipped models (package data)
PRETRAINED_MANIFEST = PRETRAINED_DIR / "MANIFEST.json"  #: their records, written with them
#: How to repair an install whose shipped models are damaged (the end of the message).
DAMAGED_INSTALL = (
    "the cvae_pyro install is damaged: reinstall it (`pip install --force-reinstall` with "
    "the wheel or source it came from, or `pip install -e .` in a clone)"
)
#: What the in-browser demo (docs/export_demo.py) runs: an MNIST mask CVAE with the
#: conditional prior network, whose three networks the page evaluates.
DEMO_SETTINGS = {"condition": "mask", "dataset": "mnist", "prior": "conditional"}
MODEL_KINDS = ("baseline", "cvae")  #: checkpoint kinds :func:`load_trained` rebuilds
#: The class of each condition name of :data:`~cvae_pyro.cli.config.CONDITIONS`.
CONDITION_TYPES = {c.name: c for c in (QuadrantCondition, LabelCondition, MaskCondition)}


def condition_type(name: str) -> type[Condition]:
    """The condition class of a condition name ("quadrant", "label" or "mask")."""
    return CONDITION_TYPES[name]


def baseline_architecture(cfg: TrainConfig) -> dict:
    """The settings a baseline checkpoint must match (the CVAE's extra settings do not matter)."""
    keys = ("condition", "quadrants", "hidden", "dataset") + cfg.task_keys()
    return {key: value for key, value in cfg.architecture().items() if key in keys}


def build_baseline(cfg: TrainConfig) -> BaselineNN:
    """An untrained baseline NN of ``cfg``'s condition."""
    return condition_type(cfg.condition).make_baseline(cfg)


def build_cvae(cfg: TrainConfig, baseline: BaselineNN | None = None) -> CVAE:
    """An untrained CVAE for ``cfg``; the quadrant and mask conditions need the trained ``baseline``."""
    condition = condition_type(cfg.condition).build(cfg, baseline)
    return CVAE(condition, cfg.z_dim, cfg.hidden, cfg.prior)


@dataclass
class Trained:
    """A model loaded from its best checkpoint.

    Attributes:
        kind: "baseline" or "cvae".
        architecture: the settings it was trained with (``TrainConfig.architecture()``);
            ``condition`` and ``objective`` say what it is.
        module: the :class:`~cvae_pyro.models.BaselineNN` or :class:`~cvae_pyro.models.CVAE`,
            in evaluation mode.
    """

    kind: str
    architecture: dict
    module: nn.Module

    @property
    def frozen_baseline(self) -> nn.Module | None:
        """The frozen baseline inside a CVAE (None for a baseline or a label CVAE)."""
        condition = getattr(self.module, "condition", None)
        return getattr(condition, "baseline", None)

    @property
    def condition(self) -> type[Condition]:
        """The class of the condition it was trained on."""
        return condition_type(self.architecture["condition"])

    @property
    def objective(self) -> str | None:
        """The CVAE's training objective (None for a baseline)."""
        return None if self.kind == BASELINE else self.architecture["objective"]

    @property
    def name(self) -> str:
        """Its file stem as training names it: ``baseline``, ``cvae``, ``cvae-iwae5``, ..."""
        arch = self.architecture
        estimator = [arch.get(key) for key in ("elbo", "particles", "kl_warmup")]
        return BASELINE if self.kind == BASELINE else model_name(self.objective, *estimator)


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
        kind: "baseline", "cvae", or both.
        expect: settings the checkpoint must have been trained with (for example
            ``{"condition": "quadrant", "quadrants": 2}``).

    Raises:
        CheckpointError: the file is missing, truncated, foreign, of another kind, or
            trained with other settings, or its weights are not finite numbers.
    """
    ckpt = load_checkpoint(path, expect=expect, kind=kind)
    arch = ckpt.get("architecture", {})
    try:
        cfg = TrainConfig(**{**arch, "hidden": tuple(arch["hidden"])})
        module = _build(cfg, ckpt["kind"])
        module.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError) as err:
        reason = one_line(err, 160)
        raise CheckpointError(f"{path} does not hold the model it claims to: {reason}") from None
    return Trained(ckpt["kind"], arch, module.to(device).eval())


def _build(cfg: TrainConfig, kind: str) -> nn.Module:
    """An untrained model of ``kind`` ("baseline" or "cvae") with ``cfg``'s settings."""
    baseline = build_baseline(cfg) if condition_type(cfg.condition).has_baseline else None
    return baseline if kind == BASELINE else build_cvae(cfg, baseline)


def pretrained_models() -> dict:
    """The shipped models' records (:data:`PRETRAINED_MANIFEST`): file, SHA-256, how made.

    No record and no model file: nothing is shipped ({}). CheckpointError, saying how to
    reinstall, for model files without a readable record.
    """
    if not PRETRAINED_MANIFEST.exists() and not any(PRETRAINED_DIR.glob("*.pt")):
        return {}
    try:
        return json.loads(PRETRAINED_MANIFEST.read_text(encoding="utf-8"))["models"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(
            f"the shipped models' record {PRETRAINED_MANIFEST} is missing or damaged; "
            + DAMAGED_INSTALL
        ) from None


def pretrained_path(condition: str, dataset: str) -> Path | None:
    """The shipped model of ``condition`` for ``dataset``, or None if none is shipped."""
    record = pretrained_models().get(f"{dataset}-{condition}")
    return None if record is None else PRETRAINED_DIR / record["file"]


def load_pretrained(
    condition: str, dataset: str, device: str | torch.device = "cpu"
) -> tuple[Trained, str]:
    """The shipped CVAE of ``condition`` for ``dataset``, and a line naming it.

    Its file is checked against the SHA-256 recorded when it was made, then loaded like
    every checkpoint (:func:`load_trained`: ``weights_only``, settings, finite weights).

    Raises:
        CheckpointError: none is shipped, or the file is not the one that was shipped.
    """
    record = pretrained_models().get(f"{dataset}-{condition}")
    if record is None:
        raise CheckpointError(f"no shipped {condition} model for {dataset}")
    path = PRETRAINED_DIR / record["file"]
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != record["sha256"]:
        raise CheckpointError(
            f"the shipped model {path} is missing or damaged (its SHA-256 differs from "
            f"the one recorded when it was made); {DAMAGED_INSTALL}"
        )
    expect = {"condition": condition, "dataset": dataset}
    trained = load_trained(path, device, "cvae", expect)
    return trained, f"shipped {record['title']} ({path.name}, {record['summary']})"


def load_model(path: str | Path, device: str | torch.device = "cpu") -> BaselineNN | CVAE:
    """The trained baseline or CVAE at ``path`` (see :func:`load_trained`)."""
    return load_trained(path, device).module
