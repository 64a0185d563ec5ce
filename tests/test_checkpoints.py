"""The checkpoint format: what a file says it holds, older files, and files of another kind."""

import pytest
import torch

from cvae_pyro.checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    load_checkpoint,
    save_checkpoint,
)
from cvae_pyro.conditions import build_baseline, build_cvae, load_trained
from cvae_pyro.config import TrainConfig
from cvae_pyro.errors import CheckpointError

CFG = TrainConfig(quadrants=2, hidden=(16,), z_dim=3)


def save_model(path, module, kind, architecture):
    return save_checkpoint(
        {"architecture": architecture, "state_dict": module.state_dict()}, path, kind
    )


def version_2(path, module, kind, architecture):
    """A checkpoint as cvae_pyro 0.2 wrote it: the CVAE's kind named its objective or condition."""
    payload = {"format": CHECKPOINT_FORMAT, "version": 2, "kind": kind}
    torch.save({**payload, "architecture": architecture, "state_dict": module.state_dict()}, path)
    return path


def test_a_checkpoint_records_its_kind(tmp_path):
    baseline = build_baseline(TrainConfig(quadrants=2, hidden=CFG.hidden))
    path = save_model(tmp_path / "b.pt", baseline, "baseline", {"quadrants": 2, "hidden": [16]})
    raw = torch.load(path, weights_only=True)
    assert raw["kind"] == "baseline" and raw["version"] == CHECKPOINT_VERSION == 3
    with pytest.raises(ValueError, match="kind must be one of"):
        save_checkpoint({}, tmp_path / "x.pt", "decoder")


@pytest.mark.parametrize("condition", ["quadrant", "label", "mask"])
@pytest.mark.parametrize("objective", ["cvae", "gsnn", "hybrid"])
def test_condition_and_objective_are_recorded_apart(tmp_path, condition, objective):
    task = {"quadrants": 2} if condition == "quadrant" else {}
    cfg = TrainConfig(condition=condition, hidden=(16,), z_dim=3, objective=objective, **task)
    baseline = None if condition == "label" else build_baseline(cfg)
    cvae = build_cvae(cfg, baseline)
    path = save_model(tmp_path / "any_name.pt", cvae, "cvae", cfg.architecture())
    trained = load_trained(path, expect={"condition": condition, "objective": objective})
    assert trained.kind == "cvae" and trained.objective == objective
    assert trained.condition.name == condition and trained.architecture["z_dim"] == 3
    for key, value in cvae.state_dict().items():
        assert torch.equal(trained.module.state_dict()[key], value), key
    with pytest.raises(CheckpointError, match=f"objective='{objective}'"):
        load_trained(path, expect={"objective": "other"})


def test_version_2_checkpoints_still_load(tmp_path):
    """0.2 files name the CVAE's kind after its objective or condition: read as "cvae"."""
    cfg = TrainConfig(condition="label", hidden=(16,), z_dim=3, objective="gsnn")
    label = build_cvae(cfg)
    trained = load_trained(version_2(tmp_path / "gsnn.pt", label, "label", cfg.architecture()))
    assert trained.kind == "cvae" and trained.objective == "gsnn"
    assert trained.condition.name == "label"


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


def test_newer_versions_are_refused(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "version": 99, "kind": "cvae"}, path)
    with pytest.raises(CheckpointError, match="checkpoint version 99"):
        load_checkpoint(path)
