"""A set of result files written as one: staged, marked complete, then moved into place.

The result files of a command (the table, its figures and ``run.json``) go into
``results_dir/.staging`` first; a marker (``COMPLETE``) lists their SHA-256 once the set
is whole; then they are moved into place with the manifest (``run.json``) last. If the
process dies while moving, the next command in that folder finishes the move before
doing anything else (:func:`finish_publish`); an incomplete staging folder is deleted.
Nothing is moved unless every staged file is a regular file with the recorded hash,
going to a target that is missing or a regular file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from .errors import ConfigError
from .files import check_target, is_regular_file, read_json, save_json

STAGING = ".staging"  #: folder inside the results folder where a new set is written
COMPLETE = "COMPLETE"  #: marker file: the staged set is whole and may be moved into place
MANIFEST = "run.json"  #: moved last; lists the files of the set
#: The names of the files a result set holds: the table, its manifest, the samples figures.
RESULT_NAME = re.compile(r"cll_table\.(csv|md)|run\.json|q[1-3]_samples\.png")


def staging_folder(results_dir: Path) -> Path:
    """``results_dir/.staging``; ConfigError if something else than a folder of ours is there."""
    staging = results_dir / STAGING
    if staging.is_symlink() or (staging.exists() and not staging.is_dir()):
        raise ConfigError(
            f"{staging} is not a folder (a link or a file); cvae_pyro stages its results "
            "there: remove it"
        )
    return staging


def publish(results_dir: Path, write: Callable[[Path], dict]) -> None:
    """Write a set of result files with ``write(staging)`` and move them in as one set.

    ``write`` writes every file but the manifest into ``staging`` and returns the
    manifest's content; the manifest gets ``files`` (name to SHA-256) and is moved last.
    """
    staging = staging_folder(results_dir)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    manifest = write(staging)
    files = sorted(p.name for p in staging.iterdir() if is_regular_file(p))
    manifest["files"] = {name: sha256(staging / name) for name in files}
    save_json(manifest, staging / MANIFEST)
    hashes = {**manifest["files"], MANIFEST: sha256(staging / MANIFEST)}  # the manifest last
    save_json({"files": hashes}, staging / COMPLETE)
    finish_publish(results_dir)


def finish_publish(results_dir: Path) -> None:
    """Move a complete staged set into ``results_dir`` (manifest last); drop an incomplete one.

    Before anything moves, every staged file still to be moved is checked: a regular
    file (not a link, folder or anything else) whose SHA-256 is the one the marker
    recorded, going to a target that is missing or a regular file. Otherwise nothing
    moves and ConfigError says which file is wrong; the finished set stays as it is.
    """
    staging = staging_folder(results_dir)
    if not staging.is_dir():
        return
    marker = staging / COMPLETE
    if not os.path.lexists(marker):
        shutil.rmtree(staging)  # never marked complete: an interrupted write
        return
    hashes = staged_hashes(marker)
    moves = [name for name in hashes if os.path.lexists(staging / name)]  # the rest moved
    moves.sort(key=lambda name: name == MANIFEST)  # the manifest last
    for name in moves:
        check_target(results_dir / name)
        if not is_regular_file(staging / name):
            problem = "is not a regular file (a link, a folder or something else)"
        elif sha256(staging / name) != hashes[name]:
            problem = "does not have the SHA-256 its marker recorded"
        else:
            continue
        raise ConfigError(
            f"{staging / name} {problem}, so the staged result set is not one cvae_pyro "
            f"wrote; the results in {results_dir} are left as they are: delete {staging} "
            "and run the command again"
        )
    for name in moves:
        os.replace(staging / name, check_target(results_dir / name))
    shutil.rmtree(staging)


def staged_hashes(marker: Path) -> dict[str, str]:
    """File name to SHA-256 of a :data:`COMPLETE` marker; ConfigError if it is not one of ours."""
    advice = f"delete the folder {marker.parent} and run the command again"
    if not is_regular_file(marker):
        raise ConfigError(f"{marker} is not a regular file; {advice}")
    found = read_json(marker, "completion marker", advice)
    files = found.get("files") if isinstance(found, dict) else None
    plain = isinstance(files, dict) and all(  # only the names a result set holds
        isinstance(n, str) and RESULT_NAME.fullmatch(n) and isinstance(h, str)
        for n, h in files.items()
    )
    if not plain:
        raise ConfigError(
            f"{marker} is corrupt (its files are not result files with their SHA-256); {advice}"
        )
    return files


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
