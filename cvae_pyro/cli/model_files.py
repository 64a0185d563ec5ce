"""Trained models: built from settings, loaded back from checkpoints, shipped, evaluated.

:func:`build_baseline` and :func:`build_cvae` make the untrained networks of a
:class:`~cvae_pyro.cli.config.TrainConfig`; :func:`load_trained` rebuilds any trained
baseline or CVAE from its best checkpoint, checked against the settings it claims
(weights that do not fit them are refused in one line). The models shipped inside the
package (``cvae_pyro/pretrained/``, made by ``python -m experiments.pretrained``) are listed
in their manifest (:func:`pretrained_models`) and loaded only when their SHA-256 is the one
recorded when they were made (:func:`load_pretrained`).

:func:`evaluate_run_dir` evaluates every finished model of one run folder: the baseline
gets its exact negative CLL; each CVAE the Monte Carlo and importance-sampling estimates
and the negative ELBO (a GSNN: MC and its own bound), as the objective its checkpoint
recorded says. Every checkpoint is checked against the task asked for, and each CVAE
against the baseline it was trained with, before any number is computed. A mask-task run
(``out_dir/mask``) is evaluated on the fixed family masks, or on one quadrant layout
(``quadrants``), so that its rows (``mask_baseline`` and ``mask``) stand next to the
specialists of that layout: the likelihood counts the same hidden pixels.
"""

import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..beyond.any_mask import MaskCondition
from ..beyond.label import LabelCondition
from ..conditions import QuadrantCondition
from ..data import MNIST, Split
from ..estimators import DEFAULT_SAMPLES, evaluate_cvae, nn_nll
from ..models import CVAE, BaselineNN
from .checkpoints import load_checkpoint, weights_sha256
from .config import BASELINE, MODEL_FILES, ROW_NAMES, TrainConfig
from .device import precision_context
from .errors import CheckpointError, one_line
from .files import read_json

PRETRAINED_DIR = Path(__file__).parents[1] / "pretrained"  #: the shipped models (package data)
PRETRAINED_MANIFEST = PRETRAINED_DIR / "MANIFEST.json"  #: their records, written with them
#: How to repair an install whose shipped models are damaged (the end of the message).
DAMAGED_INSTALL = (
    "the cvae_pyro install is damaged: reinstall it (`pip install --force-reinstall`, or "
    "`pip install -e .` in a clone)"
)
#: What the in-browser demo (docs/export_demo.py) runs: an MNIST mask CVAE with the
#: conditional prior network, whose three networks the page evaluates.
DEMO_SETTINGS = {"condition": "mask", "dataset": "mnist", "prior": "conditional"}
#: The class of each condition name of :data:`~cvae_pyro.cli.config.CONDITIONS`.
CONDITION_TYPES = {c.name: c for c in (QuadrantCondition, LabelCondition, MaskCondition)}


def baseline_architecture(cfg: TrainConfig) -> dict:
    """The settings a baseline checkpoint must match (the CVAE's extra settings do not matter)."""
    keys = ("condition", "quadrants", "hidden", "dataset") + cfg.task_keys()
    return {key: value for key, value in cfg.architecture().items() if key in keys}


def build_baseline(cfg: TrainConfig) -> BaselineNN:
    """An untrained baseline NN of ``cfg``'s condition."""
    return CONDITION_TYPES[cfg.condition].make_baseline(cfg)


def build_cvae(cfg: TrainConfig, baseline: BaselineNN | None = None) -> CVAE:
    """An untrained CVAE for ``cfg``; the quadrant and mask conditions need the trained ``baseline``."""
    condition = CONDITION_TYPES[cfg.condition].build(cfg, baseline)
    return CVAE(condition, cfg.z_dim, cfg.hidden, cfg.prior)


@dataclass
class Trained:
    """A model loaded from its best checkpoint.

    Attributes:
        kind: "baseline" or "cvae".
        architecture: the settings it was trained with (``TrainConfig.architecture()``).
        module: the :class:`~cvae_pyro.models.BaselineNN` or :class:`~cvae_pyro.models.CVAE`,
            in evaluation mode.
    """

    kind: str
    architecture: dict
    module: nn.Module


def load_trained(
    path: str | Path,
    device: str | torch.device = "cpu",
    kind: str | None = None,
    expect: dict | None = None,
) -> Trained:
    """Rebuild a trained baseline or CVAE (``kind``: which one; None: either) from its best checkpoint at ``path``,
    on ``device``; ``expect``: settings it must have been trained with (for example
    ``{"condition": "quadrant", "quadrants": 2}``).

    Raises:
        CheckpointError: the file is missing, truncated, foreign, of another kind, or
            trained with other settings, or its weights are not finite numbers.
    """
    ckpt = load_checkpoint(path, expect=expect, kind=kind)
    arch = ckpt.get("architecture", {})
    try:
        cfg = TrainConfig(**{**arch, "hidden": tuple(arch["hidden"])})
        baseline = build_baseline(cfg) if CONDITION_TYPES[cfg.condition].has_baseline else None
        module = baseline if ckpt["kind"] == BASELINE else build_cvae(cfg, baseline)
        module.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError) as err:
        reason = one_line(err, 160)
        raise CheckpointError(f"{path} does not hold the model it claims to: {reason}") from None
    return Trained(ckpt["kind"], arch, module.to(device).eval())


