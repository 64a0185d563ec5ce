"""``python -m cvae_pyro.complete``: completions of a picture drawn with Pillow, and its errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from cvae_pyro.beyond.completion import complete
from cvae_pyro.beyond.pictures import hide_mask, picture_to_digit
from cvae_pyro.cli import EXIT_USAGE
from cvae_pyro.cli.commands import find_model
from cvae_pyro.cli.config import CompleteConfig, TrainConfig
from cvae_pyro.cli.errors import (
    CheckpointError,
    ConfigError,
)
from cvae_pyro.cli.experiment import run
from cvae_pyro.complete import main
from cvae_pyro.data import DataError
from cvae_pyro.masks import NUM_PIXELS, input_mask

from .helpers import (
    call,
    one_error_line,
)


def draw_seven(path: Path) -> Path:
    """A large dark 7 on white paper, off-centre: nothing like an MNIST file."""
    image = Image.new("RGB", (240, 320), "white")
    ImageDraw.Draw(image).line([(30, 50), (170, 50), (90, 290)], fill="black", width=20)
    image.save(path)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir) -> Path:
    """A tiny mask model and a tiny 1-quadrant model, in two run folders."""
    root = tmp_path_factory.mktemp("complete_runs")
    small = {"limit": 200, "epochs": 1, "hidden": (32,), "z_dim": 4, "quiet": True}
    common = {**small, "data_dir": str(data_dir), "figures": False}
    run(TrainConfig(condition="mask", out_dir=str(root / "mask_runs"), **common))
    run(TrainConfig(quadrants=1, out_dir=str(root / "quadrant_runs"), **common))
    return root


def test_completion_of_a_drawn_digit_keeps_the_visible_pixels(runs, tmp_path):
    cvae, model = find_model(runs / "mask_runs", "mask", "mnist", "cpu")
    assert model.startswith("mask CVAE")
    picture = picture_to_digit(draw_seven(tmp_path / "seven.png"))
    visible = hide_mask("0,0,28,12")
    c = complete(cvae, picture, visible, n=4, seed=3)
    assert c.samples.shape == (4, NUM_PIXELS) and c.guess.shape == (NUM_PIXELS,)
    assert torch.equal(c.samples[:, visible], picture[visible].expand(4, -1))
    assert not torch.equal(c.samples[0, ~visible], picture[~visible])
    assert (c.samples >= 0).all() and (c.samples <= 1).all()
    again = complete(cvae, picture, visible, n=4, seed=3)
    assert torch.equal(again.samples, c.samples)


def test_cli_completes_a_picture_not_from_mnist(runs, tmp_path, capsys):
    seven = draw_seven(tmp_path / "my_digit.png")
    out = tmp_path / "completions.png"
    args = ["--image", str(seven), "--keep", "bottom-left", "--n", "8", "--out", str(out)]
    assert main([*args, "--out-dir", str(runs / "mask_runs")]) == 0
    assert "completed by the mask CVAE" in capsys.readouterr().out
    assert out.stat().st_size > 5_000
    with Image.open(out) as image:
        assert image.format == "PNG"


def test_quadrant_model_stands_in_for_its_layout(runs, tmp_path, capsys):
    seven = draw_seven(tmp_path / "seven.png")
    out = tmp_path / "q.png"
    args = ["--image", str(seven), "--n", "2", "--out", str(out)]
    assert main([*args, "--keep", "bottom-left", "--out-dir", str(runs / "quadrant_runs")]) == 0
    assert "1-quadrant CVAE" in capsys.readouterr().out
    cvae, _ = find_model(runs / "quadrant_runs", "mask", "mnist", "cpu", keep="bottom-left")
    with pytest.raises(ValueError, match="own layout"):
        complete(cvae, picture_to_digit(seven), input_mask(2), n=1)


def check_error(capsys, args: list[str], *words: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def test_errors_are_one_line_with_exit_status_2(runs, tmp_path, capsys, monkeypatch):
    seven = draw_seven(tmp_path / "seven.png")
    out = ["--out", str(tmp_path / "c.png"), "--out-dir", str(runs / "mask_runs")]
    check_error(
        capsys, ["--image", str(tmp_path / "none.png"), "--keep", "left", *out], "does not exist"
    )
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    check_error(capsys, ["--image", str(junk), "--keep", "left", *out], "cannot read")
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    check_error(capsys, ["--image", str(blank), "--keep", "left", *out], "blank")
    small_mask = tmp_path / "mask.png"
    Image.new("L", (10, 10), 255).save(small_mask)
    check_error(capsys, ["--image", str(seven), "--mask", str(small_mask), *out], "10x10", "28x28")
    check_error(capsys, ["--image", str(seven), "--hide", "0,0,40,3", *out], "--hide")
    check_error(capsys, ["--image", str(seven), "--keep", "left", "--hide", "0,0,3,3", *out])
    check_error(capsys, ["--keep", "left", *out], "--image")
    no_model = ["--out", str(tmp_path / "c.png"), "--out-dir", str(tmp_path / "empty")]
    monkeypatch.setattr(
        "cvae_pyro.cli.model_files.PRETRAINED_DIR", tmp_path / "none"
    )  # none shipped
    monkeypatch.setattr("cvae_pyro.cli.model_files.PRETRAINED_MANIFEST", tmp_path / "none.json")
    err = check_error(capsys, ["--image", str(seven), "--keep", "left", *no_model])
    assert "--condition mask" in err and "--quadrants 2" in err


def test_model_of_another_dataset_is_refused(runs, tmp_path):
    fashion = tmp_path / "fashion-mnist"
    shutil.copytree(runs / "mask_runs" / "mask", fashion / "mask")
    with pytest.raises(CheckpointError, match="dataset='mnist'"):
        find_model(tmp_path, "mask", "fashion-mnist", "cpu")


def test_complete_refuses_a_picture_that_is_not_grey_levels(runs):
    cvae, _ = find_model(runs / "mask_runs", "mask", "mnist", "cpu")
    visible = hide_mask("0,0,28,12")
    picture = torch.full((NUM_PIXELS,), 0.5)
    for bad in (picture * 255, (picture * 255).to(torch.uint8), picture[:588], picture * torch.nan):
        with pytest.raises(DataError, match="784 grey levels in \\[0, 1\\]"):
            complete(cvae, bad, visible, n=1)
    with pytest.raises(DataError, match="784 bools"):
        complete(cvae, picture, visible.float(), n=1)


def test_config():
    with pytest.raises(ConfigError, match="--n"):
        CompleteConfig(image="a.png", keep="left", n=0)
    with pytest.raises(ConfigError, match="exactly one of --image"):
        CompleteConfig(image="a.png", index=3, keep="left")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_complete_on_cuda_without_a_gpu(mask_run, seven, tmp_path, capsys):
    out = tmp_path / "out.png"
    args = ["--image", seven, "--keep", "left", "--out-dir", mask_run, "--out", out]
    code, err = call(main, [*args, "--device", "cuda"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "no CUDA GPU")
    assert not out.exists()
