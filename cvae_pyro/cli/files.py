"""Every file the package writes goes through here: atomically, never through a link.

:func:`write_atomic` writes to a temporary file in the same folder
(``.<name>.<8 random hex digits>.tmp``, which gets the user's umask), flushes it to
the disk, renames it over the target and flushes the folder, so neither a crash nor a
power loss leaves a truncated file where a good one was. A target that exists must be
a regular file with a write permission bit (:func:`check_target`): a symbolic link, a
folder, a device, a pipe or a write-protected file is refused, before the work and
again just before the rename.

A run folder is locked while a command uses it (:func:`folder_lock`, an OS lock), so
that two commands never write the same checkpoints.
"""

import contextlib
import fcntl
import io
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.backend_bases import FigureCanvasBase

from .errors import ConfigError

LOCK_NAME = ".lock"  #: the lock file inside a run folder


def check_target(path: str | os.PathLike) -> Path:
    """``path`` if a file may be written there: nothing, or a regular file with a write
    bit; ConfigError for a symbolic link, a folder, a device, a pipe or a socket, or a
    file without any write permission bit (refused even for root)."""
    path = Path(path)
    with contextlib.suppress(FileNotFoundError):
        mode = os.lstat(path).st_mode
        if not (stat.S_ISREG(mode) and mode & 0o222):
            what = "a symbolic link" if stat.S_ISLNK(mode) else "a folder or a special file"
            what = "write-protected" if stat.S_ISREG(mode) else what
            raise ConfigError(f"{path} is {what}; choose another path")
    return path


def write_atomic(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)``, then rename the temporary file to ``path`` (see the module).

    Raises:
        ConfigError: :func:`check_target` refuses ``path``.
        OSError: the file cannot be written; it names ``path``, never the temporary file.
    """
    path = check_target(path)
    tmp = path.with_name(f".{path.name[:64]}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        _fsync(tmp)  # the bytes reach the disk before the name does
        os.replace(tmp, check_target(path))  # checked again: it may have changed meanwhile
        with contextlib.suppress(OSError):  # some file systems cannot sync a folder
            _fsync(path.parent)  # the rename itself
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno:
            err.filename, err.filename2 = str(path), None  # the user's file, never ours
        raise
    return path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def save_bytes(write: Callable[[io.BytesIO], object], path: str | os.PathLike) -> Path:
    """Write what ``write`` puts in a buffer (``torch.save``, ``savefig``) to ``path``,
    atomically; a full disk is then Python's ``OSError``, whatever the writer makes of it."""
    buffer = io.BytesIO()
    write(buffer)
    return write_atomic(path, lambda tmp: tmp.write_bytes(buffer.getvalue()))


def save_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` as UTF-8, atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_json(data: object, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON (ASCII, so any file name in it survives), atomically."""
    return save_text(json.dumps(data, indent=2) + "\n", path)


def read_json(path: str | os.PathLike, what: str, advice: str) -> object:
    """The JSON value in the file at ``path``, which cvae_pyro wrote; ConfigError naming
    the file, ``what`` it should be and ``advice`` if it is not JSON (an OSError if it
    cannot be read)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise ConfigError(f"{path} is corrupt: not a {what} cvae_pyro wrote; {advice}") from None


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, flag: str = "the folder") -> Iterator[Path]:
    """Hold ``folder``'s lock (``fcntl.flock`` on ``folder/.lock``, never a link) for the
    ``with`` block; the folder is made if needed (:func:`check_out_dir`; ``flag`` names it).

    Raises:
        ConfigError: another process holds the lock, the folder cannot be made or written,
            or ``.lock`` is not a regular file.
    """
    folder = check_out_dir(folder, flag)
    flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    with open(os.open(check_target(folder / LOCK_NAME), flags, 0o666)) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{folder} is in use by another process; wait for it to end"
            ) from None
        yield folder  # closing the file releases the lock


def check_folder(path: str | os.PathLike, flag: str, missing_ok: bool = False) -> Path:
    """``path`` if it is a folder (or, with ``missing_ok``, nothing is there yet);
    ConfigError naming ``flag`` if it or a folder along it is a file, or it is missing."""
    path = Path(path)
    for part in (path, *path.parents):
        if os.path.lexists(part) and not os.path.isdir(part):
            raise ConfigError(f"{part} is a file, not a folder; check {flag}")
    if not (missing_ok or path.is_dir()):
        raise ConfigError(f"{path} does not exist: train first, or check {flag}")
    return path


def check_out_dir(path: str | os.PathLike, flag: str = "--out-dir") -> Path:
    """The folder ``path``, made if needed; ConfigError if it cannot be made or written
    (a folder without any write permission bit is refused even for root)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        check_folder(path, flag, missing_ok=True)  # a file in the way is named
        raise ConfigError(f"cannot create {flag} {path}: {err.strerror}") from None
    if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:
        raise ConfigError(f"{flag} {path} is not writable")
    return path


def check_figure_path(out: str | os.PathLike, flag: str = "--out", inputs: tuple = ()) -> Path:
    """``out`` if a figure can be written there; ConfigError otherwise, before any work.

    ``out`` must not be one of the command's ``inputs`` (the pictures it reads; None for
    one not given), nor anything :func:`check_target` refuses (a folder, say); its suffix
    must name a format matplotlib writes; its folder is made if needed and must be writable.
    """
    out = check_target(out)
    if any(p is not None and os.path.realpath(p) == os.path.realpath(out) for p in inputs):
        raise ConfigError(f"{flag} {out} is also a picture this command reads; choose another name")
    formats = FigureCanvasBase.get_supported_filetypes()
    if out.suffix[1:].lower() not in formats:
        known = ", ".join(formats)
        raise ConfigError(f"{flag} {out.name}: use a suffix matplotlib writes ({known})")
    check_out_dir(out.parent, f"{flag} folder")
    return out


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> Path:
    """Save ``fig`` (atomically) in the format its suffix names (PNG without one); close it."""
    kind = Path(path).suffix[1:].lower() or "png"
    path = save_bytes(lambda buffer: fig.savefig(buffer, dpi=110, format=kind), path)
    plt.close(fig)
    return path
