"""The checkpoint format: what a file says it holds, files of another kind or task, and
broken, damaged, unreadable or foreign files, refused in one line by every command."""

import errno
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from cvae_pyro import complete, evaluate, reproduce, sample, train
from cvae_pyro.cli import EXIT_USAGE, checkpoints
from cvae_pyro.cli.checkpoints import load_checkpoint, save_checkpoint
from cvae_pyro.cli.config import TrainConfig
from cvae_pyro.cli.errors import (
    CheckpointError,
)
from cvae_pyro.cli.model_files import (
    DEMO_SETTINGS,
    PRETRAINED_DIR,
    build_baseline,
    build_cvae,
    load_trained,
)

from .helpers import (
    QUICK,
    bad_checkpoint_corpus,
    call,
    copy_run,
    lying_settings,
    nan_weights,
    one_error_line,
)

CFG = TrainConfig(quadrants=2, hidden=(16,), z_dim=3)


def save_model(path, module, kind, architecture):
    return save_checkpoint(
        {"architecture": architecture, "state_dict": module.state_dict()}, path, kind
    )


@pytest.mark.parametrize("condition", ["quadrant", "label", "mask"])
@pytest.mark.parametrize("objective", ["cvae", "gsnn", "hybrid"])
def test_condition_and_objective_are_recorded_apart(tmp_path, condition, objective):
    task = {"quadrants": 2} if condition == "quadrant" else {}
    cfg = TrainConfig(condition=condition, hidden=(16,), z_dim=3, objective=objective, **task)
    baseline = None if condition == "label" else build_baseline(cfg)
    cvae = build_cvae(cfg, baseline)
    path = save_model(tmp_path / "any_name.pt", cvae, "cvae", cfg.architecture())
    trained = load_trained(path, expect={"condition": condition, "objective": objective})
    assert trained.kind == "cvae" and trained.architecture["objective"] == objective
    assert trained.architecture["condition"] == condition and trained.architecture["z_dim"] == 3
    for key, value in cvae.state_dict().items():
        assert torch.equal(trained.module.state_dict()[key], value), key
    with pytest.raises(CheckpointError, match=f"objective='{objective}'"):
        load_trained(path, expect={"objective": "other"})


def test_wrong_kind_is_one_line(tmp_path):
    baseline = build_baseline(TrainConfig(quadrants=2, hidden=CFG.hidden))
    path = save_model(tmp_path / "cvae.pt", baseline, "baseline", {"quadrants": 2, "hidden": [16]})
    with pytest.raises(CheckpointError, match=r"cvae.pt holds a baseline model, not cvae") as err:
        load_trained(path, kind="cvae")
    assert "\n" not in str(err.value)


def test_settings_mismatch_names_file_and_setting(tmp_path):
    cvae = build_cvae(CFG, build_baseline(TrainConfig(quadrants=2, hidden=CFG.hidden)))
    path = save_model(tmp_path / "cvae.pt", cvae, "cvae", CFG.architecture())
    with pytest.raises(
        CheckpointError,
        match=r"cvae.pt was trained with other settings: quadrants=2 \(this run: 1\)",
    ):
        load_trained(path, expect={"quadrants": 1})


def test_weights_that_do_not_fit_the_settings_are_one_line(tmp_path):
    cvae = build_cvae(CFG, build_baseline(TrainConfig(quadrants=2, hidden=CFG.hidden)))
    wider = {**CFG.architecture(), "hidden": [32]}
    path = save_model(tmp_path / "cvae.pt", cvae, "cvae", wider)
    with pytest.raises(CheckpointError, match="does not hold the model it claims to") as err:
        load_trained(path)
    assert "\n" not in str(err.value)


#: A file of the system's own, for "a symbolic link to a system file".
SYSTEM_FILE = Path("/etc/passwd") if Path("/etc/passwd").is_file() else Path(os.__file__)


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


