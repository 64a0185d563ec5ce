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
CHECKPOINT_VERSION = 2  #: bumped when the layout changes (2: the ``kind`` field)
READABLE_VERSIONS = (1, 2)  #: version 1 has no ``kind``; it is inferred from the settings
#: What a checkpoint holds: the baseline NN, a quadrant CVAE trained with one of the three
#: objectives, the label CVAE, or the digit classifier that scores label samples.
KINDS = ("baseline", "cvae", "gsnn", "hybrid", "label", "classifier")


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


def save_checkpoint(payload: dict, path: str | os.PathLike, kind: str) -> Path:
    """Save ``payload`` (tensors, numbers, strings, lists, dicts) as a checkpoint, atomically.

    Args:
        payload: what to save; ``architecture`` holds the settings that fix the model.
        path: the file.
        kind: what it holds, one of :data:`KINDS`.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "kind": kind, **payload}
    return write_atomic(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(
    path: str | os.PathLike,
    expect: dict | None = None,
    map_location: str | None = "cpu",
    kind: str | tuple[str, ...] | None = None,
) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the file.
        expect: settings (``TrainConfig.architecture()``, or some of them) the checkpoint
            must match.
        map_location: where tensors are loaded.
        kind: the kind (or kinds) the caller can use; None accepts any.

    Returns:
        The payload, with ``kind`` filled in for version-1 checkpoints.

    Raises:
        CheckpointError: missing, truncated or foreign file, another kind, or a setting
            differs.
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
    if payload.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path} has checkpoint version {payload.get('version')}, "
            f"this cvae_pyro reads versions {READABLE_VERSIONS}"
        )
    payload.setdefault("kind", infer_kind(payload.get("architecture", {})))
    wanted = (kind,) if isinstance(kind, str) else kind
    if wanted is not None and payload["kind"] not in wanted:
        raise CheckpointError(f"{path} holds a {payload['kind']} model, not {' or '.join(wanted)}")
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


def infer_kind(architecture: dict) -> str:
    """The kind of a version-1 checkpoint (which did not record it), from its settings."""
    if architecture.get("kind") == "digit_classifier":
        return "classifier"
    if "z_dim" not in architecture:
        return "baseline"
    if architecture.get("condition") == "label":
        return "label"
    return architecture.get("objective", "cvae")
