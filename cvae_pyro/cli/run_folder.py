"""The folder of one training run: its checkpoints, its lock, and what may be kept or resumed.

A task's models live in ``cfg.run_dir`` (``OUT_DIR/q{n}``, ``OUT_DIR/label``, ...): for
each model ``NAME.pt`` (the best weights) and ``NAME_last.pt`` (everything needed to
continue: weights, Adam state, random-number states, the training state). A command
holds the folder's lock while it uses it (:meth:`RunFolder.lock`).

A finished model is never replaced. Without ``--resume`` one trained with the same
settings (:data:`RECORDED_KEYS` and the architecture; a CVAE also with the same frozen
baseline) is kept, and one trained with other settings is refused, naming each setting
that differs. With ``--resume`` the last checkpoint is continued, if it was made with
the same :data:`RUN_KEYS` (``--epochs`` and ``--patience`` may differ). Each checkpoint
is read at most once per :class:`RunFolder`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from pyro.optim import PyroOptim
from torch import nn

from ..fit import TrainState
from .checkpoints import load_checkpoint, save_checkpoint, setting_diffs
from .config import TrainConfig
from .errors import CheckpointError, ConfigError, one_line
from .files import folder_lock

#: Settings besides the architecture that define a run's numbers; a resumed run must match.
RUN_KEYS = (
    "seed",
    "limit",
    "batch_size",
    "lr",
    "lr_patience",
    "lr_decay",
    "min_improvement",
    "eval_batch_size",  # the validation noise is drawn per batch: the best epoch can move
    "precision",
)
#: What every checkpoint records of its run: :data:`RUN_KEYS` and the stopping settings.
RECORDED_KEYS = (*RUN_KEYS, "epochs", "patience")


def run_settings(cfg: TrainConfig) -> dict:
    """The settings of :data:`RECORDED_KEYS`, as stored in every checkpoint."""
    return {key: getattr(cfg, key) for key in RECORDED_KEYS}


class RunFolder:
    """The run folder of ``cfg`` and the checkpoints in it.

    Args:
        cfg: the run's settings; ``cfg.folder_option`` names the folder in messages.
    """

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self.path = cfg.run_dir
        self.option = cfg.folder_option
        self._read: dict[Path, dict] = {}

    def best(self, name: str) -> Path:
        """The file of the best weights of model ``name``."""
        return self.path / f"{name}.pt"

    def last(self, name: str) -> Path:
        """The file to resume model ``name`` from."""
        return self.path / f"{name}_last.pt"

    @contextlib.contextmanager
    def lock(self) -> Iterator[Path]:
        """Hold the folder's lock (:func:`~cvae_pyro.cli.files.folder_lock`)."""
        with folder_lock(self.path) as folder:
            yield folder

    def read(self, path: Path, kind: str) -> dict:
        """The checkpoint at ``path`` (:func:`~cvae_pyro.cli.checkpoints.load_checkpoint`), read once."""
        if path not in self._read:
            self._read[path] = load_checkpoint(path, kind=kind)
        return self._read[path]

    def save(self, payload: dict, path: Path, kind: str) -> None:
        """Write a checkpoint at ``path`` (a later :meth:`read` reads the new file)."""
        save_checkpoint(payload, path, kind)
        self._read.pop(path, None)

    def finished(self, name: str, kind: str) -> dict | None:
        """The last checkpoint of model ``name`` if it records a finished run, else None."""
        path = self.last(name)
        if not path.exists():
            return None
        ckpt = self.read(path, kind)
        return ckpt if recorded_state(ckpt, path).finished else None

    def kept(
        self, name: str, kind: str, architecture: dict, record: dict | None = None
    ) -> dict | None:
        """The last checkpoint of a finished model ``name`` that this run keeps, or None.

        None when no finished model is there. ConfigError when one is, trained with
        other settings or (``record``: the hash of its frozen baseline) another baseline.
        """
        ckpt = self.finished(name, kind)
        if ckpt is None:
            return None
        diffs = _diffs(ckpt, architecture, run_settings(self.cfg))
        if any(ckpt.get(key) != value for key, value in (record or {}).items()):
            diffs.append(f"another frozen baseline than the one in {self.path}")
        if diffs:
            raise ConfigError(
                f"{self.last(name)} holds a finished model trained with other settings: "
                f"{', '.join(diffs)}; it is not replaced: use another {self.option}, or "
                f"delete {name}.pt and {name}_last.pt to train it again"
            )
        return ckpt

    def resumed(self, name: str, kind: str, architecture: dict) -> dict | None:
        """With ``--resume``, the last checkpoint of model ``name`` to continue; else None.

        ConfigError when it was made with other settings (``--epochs`` and ``--patience``
        may differ).
        """
        path = self.last(name)
        if not (self.cfg.resume and path.exists()):
            return None
        ckpt = self.read(path, kind)
        settings = run_settings(self.cfg)
        diffs = _diffs(ckpt, architecture, {k: settings[k] for k in RUN_KEYS})
        if diffs:
            raise ConfigError(
                f"{path} was made with other settings: {', '.join(diffs)}; run with the same "
                f"settings, or use another {self.option}"
            )
        return ckpt

    def saved(self, name: str, epoch: int, title: str) -> str:
        """What an interrupted or diverged run of model ``name`` has on disk."""
        if epoch:
            return f"epochs up to {epoch} are saved in {self.last(name)}"
        if self.best(name).exists():  # stopped between the best and the last checkpoint
            return (
                f"no {title} checkpoint to resume from was saved ({self.best(name)} holds "
                "the weights of an unfinished training)"
            )
        return f"no {title} epoch had finished, so no {title} checkpoint was saved"


def _diffs(ckpt: dict, architecture: dict, settings: dict) -> list[str]:
    """Every setting of ``architecture`` and ``settings`` the checkpoint was made with otherwise."""
    found = setting_diffs(ckpt.get("architecture"), architecture)
    return found + setting_diffs(ckpt.get("run"), settings)


def rng_state(shuffle: torch.Generator) -> dict:
    """Every random-number state training draws from, for the last checkpoint."""
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": list(random.getstate()[1]),
        "numpy": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "shuffle": shuffle.get_state(),
    }


def _set_rng_state(state: dict, shuffle: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    random.setstate((3, tuple(state["python"]), None))
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"]))
    shuffle.set_state(state["shuffle"])


def restore(
    ckpt: dict, module: nn.Module, optim: PyroOptim, shuffle: torch.Generator, path: Path
) -> TrainState:
    """Put a last checkpoint's weights, optimizer and random states back; its training state."""
    state = recorded_state(ckpt, path)
    try:
        module.load_state_dict(ckpt["state_dict"])
        optim.set_state(ckpt["optimizer"])
        _set_rng_state(ckpt["rng"], shuffle)
    except Exception as err:  # any content: torch, numpy and random raise many kinds
        raise CheckpointError(
            f"{path} cannot be resumed from: it is not a *_last.pt written by training (its "
            f"weights, optimizer or random-number state: {one_line(err, 80)}); delete it, or "
            "run without --resume"
        ) from None
    return state


def recorded_state(ckpt: dict, path: Path) -> TrainState:
    """The training state a checkpoint recorded; CheckpointError if it holds none."""
    try:
        return TrainState(**ckpt["train_state"])
    except (KeyError, TypeError) as err:
        raise CheckpointError(
            f"{path} has no training state ({one_line(err, 80)}); it is not a *_last.pt "
            "written by training: delete it to train again"
        ) from None
