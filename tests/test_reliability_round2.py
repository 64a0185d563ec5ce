"""Faults from the second red team (issue 19): never damage a file that is not ours, never
pool what does not belong together, never report a number from broken weights.

Each test is named after the issue's case it guards (``case 1`` ... ``case 21``). Bad
files are made by fixtures from fixed bytes, never from random ones.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pyro.infer
import pytest
import torch
from PIL import Image, ImageDraw

from cvae_pyro import checkpoints, complete, conditions, evaluate, reproduce, sample, train
from cvae_pyro.checkpoints import (
    LOCK_NAME,
    MAX_UNPACKED_BYTES,
    TEMP_TAG,
    check_target,
    load_checkpoint,
    save_json,
    weights_sha256,
    write_atomic,
)
from cvae_pyro.cli import EXIT_TERMINATED, EXIT_USAGE, MESSAGE_CHARS, describe
from cvae_pyro.conditions import build_baseline, load_trained
from cvae_pyro.config import MAX_WIDTH, TrainConfig
from cvae_pyro.data import load_dataset
from cvae_pyro.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    Terminated,
    TrainingInterrupted,
)
from cvae_pyro.images import MAX_PICTURE_PIXELS, picture_to_digit, read_mask
from cvae_pyro.reproduction import STAGING, finish_publish

from .helpers import SMALL, bad_checkpoint_corpus, call, cli_env, one_error_line, popen_module

QUICK = [*SMALL, "--limit", "300", "--epochs", "1", "--quiet", "--no-figures"]
#: A file of the system's own, for "a symbolic link to a system file".
SYSTEM_FILE = Path("/etc/passwd") if Path("/etc/passwd").is_file() else Path(os.__file__)


def trained(tmp_path_factory, data_dir, name: str, *task: str) -> Path:
    out = tmp_path_factory.mktemp(name)
    args = [*task, *QUICK, "--data-dir", str(data_dir), "--out-dir", str(out)]
    assert train.main(args) == 0
    return out


@pytest.fixture(scope="module")
def q2_run(tmp_path_factory, data_dir) -> Path:
    """A finished 2-quadrant run (limit 300, one epoch); copy it before changing it."""
    return trained(tmp_path_factory, data_dir, "q2run", "--quadrants", "2")


@pytest.fixture(scope="module")
def label_run(tmp_path_factory, data_dir) -> Path:
    """A finished label run; copy it before changing it."""
    return trained(tmp_path_factory, data_dir, "labelrun", "--condition", "label")


@pytest.fixture(scope="module")
def mask_run(tmp_path_factory, data_dir) -> Path:
    """A finished mask run; copy it before changing it."""
    return trained(tmp_path_factory, data_dir, "maskrun", "--condition", "mask")


@pytest.fixture(scope="module")
def seven(tmp_path_factory) -> Path:
    """A drawn 7, dark on white: a picture for ``complete --image``."""
    path = tmp_path_factory.mktemp("pictures") / "seven.png"
    image = Image.new("L", (120, 160), 255)
    ImageDraw.Draw(image).line([(15, 25), (85, 25), (45, 145)], fill=0, width=10)
    image.save(path)
    return path


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def nan_weights(path: Path) -> Path:
    """Overwrite one generation-network weight of the checkpoint at ``path`` with NaN."""
    ckpt = torch.load(path, weights_only=True)
    name = next(k for k in ckpt["state_dict"] if k.startswith("generation_net"))
    ckpt["state_dict"][name][0] = float("nan")
    path.unlink()
    torch.save(ckpt, path)
    return path


# --- case 1: outputs are never written through or over what is not a regular file -------


def make_target(kind: str, path: Path, user_file: Path) -> None:
    """Put something that is not a regular file at ``path``."""
    if kind == "symlink":
        path.symlink_to(user_file)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "device":
        try:  # a second /dev/null (character device 1, 3): root only
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except PermissionError:
            pytest.skip("making a device node needs root")


def assert_untouched(kind: str, path: Path, user_file: Path) -> None:
    mode = os.lstat(path).st_mode
    expected = {
        "symlink": stat.S_ISLNK,
        "fifo": stat.S_ISFIFO,
        "folder": stat.S_ISDIR,
        "device": stat.S_ISCHR,
    }
    assert expected[kind](mode), f"{path} was replaced"
    assert user_file.read_text() == "the user's own notes\n"


TARGETS = ["symlink", "fifo", "folder", "device"]


@pytest.mark.parametrize("kind", TARGETS)
def test_case_1_complete_and_sample_never_replace_what_is_not_a_file(
    kind, mask_run, label_run, seven, tmp_path, capsys
):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("the user's own notes\n")
    for name, command, args in (
        ("complete", complete.main, ["--image", seven, "--keep", "left", "--out-dir", mask_run]),
        ("sample", sample.main, ["--digit", "3", "--checkpoint", label_run / "label/cvae.pt"]),
    ):
        out = tmp_path / f"{name}.png"
        make_target(kind, out, user_file)
        code, err = call(command, [*args, "--n", "1", "--out", out], capsys)
        assert code == EXIT_USAGE
        line = one_error_line(err, out.name)
        assert TEMP_TAG not in line and ".tmp" not in line  # the user's path, not ours
        assert_untouched(kind, out, user_file)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_case_1_write_atomic_refuses_targets_that_are_not_files(kind, tmp_path):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("the user's own notes\n")
    target = tmp_path / "metrics.json"
    make_target(kind, target, user_file)
    with pytest.raises(ConfigError, match="metrics.json is a") as err:
        save_json({"a": 1}, target)
    assert "\n" not in str(err.value) and TEMP_TAG not in str(err.value)
    assert_untouched(kind, target, user_file)
    assert not [p for p in tmp_path.iterdir() if TEMP_TAG in p.name]  # no temporary left
    assert check_target(tmp_path / "missing.json") == tmp_path / "missing.json"
    save_json({"a": 1}, user_file)  # a regular file is replaced as before
    assert json.loads(user_file.read_text()) == {"a": 1}


def test_case_1_a_target_that_becomes_a_link_while_writing_is_refused(tmp_path):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("the user's own notes\n")
    target = tmp_path / "cll_table.md"

    def write(tmp: Path) -> None:
        tmp.write_text("table")
        target.symlink_to(user_file)  # appears between the check and the rename

    with pytest.raises(ConfigError, match="symbolic link"):
        write_atomic(target, write)
    assert target.is_symlink() and user_file.read_text() == "the user's own notes\n"


def test_case_1_evaluate_never_writes_through_a_link(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    user_file = tmp_path / "notes.txt"
    user_file.write_text("the user's own notes\n")
    (run / "q2/evaluation_test.json").symlink_to(user_file)
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "evaluation_test.json is a symbolic link")
    assert_untouched("symlink", run / "q2/evaluation_test.json", user_file)


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_case_1_the_lock_is_never_followed(kind, tmp_path, data_dir, capsys):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("the user's own notes\n")
    (tmp_path / "out/q1").mkdir(parents=True)
    make_target(kind, tmp_path / "out/q1" / LOCK_NAME, user_file)
    args = ["--quadrants", "1", *QUICK, "--data-dir", data_dir, "--out-dir", tmp_path / "out"]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, LOCK_NAME)
    assert_untouched(kind, tmp_path / "out/q1" / LOCK_NAME, user_file)
    assert not (tmp_path / "out/q1/baseline.pt").exists()


# --- case 2: only the package's own temporary names are cleaned ---------------------------


def pooled_rows(seeds=(0,), **changes) -> list[dict]:
    """Rows of a run.json: the NN and the CVAE (IS) at 1 quadrant, one per seed."""
    rows = []
    for seed in seeds:
        for model, estimator, samples in (("baseline", "NN", 0), ("cvae", "IS", 100)):
            row = {"model": model, "estimator": estimator, "quadrants": 1, "seed": seed}
            row.update(nll_mean=90.0 + seed, nll_stderr=0.4, samples=samples, images=10_000)
            rows.append(row)
    rows[-1].update(changes)
    return rows


def run_file(path: Path, rows: list[dict], **top) -> Path:
    path.write_text(json.dumps({**top, "rows": rows}))
    return path


def test_case_2_combine_keeps_the_users_own_tmp_files(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    mine = [results / ".notes.tmp", results / "draft.tmp", results / ".cvae.pt.k3j9x2.tmp"]
    for path in mine:
        path.write_text("the user's")
    ours = results / f".cll_table.md{TEMP_TAG}ab12cd_9.tmp"  # left by a killed writer
    ours.write_text("half a table")
    linked = results / f".run.json{TEMP_TAG}zz99yy88.tmp"  # our pattern, but a link
    linked.symlink_to(mine[1])
    files = [run_file(tmp_path / "a.json", pooled_rows())]
    code, err = call(reproduce.main, ["--combine", *files, "--results-dir", results], capsys)
    assert code == 0, err
    assert all(path.read_text() == "the user's" for path in mine)
    assert not ours.exists() and linked.is_symlink()
    assert (results / "cll_table.md").is_file()


# --- case 3: a finished CVAE is never replaced by a run with other settings --------------


@pytest.mark.parametrize(
    ("task", "extra", "named"),
    [
        ("q2", ["--z-dim", "16"], "z_dim=8 (this run: 16)"),
        ("label", ["--z-dim", "16"], "z_dim=8 (this run: 16)"),
        ("label", ["--seed", "3"], "seed=0 (this run: 3)"),
    ],
)
def test_case_3_a_finished_cvae_of_other_settings_is_not_replaced(
    task, extra, named, q2_run, label_run, tmp_path, data_dir, capsys
):
    run = copy_run(q2_run if task == "q2" else label_run, tmp_path / "run")
    condition = ["--quadrants", "2"] if task == "q2" else ["--condition", "label"]
    before = (run / task / "cvae.pt").read_bytes()
    args = [*condition, *QUICK, "--data-dir", data_dir, "--out-dir", run, *extra]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae_last.pt", named, "not replaced", "another --out-dir", "delete")
    assert (run / task / "cvae.pt").read_bytes() == before


def test_case_3_a_finished_baseline_refusal_says_the_way_out(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run]
    code, err = call(train.main, [*args, "--hidden", "32"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "baseline.pt", "hidden=[64] (this run: [32])", "another --out-dir")


# --- case 4 and 11: --combine checks every field of every row before pooling -------------


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"nll_mean": float("nan")}, "nll_mean is 'nan'"),
        ({"nll_mean": float("inf")}, "nll_mean is 'inf'"),
        ({"nll_mean": "70.1"}, "nll_mean is '70.1'"),
        ({"nll_mean": 10**400}, "nll_mean is"),
        ({"nll_mean": True}, "nll_mean is 'True'"),
        ({"nll_stderr": -0.3}, "nll_stderr is '-0.3'"),
        ({"nll_stderr": float("nan")}, "nll_stderr is 'nan'"),
        ({"quadrants": 9}, "quadrants is '9'"),
        ({"quadrants": True}, "quadrants is 'True'"),
        ({"quadrants": "1"}, "quadrants is '1'"),
        ({"seed": -1}, "seed is '-1'"),
        ({"seed": 1.5}, "seed is '1.5'"),
        ({"samples": 0}, "samples is '0'"),
        ({"samples": -100}, "samples is '-100'"),
        ({"images": 0}, "images is '0'"),
        ({"estimator": "XX"}, "estimator is 'XX'"),
        ({"model": ["cvae"]}, "model is"),
        ({"dataset": "cifar"}, "dataset is 'cifar'"),
    ],
)
def test_case_4_combine_refuses_impossible_values(change, named, tmp_path, capsys):
    good = run_file(tmp_path / "good.json", pooled_rows(seeds=(0,)))
    bad = run_file(tmp_path / "bad.json", pooled_rows(seeds=(1,), **change))
    results = tmp_path / "results"
    code, err = call(reproduce.main, ["--combine", good, bad, "--results-dir", results], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "bad.json", "row 1 (", named)
    assert not (results / "cll_table.md").exists()


def test_case_4_combine_refuses_rows_of_two_datasets(tmp_path, capsys):
    mnist = run_file(tmp_path / "mnist.json", pooled_rows(seeds=(0,)))  # no dataset: MNIST
    fashion = run_file(
        tmp_path / "fashion.json", pooled_rows(seeds=(1,)), arguments={"dataset": "fashion-mnist"}
    )
    results = tmp_path / "results"
    code, err = call(
        reproduce.main, ["--combine", mnist, fashion, "--results-dir", results], capsys
    )
    assert code == EXIT_USAGE
    one_error_line(err, "fashion.json holds fashion-mnist rows", "--dataset fashion-mnist")
    args = ["--combine", fashion, "--dataset", "fashion-mnist", "--results-dir", results]
    code, err = call(reproduce.main, args, capsys)
    assert code == 0, err
    assert "Fashion-MNIST test set" in (results / "cll_table.md").read_text()
    pooled = json.loads((results / "run.json").read_text())
    assert pooled["dataset"] == "fashion-mnist"
    assert {r["dataset"] for r in pooled["rows"]} == {"fashion-mnist"}
    args = ["--combine", results / "run.json", mnist, "--results-dir", tmp_path / "again"]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_USAGE  # the pooled file records its dataset in turn
    one_error_line(err, "run.json holds fashion-mnist rows")


def test_case_4_the_committed_results_still_combine(tmp_path, capsys):
    committed = Path(__file__).parents[1] / "results"
    files = [committed / "run.json", committed / "seed1_cvae/run.json"]
    code, err = call(reproduce.main, ["--combine", *files, "--results-dir", tmp_path], capsys)
    assert code == 0, err
    args = ["--combine", committed / "fashion-mnist/run.json", "--results-dir", tmp_path]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "--dataset fashion-mnist")


def test_case_11_combine_files_that_break_json_readers(tmp_path, capsys):
    results = tmp_path / "results"
    nested = tmp_path / "nested.json"
    nested.write_text('{"rows": ' + "[" * 100_000 + "]" * 100_000 + "}")
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    for bad, named in ((nested, "nested.json: not a run.json"), (fifo, "fifo.json: not a file")):
        code, err = call(reproduce.main, ["--combine", bad, "--results-dir", results], capsys)
        assert code == EXIT_USAGE, bad
        one_error_line(err, named)


@pytest.mark.parametrize(
    "marker",
    ["{not json", '{"files": 3}', '{"files": ["../../escape.txt"]}', "[]", '{"files": [""]}'],
)
def test_case_11_a_corrupt_complete_marker_is_one_line(marker, tmp_path, capsys):
    results = tmp_path / "results"
    (results / STAGING).mkdir(parents=True)
    (results / STAGING / "COMPLETE").write_text(marker)
    (results / STAGING / "cll_table.md").write_text("staged")
    files = [run_file(tmp_path / "a.json", pooled_rows())]
    code, err = call(reproduce.main, ["--combine", *files, "--results-dir", results], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "COMPLETE is corrupt", "delete the folder")
    assert not (tmp_path / "escape.txt").exists() and not (results / "cll_table.md").exists()


def test_case_11_a_linked_staging_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("the user's")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / STAGING).symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="is not a folder"):
        finish_publish(tmp_path / "results")
    assert (elsewhere / "keep.txt").read_text() == "the user's"


# --- case 5: evaluate refuses a baseline from another run ---------------------------------


def test_case_5_the_cvae_records_its_baseline_and_evaluate_checks_it(
    q2_run, mask_run, tmp_path, data_dir, capsys
):
    for run, task in ((q2_run, "q2"), (mask_run, "mask")):
        baseline = load_trained(run / task / "baseline.pt").module
        recorded = torch.load(run / task / "cvae.pt", weights_only=True)["baseline_sha256"]
        assert recorded == weights_sha256(baseline)
    run = copy_run(q2_run, tmp_path / "run")
    ckpt = torch.load(run / "q2/baseline.pt", weights_only=True)
    other = build_baseline(TrainConfig(quadrants=2, hidden=(32,)))  # another run's baseline
    arch = {**ckpt["architecture"], "hidden": [32]}
    (run / "q2/baseline.pt").unlink()
    checkpoints.save_checkpoint(
        {**ckpt, "architecture": arch, "state_dict": other.state_dict()},
        run / "q2/baseline.pt",
        "baseline",
    )
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "baseline.pt is not the baseline cvae.pt was trained with")
    assert not (run / "q2/evaluation_test.json").exists()


def test_case_5_checkpoints_without_the_hash_are_checked_by_their_weights(
    q2_run, tmp_path, data_dir, capsys
):
    run = copy_run(q2_run, tmp_path / "run")
    cvae = torch.load(run / "q2/cvae.pt", weights_only=True)
    del cvae["baseline_sha256"]  # as written before the hash was recorded
    torch.save(cvae, run / "q2/cvae.pt")
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == 0, err
    baseline = torch.load(run / "q2/baseline.pt", weights_only=True)
    name = next(iter(baseline["state_dict"]))
    baseline["state_dict"][name] += 0.01  # retrained: same settings, other weights
    torch.save(baseline, run / "q2/baseline.pt")
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "is not the baseline cvae.pt was trained with")


def test_case_5_a_mask_run_of_one_training_evaluates(mask_run, tmp_path, data_dir, capsys):
    run = copy_run(mask_run, tmp_path / "run")
    args = ["--condition", "mask", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == 0, err


# --- cases 6, 7, 8 and 12: broken checkpoints are one line in every command ---------------


def test_case_6_and_12_nan_weights_in_sample_and_complete(
    label_run, mask_run, seven, tmp_path, capsys
):
    label = copy_run(label_run, tmp_path / "label_run")
    mask = copy_run(mask_run, tmp_path / "mask_run")
    nan_weights(label / "label/cvae.pt")
    nan_weights(mask / "mask/cvae.pt")
    out = tmp_path / "out.png"
    args = ["--digit", "3", "--checkpoint", label / "label/cvae.pt", "--out", out]
    code, err = call(sample.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae.pt is broken", "not finite numbers")
    args = ["--image", seven, "--keep", "left", "--out-dir", mask, "--out", out]
    code, err = call(complete.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae.pt is broken", "not finite numbers")
    assert "Expected parameter" not in err and not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_case_7_complete_on_cuda_without_a_gpu(mask_run, seven, tmp_path, capsys):
    out = tmp_path / "out.png"
    args = ["--image", seven, "--keep", "left", "--out-dir", mask_run, "--out", out]
    code, err = call(complete.main, [*args, "--device", "cuda"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "no CUDA GPU")
    assert not out.exists()


def replace_with(path: Path, content: bytes | Path) -> None:
    path.unlink(missing_ok=True)
    if isinstance(content, Path):
        path.symlink_to(content)
    else:
        path.write_bytes(content)


def quick_corpus(good: dict) -> dict:
    """Three bad checkpoints of the fixed corpus, and a link to a system file."""
    corpus = bad_checkpoint_corpus(good)
    chosen = {name: corpus[name] for name in ("text", "zip cut in half", "list payload")}
    return {**chosen, "link to a system file": SYSTEM_FILE}


def test_case_8_any_file_as_a_checkpoint_in_sample_and_complete(
    label_run, mask_run, seven, tmp_path, capsys
):
    label = copy_run(label_run, tmp_path / "label_run")
    mask = copy_run(mask_run, tmp_path / "mask_run")
    good = torch.load(mask / "mask/cvae.pt", weights_only=True)
    corpus = {**bad_checkpoint_corpus(good), "link to a system file": SYSTEM_FILE}
    out = tmp_path / "out.png"
    for name, content in corpus.items():
        replace_with(label / "label/cvae.pt", content)
        args = ["--digit", "3", "--checkpoint", label / "label/cvae.pt", "--out", out]
        code, err = call(sample.main, args, capsys)
        assert code == EXIT_USAGE, name
        one_error_line(err, "cvae.pt")
        replace_with(mask / "mask/cvae.pt", content)
        args = ["--image", seven, "--keep", "left", "--out-dir", mask, "--out", out]
        code, err = call(complete.main, args, capsys)
        assert code == EXIT_USAGE, name
        one_error_line(err, "cvae.pt")
    assert not out.exists()
    assert SYSTEM_FILE.is_file()  # the link's target is read, never written


def test_case_8_any_file_as_a_checkpoint_in_train_and_reproduce(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    good = torch.load(run / "q2/cvae.pt", weights_only=True)
    for name, content in quick_corpus(good).items():
        replace_with(run / "q2/cvae_last.pt", content)
        args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", run]
        code, err = call(train.main, [*args, "--resume"], capsys)
        assert code == EXIT_USAGE, name
        one_error_line(err, "cvae_last.pt")
    runs = tmp_path / "runs"
    (runs / "seed0/q2").mkdir(parents=True)
    for name, content in quick_corpus(good).items():
        replace_with(runs / "seed0/q2/baseline_last.pt", content)
        args = ["--quadrants", "2", "--objectives", "cvae", "--limit", "300", "--quiet"]
        args += ["--runs-dir", runs, "--results-dir", tmp_path / "res", "--data-dir", data_dir]
        code, err = call(reproduce.main, args, capsys)
        assert code == EXIT_USAGE, name
        one_error_line(err, "baseline_last.pt")


# --- case 9: complete --out with a suffix no image format has -----------------------------


def test_case_9_complete_refuses_an_unknown_suffix_before_working(
    mask_run, seven, tmp_path, capsys
):
    for name in ("x.txt", "no_suffix"):
        out = tmp_path / name
        args = ["--image", seven, "--keep", "left", "--out-dir", mask_run, "--out", out]
        code, err = call(complete.main, args, capsys)
        assert code == EXIT_USAGE
        one_error_line(err, f"--out {name}", "suffix")
        assert not out.exists()


# --- case 10: float pictures with NaN or infinite pixels ----------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_case_10_float_tiffs_with_pixels_that_are_not_numbers(value, tmp_path):
    levels = np.zeros((40, 30), dtype=np.float32)
    levels[10:30, 12:18] = 1.0  # a stroke of ink
    levels[0, 0] = value
    path = tmp_path / "float.tiff"
    Image.fromarray(levels).save(path)  # mode "F": 32-bit float grey
    with pytest.raises(DataError, match="float.tiff has pixels that are not numbers") as err:
        picture_to_digit(path)
    assert "\n" not in str(err.value)
    mask = np.full((28, 28), 1.0, dtype=np.float32)
    mask[:, :14], mask[3, 3] = 0.0, value
    Image.fromarray(mask).save(tmp_path / "mask.tiff")
    with pytest.raises(DataError, match="mask .*mask.tiff has pixels that are not numbers"):
        read_mask(tmp_path / "mask.tiff")


# --- case 13: a path the terminal's encoding cannot show ----------------------------------


@pytest.mark.slow
def test_case_13_non_ascii_out_with_an_ascii_terminal(label_run, tmp_path):
    out = tmp_path / "Ziffer_drei_\u00fc.png"
    args = ["--digit", "3", "--n", "1", "--checkpoint", str(label_run / "label/cvae.pt")]
    proc = subprocess.run(
        [sys.executable, "-m", "cvae_pyro.sample", *args, "--out", str(out)],
        env={**cli_env(tmp_path), "PYTHONIOENCODING": "ascii"},
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"Traceback" not in proc.stderr
    assert b"Ziffer_drei_\\xfc.png" in proc.stdout and out.is_file()


# --- case 14: sizes are checked from headers before anything is allocated ----------------


def claim_unpacked(data: bytes, size: int) -> bytes:
    """A checkpoint's bytes whose zip directory says its first record unpacks to ``size``."""
    out = bytearray(data)
    record = out.find(b"PK\x01\x02")  # the first central directory record
    out[record + 24 : record + 28] = struct.pack("<I", size)  # its uncompressed size
    return bytes(out)


