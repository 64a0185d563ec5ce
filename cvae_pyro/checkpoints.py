"""Checkpoints and result files, written atomically and checked when read.

Every file is written to a temporary file in the same folder and renamed over
the target, so a crash never leaves a truncated file where a good one was.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from .errors import CheckpointError

CHECKPOINT_FORMAT = "cvae_pyro-checkpoint"  #: marker stored in every checkpoint
CHECKPOINT_VERSION = 1  #: bumped when the layout changes


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the temporary file to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_json(data: object, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def save_checkpoint(payload: dict, path: str | os.PathLike) -> Path:
    """Save ``payload`` (tensors, numbers, strings, lists, dicts) as a checkpoint, atomically."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **payload}
    return write_atomic(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(
    path: str | os.PathLike, expect: dict | None = None, map_location: str | None = "cpu"
) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the file.
        expect: settings (``TrainConfig.architecture()``) the checkpoint must match.
        map_location: where tensors are loaded.

    Raises:
        CheckpointError: missing, truncated or foreign file, or a setting differs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(
            f"{path} is truncated or not a cvae_pyro checkpoint ({reason[:120]})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a cvae_pyro checkpoint")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')}, "
            f"this cvae_pyro reads version {CHECKPOINT_VERSION}"
        )
    if expect is not None:
        check_architecture(payload.get("architecture", {}), expect, path)
    return payload


def check_architecture(found: dict, expect: dict, path: Path) -> None:
    """Raise :class:`CheckpointError` naming every setting where ``found`` differs."""
    diffs = [
        f"{key}={found.get(key)!r} (this run: {value!r})"
        for key, value in expect.items()
        if found.get(key) != value
    ]
    if diffs:
        raise CheckpointError(f"{path} was trained with other settings: " + ", ".join(diffs))
