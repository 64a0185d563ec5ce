"""The folder of one training run: what is trained afresh, continued, kept or refused.

A task's models live in ``cfg.run_dir`` (``OUT_DIR/q{n}``, ``OUT_DIR/label``, ...): for
each model ``NAME.pt`` (the best weights) and ``NAME_last.pt`` (everything needed to
continue: weights, Adam state, random-number states, the training state). The rule for
a model's last checkpoint (:func:`last_checkpoint`):

- none, or an unfinished one without ``--resume``: the model is trained afresh;
- otherwise it must record this run's settings (the architecture and :data:`RUN_KEYS`;
  without ``--resume`` also ``epochs`` and ``patience``), or the run is refused with one
  line naming each setting that differs. With ``--resume`` the model continues until the
  new ``--epochs`` and ``--patience`` stop it (a finished model continues when they
  grew); without, the finished model is kept as it is.

A CVAE is continued or kept only with the frozen baseline it was trained with:
:func:`plan` refuses it, before anything is written, when this run would train the
baseline again or further (a greater ``--epochs``, say).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from pyro.optim import PyroOptim
from torch import nn

from ..fit import EarlyStopping, TrainState
from .checkpoints import load_checkpoint, setting_diffs
from .config import BASELINE, TrainConfig
from .errors import CheckpointError, ConfigError
from .model_files import baseline_architecture, condition_type

#: Settings besides the architecture that define a run's numbers (the validation noise is
#: drawn per evaluation batch, so ``eval_batch_size`` can move the best epoch).
RUN_KEYS = tuple(
    "seed limit batch_size lr lr_patience lr_decay min_improvement eval_batch_size precision".split()
)
#: What every checkpoint records of its run: :data:`RUN_KEYS` and the stopping settings.
RECORDED_KEYS = (*RUN_KEYS, "epochs", "patience")
#: What a last checkpoint holds besides the weights and the settings.
LAST_KEYS = ("train_state", "optimizer", "rng")


def run_settings(cfg: TrainConfig) -> dict:
    """The settings of :data:`RECORDED_KEYS`, as stored in every checkpoint."""
    return {key: getattr(cfg, key) for key in RECORDED_KEYS}


def stopping_rule(cfg: TrainConfig, warmup: int = 0) -> EarlyStopping:
    """The learning-rate schedule and stopping rule of ``cfg`` (``warmup``: KL warm-up epochs)."""
    return EarlyStopping(
        cfg.lr, cfg.epochs, cfg.patience, cfg.lr_patience, cfg.lr_decay, cfg.min_improvement, warmup
    )


def refuse(cfg: TrainConfig, name: str, why: str) -> ConfigError:
    """The error that keeps model ``name`` (``why``: what differs) and names the ways out."""
    return ConfigError(
        f"{cfg.run_dir / name}_last.pt {why}; it is not replaced: use another "
        f"{cfg.folder_option}, or delete {name}.pt and {name}_last.pt to train it again"
    )


def last_checkpoint(cfg: TrainConfig, name: str, kind: str, architecture: dict) -> dict | None:
    """The last checkpoint of model ``name`` that this run continues or keeps (None:
    train afresh); ConfigError when it records other settings (see the module)."""
    path = cfg.run_dir / f"{name}_last.pt"
    if not os.path.lexists(path):
        return None
    ckpt = load_checkpoint(path, kind=kind)
    if not all(key in ckpt for key in LAST_KEYS):
        raise CheckpointError(f"{path} is not a *_last.pt written by training: delete it")
    if not (recorded_state(ckpt, path).finished or cfg.resume):
        return None
    settings = {key: getattr(cfg, key) for key in (RUN_KEYS if cfg.resume else RECORDED_KEYS)}
    diffs = setting_diffs(ckpt.get("architecture"), architecture)
    diffs += setting_diffs(ckpt.get("run"), settings)
    if diffs:
        raise refuse(cfg, name, f"was trained with other settings: {', '.join(diffs)}")
    return ckpt


def plan(cfg: TrainConfig) -> tuple[dict | None, dict | None]:
    """The last checkpoints of the baseline and of the CVAE that this run continues or
    keeps; ConfigError for one of other settings, or for a CVAE whose baseline this run
    would train again or further."""
    has_baseline = condition_type(cfg.condition).has_baseline
    base = has_baseline and last_checkpoint(cfg, BASELINE, BASELINE, baseline_architecture(cfg))
    cvae = last_checkpoint(cfg, cfg.model_name, "cvae", cfg.architecture())
    if has_baseline and cvae is not None:
        state = base and recorded_state(base, cfg.run_dir / "baseline_last.pt")
        if not state or stopping_rule(cfg).stop_reason(state) is None:
            how = "further (a greater --epochs or --patience)" if base else "again"
            why = f"was trained on the baseline that this run would train {how}"
            raise refuse(cfg, cfg.model_name, why)
    return base or None, cvae


def rng_state(shuffle: torch.Generator) -> dict:
    """The random-number states training draws from (torch's, CUDA's and the shuffle's);
    the package draws nothing from Python's ``random`` nor from NumPy."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda, "shuffle": shuffle.get_state()}


def restore(ckpt: dict, module: nn.Module, optim: PyroOptim, shuffle: torch.Generator) -> None:
    """Put a last checkpoint's weights, optimizer state and random-number states back."""
    module.load_state_dict(ckpt["state_dict"])
    optim.set_state(ckpt["optimizer"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    if ckpt["rng"]["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
    shuffle.set_state(ckpt["rng"]["shuffle"])


def recorded_state(ckpt: dict, path: Path) -> TrainState:
    """The training state a checkpoint recorded; CheckpointError if it holds none."""
    try:
        return TrainState(**ckpt["train_state"])
    except (KeyError, TypeError):
        raise CheckpointError(
            f"{path} has no training state: it is not a *_last.pt written by training; delete it"
        ) from None
