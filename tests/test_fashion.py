"""Fashion-MNIST: official checksums on the real files, the protocol's splits, class names,
and where the files are looked for."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

import pytest
import torch

from cvae_pyro import data as data_mod
from cvae_pyro.data import (
    DATASETS,
    FASHION_DATA_ENV_VAR,
    DataError,
    find_idx_file,
    load_dataset,
    load_idx_verified,
    resolve_data_dir,
)

FASHION = "fashion-mnist"
CLASS_NAMES = (
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
)


@pytest.fixture(scope="module")
def fashion(fashion_dir):
    return load_dataset(FASHION, fashion_dir)


def fake_folder(folder: Path, dataset: str) -> Path:
    """Four tiny IDX files named like the dataset's, with their MD5s made official."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in DATASETS[dataset].md5:
        (folder / f"{name}.gz").write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 0])))
    return folder


def test_official_md5s_match_the_real_files(fashion_dir):
    md5 = DATASETS[FASHION].md5
    assert md5["train-images-idx3-ubyte"] == "f4a8712d7a061bf5bd6d2ca38dc4d50a"
    for name, expected in md5.items():
        path = find_idx_file(fashion_dir, name, FASHION)
        assert hashlib.md5(gzip.decompress(path.read_bytes())).hexdigest() == expected
    # the MNIST checksums reject Fashion-MNIST's files (named as such), so the two cannot be
    # mixed up
    with pytest.raises(
        DataError, match="holds the official Fashion-MNIST test labels .*, not the MNIST test"
    ):
        load_idx_verified(fashion_dir, "t10k-labels-idx1-ubyte", dataset="mnist")


def test_splits_and_class_names(fashion):
    assert fashion.dataset == FASHION and fashion.class_names == CLASS_NAMES
    assert (len(fashion.train), len(fashion.validation), len(fashion.test)) == (
        50_000,
        10_000,
        10_000,
    )
    assert fashion.train.images.shape == (50_000, 784)
    assert fashion.train.images.dtype == torch.float32
    assert 0.0 == fashion.test.images.min() and fashion.test.images.max() == 1.0
    # the first labels of Fashion-MNIST's training and test sets (Ankle boot, T-shirt, ...)
    assert fashion.train.labels[:4].tolist() == [9, 0, 0, 3]
    assert fashion.test.labels[:3].tolist() == [9, 2, 1]
    assert torch.bincount(fashion.test.labels, minlength=10).tolist() == [1000] * 10


def test_mnist_class_names_are_the_digits(mnist):
    assert mnist.dataset == "mnist"
    assert mnist.class_names == tuple("0123456789")


def test_environment_variable_is_per_dataset(tmp_path, monkeypatch):
    mnist_dir, fashion_dir = tmp_path / "m", fake_folder(tmp_path / "f", FASHION)
    mnist_dir.mkdir()
    monkeypatch.setenv(data_mod.DATA_ENV_VAR, str(mnist_dir))
    monkeypatch.setenv(FASHION_DATA_ENV_VAR, str(fashion_dir))
    assert resolve_data_dir(dataset="mnist") == mnist_dir
    assert resolve_data_dir(dataset=FASHION) == fashion_dir


def test_debian_folder_comes_before_the_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(FASHION_DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert DATASETS[FASHION].system_dirs == (Path("/usr/share/datasets/fashion-mnist"),)
    debian = tmp_path / "usr/share/datasets/fashion-mnist"
    fashion = dataclasses.replace(DATASETS[FASHION], system_dirs=(debian,))
    monkeypatch.setitem(DATASETS, FASHION, fashion)
    cache = fake_folder(tmp_path / "cache/cvae_pyro/fashion-mnist", FASHION)
    assert resolve_data_dir(dataset=FASHION, download=False) == cache
    fake_folder(debian, FASHION)
    assert resolve_data_dir(dataset=FASHION, download=False) == debian


def test_failed_download_names_the_fashion_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(FASHION_DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fashion = dataclasses.replace(DATASETS[FASHION], system_dirs=())
    monkeypatch.setitem(DATASETS, FASHION, fashion)
    import torchvision.datasets

    class Offline:
        def __init__(self, *args, **kwargs):
            raise ConnectionError("no route to host")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", Offline)
    with pytest.raises(DataError, match=f"Fashion-MNIST is not .*{FASHION_DATA_ENV_VAR}=DIR"):
        load_dataset(FASHION)


def test_torchvision_layout_is_found(tmp_path):
    raw = fake_folder(tmp_path / "FashionMNIST" / "raw", FASHION)
    name = "t10k-labels-idx1-ubyte"
    assert find_idx_file(tmp_path, name, FASHION) == raw / f"{name}.gz"
    assert find_idx_file(tmp_path, name, "mnist") is None  # MNIST/raw is MNIST's folder
    (raw / f"{name}.gz").write_bytes(
        gzip.compress(bytes([0, 0, 8, 1, 0, 0, 39, 16, *[7] * 10_000]))
    )
    labels = load_idx_verified(raw, name, verify=False, dataset=FASHION)
    assert labels.shape == (10_000,) and set(labels.tolist()) == {7}
