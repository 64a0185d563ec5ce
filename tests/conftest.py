"""Shared fixtures: Pyro validation on, a clean param store, and a small real-MNIST subset."""

from __future__ import annotations

import os
from pathlib import Path

import pyro
import pytest
import torch

from cvae_pyro.data import DATA_ENV_VAR, FASHION_DATA_ENV_VAR, MNIST, find_idx_file, load_mnist

pyro.enable_validation(True)
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def _clean_param_store():
    pyro.clear_param_store()
    yield
    pyro.clear_param_store()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real MNIST folder (from $CVAE_PYRO_DATA, else ../shared/data/mnist)."""
    folder = os.environ.get(DATA_ENV_VAR) or Path(__file__).parents[2] / "shared/data/mnist"
    folder = Path(folder)
    if (
        not (folder / "train-images-idx3-ubyte.gz").exists()
        and not (folder / "train-images-idx3-ubyte").exists()
    ):
        pytest.skip(f"real MNIST not found; set {DATA_ENV_VAR}")
    return folder


@pytest.fixture(scope="session")
def mnist(data_dir) -> MNIST:
    """All of MNIST, loaded once per session."""
    return load_mnist(data_dir)


@pytest.fixture(scope="session")
def small_mnist(mnist) -> MNIST:
    """The first 300 images of every split."""
    return MNIST(*(mnist.split(s).head(300) for s in ("train", "validation", "test")))


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """The real Fashion-MNIST folder ($CVAE_PYRO_FASHION_DATA, else ../shared/data/fashion-mnist)."""
    folder = os.environ.get(FASHION_DATA_ENV_VAR) or (
        Path(__file__).parents[2] / "shared/data/fashion-mnist"
    )
    folder = Path(folder)
    if find_idx_file(folder, "train-images-idx3-ubyte", "fashion-mnist") is None:
        pytest.skip(f"real Fashion-MNIST not found; set {FASHION_DATA_ENV_VAR}")
    return folder
