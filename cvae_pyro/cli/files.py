"""Every file the package writes goes through here: atomically, never through a link.

Every file is written to a temporary file in the same folder, flushed to the disk and
renamed over the target (the folder flushed too), so neither a crash nor a power loss
leaves a truncated file where a good one was. The temporary names are short and
recognisably ours (``.<first 32 characters of the name>.cvae_pyro-<8 random
characters>.tmp``) so that a legal file name never gives an illegal temporary one, and
the files get the user's umask (``mkstemp`` alone would make them 0600). Temporary
files that a killed process left behind are removed by
:func:`remove_stale_temp_files`, which the commands call once they hold the folder's
lock; it removes only names of that pattern, never a user's own ``*.tmp`` file.

A target that exists must be a regular file that is not write-protected: a symbolic
link, a folder, a device, a pipe, a socket or a file without write permission is
refused (:func:`check_target`), so that a write never goes through a link nor replaces
something that is not a file, or a file its owner protected.

Every folder the commands write into is made by :func:`make_folder`, which says so in
one line when the path (or a folder along it) is a file. A run folder is locked while
a command uses it (:func:`folder_lock`), so that two commands never write the same
checkpoints. Every JSON file the package wrote is read back by :func:`read_json`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib import rcParams
from matplotlib.backend_bases import FigureCanvasBase

from .errors import ConfigError, FolderBusy, one_line

MAX_NAME_BYTES = 255  #: longest file name most file systems accept
TEMP_PREFIX_CHARS = 32  #: characters of the target's name kept in its temporary name
TEMP_TAG = ".cvae_pyro-"  #: what marks a temporary name as this package's
TEMP_SUFFIX = ".tmp"  #: the end of every temporary name
#: A temporary name this package makes: ``mkstemp``'s 8 random characters after the tag.
TEMP_NAME = re.compile(
    r"\..*" + re.escape(TEMP_TAG) + r"[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX), re.DOTALL
)


def check_target(path: str | os.PathLike) -> Path:
    """``path`` if a file may be written there: missing, or a regular file someone may write.

    Raises:
        ConfigError: ``path`` is a symbolic link (never followed nor replaced), a folder,
            a device, a pipe or a socket, or a file without any write permission bit
            (refused even for root, as ``rm`` and ``mv`` ask before replacing one).
    """
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return path
    if stat.S_ISLNK(mode):
        kind = "a symbolic link"
    elif stat.S_ISDIR(mode):
        kind = "a folder"
    elif not stat.S_ISREG(mode):
        kind = "a special file (a device, a pipe or a socket)"
    elif not mode & 0o222:
        raise ConfigError(f"{path} is write-protected; make it writable or choose another path")
    else:
        return path
    raise ConfigError(
        f"{path} is {kind}, not a regular file; cvae_pyro never writes through or over "
        "one: choose another path"
    )


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the temporary file to ``path``.

    Raises:
        OSError: the folder cannot be written; a full disk also where the writer reports
            it otherwise (torch's "unexpected pos", matplotlib's error while handling it).
    """
    path = check_target(path)
    make_folder(path.parent)
    prefix = f".{path.name[:TEMP_PREFIX_CHARS]}{TEMP_TAG}"
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=TEMP_SUFFIX)
    except OSError as err:
        raise _named(err, path) from None
    os.close(fd)
    try:
        try:
            write(Path(tmp))
        except Exception as err:
            found = _write_error(err)
            if found is None:
                raise
            raise found from None
        os.chmod(tmp, 0o666 & ~current_umask())
        _fsync(tmp)  # the bytes reach the disk before the name does
        os.replace(tmp, check_target(path))  # checked again: it may have changed meanwhile
        _fsync(path.parent)  # and the rename itself
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise _named(err, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _write_error(err: Exception) -> OSError | None:
    """The failed file operation behind a writer's error (None: the error is the writer's own).

    ``torch.save`` reports a full disk as a RuntimeError ("unexpected pos"); matplotlib's
    PDF writer can hide it behind an error it raises while cleaning up.
    """
    if isinstance(err, OSError):
        return err
    if isinstance(err.__context__, OSError):
        return err.__context__
    if "unexpected pos" in str(err) or "write failed" in str(err):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return None


def _fsync(path: str | os.PathLike) -> None:
    """Flush a file's (or a folder's) contents to the disk, so a power loss keeps them."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as err:  # some file systems cannot sync a folder; the data is written
        if err.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _named(err: OSError, path: Path) -> OSError:
    """``err`` naming the user's ``path`` where it named a temporary file (or nothing)."""
    names = [n for n in (err.filename, err.filename2) if n is not None]
    if err.errno is None or (
        names and not any(TEMP_TAG in Path(os.fsdecode(n)).name for n in names)
    ):
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
    stale = [p for p in found if TEMP_NAME.fullmatch(p.name) and is_regular_file(p)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def is_regular_file(path: Path) -> bool:
    """Whether ``path`` is a regular file itself, not a link to one."""
    return path.is_file() and not path.is_symlink()


def save_json(data: object, path: str | os.PathLike) -> Path:
    """Write ``data`` as indented JSON (ASCII, so any file name in it survives), atomically."""
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    return save_text(text, path)


def save_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` as UTF-8, atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def read_json(path: str | os.PathLike, what: str, advice: str, error: type = ConfigError) -> object:
    """The JSON value in the file at ``path``, which cvae_pyro wrote.

    Args:
        path: the file.
        what: how the message names it ("the run.json", "metrics.json").
        advice: what the user can do when it cannot be read (the end of the message).
        error: the exception raised (:class:`ConfigError` unless said otherwise).

    Raises:
        error: the file cannot be read, or is not UTF-8 JSON; one line naming the file
            and ``advice``.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise error(f"cannot read {path} ({err.strerror}); {advice}") from None
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError is a ValueError
        reason = one_line(err, 80) or type(err).__name__
        raise error(
            f"{path} is corrupt: not a {what} cvae_pyro wrote ({reason}); {advice}"
        ) from None


LOCK_NAME = ".lock"  #: the lock file inside a run folder


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold ``folder``'s lock for the ``with`` block; remove stale temporary files first.

    The folder is made if needed and must be writable (:func:`check_out_dir`), so that
    a command finds an unwritable folder before its work, not after.

    Raises:
        FolderBusy: another live process holds the lock.
        ConfigError: the folder cannot be made or written, or ``.lock`` is not a
            regular file.
    """
    folder = check_out_dir(folder, "the folder")
    path = folder / LOCK_NAME
    try:  # never through a symbolic link
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
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
            holder = lock_holder(fd)
            raise FolderBusy(
                f"{folder} is in use by another process{f' (pid {holder})' if holder else ''}; "
                "wait for it to finish, or use another output folder"
            ) from None
        remove_stale_temp_files(folder)
        yield folder
    finally:
        os.close(fd)  # closing releases the lock


def lock_holder(fd: int) -> str | None:
    """The process holding the ``flock`` on ``fd``'s file, as ``/proc/locks`` shows it.

    None where the system has no ``/proc/locks`` or does not show the holder's pid.
    """
    info = os.fstat(fd)
    where = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    with contextlib.suppress(OSError), open("/proc/locks") as locks:
        for fields in map(str.split, locks):  # "1: FLOCK ADVISORY WRITE <pid> <dev:inode> ..."
            if fields[1:2] == ["FLOCK"] and fields[5:6] == [where] and fields[4] != "0":
                return fields[4]
    return None


def make_folder(path: str | os.PathLike, what: str = "the folder") -> Path:
    """Create the folder ``path`` (and its parents) if needed; return it.

    Raises:
        ConfigError: ``path``, or a folder along it, is a file (or anything but a folder).
        OSError: it cannot be made for another reason (permission, read-only, name).
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in (path, *path.parents) if _not_a_folder(p)), path)
        raise ConfigError(
            f"{what} {path} cannot be made: {blocking} is a file, not a folder; "
            "choose another path, or move that file away"
        ) from None
    return path


def _not_a_folder(path: Path) -> bool:
    """Whether something that is not a folder (nor a link to one) is at ``path``."""
    return os.path.lexists(path) and not path.is_dir()


def check_folder(path: str | os.PathLike, flag: str, missing_ok: bool = False) -> Path:
    """``path`` if it is a folder (or, with ``missing_ok``, nothing is there yet).

    Raises:
        ConfigError: ``path`` or a folder along it is a file (or anything but a folder),
            or nothing is there and not ``missing_ok``; the message names ``flag``.
    """
    path = Path(path)
    if path.is_dir():
        return path
    blocking = next((p for p in (path, *path.parents) if _not_a_folder(p)), None)
    if blocking is not None:
        raise ConfigError(f"{blocking} is a file, not a folder; check {flag}")
    if missing_ok:
        return path
    raise ConfigError(f"{path} does not exist: train first, or check {flag}")


def figure_format(path: Path) -> str:
    """The format a figure file's suffix names ("png" without one)."""
    return path.suffix.lstrip(".").lower() or "png"


def check_figure_path(
    out: str | os.PathLike, flag: str = "--out", example: str = "x.png", inputs: tuple = ()
) -> Path:
    """``out`` if a figure can be written there; ConfigError otherwise, before any work.

    ``out`` must not be one of the command's ``inputs`` (the pictures it reads), a
    folder, nor anything :func:`check_target` refuses; its name must fit a file
    system's 255 bytes, its suffix must name a format matplotlib writes (``.pgf`` only
    where the LaTeX it needs is installed); its folder is made if needed and must be
    writable.

    Args:
        out: the file to write.
        flag: the option that named it, for the messages.
        example: a file name the message suggests when ``out`` is a folder.
        inputs: the files the command reads (None for an input not given).
    """
    out = Path(out)
    if any(
        given is not None and os.path.realpath(given) == os.path.realpath(out) for given in inputs
    ):
        raise ConfigError(f"{flag} {out} is also a picture this command reads; choose another name")
    if out.is_dir() and not out.is_symlink():
        raise ConfigError(f"{flag} {out} is a folder; give a file name such as {out / example}")
    check_target(out)
    size = len(os.fsencode(out.name))  # any name the OS takes, UTF-8 or not
    if size > MAX_NAME_BYTES:
        raise ConfigError(f"{flag} file name is {size} bytes; the limit is {MAX_NAME_BYTES}")
    kind = out.suffix.lstrip(".").lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if kind not in formats:
        raise ConfigError(
            f"{flag} {out.name}: use a suffix matplotlib writes ({', '.join(formats)})"
        )
    if kind == "pgf" and shutil.which(rcParams["pgf.texsystem"]) is None:
        raise ConfigError(
            f"{flag} {out.name}: matplotlib cannot write .pgf files here (no "
            f"{rcParams['pgf.texsystem']}); use .png, .pdf or .svg"
        )
    check_out_dir(out.parent, f"{flag} folder")
    return out


def check_out_dir(path: str | os.PathLike, flag: str = "--out-dir") -> Path:
    """Create ``path`` if needed; raise :class:`ConfigError` if it cannot be written.

    A folder without any write permission bit is refused even for root, like a
    write-protected file (:func:`check_target`).
    """
    try:
        out = make_folder(path, flag)
    except OSError as err:
        raise ConfigError(f"cannot create {flag} {path}: {err.strerror}") from None
    if not os.access(out, os.W_OK) or not out.stat().st_mode & 0o222:
        raise ConfigError(f"{flag} {out} is not writable")
    return out


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Save ``fig`` (atomically) in the format its suffix names (PNG without one); close it."""
    path = Path(path)
    kind = figure_format(path)
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format=kind))
    plt.close(fig)
    return path
