"""MNIST from the four official IDX files, held in memory as float tensors.

Where the files come from, in order:

1. the folder given as ``data_dir`` (the CLI's ``--data-dir``);
2. the folder in the environment variable ``CVAE_PYRO_DATA``;
3. a user cache folder (``$XDG_CACHE_HOME/cvae_pyro/mnist``), filled by
   torchvision's download when empty.

A folder may hold the files gzip-compressed (``*.gz``) or raw, directly or
under ``MNIST/raw/`` (torchvision's layout). Every file is checked against the
MD5 of the official decompressed file, so a truncated or corrupt file is caught
before training. Problems raise :class:`DataError` with a one-line message
that names the file and says what to do.

Splits: the first 50,000 training images train, the last
10,000 validate, and the 10,000 test images are only for the final table.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DataError
from .masks import NUM_PIXELS

DATA_ENV_VAR = "CVAE_PYRO_DATA"  #: environment variable naming the data folder
NUM_TRAIN = 50_000  #: training images (first part of MNIST's training set)
NUM_VALIDATION = 10_000  #: validation images (last part of MNIST's training set)
MAX_GREY_LEVEL = 255.0  #: IDX pixels are bytes 0..255

#: MD5 of each official file, decompressed (from the MNIST README in shared/).
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

_IDX_DTYPES = {0x08: np.uint8}  # the only element type MNIST uses


@dataclass(frozen=True)
class Split:
    """One split of MNIST, in memory.

    Attributes:
        images: ``(N, 784)`` float32 grey levels in [0, 1], row-major pixels.
        labels: ``(N,)`` int64 digit labels 0..9.
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def head(self, n: int | None) -> Split:
        """The first ``n`` examples (all of them when ``n`` is None)."""
        if n is None:
            return self
        return Split(self.images[:n], self.labels[:n])

    def to(self, device: torch.device | str) -> Split:
        """This split on ``device``."""
        return Split(self.images.to(device), self.labels.to(device))


@dataclass(frozen=True)
class MNIST:
    """The three splits of the protocol: train (50k), validation (10k), test (10k)."""

    train: Split
    validation: Split
    test: Split

    def split(self, name: str) -> Split:
        """The split called ``name`` ("train", "validation" or "test")."""
        if name not in ("train", "validation", "test"):
            raise ValueError(f"unknown split {name!r}: use train, validation or test")
        return getattr(self, name)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse one IDX file (raw or gzip) into a numpy array.

    Args:
        path: the file; names ending in ``.gz`` are decompressed.

    Returns:
        The array with the shape stored in the file's header.

    Raises:
        DataError: the file cannot be read or its header does not match its size.
    """
    path = Path(path)
    try:
        raw = _read_bytes(path)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"cannot read {path}: {err}; replace the file") from None
    return _parse_idx(raw, path)


def _read_bytes(path: Path) -> bytes:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return f.read()


def _parse_idx(raw: bytes, path: Path) -> np.ndarray:
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file of bytes (bad magic number); replace it")
    ndim = raw[3]
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise DataError(f"{path} is truncated inside its header; replace it")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header_bytes + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise DataError(
            f"{path} holds {len(raw)} bytes but its header {shape} says {expected}: "
            "the file is truncated or corrupt; replace it"
        )
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=header_bytes)
    return data.reshape(shape)


def find_idx_file(folder: Path, name: str) -> Path | None:
    """The path of IDX file ``name`` in ``folder`` (``.gz`` or raw, or under MNIST/raw)."""
    for sub in (folder, folder / "MNIST" / "raw"):
        for candidate in (sub / name, sub / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def load_idx_verified(folder: Path, name: str, verify: bool = True) -> np.ndarray:
    """Load IDX file ``name`` from ``folder``, checking the official MD5 when ``verify``."""
    path = find_idx_file(folder, name)
    if path is None:
        raise DataError(
            f"{name}(.gz) is missing from {folder}; put the four MNIST IDX files there "
            f"(see README, 'Data')"
        )
    try:
        raw = _read_bytes(path)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DataError(f"cannot read {path}: {err}; replace the file") from None
    if verify and hashlib.md5(raw).hexdigest() != OFFICIAL_MD5[name]:
        raise DataError(
            f"{path} does not match the official MNIST file (MD5 of its content differs): "
            "it is truncated or corrupt; replace it with the official file"
        )
    return _parse_idx(raw, path)


def default_cache_dir() -> Path:
    """Where downloaded MNIST is kept: ``$XDG_CACHE_HOME/cvae_pyro/mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cvae_pyro" / "mnist"


def resolve_data_dir(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """Decide which folder MNIST is read from, downloading into the cache if needed.

    Args:
        data_dir: an explicit folder (``--data-dir``); wins over everything else.
        download: allow torchvision's download into the cache folder.

    Returns:
        A folder that holds the four IDX files.
    """
    explicit = data_dir if data_dir is not None else os.environ.get(DATA_ENV_VAR)
    if explicit:
        folder = Path(explicit).expanduser()
        if not folder.is_dir():
            source = "--data-dir" if data_dir is not None else DATA_ENV_VAR
            raise DataError(f"data folder {folder} (from {source}) does not exist")
        return folder
    cache = default_cache_dir()
    if all(find_idx_file(cache, name) for name in OFFICIAL_MD5):
        return cache
    if download:
        _download_with_torchvision(cache)
        return cache
    raise DataError(f"no MNIST files in {cache} and downloading is off")


def _download_with_torchvision(cache: Path) -> None:
    from torchvision.datasets import MNIST as TorchvisionMNIST

    try:
        TorchvisionMNIST(root=str(cache), train=True, download=True)
        TorchvisionMNIST(root=str(cache), train=False, download=True)
    except Exception as err:  # network errors come in many types
        raise DataError(
            f"MNIST is not on this machine and the download failed ({type(err).__name__}). "
            f"Give the folder holding the four IDX files with --data-dir DIR or "
            f"{DATA_ENV_VAR}=DIR, or connect to the internet"
        ) from None


def load_mnist(
    data_dir: str | os.PathLike | None = None, verify: bool = True, download: bool = True
) -> MNIST:
    """Load the train / validation / test splits of the protocol into memory.

    Args:
        data_dir: folder with the IDX files; see the module docstring for the fallbacks.
        verify: check every file against the official MD5.
        download: allow torchvision's download when no folder holds the files.

    Returns:
        The three splits; images ``(N, 784)`` float32 in [0, 1].
    """
    folder = resolve_data_dir(data_dir, download=download)
    arrays = {name: load_idx_verified(folder, name, verify) for name in OFFICIAL_MD5}
    train_images = _to_images(arrays["train-images-idx3-ubyte"])  # (60000, 784)
    train_labels = torch.from_numpy(arrays["train-labels-idx1-ubyte"].astype(np.int64))
    test = Split(
        _to_images(arrays["t10k-images-idx3-ubyte"]),
        torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64)),
    )
    end = NUM_TRAIN + NUM_VALIDATION
    return MNIST(
        train=Split(train_images[:NUM_TRAIN], train_labels[:NUM_TRAIN]),
        validation=Split(train_images[NUM_TRAIN:end], train_labels[NUM_TRAIN:end]),
        test=test,
    )


def _to_images(array: np.ndarray) -> torch.Tensor:
    images = torch.from_numpy(array.reshape(len(array), NUM_PIXELS).astype(np.float32))
    return images / MAX_GREY_LEVEL  # (N, 784)
