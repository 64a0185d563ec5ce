"""The shipped models: installed with the package, checked by hash, used when nothing is trained."""

import hashlib
import json
import os
import subprocess
import sys
import zipfile

import pytest
import torch
from PIL import Image, ImageDraw

from cvae_pyro import complete, sample
from cvae_pyro.conditions import (
    PRETRAINED_DIR,
    load_pretrained,
    pretrained_models,
)
from cvae_pyro.errors import CheckpointError

#: The tracked weight files' budget.
MAX_SHIPPED_BYTES = 30 * 2**20
SHIPPED = pretrained_models()

needs_models = pytest.mark.skipif(not SHIPPED, reason="no shipped models in this checkout")


@needs_models
def test_the_manifest_records_each_file_and_how_it_was_made():
    total = 0
    for name, record in SHIPPED.items():
        path = PRETRAINED_DIR / record["file"]
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == record["sha256"], name
        assert len(data) == record["bytes"]
        total += len(data)
        assert record["command"].startswith("python benchmarks/pretrained.py")
        assert record["dataset"] in name and record["condition"] in name
        f16, f32 = record["test"]["float16"], record["test"]["float32"]
        for task, estimates in f16.items():
            assert abs(estimates["IS"][0] - f32[task]["IS"][0]) < 0.1  # float16 costs little
            assert estimates["IS"][0] <= estimates["MC"][0]  # IS is the tighter estimate
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
    monkeypatch.setattr("cvae_pyro.conditions.PRETRAINED_DIR", tmp_path)
    monkeypatch.setattr("cvae_pyro.conditions.PRETRAINED_MANIFEST", tmp_path / "MANIFEST.json")
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
def test_a_built_wheel_carries_the_shipped_models(tmp_path):
    root = PRETRAINED_DIR.parents[1]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(root), "--no-deps", "--no-build-isolation"]
        + ["-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("cvae_pyro-*.whl")
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
        "import cvae_pyro.conditions as c; print(c.__file__); "
        "print(c.load_pretrained('label', 'mnist')[1])"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(str(target)) and "shipped MNIST label CVAE" in proc.stdout
