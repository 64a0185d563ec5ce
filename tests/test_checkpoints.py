"""The checkpoint format: what a file says it holds, older files, and files of another kind."""

import pytest
import torch

from cvae_pyro.build import build_baseline, build_cvae, load_trained
from cvae_pyro.checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    load_checkpoint,
    save_checkpoint,
)
from cvae_pyro.config import TrainConfig
from cvae_pyro.errors import CheckpointError

CFG = TrainConfig(quadrants=2, hidden=(16,), z_dim=3)


def save_model(path, module, kind, architecture):
    return save_checkpoint(
        {"architecture": architecture, "state_dict": module.state_dict()}, path, kind
    )


def version_1(path, module, architecture):
    """A checkpoint as cvae_pyro wrote it before the ``kind`` field (format version 1)."""
    payload = {"format": CHECKPOINT_FORMAT, "version": 1, "architecture": architecture}
    torch.save({**payload, "state_dict": module.state_dict()}, path)
    return path


def test_a_checkpoint_records_its_kind(tmp_path):
    baseline = build_baseline(2, CFG.hidden)
    path = save_model(tmp_path / "b.pt", baseline, "baseline", {"quadrants": 2, "hidden": [16]})
    raw = torch.load(path, weights_only=True)
    assert raw["kind"] == "baseline" and raw["version"] == CHECKPOINT_VERSION == 2
    with pytest.raises(ValueError, match="kind must be one of"):
        save_checkpoint({}, tmp_path / "x.pt", "decoder")


@pytest.mark.parametrize("objective", ["cvae", "gsnn", "hybrid"])
def test_models_load_by_kind_not_by_file_name(tmp_path, objective):
    cfg = TrainConfig(quadrants=2, hidden=(16,), z_dim=3, objective=objective)
    cvae = build_cvae(cfg, build_baseline(2, cfg.hidden))
    path = save_model(tmp_path / "any_name.pt", cvae, cfg.kind, cfg.architecture())
    trained = load_trained(path)
    assert trained.kind == objective and trained.architecture["z_dim"] == 3
    for key, value in cvae.state_dict().items():
        assert torch.equal(trained.module.state_dict()[key], value), key


def test_version_1_checkpoints_still_load(tmp_path):
    """Files from before the kind field: kind inferred from the settings, old names mapped."""
    baseline = build_baseline(2, CFG.hidden)
    old_names = {f"net.{k}": v for k, v in baseline.state_dict().items()}  # BaselineNet wrapper
    path = tmp_path / "baseline.pt"
    payload = {"format": CHECKPOINT_FORMAT, "version": 1, "state_dict": old_names}
    torch.save(
        {**payload, "architecture": {"condition": "quadrant", "quadrants": 2, "hidden": [16]}}, path
    )
    trained = load_trained(path)
    assert trained.kind == "baseline"
    assert torch.equal(trained.module.net[0].weight, baseline.net[0].weight)
    cvae = build_cvae(CFG, baseline)
    architecture = {k: v for k, v in CFG.architecture().items() if k != "guess"}
    old = load_trained(version_1(tmp_path / "cvae.pt", cvae, {**architecture, "objective": "gsnn"}))
    assert old.kind == "gsnn"
    label_cfg = TrainConfig(condition="label", hidden=(16,), z_dim=3)
    label = build_cvae(label_cfg)
    assert (
        load_trained(version_1(tmp_path / "l.pt", label, label_cfg.architecture())).kind == "label"
    )


def test_wrong_kind_is_one_line(tmp_path):
    baseline = build_baseline(2, CFG.hidden)
    path = save_model(tmp_path / "cvae.pt", baseline, "baseline", {"quadrants": 2, "hidden": [16]})
    with pytest.raises(CheckpointError, match=r"cvae.pt holds a baseline model, not label") as err:
        load_trained(path, kind="label")
    assert "\n" not in str(err.value)


def test_settings_mismatch_names_file_and_setting(tmp_path):
    cvae = build_cvae(CFG, build_baseline(2, CFG.hidden))
    path = save_model(tmp_path / "cvae.pt", cvae, "cvae", CFG.architecture())
    with pytest.raises(
        CheckpointError,
        match=r"cvae.pt was trained with other settings: quadrants=2 \(this run: 1\)",
    ):
        load_trained(path, expect={"quadrants": 1})


def test_weights_that_do_not_fit_the_settings_are_one_line(tmp_path):
    cvae = build_cvae(CFG, build_baseline(2, CFG.hidden))
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