def overwrite_weights(path: Path) -> None:
    """Write finite numbers (1.0 as float32) over 64 bytes inside the largest weight's entry,
    as a bad disk or a stray write would: the file stays a zip that torch loads."""
    with zipfile.ZipFile(path) as archive:
        entry = max(archive.infolist(), key=lambda info: info.file_size)
    data = bytearray(path.read_bytes())
    header = entry.header_offset
    name_len, extra_len = (
        int.from_bytes(data[header + i : header + i + 2], "little") for i in (26, 28)
    )
    start = header + 30 + name_len + extra_len + entry.file_size // 2
    data[start : start + 64] = b"\x00\x00\x80\x3f" * 16
    path.write_bytes(bytes(data))


def test_nan_weights_are_refused_by_sample_and_complete(
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


def test_any_file_as_a_checkpoint_in_sample_and_complete(
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


def test_any_file_as_a_checkpoint_in_train_and_reproduce(q2_run, tmp_path, data_dir, capsys):
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


def test_bytes_changed_inside_the_weights_are_refused(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    overwrite_weights(run / "q2/cvae.pt")
    with pytest.raises(CheckpointError, match="does not match its checksum") as err:
        load_checkpoint(run / "q2/cvae.pt")
    assert "\n" not in str(err.value)
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae.pt is damaged")
    assert not (run / "q2/evaluation_test.json").exists()


def test_a_checkpoint_that_cannot_be_read_says_so(q2_run, tmp_path, monkeypatch):
    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(checkpoints.zipfile, "ZipFile", denied)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(q2_run / "q2/cvae.pt")
    assert (
        str(err.value)
        == f"{q2_run / 'q2/cvae.pt'} is unreadable, truncated or foreign (Permission denied)"
    )


def test_settings_beyond_the_limits_are_refused(q2_run, tmp_path):
    run = copy_run(q2_run, tmp_path / "run")
    wide = lying_settings(run / "q2", "baseline.pt", [20000, 20000])
    with pytest.raises(CheckpointError, match=r"hidden must be in \[1, 8192\]"):
        load_trained(wide)


def broken_weights() -> dict[str, tuple[dict, str]]:
    """State dicts a checkpoint may hold that are no model's weights, and what is named."""
    weights = torch.ones(3, 4)
    return {
        "NaN": ({"net.0.weight": weights.clone().fill_(float("nan"))}, "not finite numbers"),
        "infinity": ({"net.0.weight": weights / 0}, "not finite numbers"),
        "text": ({"net.0.weight": "weights"}, "not tensors"),
    }


@pytest.mark.parametrize("broken", broken_weights())
def test_weights_that_are_no_models_are_refused_when_read(broken, tmp_path):
    state, named = broken_weights()[broken]
    path = save_checkpoint(
        {"architecture": {"condition": "mask"}, "state_dict": state}, tmp_path / "cvae.pt", "cvae"
    )
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, kind="cvae")
    text = str(err.value)
    assert "cvae.pt is broken" in text and named in text and "\n" not in text
    assert text.endswith("train the model again")  # the whole line, not cut off


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"dataset": "fashion-mnist"}, "dataset='fashion-mnist' (this run: 'mnist')"),
        ({"prior": "standard"}, "prior='standard' (this run: 'conditional')"),
        ({"condition": "label"}, "condition='label' (this run: 'mask')"),
    ],
)
def test_the_demo_settings_refuse_a_model_of_another_kind(settings, named, tmp_path):
    architecture = {"condition": "mask", "prior": "conditional", **settings}
    path = save_checkpoint(
        {"architecture": architecture, "state_dict": {}}, tmp_path / "c.pt", "cvae"
    )
    with pytest.raises(CheckpointError, match=re.escape(named)):
        load_checkpoint(path, expect=DEMO_SETTINGS, kind="cvae")
    shipped = PRETRAINED_DIR / "mnist-mask.pt"
    if shipped.is_file():
        assert load_checkpoint(shipped, expect=DEMO_SETTINGS, kind="cvae")["kind"] == "cvae"


