import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from cvae_pyro import data as data_mod
from cvae_pyro import (
    evaluate,
    train,
)
from cvae_pyro.cli import EXIT_USAGE
from cvae_pyro.data import load_dataset, load_idx_verified, read_idx, resolve_data_dir
from cvae_pyro.errors import (
    ConfigError,
    DataError,
)

from .helpers import (
    QUICK,
    call,
    one_error_line,
)


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


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = write_idx(tmp_path / "images-idx3-ubyte", array, compress)
    assert np.array_equal(read_idx(path), array)


def test_read_idx_labels(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    assert np.array_equal(read_idx(write_idx(tmp_path / "l", labels)), labels)


def test_truncated_idx_names_the_file(tmp_path):
    path = write_idx(tmp_path / "images", np.zeros((4, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(DataError, match="images.*truncated"):
        read_idx(path)


def test_bad_magic_and_bad_gzip(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DataError, match="magic"):
        read_idx(bad)
    gz = tmp_path / "broken.gz"
    gz.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="broken.gz"):
        read_idx(gz)


def test_md5_mismatch_is_reported(tmp_path, monkeypatch):
    name = "t10k-labels-idx1-ubyte"
    path = write_idx(tmp_path / name, np.array([1, 2, 3], np.uint8))
    with pytest.raises(DataError, match="does not match the official"):
        load_idx_verified(tmp_path, name)
    monkeypatch.setitem(data_mod.OFFICIAL_MD5, name, hashlib.md5(path.read_bytes()).hexdigest())
    assert load_idx_verified(tmp_path, name).tolist() == [1, 2, 3]


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

    def no_network(cache):
        raise ConnectionError("offline")

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
    with pytest.raises(DataError, match=f"cannot read .*{name}.gz: corrupt gzip stream"):
        read_idx(path)
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
    with pytest.raises(ConfigError, match="mnist, fashion-mnist"):
        load_dataset("kmnist")


def test_a_data_dir_that_is_a_file(tmp_path, capsys, monkeypatch):
    afile = tmp_path / "mnist.zip"
    afile.write_bytes(b"PK")
    with pytest.raises(DataError, match="mnist.zip .from --data-dir. is a file, not a folder"):
        load_dataset("mnist", afile)
    monkeypatch.setenv("CVAE_PYRO_DATA", str(afile))
    with pytest.raises(DataError, match="from CVAE_PYRO_DATA. is a file, not a folder"):
        load_dataset("mnist")


def test_a_folder_of_the_other_dataset(fashion_dir, data_dir):
    with pytest.raises(DataError, match="is the official Fashion-MNIST file") as err:
        load_dataset("mnist", fashion_dir)
    assert "--dataset fashion-mnist" in str(err.value) and "corrupt" not in str(err.value)
    with pytest.raises(DataError, match="is the official MNIST file.*--dataset mnist"):
        load_dataset("fashion-mnist", data_dir)


def test_empty_data_dir_leaves_no_cache_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    args = ["--quadrants", "1", *QUICK, "--data-dir", "", "--out-dir", tmp_path / "out"]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "empty")
    assert not (tmp_path / "cache").exists()


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
