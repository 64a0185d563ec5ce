"""One command per run folder: an OS file lock on ``<folder>/.lock``.

The lock is ``fcntl.flock`` on a file that holds the owner's process id. The
operating system releases it when the process ends, however it ends (SIGKILL
included), so a lock left by a killed run never blocks the next one; only a live
command holding the folder makes another refuse, with a line naming its pid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from .checkpoints import remove_stale_temp_files
from .errors import FolderBusy

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
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
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
