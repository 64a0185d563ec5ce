"""Checkpoints: written atomically, read back by one careful reader.

:func:`save_checkpoint` stores a payload (weights, settings, training state) with a
format marker and its kind. :func:`load_checkpoint` is the one way a checkpoint is
read: every zip entry's checksum first (bytes changed on the disk are found), then
``torch.load`` with ``weights_only``; the marker and the kind; the settings the
caller expects; and every weight a tensor of finite numbers.
"""

import hashlib
import os
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError, one_line
from .files import save_bytes

CHECKPOINT_FORMAT = "cvae_pyro-checkpoint"  #: marker stored in every checkpoint


def save_checkpoint(payload: dict, path: str | os.PathLike, kind: str) -> Path:
    """Save ``payload`` (tensors, numbers, strings, lists, dicts) atomically.

    Args:
        payload: what to save; ``architecture`` holds the settings that fix the model.
        path: the file.
        kind: what it holds: "baseline", "cvae" (its ``architecture`` names the condition
            and the objective) or "classifier".
    """
    payload = {"format": CHECKPOINT_FORMAT, "kind": kind, **payload}
    return save_bytes(lambda buffer: torch.save(payload, buffer), path)


def weights_sha256(module: torch.nn.Module) -> str:
    """Hex SHA-256 of a module's weights: every name, dtype, shape and value, in order.

    A CVAE's checkpoint records which frozen baseline it was trained with this way
    (``baseline_sha256``).
    """
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        values = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{values.dtype}:{tuple(values.shape)};".encode())
        digest.update(values.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_checkpoint(path: str | Path, expect: dict | None = None, kind: str | None = None) -> dict:
    """The payload of a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the file.
        expect: settings (``TrainConfig.architecture()``, or some of them) it must match.
        kind: the kind the caller can use; None accepts any.

    Raises:
        CheckpointError: missing, unreadable, damaged, truncated or foreign file, another
            kind, a setting differs, or a weight is not a tensor of finite numbers.
    """
    path = Path(path)
    if not path.is_file():
        what = f"{path} is not a file (a broken link, a folder or a device)"
        raise CheckpointError(what if os.path.lexists(path) else f"no checkpoint at {path}")
    payload = _read_payload(path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a cvae_pyro checkpoint")
    if kind is not None and payload.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {payload.get('kind')} model, not {kind}")
    if diffs := setting_diffs(payload.get("architecture"), expect or {}):
        raise CheckpointError(f"{path} was trained with other settings: " + ", ".join(diffs))
    if problem := weights_problem(payload.get("state_dict", {})):
        raise CheckpointError(f"{path} is broken: {problem}; train the model again")
    return payload


def weights_problem(state: object) -> str | None:
    """What makes ``state`` unusable as a model's weights (None if nothing): every entry
    must be a tensor, and every floating-point one finite (the first that is not is named)."""
    if not isinstance(state, dict) or not all(isinstance(t, torch.Tensor) for t in state.values()):
        return "its weights are not tensors"
    bad = [k for k, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    return f"its weights {bad[0]} are not finite numbers (NaN or inf)" if bad else None


def _read_payload(path: Path) -> object:
    """``torch.load`` with ``weights_only`` after every zip entry's CRC is checked (bytes
    changed inside the weights would otherwise load as other numbers)."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
        if damaged is None:
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # the OS, zipfile, torch and pickle raise many kinds of error
        why = getattr(err, "strerror", None) or one_line(err, 120) or type(err).__name__
        raise CheckpointError(f"{path} is unreadable, truncated or foreign ({why})") from None
    raise CheckpointError(f"{path} is damaged: its entry {damaged} does not match its checksum")


def setting_diffs(found: object, expect: dict) -> list[str]:
    """``key=found (this run: expected)`` for every setting of ``expect`` that ``found`` differs in."""
    found = found if isinstance(found, dict) else {}
    differ = {key: value for key, value in expect.items() if found.get(key) != value}
    return [f"{key}={found.get(key)!r} (this run: {value!r})" for key, value in differ.items()]