def test_case_14_a_zip_bomb_is_refused_from_its_directory(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    bomb = claim_unpacked((run / "q2/cvae.pt").read_bytes(), 0xFFFF_FFF0)
    replace_with(run / "q2/cvae.pt", bomb)
    with pytest.raises(CheckpointError, match=r"would unpack to \d+ MiB, more than any"):
        load_checkpoint(run / "q2/cvae.pt")
    assert 0xFFFF_FFF0 > MAX_UNPACKED_BYTES
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae.pt would unpack to")


def lying_settings(run: Path, name: str, hidden: list[int]) -> Path:
    """The checkpoint ``name`` of ``run`` with its recorded hidden widths changed."""
    ckpt = torch.load(run / name, weights_only=True)
    ckpt["architecture"]["hidden"] = hidden
    (run / name).unlink()
    torch.save(ckpt, run / name)
    return run / name


def test_case_14_settings_claiming_huge_networks_allocate_nothing(q2_run, tmp_path, monkeypatch):
    run = copy_run(q2_run, tmp_path / "run")
    wide = lying_settings(run / "q2", "baseline.pt", [20000, 20000])
    with pytest.raises(CheckpointError, match=f"hidden must be widths in 1..{MAX_WIDTH}"):
        load_trained(wide)
    built_on = []
    real_build = conditions.build_baseline

    def recording_build(cfg):
        built_on.append(torch.get_default_device().type)
        return real_build(cfg)

    monkeypatch.setattr(conditions, "build_baseline", recording_build)
    for name in ("baseline.pt", "cvae.pt"):
        deep = lying_settings(run / "q2", name, [4096] * 3)  # 3 layers of 4096: 130 MB
        with pytest.raises(CheckpointError, match="does not hold the model it claims to") as err:
            load_trained(deep)
        assert "\n" not in str(err.value)
    assert built_on == ["meta", "meta"]  # the networks were only sketched, never allocated


def header_only_png(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and holds none (no image data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [13_000, 9_000])
def test_case_14_huge_pictures_are_refused_from_their_header(side, tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(header_only_png(side, side))
    assert side * side > MAX_PICTURE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError, match=f"huge.png is {side}x{side} pixels, more than"):
            picture_to_digit(path)
        with pytest.raises(DataError, match=f"{side}x{side} pixels"):
            read_mask(path)
    assert not caught  # Pillow's two-line DecompressionBombWarning is not printed


# --- cases 15 and 16: messages name the user's path, and long paths keep the reason -------


def test_case_15_messages_never_name_a_temporary_file(label_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    args = ["--digit", "3", "--n", "1", "--checkpoint", label_run / "label/cvae.pt"]
    code, err = call(sample.main, [*args, "--out", out], capsys)
    assert code == EXIT_USAGE
    assert TEMP_TAG not in one_error_line(err, "--out", "is a folder")
    real_replace = checkpoints.os.replace

    def cross_device(src, dst):
        raise OSError(18, "Invalid cross-device link", str(src), str(dst))

    monkeypatch.setattr(checkpoints.os, "replace", cross_device)
    code, err = call(sample.main, [*args, "--out", tmp_path / "d.png"], capsys)
    monkeypatch.setattr(checkpoints.os, "replace", real_replace)
    assert code != 0
    line = one_error_line(err, "d.png")
    assert TEMP_TAG not in line and ".tmp" not in line
    assert not [p for p in tmp_path.iterdir() if TEMP_TAG in p.name]


def test_case_16_a_long_out_dir_keeps_the_reason(q2_run, tmp_path, data_dir, capsys):
    deep = tmp_path.joinpath(*["d" * 200] * 14)  # a legal path of about 2,900 characters
    (deep / "q2").mkdir(parents=True)
    (deep / "q2/metrics.json").write_text('{"baseline": ')
    args = ["--quadrants", "2", *QUICK, "--data-dir", data_dir, "--out-dir", deep]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    line = one_error_line(err, "q2/metrics.json is corrupt", "delete it")
    assert len(line) < MESSAGE_CHARS // 2
    too_long = tmp_path.joinpath(*["e" * 250] * 20)  # 5,000 characters: past PATH_MAX
    code, err = call(train.main, [*args[:-1], too_long], capsys)
    assert code == EXIT_USAGE
    line = one_error_line(err, "cannot create --out-dir", "too long")
    assert len(line) < MESSAGE_CHARS // 2


# --- case 17: the data folder is a file, or holds the other dataset -----------------------


def test_case_17_a_data_dir_that_is_a_file(tmp_path, capsys, monkeypatch):
    afile = tmp_path / "mnist.zip"
    afile.write_bytes(b"PK")
    with pytest.raises(DataError, match="mnist.zip .from --data-dir. is a file, not a folder"):
        load_dataset("mnist", afile)
    monkeypatch.setenv("CVAE_PYRO_DATA", str(afile))
    with pytest.raises(DataError, match="from CVAE_PYRO_DATA. is a file, not a folder"):
        load_dataset("mnist")


def test_case_17_a_folder_of_the_other_dataset(fashion_dir, data_dir):
    with pytest.raises(DataError, match="is the official Fashion-MNIST file") as err:
        load_dataset("mnist", fashion_dir)
    assert "--dataset fashion-mnist" in str(err.value) and "corrupt" not in str(err.value)
    with pytest.raises(DataError, match="is the official MNIST file.*--dataset mnist"):
        load_dataset("fashion-mnist", data_dir)


# --- case 18: values that start with a dash ---------------------------------------------


def test_case_18_values_that_start_with_a_dash(capsys):
    code, err = call(complete.main, ["--index", "0", "--hide", "-1,0,10,10"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "'-1,0,10,10' starts with '-'", "--hide=-1,0,10,10")
    code, err = call(complete.main, ["--image", "-dash.png", "--keep", "left"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "'-dash.png' starts with '-'", "--image=-dash.png")
    code, err = call(complete.main, ["--index", "0", "--hide=-1,0,10,10"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "--hide -1,0,10,10: need 0 <= x0 < x1 <= 28")
    code, err = call(complete.main, ["--index", "0", "--hide"], capsys)  # no value at all
    assert code == EXIT_USAGE
    one_error_line(err, "expected at least one argument")


# --- case 19: messages say what was saved and name the right model and option ------------


def nan_steps(monkeypatch) -> None:
    monkeypatch.setattr(pyro.infer.SVI, "step", lambda self, x, y: float("nan"))


@pytest.mark.parametrize("task", ["q2", "mask"])
def test_case_19_a_cvae_diverging_after_its_baseline_was_saved(
    task, q2_run, mask_run, tmp_path, data_dir, capsys, monkeypatch
):
    run = copy_run(q2_run if task == "q2" else mask_run, tmp_path / "run")
    for name in ("cvae.pt", "cvae_last.pt"):
        (run / task / name).unlink()  # the baseline is finished, the CVAE not yet trained
    nan_steps(monkeypatch)
    condition = ["--quadrants", "2"] if task == "q2" else ["--condition", "mask"]
    args = [*condition, *QUICK, "--data-dir", data_dir, "--out-dir", run]
    code, err = call(train.main, args, capsys)
    assert code == 1
    model = "cvae" if task == "q2" else "mask cvae"
    line = one_error_line(err, f"{model} epoch 1", f"no {model} checkpoint was saved")
    assert "nothing was saved" not in line
    assert (run / task / "baseline.pt").is_file()


def test_case_19_reproduce_names_its_own_folder_option(q2_run, tmp_path, data_dir, capsys):
    runs = tmp_path / "runs"
    (runs / "seed0/q2").mkdir(parents=True)
    for name in ("baseline.pt", "baseline_last.pt"):  # reproduce's own sizes, limit 300
        shutil.copy(q2_run / "q2" / name, runs / "seed0/q2" / name)
        lying_settings(runs / "seed0/q2", name, [500, 500])
    args = ["--quadrants", "2", "--objectives", "cvae", "--limit", "200", "--quiet"]
    args += ["--runs-dir", runs, "--results-dir", tmp_path / "res", "--data-dir", data_dir]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_USAGE
    line = one_error_line(err, "limit=300 (this run: 200)", "another --runs-dir")
    assert "--out-dir" not in line


# --- case 20: options that would be ignored are refused -----------------------------------


def test_case_20_evaluate_limit_past_the_split(q2_run, tmp_path, data_dir, capsys):
    args = ["--quadrants", "2", "--out-dir", copy_run(q2_run, tmp_path / "run")]
    code, err = call(evaluate.main, [*args, "--limit", "20000", "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "--limit 20000 is more than the 10000 images of the test split")


@pytest.mark.parametrize(
    ("main", "args", "named"),
    [
        (reproduce.main, ["--combine", "a.json", "--mask-only"], "--mask-only does not apply"),
        (reproduce.main, ["--combine", "a.json", "--seeds", "1"], "--seeds does not apply"),
        (reproduce.main, ["--combine", "a.json", "--samples", "5"], "--samples does not apply"),
        (train.main, ["--quadrants", "1", "--alpha", "0.3"], "alpha weighs the hybrid"),
        (train.main, ["--quadrants", "1", "--mask-weights", "1", "0", "0", "0", "0"], "mask"),
        (complete.main, ["--image", "a.png", "--keep", "left", "--split", "train"], "--split"),
        (complete.main, ["--image", "a.png", "--keep", "left", "--data-dir", "d"], "--data-dir"),
    ],
)
def test_case_20_options_that_would_be_ignored(main, args, named, tmp_path, capsys):
    code, err = call(main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, named)
    assert not list(tmp_path.iterdir())


# --- case 21: SIGTERM says what was kept --------------------------------------------------


@pytest.mark.slow
def test_case_21_sigterm_during_training_says_what_was_kept(tmp_path, data_dir):
    out = tmp_path / "out"
    args = ["--quadrants", "1", *SMALL, "--epochs", "50", "--limit", "2000", "--quiet"]
    args += ["--no-figures", "--out-dir", str(out), "--data-dir", str(data_dir)]
    proc = popen_module("cvae_pyro.train", args, data_dir)
    start = time.time()
    while not (out / "q1/baseline_last.pt").exists():
        assert proc.poll() is None and time.time() - start < 300
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_TERMINATED == 143
    one_error_line(err, "terminated (SIGTERM)", "--resume")
    assert not [p for p in (out / "q1").iterdir() if TEMP_TAG in p.name]


def test_case_21_sigterm_is_described_like_ctrl_c():
    line, code = describe(Terminated(), "run it again")
    assert code == 143 and line.startswith("terminated (SIGTERM); files finished before")
    line, code = describe(TrainingInterrupted("cvae: terminated", terminated=True), "resume")
    assert code == 143 and line == "cvae: terminated; resume"
    assert describe(KeyboardInterrupt(), "again")[1] == 130
