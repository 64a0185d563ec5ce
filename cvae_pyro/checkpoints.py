"""Checkpoints and result files, written atomically and checked when read.

Every file is written to a temporary file in the same folder and renamed over
the target, so a crash never leaves a truncated file where a good one was. The
temporary names are short and recognisably ours
(``.<first 32 characters of the name>.cvae_pyro-<8 random characters>.tmp``) so
that a legal file name never gives an illegal temporary one, and the files get the
user's umask (``mkstemp`` alone would make them 0600). Temporary files that a
killed process left behind are removed by :func:`remove_stale_temp_files`, which
the commands call once they hold the folder's lock; it removes only names of that
pattern, never a user's own ``*.tmp`` file.

A target that exists must be a regular file: a symbolic link, a folder, a device,
a pipe or a socket is refused (:func:`check_target`), so that a write never goes
through a link nor replaces something that is not a file.

A run folder is locked while a command uses it (:func:`folder_lock`), so that two
commands never write the same checkpoints.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from .errors import CheckpointError, ConfigError, FolderBusy, one_line

CHECKPOINT_FORMAT = "cvae_pyro-checkpoint"  #: marker stored in every checkpoint
CHECKPOINT_VERSION = 3  #: bumped when the layout changes (3: condition and objective apart)
#: Version 2 named the CVAE's kind after its objective or condition; it reads as "cvae".
READABLE_VERSIONS = (2, 3)
#: What a checkpoint holds: a baseline NN, a CVAE (its ``architecture`` names the condition
#: and the objective), or the digit classifier that scores label samples.
KINDS = ("baseline", "cvae", "classifier")
_V2_CVAE_KINDS = ("cvae", "gsnn", "hybrid", "label", "mask")
#: Settings recorded only by later checkpoints, and what an older checkpoint without them holds.
ARCHITECTURE_DEFAULTS = {"dataset": "mnist"}
#: Most bytes a checkpoint may unpack to: a default-size model is about 25 MB with its Adam
#: state, so this refuses a zip bomb long before it fills the memory.
MAX_UNPACKED_BYTES = 1 << 30


TEMP_PREFIX_CHARS = 32  #: characters of the target's name kept in its temporary name
TEMP_TAG = ".cvae_pyro-"  #: what marks a temporary name as this package's
TEMP_SUFFIX = ".tmp"  #: the end of every temporary name
#: A temporary name this package makes: ``mkstemp``'s 8 random characters after the tag.
TEMP_NAME = re.compile(
    r"\..*" + re.escape(TEMP_TAG) + r"[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX), re.DOTALL
)
#: What ``stat`` says a path is, for the messages of :func:`check_target`.
FILE_TYPES = {
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
}


def check_target(path: str | os.PathLike) -> Path:
    """``path`` if a file may be written there: missing, or a regular file (no link).

    Raises:
        ConfigError: ``path`` is a symbolic link (never followed nor replaced), a folder,
            a device, a pipe or a socket.
    """
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(mode):
        raise ConfigError(
            f"{path} is a symbolic link; cvae_pyro never writes through or over one: "
            "remove it or choose another path"
        )
    if not stat.S_ISREG(mode):
        kind = FILE_TYPES.get(stat.S_IFMT(mode), "not a regular file")
        raise ConfigError(
            f"{path} is {kind}, not a file; cvae_pyro replaces only regular files: "
            "choose another path"
        )
    return path


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the temporary file to ``path``.

    Raises:
        OSError: the folder cannot be written (``ENOSPC`` also for torch's "unexpected pos"
            error, which is how ``torch.save`` reports a full disk).
    """
    path = check_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name[:TEMP_PREFIX_CHARS]}{TEMP_TAG}"
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=TEMP_SUFFIX)
    except OSError as err:
        raise _named(err, path) from None
    os.close(fd)
    try:
        try:
            write(Path(tmp))
        except RuntimeError as err:  # torch.save's writer reports a full disk this way
            if "unexpected pos" in str(err) or "write failed" in str(err):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
            raise
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, check_target(path))  # checked again: it may have changed meanwhile
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise _named(err, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _named(err: OSError, path: Path) -> OSError:
    """``err`` naming the user's ``path`` where it named a temporary file."""
    names = [n for n in (err.filename, err.filename2) if n is not None]
    if not any(TEMP_TAG in Path(os.fsdecode(n)).name for n in names):
        return err
    return OSError(err.errno, err.strerror, str(path))


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
    found = folder.iterdir() if folder.is_dir() else ()
    stale = [p for p in found if TEMP_NAME.fullmatch(p.name) and _regular(p)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _regular(path: Path) -> bool:
    """Whether ``path`` is a regular file itself, not a link to one."""
    return path.is_file() and not path.is_symlink()


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
        The payload, with ``kind`` filled in for version-1 checkpoints.

    Raises:
        CheckpointError: missing, truncated or foreign file, another kind, or a setting
            differs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    payload = _read_payload(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a cvae_pyro checkpoint")
    version = payload.get("version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path} has checkpoint version {version!r}, "
            f"this cvae_pyro reads versions {READABLE_VERSIONS}"
        )
    if version == 2 and payload.get("kind") in _V2_CVAE_KINDS:
        payload["kind"] = "cvae"
    if not isinstance(payload.get("kind"), str) or not isinstance(
        payload.get("architecture", {}), dict
    ):
        raise CheckpointError(f"{path} is not a cvae_pyro checkpoint (no kind or settings)")
    wanted = (kind,) if isinstance(kind, str) else kind
    if wanted is not None and payload["kind"] not in wanted:
        raise CheckpointError(f"{path} holds a {payload['kind']} model, not {' or '.join(wanted)}")
    if expect is not None:
        check_architecture(payload.get("architecture", {}), expect, path)
    return payload


def _read_payload(path: Path, map_location: str | None) -> object:
    """``torch.load`` with ``weights_only``, every failure a :class:`CheckpointError`.

    The zip directory is read first, so that a file that would unpack to more than
    :data:`MAX_UNPACKED_BYTES` is refused before anything is allocated.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        reason = one_line(err, 120) or type(err).__name__
        raise CheckpointError(
            f"{path} is truncated or not a cvae_pyro checkpoint ({reason})"
        ) from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise CheckpointError(
            f"{path} would unpack to {unpacked / 2**20:.0f} MiB, more than any cvae_pyro "
            "checkpoint; it is not one"
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # any bytes: torch and pickle raise many kinds of error
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
    diffs = setting_diffs({**ARCHITECTURE_DEFAULTS, **found}, expect)
    if diffs:
        raise CheckpointError(f"{path} was trained with other settings: " + ", ".join(diffs))


LOCK_NAME = ".lock"  #: the lock file inside a run folder


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold ``folder``'s lock for the ``with`` block; remove stale temporary files first.

    Raises:
        FolderBusy: another live process holds the lock.
        OSError: the folder cannot be created or written (permission, read-only, name).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    try:  # never through a symbolic link: the pid would overwrite what it points to
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError as err:
        if err.errno != errno.ELOOP:
            raise
        raise ConfigError(
            f"{path} is a symbolic link; remove it (cvae_pyro never follows one)"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(f"{path} is not a regular file; remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise FolderBusy(
                f"{folder} is in use by another command (pid {holder}); wait for it to "
                "finish, or use another output folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        remove_stale_temp_files(folder)
        yield folder
    finally:
        os.close(fd)  # closing releases the lock


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Save ``fig`` (atomically) in the format its suffix names (PNG without one); close it."""
    path = Path(path)
    kind = path.suffix.lstrip(".").lower() or "png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format=kind))
    plt.close(fig)
    return path


def check_out_dir(path: str | os.PathLike, flag: str = "--out-dir") -> Path:
    """Create ``path`` if needed; raise :class:`ConfigError` if it cannot be written."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create {flag} {out}: {err.strerror}") from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"{flag} {out} is not writable")
    return out
