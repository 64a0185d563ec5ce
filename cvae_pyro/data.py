"""MNIST or Fashion-MNIST from the four official IDX files, held in memory as float tensors.

Two datasets share the format, the file names, the sizes and the splits:
``"mnist"`` (LeCun et al., digits "0".."9") and ``"fashion-mnist"`` (Xiao, Rasul
and Vollgraf 2017, ten classes of clothing: T-shirt/top, Trouser, ...).

Where the files come from, in order:

1. the folder given as ``data_dir`` (the CLI's ``--data-dir``);
2. the folder in the dataset's environment variable: ``CVAE_PYRO_DATA`` for
   MNIST, ``CVAE_PYRO_FASHION_DATA`` for Fashion-MNIST;
3. for Fashion-MNIST, ``/usr/share/datasets/fashion-mnist``, where Debian's
   package ``dataset-fashion-mnist`` installs the files;
4. a user cache folder (``$XDG_CACHE_HOME/cvae_pyro/<name>``), filled by
   torchvision's download when empty.

An empty ``data_dir`` or environment variable is an error, not "no folder". A folder
may hold the files gzip-compressed (``*.gz``) or raw, directly or under torchvision's
layout (``MNIST/raw/``, ``FashionMNIST/raw/``). Each file is read up to its official
size and checked against the MD5 of the official decompressed file before training;
problems raise :class:`DataError`, one line that names the file, says what it is
(missing, unreadable, truncated, too long, corrupt, another of the four files, the
other dataset's) and what to do.

Splits: the first 50,000 training images train, the last 10,000 validate, and the
10,000 test images are only for the final table.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATA_ENV_VAR = "CVAE_PYRO_DATA"  #: environment variable naming the MNIST folder
FASHION_DATA_ENV_VAR = "CVAE_PYRO_FASHION_DATA"  #: environment variable naming Fashion-MNIST
NUM_TRAIN = 50_000  #: training images (first part of MNIST's training set)
NUM_VALIDATION = 10_000  #: validation images (last part of MNIST's training set)
MAX_GREY_LEVEL = 255.0  #: IDX pixels are bytes 0..255
NUM_CLASSES = 10  #: labels 0..9 (digits, or Fashion-MNIST's ten classes)


class DataError(ValueError):
    """The data files are missing, unreadable or not the official ones, or a bad argument."""


#: What each official file holds and the shape its header gives (the same in both datasets).
FILES = {
    "train-images-idx3-ubyte": ("training images", (60_000, 28, 28)),
    "train-labels-idx1-ubyte": ("training labels", (60_000,)),
    "t10k-images-idx3-ubyte": ("test images", (10_000, 28, 28)),
    "t10k-labels-idx1-ubyte": ("test labels", (10_000,)),
}

#: MD5 of each official MNIST file, decompressed (from the MNIST README in shared/).
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: MD5 of each official Fashion-MNIST file, decompressed (the values published by the
#: dataset's README and torchvision's ``FashionMNIST``; see shared/data/fashion-mnist).
FASHION_OFFICIAL_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}


@dataclass(frozen=True)
class DatasetInfo:
    """What differs between MNIST and Fashion-MNIST: names, checksums and places to look."""

    name: str  # the --dataset value: "mnist" or "fashion-mnist"
    title: str  # how messages and figures name it: "MNIST", "Fashion-MNIST"
    md5: dict[str, str]  # IDX file name -> MD5 of the official decompressed file
    class_names: tuple[str, ...]  # label 0..9 -> class name
    env_var: str  # environment variable naming the data folder
    system_dirs: tuple[Path, ...]  # folders a system package installs the files into
    torchvision_class: str  # torchvision.datasets class that downloads it (and its raw/ layout)


#: The datasets this package reads, by ``--dataset`` name.
DATASETS = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST",
        md5=OFFICIAL_MD5,
        class_names=tuple(str(digit) for digit in range(10)),
        env_var=DATA_ENV_VAR,
        system_dirs=(),
        torchvision_class="MNIST",
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST",
        md5=FASHION_OFFICIAL_MD5,
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        env_var=FASHION_DATA_ENV_VAR,
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),  # Debian dataset-fashion-mnist
        torchvision_class="FashionMNIST",
    ),
}
DATASET_NAMES = tuple(DATASETS)  #: the choices of --dataset


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of dataset ``name``; DataError naming the choices otherwise."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}: use one of {', '.join(DATASET_NAMES)}")
    return DATASETS[name]


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
    """The three splits of the protocol: train (50k), validation (10k), test (10k).

    The same container holds Fashion-MNIST; ``dataset`` says which one it is.
    """

    train: Split
    validation: Split
    test: Split
    dataset: str = "mnist"  # "mnist" or "fashion-mnist"

    @property
    def class_names(self) -> tuple[str, ...]:
        """Name of each label 0..9 ("0".."9" for MNIST, "T-shirt/top", ... for Fashion-MNIST)."""
        return dataset_info(self.dataset).class_names

    def split(self, name: str) -> Split:
        """The split called ``name`` ("train", "validation" or "test")."""
        if name not in ("train", "validation", "test"):
            raise ValueError(f"unknown split {name!r}: use train, validation or test")
        return getattr(self, name)


def official_size(name: str) -> int:
    """Bytes of official file ``name``: a 4-byte magic number, 4 per dimension, 1 per pixel."""
    shape = FILES[name][1]
    return 4 + 4 * len(shape) + math.prod(shape)


def find_idx_file(folder: Path, name: str, dataset: str = "mnist") -> Path | None:
    """The path of IDX file ``name`` in ``folder`` (``.gz`` or raw, or under torchvision's raw/).

    Anything of that name counts (a device, a broken link): :func:`load_idx_verified` says so.
    """
    raw_dir = folder / dataset_info(dataset).torchvision_class / "raw"
    for sub in (folder, raw_dir):
        for candidate in (sub / name, sub / f"{name}.gz"):
            if os.path.lexists(candidate):
                return candidate
    return None


def load_idx_verified(
    folder: Path, name: str, verify: bool = True, dataset: str = "mnist"
) -> np.ndarray:
    """Official file ``name`` (of :data:`FILES`) of ``dataset`` in ``folder``, as uint8 arrays.

    Its size is always checked, its content against the official MD5 when ``verify``;
    DataError says what is wrong.
    """
    info = dataset_info(dataset)
    path = find_idx_file(folder, name, dataset)
    if path is None:
        raise DataError(
            f"{name}(.gz) is missing from {folder}; put the four {info.title} IDX files there "
            f"(see README, 'Data')"
        )
    size = official_size(name)
    raw = _read(path, size)
    if len(raw) != size or (verify and hashlib.md5(raw).hexdigest() != info.md5[name]):
        raise DataError(_not_official(path, name, info, raw))
    shape = FILES[name][1]
    return np.frombuffer(raw, np.uint8, offset=size - math.prod(shape)).reshape(shape)


def _read(path: Path, size: int) -> bytes:
    """The first ``size + 1`` bytes of the file, decompressed when it ends in ``.gz``."""
    if not path.is_file():
        raise DataError(
            f"{path} is not a regular file (a device, a broken link?); put the file there"
        )
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            return f.read(size + 1)  # one byte more tells a longer file; no more is read
    except PermissionError:
        raise DataError(f"{path} is not readable (permission denied); make it readable") from None
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        reason = f"corrupt gzip stream ({err})" if isinstance(err, zlib.error) else str(err)
        raise DataError(f"cannot read {path}: {reason}; replace the file") from None


def _not_official(path: Path, name: str, info: DatasetInfo, raw: bytes) -> str:
    """Why ``raw``, read from ``path``, is not the official file ``name``: what it is instead."""
    digest = hashlib.md5(raw).hexdigest()
    known = {md5: (d, n) for d in DATASETS.values() for n, md5 in d.md5.items()}
    if digest in known:  # an official file under another name, or of the other dataset
        other, found = known[digest]
        fix = f"give --dataset {other.name}, or the folder of the {info.title} files"
        if other.name == info.name:
            fix = "give each of the four files its own name"
        return (
            f"{path} holds the official {other.title} {FILES[found][0]} ({found}), "
            f"not the {info.title} {FILES[name][0]}: {fix}"
        )
    size = official_size(name)
    if len(raw) > size:
        return (
            f"{path} is longer than the official {name} ({size:,} bytes): not that file; replace it"
        )
    if len(raw) < size:
        return f"{path} is truncated ({len(raw):,} of the official {size:,} bytes); replace it"
    return (
        f"{path} does not match the official {info.title} file (MD5 of its content "
        "differs): it is corrupt; replace it with the official file"
    )


def default_cache_dir(dataset: str = "mnist") -> Path:
    """Where downloaded data is kept: ``$XDG_CACHE_HOME/cvae_pyro/<dataset>``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cvae_pyro" / dataset_info(dataset).name


def resolve_data_dir(
    data_dir: str | os.PathLike | None = None, download: bool = True, dataset: str = "mnist"
) -> Path:
    """Decide which folder ``dataset`` is read from, downloading into the cache if needed.

    Args:
        data_dir: an explicit folder (``--data-dir``); wins over everything else.
            An empty string is an error, as is an empty environment variable.
        download: allow torchvision's download into the cache folder.
        dataset: "mnist" or "fashion-mnist".

    Returns:
        A folder that holds the four IDX files (see the module docstring for the order).
    """
    info = dataset_info(dataset)
    source = "--data-dir"
    if data_dir is None and info.env_var in os.environ:
        data_dir, source = os.environ[info.env_var], info.env_var
    if data_dir is not None:
        if not os.fspath(data_dir).strip():
            raise DataError(
                f"the data folder from {source} is an empty string: give a folder, "
                f"or leave {source} out to use the default places"
            )
        folder = Path(data_dir).expanduser()
        if not folder.is_dir():
            problem = "is a file, not a folder" if folder.exists() else "does not exist"
            raise DataError(
                f"data folder {folder} (from {source}) {problem}; give the folder that "
                f"holds the four {info.title} IDX files"
            )
        return folder
    cache = default_cache_dir(dataset)
    for folder in (*info.system_dirs, cache):
        if all(find_idx_file(folder, name, dataset) for name in info.md5):
            return folder
    if download:
        _download_with_torchvision(cache, info)
        return cache
    raise DataError(f"no {info.title} files in {cache} and downloading is off")


def _download_with_torchvision(cache: Path, info: DatasetInfo) -> None:
    import torchvision.datasets

    reader = getattr(torchvision.datasets, info.torchvision_class)
    try:
        reader(root=str(cache), train=True, download=True)
        reader(root=str(cache), train=False, download=True)
    except Exception as err:  # network errors come in many types
        raise DataError(
            f"{info.title} is not on this machine and the download failed "
            f"({type(err).__name__}). Give the folder holding the four IDX files with "
            f"--data-dir DIR or {info.env_var}=DIR, or connect to the internet"
        ) from None


def load_dataset(
    name: str = "mnist",
    data_dir: str | os.PathLike | None = None,
    verify: bool = True,
    download: bool = True,
) -> MNIST:
    """Load the train / validation / test splits of the protocol into memory.

    Args:
        name: "mnist" or "fashion-mnist".
        data_dir: folder with the IDX files; see the module docstring for the fallbacks.
        verify: check every file against the official MD5 (the size is always checked).
        download: allow torchvision's download when no folder holds the files.

    Returns:
        The three splits; images ``(N, 784)`` float32 in [0, 1], labels ``(N,)`` int64.
    """
    folder = resolve_data_dir(data_dir, download=download, dataset=name)
    train = _split(folder, "train", verify, name)  # 60,000 images
    end = NUM_TRAIN + NUM_VALIDATION
    return MNIST(
        train=Split(train.images[:NUM_TRAIN], train.labels[:NUM_TRAIN]),
        validation=Split(train.images[NUM_TRAIN:end], train.labels[NUM_TRAIN:end]),
        test=_split(folder, "t10k", verify, name),
        dataset=name,
    )


def _split(folder: Path, prefix: str, verify: bool, dataset: str) -> Split:
    """The images and labels of files ``<prefix>-images-idx3-ubyte`` and ``-labels-``."""
    images = load_idx_verified(folder, f"{prefix}-images-idx3-ubyte", verify, dataset)
    labels = load_idx_verified(folder, f"{prefix}-labels-idx1-ubyte", verify, dataset)
    grey = images.reshape(len(images), -1).astype(np.float32) / np.float32(MAX_GREY_LEVEL)
    return Split(torch.from_numpy(grey), torch.from_numpy(labels.astype(np.int64)))  # (N, 784)


def load_splits(
    data_dir: str | None,
    limit: int | None,
    device: torch.device,
    dataset: str = "mnist",
) -> MNIST:
    """The dataset's three splits on ``device``, each cut to its first ``limit`` images.

    A ``limit`` above the largest split's size is refused (DataError); a smaller split
    than ``limit`` is used whole.
    """
    data = load_dataset(dataset, data_dir)
    largest = max(len(data.split(s)) for s in ("train", "validation", "test"))
    if limit is not None and limit > largest:
        raise DataError(f"limit {limit} is more than the {largest} images of the largest split")
    splits = (data.split(s).head(limit).to(device) for s in ("train", "validation", "test"))
    return MNIST(*splits, dataset=dataset)
