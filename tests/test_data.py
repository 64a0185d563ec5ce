import builtins
import gzip
import hashlib
import os
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from cvae_pyro import data as data_mod
from cvae_pyro import evaluate, train
from cvae_pyro.cli import EXIT_USAGE
from cvae_pyro.data import (
    DataError,
    load_dataset,
    load_idx_verified,
    official_size,
    resolve_data_dir,
)

from .helpers import (
    QUICK,
    call,
    one_error_line,
)

LABELS = "t10k-labels-idx1-ubyte"  # the smallest official file: 10,008 bytes


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def test_official_sizes():
    assert official_size("train-images-idx3-ubyte") == 16 + 60_000 * 784
    assert official_size(LABELS) == 10_008


@pytest.mark.parametrize("compress", [False, True])
def test_a_file_with_the_official_checksum_is_read(tmp_path, monkeypatch, compress):
    labels = np.arange(10_000) % 10
    path = write_idx(tmp_path / LABELS, labels, compress)
    with pytest.raises(DataError, match="does not match the official MNIST file.*corrupt"):
        load_idx_verified(tmp_path, LABELS)
    raw = gzip.decompress(path.read_bytes()) if compress else path.read_bytes()
    monkeypatch.setitem(data_mod.OFFICIAL_MD5, LABELS, hashlib.md5(raw).hexdigest())
    assert np.array_equal(load_idx_verified(tmp_path, LABELS), labels)


def test_truncated_file_says_so(tmp_path):
    write_idx(tmp_path / LABELS, np.zeros(5_000), compress=True)
    with pytest.raises(DataError, match=r"truncated \(5,008 of the official 10,008 bytes\)"):
        load_idx_verified(tmp_path, LABELS, verify=False)


