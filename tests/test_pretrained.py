"""The shipped models: installed with the package, checked by hash, used when nothing is trained."""

import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile

import pytest
import torch
from PIL import Image, ImageDraw

from cvae_pyro import complete, sample
from cvae_pyro.cli.errors import CheckpointError
from cvae_pyro.cli.model_files import PRETRAINED_DIR, load_pretrained, pretrained_models

from .helpers import call, one_error_line

#: The tracked weight files' budget.
MAX_SHIPPED_BYTES = 30 * 2**20
SHIPPED = pretrained_models()

needs_models = pytest.mark.skipif(not SHIPPED, reason="no shipped models in this checkout")


@needs_models
def test_the_manifest_records_each_file_and_a_training_that_early_stopping_ended():
    total = 0
    for name, record in SHIPPED.items():
        path = PRETRAINED_DIR / record["file"]
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == record["sha256"], name
        assert len(data) == record["bytes"]
        total += len(data)
        builder = r"python (-m experiments\.|\S*/)pretrained\b"  # as a module or a file
        assert re.match(builder, record["command"]), record["command"]
        assert record["dataset"] in name and record["condition"] in name
        f16, f32 = record["test"]["float16"], record["test"]["float32"]
        for task, estimates in f16.items():
            assert abs(estimates["IS"][0] - f32[task]["IS"][0]) < 0.01  # float16 costs little
            assert estimates["IS"][0] <= estimates["MC"][0]  # IS is the tighter estimate
        assert record["best_epoch"] <= record["epochs_run"] < record["settings"]["epochs"]
        payload = torch.load(path, weights_only=True)
        assert all(t.dtype == torch.float16 for t in payload["state_dict"].values())
    assert total <= MAX_SHIPPED_BYTES


@needs_models
def test_a_damaged_shipped_file_is_refused(tmp_path, monkeypatch):
    name = next(iter(SHIPPED))
    record = SHIPPED[name]
    copy = tmp_path / record["file"]
    data = bytearray((PRETRAINED_DIR / record["file"]).read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, inside the weights
    copy.write_bytes(bytes(data))
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"models": SHIPPED}))
    monkeypatch.setattr("cvae_pyro.cli.model_files.PRETRAINED_DIR", tmp_path)
    monkeypatch.setattr("cvae_pyro.cli.model_files.PRETRAINED_MANIFEST", tmp_path / "MANIFEST.json")
    with pytest.raises(CheckpointError, match="missing or damaged"):
        load_pretrained(record["condition"], record["dataset"])


@needs_models
def test_complete_and_sample_work_in_an_empty_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    drawing = Image.new("L", (120, 90), 255)
    ImageDraw.Draw(drawing).line([(60, 10), (30, 60), (90, 60)], fill=0, width=9)
    ImageDraw.Draw(drawing).line([(70, 30), (70, 85)], fill=0, width=9)
    drawing.save("my_digit.png")
    argv = ["--image", "my_digit.png", "--keep", "bottom-left", "--n", "8"]
    assert complete.main([*argv, "--out", "completions.png"]) == 0
    out = capsys.readouterr().out
    assert "completed by the shipped MNIST mask CVAE" in out
    assert sample.main(["--digit", "3", "--n", "8", "--out", "threes.png"]) == 0
    assert "drawn by the shipped MNIST label CVAE" in capsys.readouterr().out
    for name in ("completions.png", "threes.png"):
        with Image.open(name) as image:
            assert image.size[0] > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "completions.png",
        "my_digit.png",
        "threes.png",
    ]


@needs_models
@pytest.mark.slow
def test_a_built_wheel_carries_the_shipped_models(wheel, tmp_path):
    names = set(zipfile.ZipFile(wheel).namelist())
    for record in SHIPPED.values():
        assert f"cvae_pyro/pretrained/{record['file']}" in names
    assert "cvae_pyro/pretrained/MANIFEST.json" in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
        + [str(wheel)],
        check=True,
        capture_output=True,
    )
    probe = (
        "import cvae_pyro.cli.model_files as t; print(t.__file__); "
        "print(t.load_pretrained('label', 'mnist')[1])"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(str(target)) and "shipped MNIST label CVAE" in proc.stdout


def shipped_copy(tmp_path, monkeypatch, manifest: bytes | None) -> None:
    """The shipped models' folder copied to ``tmp_path/pretrained``, with ``manifest`` as its
    record (None: no record), and the package pointed at it."""
    folder = tmp_path / "pretrained"
    folder.mkdir()
    for record in SHIPPED.values():
        (folder / record["file"]).write_bytes((PRETRAINED_DIR / record["file"]).read_bytes())
    if manifest is not None:
        (folder / "MANIFEST.json").write_bytes(manifest)
    monkeypatch.setattr("cvae_pyro.cli.model_files.PRETRAINED_DIR", folder)
    monkeypatch.setattr("cvae_pyro.cli.model_files.PRETRAINED_MANIFEST", folder / "MANIFEST.json")


def damaged_manifests() -> dict[str, bytes | None]:
    """Records of the shipped models that cannot be read, as a broken install may hold them."""
    return {"cut short": b'{"models": {', "not UTF-8": b'{"models": {"\xff\xfe": 1}}'}


@needs_models
@pytest.mark.parametrize("damage", damaged_manifests())
def test_a_damaged_install_says_so_and_how_to_repair_it(damage, tmp_path, monkeypatch, capsys):
    shipped_copy(tmp_path, monkeypatch, damaged_manifests()[damage])
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.png"
    drawing = tmp_path / "seven.png"
    image = Image.new("L", (60, 80), 255)
    ImageDraw.Draw(image).line([(8, 12), (42, 12), (22, 72)], fill=0, width=6)
    image.save(drawing)
    for command, args in (
        (complete.main, ["--image", drawing, "--keep", "left", "--out", out]),
        (sample.main, ["--digit", "3", "--out", out]),
    ):
        code, err = call(command, args, capsys)
        assert code == 2, damage
        line = one_error_line(err, "install is damaged", "pip install --force-reinstall")
        assert "pip install -e ." in line and "train one" not in line
    assert not out.exists()


def test_no_shipped_models_at_all_means_train_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("cvae_pyro.cli.model_files.PRETRAINED_DIR", tmp_path / "none")
    monkeypatch.setattr("cvae_pyro.cli.model_files.PRETRAINED_MANIFEST", tmp_path / "none/M.json")
    assert pretrained_models() == {}
    args = ["--digit", "3", "--out", tmp_path / "x.png", "--out-dir", tmp_path / "runs"]
    code, err = call(sample.main, args, capsys)
    assert code == 2
    one_error_line(err, "no label model in", "train one")
