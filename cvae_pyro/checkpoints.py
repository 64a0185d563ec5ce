"""Checkpoints and result files, written atomically and checked when read.

Every file is written to a temporary file in the same folder and renamed over
the target, so a crash never leaves a truncated file where a good one was. The
temporary names are short (``.<first 32 characters of the name>.<random>.tmp``)
so that a legal file name never gives an illegal temporary one, and the files get
the user's umask (``mkstemp`` alone would make them 0600). Temporary files that a
killed process left behind are removed by :func:`remove_stale_temp_files`, which
the commands call once they hold the folder's lock.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from .errors import CheckpointError, one_line

CHECKPOINT_FORMAT = "cvae_pyro-checkpoint"  #: marker stored in every checkpoint
CHECKPOINT_VERSION = 2  #: bumped when the layout changes (2: the ``kind`` field)
READABLE_VERSIONS = (1, 2)  #: version 1 has no ``kind``; it is inferred from the settings
#: What a checkpoint holds: the baseline NN, a quadrant CVAE trained with one of the three
#: objectives, the label CVAE, the mask CVAE, or the digit classifier that scores label samples.
KINDS = ("baseline", "cvae", "gsnn", "hybrid", "label", "mask", "classifier")
#: Settings recorded only by later checkpoints, and what an older checkpoint without them holds.
ARCHITECTURE_DEFAULTS = {"dataset": "mnist"}


TEMP_PREFIX_CHARS = 32  #: characters of the target's name kept in its temporary name
TEMP_PATTERN = ".*.tmp"  #: what temporary files look like (glob)


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the temporary file to ``path``.

    Raises:
        OSError: the folder cannot be written (``ENOSPC`` also for torch's "unexpected pos"
            error, which is how ``torch.save`` reports a full disk).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name[:TEMP_PREFIX_CHARS]}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    os.close(fd)
    try:
        try:
            write(Path(tmp))
        except RuntimeError as err:  # torch.save's writer reports a full disk this way
            if "unexpected pos" in str(err) or "write failed" in str(err):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
            raise
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def current_umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder``; returns them.

    Call it only while holding the folder's lock, so no live writer's file is removed.
    """
    folder = Path(folder)
    stale = [p for p in folder.glob(TEMP_PATTERN) if p.is_file()] if folder.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


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
        reason = one_line(err, 120) or type(err).__name__
        raise CheckpointError(
            f"{path} is truncated or not a cvae_pyro checkpoint ({reason})"
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
    found = {**ARCHITECTURE_DEFAULTS, **found}
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
