"""Checkpoints: written atomically, read back by one careful reader.

:func:`save_checkpoint` stores a payload (weights, settings, training state) with a
format marker, a version and its kind. :func:`load_checkpoint` is the one way a
checkpoint is read: every zip entry's checksum first (bytes changed on the disk are
found), then ``torch.load`` with ``weights_only``; the marker, version and kind; the
settings the caller expects; and every weight a dense tensor of finite numbers.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import zipfile
from pathlib import Path

import torch

from .errors import CheckpointError, one_line
from .files import write_atomic

CHECKPOINT_FORMAT = "cvae_pyro-checkpoint"  #: marker stored in every checkpoint
CHECKPOINT_VERSION = 3  #: bumped when the layout changes; only this version is read
#: What a checkpoint holds: a baseline NN, a CVAE (its ``architecture`` names the condition
#: and the objective), or the digit classifier that scores label samples.
KINDS = ("baseline", "cvae", "classifier")


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


def weights_sha256(module: torch.nn.Module) -> str:
    """Hex SHA-256 of a module's weights: every name, dtype, shape and value, in order.

    The same weights give the same hash however the file holding them was written, so a
    CVAE's checkpoint can record which baseline it was trained with (``baseline_sha256``).
    """
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        values = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{values.dtype}:{tuple(values.shape)};".encode())
        digest.update(values.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


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
        The payload.

    Raises:
        CheckpointError: missing, truncated or foreign file, another kind, a setting
            differs, or a weight is not a dense tensor of finite numbers.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint; give the .pt file")
    if not path.is_file():
        if os.path.lexists(path):  # a link to nothing, a loop, a pipe, a device
            raise CheckpointError(f"{path} is not a file (a broken link or a special file)")
        raise CheckpointError(f"no checkpoint at {path}")
    payload = _read_payload(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a cvae_pyro checkpoint")
    version = payload.get("version")
    if version != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {version!r}, "
            f"this cvae_pyro reads version {CHECKPOINT_VERSION}"
        )
    if not isinstance(payload.get("kind"), str) or not isinstance(
        payload.get("architecture", {}), dict
    ):
        raise CheckpointError(f"{path} is not a cvae_pyro checkpoint (no kind or settings)")
    wanted = (kind,) if isinstance(kind, str) else kind
    if wanted is not None and payload["kind"] not in wanted:
        raise CheckpointError(f"{path} holds a {payload['kind']} model, not {' or '.join(wanted)}")
    if expect is not None:
        check_architecture(payload.get("architecture", {}), expect, path)
    problem = weights_problem(payload.get("state_dict", {}))
    if problem:
        raise CheckpointError(f"{path} is broken: {problem}; train the model again")
    return payload


def weights_problem(state: object) -> str | None:
    """What makes ``state`` unusable as a model's weights (None if nothing).

    Every entry must be a dense (strided, not quantized) tensor, and every floating-point
    one finite: a NaN or an infinity is named.
    """
    if not isinstance(state, dict):
        return "its weights are not a table of tensors"
    for name, tensor in state.items():
        label = str(name)[:80]
        dense = isinstance(tensor, torch.Tensor) and tensor.layout == torch.strided
        if not dense or tensor.is_quantized:
            return f"its weights {label} are not a dense tensor"
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            return f"its weights {label} are not finite numbers (NaN or inf)"
    return None


def _read_payload(path: Path, map_location: str | None) -> object:
    """``torch.load`` with ``weights_only``, every failure a :class:`CheckpointError`.

    Every zip entry's CRC is checked first: bytes changed inside the weights would
    otherwise load as other numbers.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
        if damaged is not None:
            raise CheckpointError(
                f"{path} is damaged: its entry {damaged} does not match its checksum; "
                "train the model again"
            )
        with warnings.catch_warnings():  # torch's notes on what it checks: not the user's concern
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except OSError as err:
        raise CheckpointError(f"{path} cannot be read ({err.strerror})") from None
    except CheckpointError:
        raise
    except Exception as err:  # any bytes: zipfile, torch and pickle raise many kinds of error
        reason = one_line(err, 120) or type(err).__name__
        raise CheckpointError(
            f"{path} is truncated or not a cvae_pyro checkpoint ({reason})"
        ) from None


def setting_diffs(found: dict, expect: dict) -> list[str]:
    """``key=found (this run: expected)`` for every setting of ``expect`` that ``found`` differs in."""
    found = found if isinstance(found, dict) else {}
    return [
        f"{key}={found.get(key)!r} (this run: {value!r})"
        for key, value in expect.items()
        if found.get(key) != value
    ]


def check_architecture(found: dict, expect: dict, path: Path) -> None:
    """Raise :class:`CheckpointError` naming every setting where ``found`` differs."""
    diffs = setting_diffs(found, expect)
    if diffs:
        raise CheckpointError(f"{path} was trained with other settings: " + ", ".join(diffs))