def test_a_gzip_bomb_is_read_only_up_to_the_official_size(tmp_path):
    bomb = tmp_path / f"{LABELS}.gz"
    bomb.write_bytes(gzip.compress(bytes(20_000_000)))  # 20 KB that expand to 20 MB
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as caught:
            load_idx_verified(tmp_path, LABELS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # the 10,008 bytes of the official file and the gzip buffers
    message = str(caught.value)
    assert f"{bomb} is longer than the official {LABELS} (10,008 bytes): not that file" in message


@pytest.fixture
def swapped(tmp_path, data_dir) -> Path:
    """A folder of links to the real MNIST files, the training and test files swapped."""
    for name in data_mod.OFFICIAL_MD5:
        other = name.replace("train", "TEST").replace("t10k", "train").replace("TEST", "t10k")
        (tmp_path / f"{name}.gz").symlink_to(Path(data_dir, f"{other}.gz").resolve())
    return tmp_path


def test_swapped_training_and_test_files_are_named(swapped):
    with pytest.raises(DataError) as caught:
        load_dataset("mnist", swapped)
    assert str(caught.value) == (
        f"{swapped}/train-images-idx3-ubyte.gz holds the official MNIST test images "
        "(t10k-images-idx3-ubyte), not the MNIST training images: give each of the four "
        "files its own name"
    )
    with pytest.raises(DataError, match="holds the official MNIST test labels .*not the MNIST"):
        load_idx_verified(swapped, "train-labels-idx1-ubyte")


@pytest.mark.parametrize("kind", ["device", "pipe", "broken link"])
def test_a_data_file_that_is_not_a_regular_file(tmp_path, kind):
    path = tmp_path / LABELS
    if kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "pipe":
        os.mkfifo(path)
    else:
        path.symlink_to(tmp_path / "gone")
    with pytest.raises(DataError, match=f"{LABELS} is not a regular file") as caught:
        load_idx_verified(tmp_path, LABELS)
    assert "missing" not in str(caught.value)


@pytest.mark.parametrize("compress", [False, True])
def test_an_unreadable_file_is_reported_as_not_readable(tmp_path, monkeypatch, compress):
    path = write_idx(tmp_path / LABELS, np.zeros(10_000), compress)
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads any file: refuse it as the system does a user
        real_open = builtins.open

        def denying_open(file, *args, **kwargs):
            if Path(os.fsdecode(file)) == path:
                raise PermissionError(13, "Permission denied", os.fsdecode(file))
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", denying_open)
    with pytest.raises(DataError) as caught:
        load_idx_verified(tmp_path, LABELS)
    assert str(caught.value) == f"{path} is not readable (permission denied); make it readable"


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(DataError, match="missing from .*put the four MNIST IDX files"):
        load_idx_verified(tmp_path, "train-images-idx3-ubyte")


def test_data_dir_sources(tmp_path, monkeypatch):
    monkeypatch.setenv(data_mod.DATA_ENV_VAR, str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir(tmp_path / ".") == tmp_path / "."
    with pytest.raises(DataError, match="does not exist"):
        resolve_data_dir(tmp_path / "nope")


def test_offline_without_data_explains_how_to_supply_it(tmp_path, monkeypatch):
    monkeypatch.delenv(data_mod.DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    import torchvision.datasets

    class Offline:
        def __init__(self, *args, **kwargs):
            raise ConnectionError("no route to host")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    with pytest.raises(DataError, match="--data-dir DIR or CVAE_PYRO_DATA=DIR"):
        load_dataset("mnist")


def test_real_splits(mnist):
    assert len(mnist.train) == 50_000 and len(mnist.validation) == 10_000
    assert len(mnist.test) == 10_000
    assert mnist.train.images.shape == (50_000, 784) and mnist.train.images.dtype == torch.float32
    assert 0.0 <= mnist.train.images.min() and mnist.train.images.max() == 1.0
    # the validation split is the last 10,000 training images; first labels of MNIST: 5 0 4 1
    assert mnist.train.labels[:4].tolist() == [5, 0, 4, 1]
    assert mnist.test.labels[:3].tolist() == [7, 2, 1]
    assert torch.bincount(mnist.validation.labels, minlength=10).min() > 800


def test_corrupt_gzip_stream_names_the_file(tmp_path):
    name = "t10k-images-idx3-ubyte"
    images = (np.random.default_rng(0).random((50, 28, 28)) < 0.2).astype(np.uint8) * 255
    path = write_idx(tmp_path / name, images, compress=True)
    corrupt = bytearray(path.read_bytes())
    corrupt[50] ^= 0xFF  # one byte flipped inside the deflate stream
    path.write_bytes(bytes(corrupt))
    with pytest.raises(zlib.error):  # the case guarded here: zlib's error, not a gzip OSError
        gzip.decompress(bytes(corrupt))
    with pytest.raises(DataError, match=f"{name}.gz: corrupt gzip stream"):
        load_idx_verified(tmp_path, name)


@pytest.mark.parametrize("empty", ["", "  "])
def test_empty_data_folder_is_an_error_not_a_download(tmp_path, monkeypatch, empty):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def no_download(*args, **kwargs):
        raise AssertionError("an empty --data-dir must not start a download")

    monkeypatch.setattr(data_mod, "_download_with_torchvision", no_download)
    with pytest.raises(DataError, match="empty string") as caught:
        load_dataset("mnist", empty)
    assert "\n" not in str(caught.value)


def test_unknown_dataset_names_the_choices():
    with pytest.raises(ValueError, match="mnist, fashion-mnist") as caught:
        load_dataset("kmnist")
    assert isinstance(caught.value, DataError)


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_environment_variable_is_an_error_not_a_download(
    tmp_path, monkeypatch, dataset, empty
):
    variable = data_mod.dataset_info(dataset).env_var
    monkeypatch.setenv(variable, empty)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def no_download(*args, **kwargs):
        raise AssertionError(f"an empty {variable} must not start a download")

    monkeypatch.setattr(data_mod, "_download_with_torchvision", no_download)
    with pytest.raises(DataError) as caught:
        load_dataset(dataset)
    assert str(caught.value) == (
        f"the data folder from {variable} is an empty string: give a folder, "
        f"or leave {variable} out to use the default places"
    )


def test_a_data_dir_that_is_a_file(tmp_path, capsys, monkeypatch):
    afile = tmp_path / "mnist.zip"
    afile.write_bytes(b"PK")
    with pytest.raises(DataError, match="mnist.zip .from --data-dir. is a file, not a folder"):
        load_dataset("mnist", afile)
    monkeypatch.setenv("CVAE_PYRO_DATA", str(afile))
    with pytest.raises(DataError, match="from CVAE_PYRO_DATA. is a file, not a folder"):
        load_dataset("mnist")


def test_a_folder_of_the_other_dataset(fashion_dir, data_dir):
    with pytest.raises(DataError, match="holds the official Fashion-MNIST training") as err:
        load_dataset("mnist", fashion_dir)
    assert "--dataset fashion-mnist" in str(err.value) and "corrupt" not in str(err.value)
    with pytest.raises(
        DataError, match="holds the official MNIST training images.*--dataset mnist"
    ):
        load_dataset("fashion-mnist", data_dir)


def test_empty_data_dir_leaves_no_cache_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    args = ["--quadrants", "1", *QUICK, "--data-dir", "", "--out-dir", tmp_path / "out"]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "empty")
    assert not (tmp_path / "cache" / "cvae_pyro").exists()  # (matplotlib may cache its fonts)


def test_corrupt_gzip_in_train_and_evaluate(q2_run, tmp_path, data_dir, capsys):
    data = tmp_path / "data"
    data.mkdir()
    for f in Path(data_dir).iterdir():
        (data / f.name).symlink_to(f.resolve())
    name = "t10k-labels-idx1-ubyte.gz"
    corrupt = bytearray((Path(data_dir) / name).read_bytes())
    corrupt[len(corrupt) // 2] ^= 0xFF
    (data / name).unlink()
    (data / name).write_bytes(bytes(corrupt))
    code, err = call(
        train.main, ["--quadrants", "2", *QUICK, "--data-dir", data, "--out-dir", tmp_path], capsys
    )
    assert code == EXIT_USAGE
    one_error_line(err, name)
    args = ["--quadrants", "2", "--out-dir", q2_run, "--limit", "50", "--data-dir", data]
    code, err = call(evaluate.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, name)
