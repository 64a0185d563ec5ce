"""Shared fixtures: Pyro validation on, a clean param store, and a small real-MNIST subset."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyro
import pytest
import torch

from cvae_pyro.data import DATA_ENV_VAR, FASHION_DATA_ENV_VAR, MNIST, find_idx_file, load_dataset

REPO = Path(__file__).resolve().parents[1]
#: What the wheel is built from: the package, its results and the files pyproject.toml names.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "cvae_pyro", "results")

pyro.enable_validation(True)
torch.set_num_threads(min(2, torch.get_num_threads()))


def pytest_report_header() -> str:
    """The vector instructions torch's kernels use here (``ATEN_CPU_CAPABILITY`` lowers them)."""
    return f"torch {torch.__version__}, CPU kernels: {torch.backends.cpu.get_cpu_capability()}"


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
    return load_dataset("mnist", data_dir)


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


def _trained(tmp_path_factory, data_dir: Path, name: str, *task: str) -> Path:
    """A finished run of ``task`` (limit 300, one epoch, small networks) in a new folder."""
    from cvae_pyro import train

    from .helpers import QUICK

    out = tmp_path_factory.mktemp(name)
    args = [*task, *QUICK, "--data-dir", str(data_dir), "--out-dir", str(out)]
    assert train.main(args) == 0
    return out


@pytest.fixture(scope="session")
def q2_run(tmp_path_factory, data_dir) -> Path:
    """A finished 2-quadrant run (limit 300, one epoch); copy it before changing it."""
    return _trained(tmp_path_factory, data_dir, "q2run", "--quadrants", "2")


@pytest.fixture(scope="session")
def label_run(tmp_path_factory, data_dir) -> Path:
    """A finished label run; copy it before changing it."""
    return _trained(tmp_path_factory, data_dir, "labelrun", "--condition", "label")


@pytest.fixture(scope="session")
def mask_run(tmp_path_factory, data_dir) -> Path:
    """A finished mask run; copy it before changing it."""
    return _trained(tmp_path_factory, data_dir, "maskrun", "--condition", "mask")


@pytest.fixture(scope="session")
def seven(tmp_path_factory) -> Path:
    """A drawn 7, dark on white: a picture for ``complete --image``."""
    from PIL import Image, ImageDraw

    path = tmp_path_factory.mktemp("pictures") / "seven.png"
    image = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(image).line([(15, 25), (85, 25), (45, 145)], fill=0, width=10)
    image.save(path)
    return path


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of this checkout (so that the build's own folders land
    in the copy, not in the repository)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in WHEEL_SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(tmp)],
        check=True,
        capture_output=True,
    )
    (built,) = tmp.glob("cvae_pyro-*.whl")
    return built