def pretrained_models() -> dict:
    """The shipped models' records (:data:`PRETRAINED_MANIFEST`): file, SHA-256, how made;
    {} when nothing is shipped, ConfigError when the record cannot be read."""
    if not PRETRAINED_MANIFEST.exists():
        return {}
    return read_json(PRETRAINED_MANIFEST, "record", DAMAGED_INSTALL).get("models", {})


def load_pretrained(
    condition: str, dataset: str, device: str | torch.device = "cpu"
) -> tuple[Trained, str]:
    """The shipped CVAE of ``condition`` for ``dataset``, and a line naming it.

    Its file is checked against the SHA-256 recorded when it was made, then loaded like
    every checkpoint (:func:`load_trained`).

    Raises:
        CheckpointError: none is shipped, or the file is not the one that was shipped.
    """
    if (record := pretrained_models().get(f"{dataset}-{condition}")) is None:
        raise CheckpointError(f"no shipped {condition} model for {dataset}")
    path = PRETRAINED_DIR / record["file"]
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != record["sha256"]:
        raise CheckpointError(f"the shipped model {path} is missing or damaged; {DAMAGED_INSTALL}")
    trained = load_trained(path, device, "cvae", {"condition": condition, "dataset": dataset})
    return trained, f"shipped {record['title']} ({path.name}, {record['summary']})"


def model_pairs(
    trained: Trained, part: Split, quadrants: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of ``part`` as the trained model reads them (``quadrants``: a mask
    model's layout to evaluate on; None: the fixed family masks)."""
    if trained.kind == BASELINE:
        condition = CONDITION_TYPES[trained.architecture["condition"]]
        return condition.baseline_evaluation_pairs(trained.architecture, part, quadrants)
    return trained.module.condition.evaluation_pairs(part, quadrants)


def evaluate_run_dir(
    run_dir: str | Path,
    data: MNIST,
    split: str = "test",
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    expect: dict | None = None,
    quadrants: int | None = None,
    precision: str = "fp32",
    names: Sequence[str] | None = None,
) -> list[dict]:
    """Every estimate for every model in ``run_dir`` (or those of ``names``) on ``split``.

    Args:
        run_dir: a training run's folder (``out_dir/q{n}`` or ``out_dir/label``).
        data: the splits, on the device to evaluate on.
        split: "validation" or "test".
        num_samples: S, latent samples per image.
        seed: seed of the estimators' noise.
        expect: settings every checkpoint must have been trained with, for example
            ``{"condition": "quadrant", "quadrants": 2}``.
        quadrants: for a mask-task run, evaluate on this quadrant layout instead of the
            fixed family masks.
        precision: "bf16" runs the CVAEs' networks under bf16 autocast (fp32 otherwise).
        names: the file stems to evaluate, when not every model in the folder.

    Returns:
        Rows with ``model``, ``estimator``, ``nll_mean``, ``nll_stderr``, ``samples``,
        ``images`` and ``seconds``.

    Raises:
        CheckpointError: a model is missing, unfinished, made for another task, or
            trained with another baseline than the folder's.
    """
    device, rows = data.train.images.device, []
    for name, trained in load_run_models(Path(run_dir), device, expect, names).items():
        start = time.perf_counter()
        x, y = model_pairs(trained, data.split(split), quadrants)
        if trained.kind == BASELINE:
            estimates = [nn_nll(trained.module, x, y)]
        else:
            with precision_context(precision, device):
                cvae, objective = trained.module, trained.architecture["objective"]
                estimates = evaluate_cvae(cvae, x, y, num_samples, seed=seed, objective=objective)
        extra = {"seconds": time.perf_counter() - start}
        extra.update({"precision": precision} if precision != "fp32" else {})
        name = ROW_NAMES.get(trained.architecture["condition"], {}).get(name, name)
        rows += [{"model": name, **e.as_dict(), **extra} for e in estimates]
    return rows


def load_run_models(
    run_dir: Path, device: torch.device, expect: dict | None, names: Sequence[str] | None
) -> dict[str, Trained]:
    """The finished models of a run folder (or those of ``names``) by file stem, checked to
    be of one run: a CVAE and, where it has a frozen baseline, the very baseline it was
    trained with.
    CheckpointError for a model whose training is unfinished or whose best weights
    (``name.pt``) are missing beside its last checkpoint."""
    stems = {p.name.removesuffix(".pt").removesuffix("_last") for p in run_dir.glob("*.pt")}
    models = {}
    for name in names or [*(n for n in MODEL_FILES if n in stems), *sorted(stems - {*MODEL_FILES})]:
        best, last = run_dir / f"{name}.pt", run_dir / f"{name}_last.pt"
        state = load_checkpoint(last).get("train_state", {}) if os.path.lexists(last) else {}
        if not state.get("finished", True):
            raise CheckpointError(
                f"{name} in {run_dir} is unfinished (stopped after epoch {state.get('epoch')}): "
                "finish it with the train command that made it and --resume"
            )
        models[name] = load_trained(best, device, expect=expect)
    if all(t.kind == BASELINE for t in models.values()):
        raise CheckpointError(f"no CVAE in {run_dir}: train one with python -m cvae_pyro.train")
    base = weights_sha256(models[BASELINE].module) if BASELINE in models else None
    for name, trained in models.items():
        frozen = getattr(getattr(trained.module, "condition", None), "baseline", None)
        if frozen is not None and weights_sha256(frozen) != base:
            raise CheckpointError(
                f"{run_dir / BASELINE}.pt is missing or is not the baseline {name}.pt was trained "
                "with: evaluate the files of one run, or train again"
            )
    return models