def test_evaluate_refuses_checkpoints_of_another_task(q2_run, tmp_path, data_dir, capsys):
    (tmp_path / "q1").mkdir()
    for pt in (q2_run / "q2").glob("*.pt"):
        shutil.copy(pt, tmp_path / "q1" / pt.name)
    args = ["--quadrants", "1", "--out-dir", tmp_path, "--limit", "200", "--samples", "5"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "baseline.pt", "quadrants=2 (this run: 1)")
    assert not (tmp_path / "q1/evaluation_test.json").exists()


def test_size_mismatch_and_random_files_are_one_clean_line(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    ckpt = torch.load(run / "q2/cvae.pt", weights_only=True)
    ckpt["architecture"]["z_dim"] = 9  # the recorded size no longer matches the weights
    torch.save(ckpt, run / "q2/cvae.pt")
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae.pt", "size mismatch for")
    assert len(err.strip().splitlines()) == 1
    for name, data in bad_checkpoint_corpus(ckpt).items():
        (run / "q2/cvae.pt").unlink()
        (run / "q2/cvae.pt").write_bytes(data)
        code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
        assert code == EXIT_USAGE, name
        one_error_line(err, "cvae.pt")


def test_weights_that_are_not_numbers_are_a_broken_checkpoint(q2_run, tmp_path, data_dir, capsys):
    run = copy_run(q2_run, tmp_path / "run")
    ckpt = torch.load(run / "q2/cvae.pt", weights_only=True)
    name = next(k for k in ckpt["state_dict"] if k.startswith("generation_net"))
    ckpt["state_dict"][name][0] = float("nan")
    torch.save(ckpt, run / "q2/cvae.pt")
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "cvae.pt", "not finite numbers")
    assert not (run / "q2/evaluation_test.json").exists()


def test_a_broken_link_as_a_checkpoint_is_refused_never_passed_over(
    q2_run, seven, tmp_path, data_dir, capsys
):
    """A model file that is a link to nothing is named, not skipped for the shipped model."""
    out = tmp_path / "out.png"
    for task in ("mask", "label"):
        (tmp_path / "runs" / task).mkdir(parents=True)
        (tmp_path / "runs" / task / "cvae.pt").symlink_to(tmp_path / "gone.pt")
    runs = ["--out-dir", tmp_path / "runs", "--out", out]
    for command, args in (
        (complete.main, ["--image", seven, "--keep", "left", *runs]),
        (sample.main, ["--digit", "3", *runs]),
    ):
        code, err = call(command, args, capsys)
        assert code == EXIT_USAGE
        one_error_line(err, "cvae.pt is not a file (a broken link")
    run = copy_run(q2_run, tmp_path / "run")
    (run / "q2/baseline.pt").unlink()
    (run / "q2/baseline.pt").symlink_to(tmp_path / "gone.pt")
    args = ["--quadrants", "2", "--out-dir", run, "--limit", "50", "--samples", "2"]
    code, err = call(evaluate.main, [*args, "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "baseline.pt is not a file (a broken link")
    assert not out.exists() and not (run / "q2/evaluation_test.json").exists()


def test_weights_missing_or_foreign_are_named_in_one_line(q2_run, tmp_path):
    run = copy_run(q2_run, tmp_path / "run")
    ckpt = torch.load(run / "q2/cvae.pt", weights_only=True)
    first = next(iter(ckpt["state_dict"]))
    missing = {k: v for k, v in ckpt["state_dict"].items() if k != first}
    foreign = {**ckpt["state_dict"], "extra.weight": torch.zeros(2)}
    for state, named in (
        (missing, f'Missing key(s) in state_dict: "{first}"'),
        (foreign, 'Unexpected key(s) in state_dict: "extra.weight"'),
    ):
        torch.save({**ckpt, "state_dict": state}, run / "q2/cvae.pt")
        with pytest.raises(CheckpointError, match="does not hold the model it claims to") as err:
            load_trained(run / "q2/cvae.pt")
        assert named in str(err.value) and "\n" not in str(err.value)
