"""What the CVAE is conditioned on: a partial image (quadrants or any mask) or a digit label.

A condition turns a split of the data into pairs ``(x, y)``: the model's input
(what it is conditioned on) and its output pixels. Its forward pass encodes
``x`` into the two feature tensors the networks read:

- ``h``: the input of the recognition and generation networks;
- ``h_prior``: the input of the conditional prior network.

Its ``counted(x)`` says which output pixels the likelihood counts: None for all
of them, or a ``(B, y_dim)`` bool mask.

The CVAE's model and guide (:mod:`cvae_pyro.models`) are the same for every
condition; only this encoder differs, and each condition class also owns what
else differs between the tasks: its baseline NN (:meth:`make_baseline`), the
batches its models train on (:meth:`baseline_batches`, :meth:`training_batches`),
its evaluation pairs and its figures. :func:`condition_type` finds the class of a
condition's name, so that the layers above never compare condition names.

For the quadrant task the prior network also reads the frozen baseline's guess
y_hat (the paper's "recurrent connection"). Since the baseline never changes
while the CVAE trains, :meth:`QuadrantCondition.prepare` computes y_hat once per
split and carries it with the given pixels: ``x = [given pixels, y_hat]``.

The mask task (:class:`MaskCondition`) conditions on any visible region: ``x``
carries the visible pixels, the mask and the mask baseline's guess, ``y`` is the
whole image and the likelihood counts the hidden pixels only (:meth:`counted`).
Training draws fresh masks for every batch (:meth:`MaskCondition.redraw`, the
training loop's per-batch hook); validation and evaluation use fixed masks drawn
from the seed :data:`MASK_SEED`, so their losses compare across epochs and runs.

The label condition's sampling helpers (:func:`sample_digits` and the pieces it is
made of), its style transfer (:func:`read_labels`: the CVAE as a classifier;
:func:`styles`, :func:`draw_in_style`, :func:`interpolate_styles`) and
:func:`load_trained`, which rebuilds any trained model from its checkpoint, live
here too.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import plots
from .checkpoints import load_checkpoint, read_json
from .config import (
    DEFAULT_SAMPLES,
    NUM_CLASSES,
    MaskFamilyConfig,
    TrainConfig,
    check_quadrants,
    mask_family,
)
from .data import Split
from .errors import CheckpointError, ConfigError, one_line
from .masks import (
    MASK_INPUT_DIM,
    NUM_PIXELS,
    hidden_pixels,
    input_dim,
    input_mask,
    mask_input,
    merge_xy,
    output_dim,
    split_xy,
)
from .metrics import is_nll
from .models import CVAE, BaselineNN, MaskBaselineNN
from .random_masks import sample_masks

PRETRAINED_DIR = Path(__file__).parent / "pretrained"  #: the shipped models (package data)
PRETRAINED_MANIFEST = PRETRAINED_DIR / "MANIFEST.json"  #: their records, written with them
PRETRAINED_RECORD_KEYS = ("file", "sha256", "title", "summary")  #: what each record holds
#: How to repair an install whose shipped models are damaged (the end of the message).
DAMAGED_INSTALL = (
    "the cvae_pyro install is damaged: reinstall it (`pip install --force-reinstall` with "
    "the wheel or source it came from, or `pip install -e .` in a clone)"
)
#: What the in-browser demo (docs/export_demo.py) runs: an MNIST mask CVAE with the
#: conditional prior network, whose three networks the page evaluates.
DEMO_SETTINGS = {"condition": "mask", "dataset": "mnist", "prior": "conditional"}
PREPARE_CHUNK = 2000  #: images per baseline forward pass in ``prepare``
MASK_SEED = 20_151_207  #: seed of the fixed masks of validation and evaluation (mask task)
BASELINE = "baseline"  #: file stem of the baseline's checkpoints
MODEL_KINDS = ("baseline", "cvae")  #: checkpoint kinds :func:`load_trained` rebuilds
INTERPOLATION_STEPS = 10  #: pictures from one style to another, both ends included
Pairs = tuple[torch.Tensor, torch.Tensor]  #: (input x, output y)
Redraw = Callable[[torch.Tensor, torch.Tensor], Pairs]  #: per-batch hook, e.g. fresh masks
Batches = tuple[Pairs, "Redraw | None"]  #: training pairs and their per-batch hook


class QuadrantCondition(nn.Module):
    """Condition on the given quadrants; the prior also sees the frozen baseline's guess.

    The model's input is ``x = [given pixels, y_hat]`` ``(B, 784)`` with
    ``y_hat = sigmoid(baseline(given pixels))``; ``h`` is the given pixels and
    ``h_prior`` all of ``x`` (or only the given pixels when ``guess`` is off, to
    see what the guess buys). The baseline is frozen: its parameters never
    require gradients.

    Args:
        quadrants: number of quadrants given (1, 2 or 3).
        baseline: the trained :class:`~cvae_pyro.models.BaselineNN`, given pixels to
            the logits of y.
        guess: whether the prior network reads the baseline's guess y_hat.
    """

    name = "quadrant"
    title_prefix = ""  #: messages name its models "baseline", "cvae", ...
    row_names: dict = {}  #: evaluation rows are named after the checkpoint files
    evaluates_on_layouts = False  #: evaluated on its own layout only

    def __init__(self, quadrants: int, baseline: nn.Module, guess: bool = True) -> None:
        super().__init__()
        self.quadrants = check_quadrants(quadrants)
        self.baseline = baseline.requires_grad_(False).eval()
        self.guess = guess
        self.h_dim = input_dim(quadrants)
        self.h_prior_dim = NUM_PIXELS if guess else self.h_dim
        self.y_dim = output_dim(quadrants)

    def train(self, mode: bool = True) -> QuadrantCondition:
        """Switch mode, keeping the frozen baseline in evaluation mode."""
        super().train(mode)
        self.baseline.eval()
        return self

    def prepare(self, given: torch.Tensor) -> torch.Tensor:
        """The model's input ``[given, y_hat]`` ``(B, 784)`` from the given pixels ``(B, x_dim)``."""
        with torch.no_grad():
            y_hat = [
                torch.sigmoid(self.baseline(given[i : i + PREPARE_CHUNK]))  # (b, y_dim)
                for i in range(0, len(given), PREPARE_CHUNK)
            ]
        return torch.cat([given, torch.cat(y_hat)], dim=-1)  # (B, 784)

    def pairs(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: model inputs ``(N, 784)`` (see :meth:`prepare`) and outputs ``(N, y_dim)``."""
        given, y = split_xy(split.images, self.quadrants)  # (N, x_dim), (N, y_dim)
        return self.prepare(given), y

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 784)`` inputs to ``h`` (the given pixels, ``(B, x_dim)``) and ``h_prior``."""
        given = x[..., : self.h_dim]  # (B, x_dim)
        return given, x[..., : self.h_prior_dim]  # (B, x_dim), (B, 784) or (B, x_dim)

    def counted(self, x: torch.Tensor) -> None:
        """Output pixels the likelihood counts: all of y (None)."""
        return None

    @classmethod
    def build(cls, cfg: TrainConfig, baseline: BaselineNN | None) -> QuadrantCondition:
        """The condition of ``cfg``'s CVAE around its trained ``baseline``."""
        return cls(cfg.quadrants, _need(baseline, cls.name), cfg.guess)

    @staticmethod
    def make_baseline(cfg: TrainConfig) -> BaselineNN:
        """An untrained baseline NN for ``cfg.quadrants`` given quadrants."""
        return BaselineNN(input_dim(cfg.quadrants), output_dim(cfg.quadrants), cfg.hidden)

    @staticmethod
    def baseline_pairs(cfg: TrainConfig, split: Split) -> Pairs:
        """The baseline's ``(x, y)``: the given quadrants and the rest."""
        return split_xy(split.images, cfg.quadrants)

    @classmethod
    def baseline_batches(cls, cfg: TrainConfig, split: Split) -> Batches:
        """The baseline's training pairs (no per-batch hook)."""
        return cls.baseline_pairs(cfg, split), None

    @staticmethod
    def baseline_evaluation_pairs(arch: dict, split: Split, quadrants: int | None) -> Pairs:
        """A trained baseline's evaluation pairs (``quadrants`` is its own layout)."""
        return split_xy(split.images, arch["quadrants"])

    def training_batches(self, split: Split) -> Batches:
        """The CVAE's training pairs (no per-batch hook: y_hat is computed once)."""
        return self.pairs(split), None

    def evaluation_pairs(self, split: Split, quadrants: int | None = None) -> Pairs:
        """The CVAE's evaluation pairs."""
        return self.pairs(split)

    def figures(self, cvae: CVAE, split: Split, class_names: Sequence[str]) -> dict:
        """``samples``: input, truth, NN and CVAE samples for one image of each class."""
        idx = plots.pick_one_per_digit(split.labels)
        return {
            "samples": plots.samples_figure(split.images[idx], self.quadrants, self.baseline, cvae)
        }

    def complete(
        self, cvae: CVAE, picture: torch.Tensor, visible: torch.Tensor, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The NN's guess ``(784,)`` and ``n`` drawn pictures ``(n, 784)`` of ``picture``.

        Raises:
            ConfigError: ``visible`` is not this condition's own quadrant layout.
        """
        layout = input_mask(self.quadrants).to(picture.device)  # (784,)
        if not torch.equal(layout, visible):
            raise ConfigError(
                "a quadrant CVAE completes its own layout only: use --keep, or train "
                "the mask model (python -m cvae_pyro.train --condition mask)"
            )
        given = picture[None, layout]  # (1, x_dim)
        x = self.prepare(given)  # (1, 784)
        guess = merge_xy(given, x[:, given.shape[1] :], self.quadrants)[0]  # (784,)
        return guess, merge_xy(given, cvae.sample(x, n)[:, 0], self.quadrants)  # (n, 784)


class LabelCondition(nn.Module):
    """Condition on the digit label: ``h = h_prior = one_hot(label)``; y is the whole image."""

    name = "label"
    title_prefix = ""  #: messages name its model "cvae", ...
    row_names: dict = {}  #: evaluation rows are named after the checkpoint files
    evaluates_on_layouts = False  #: evaluated on the labels only
    h_dim = NUM_CLASSES
    h_prior_dim = NUM_CLASSES
    y_dim = NUM_PIXELS

    def pairs(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: labels ``(N,)`` and images ``(N, 784)``."""
        return split.labels, split.images

    def forward(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B,)`` labels to one-hot ``h`` and ``h_prior``, each ``(B, 10)``."""
        one_hot = F.one_hot(labels, NUM_CLASSES).to(torch.get_default_dtype())  # (B, 10)
        return one_hot, one_hot

    def counted(self, labels: torch.Tensor) -> None:
        """Output pixels the likelihood counts: all of y (None)."""
        return None

    @classmethod
    def build(cls, cfg: TrainConfig, baseline: BaselineNN | None) -> LabelCondition:
        """The label condition (it has no baseline)."""
        return cls()

    make_baseline = None  #: the label task trains no baseline NN

    def training_batches(self, split: Split) -> Batches:
        """The CVAE's training pairs: labels and images."""
        return self.pairs(split), None

    def evaluation_pairs(self, split: Split, quadrants: int | None = None) -> Pairs:
        """The CVAE's evaluation pairs: labels and images."""
        return self.pairs(split)

    def figures(self, cvae: CVAE, split: Split, class_names: Sequence[str]) -> dict:
        """``digits`` and ``reconstructions``; for a 2-d latent also the latent plots."""
        samples = sample_digits(cvae, range(NUM_CLASSES), plots.DIGIT_COLUMNS, plots.FIGURE_SEED)
        figures = {
            "digits": plots.digits_figure(samples, class_names),
            "reconstructions": plots.reconstructions_figure(cvae, split),
        }
        if cvae.z_dim == 2:
            eps, names = plots.latent_grid_noise()  # (G*G, 2), G row names
            device = next(cvae.parameters()).device
            label = torch.tensor([plots.LATENT_GRID_DIGIT], device=device)  # (1,)
            with torch.no_grad():
                images = decode(cvae, label, prior_latents(cvae, label, eps.to(device)))
            figures["latent_scatter"] = plots.latent_scatter_figure(cvae, split)
            figures["latent_grid"] = plots.latent_grid_figure(images[:, 0], names)
        return figures

    def complete(
        self, cvae: CVAE, picture: torch.Tensor, visible: torch.Tensor, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A label CVAE completes no picture: ConfigError."""
        raise ConfigError("a label CVAE does not complete pictures: use a mask or quadrant CVAE")


def fixed_masks(n: int, family: MaskFamilyConfig | None = None) -> torch.Tensor:
    """``(n, 784)`` bool masks drawn from the seed :data:`MASK_SEED`: the same on every call."""
    return sample_masks(n, torch.Generator().manual_seed(MASK_SEED), family)


def fresh_masks(images: torch.Tensor, family: MaskFamilyConfig | None = None) -> torch.Tensor:
    """``(B, 784)`` bool masks for ``(B, 784)`` images, drawn from torch's global generator.

    The global generator is what training saves and restores on resume, so a resumed
    run draws the same masks as an uninterrupted one.
    """
    masks = sample_masks(len(images), torch.default_generator, family)  # (B, 784) on the CPU
    return masks.to(images.device)


class MaskCondition(nn.Module):
    """Condition on any visible region; the prior also sees the frozen mask baseline's guess.

    The model's input is ``x = [images * mask, mask, y_hat]`` ``(B, 2352)`` with
    ``y_hat = sigmoid(baseline([images * mask, mask]))``; ``h`` is the first two parts
    ``(B, 1568)`` and ``h_prior`` all of ``x``. The output y is the whole image
    ``(B, 784)``; :meth:`counted` tells the likelihood to count the hidden pixels only.

    Args:
        baseline: the trained :class:`~cvae_pyro.models.MaskBaselineNN`.
        family: the mask family training draws from (default: every kind equally likely).
    """

    name = "mask"
    title_prefix = "mask "  #: messages name its models "mask baseline", "mask cvae", ...
    #: Evaluation rows of the mask task, apart from the specialists' in one table.
    row_names = {"baseline": "mask_baseline", "cvae": "mask"}
    evaluates_on_layouts = True  #: evaluated on a quadrant layout, or on the fixed masks
    h_dim = MASK_INPUT_DIM
    h_prior_dim = MASK_INPUT_DIM + NUM_PIXELS
    y_dim = NUM_PIXELS

    def __init__(self, baseline: nn.Module, family: MaskFamilyConfig | None = None) -> None:
        super().__init__()
        self.baseline = baseline.requires_grad_(False).eval()
        self.family = family or MaskFamilyConfig()

    def train(self, mode: bool = True) -> MaskCondition:
        """Switch mode, keeping the frozen baseline in evaluation mode."""
        super().train(mode)
        self.baseline.eval()
        return self

    def prepare(self, images: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """The model's input ``(B, 2352)`` from images ``(B, 784)`` and masks ``(B or 1, 784)``."""
        given = mask_input(images, visible)  # (B, 1568)
        with torch.no_grad():
            y_hat = [
                torch.sigmoid(self.baseline(given[i : i + PREPARE_CHUNK]))  # (b, 784)
                for i in range(0, len(given), PREPARE_CHUNK)
            ]
        return torch.cat([given, torch.cat(y_hat)], dim=-1)  # (B, 2352)

    def pairs(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` with fixed masks (:func:`fixed_masks`): ``(N, 2352)`` and images ``(N, 784)``."""
        visible = fixed_masks(len(split), self.family).to(split.images.device)  # (N, 784)
        return self.prepare(split.images, visible), split.images

    def layout_pairs(
        self, split: Split, visible: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)`` with one mask ``(784,)`` for every image, e.g. a quadrant layout."""
        return self.prepare(split.images, visible.to(split.images.device)), split.images

    def redraw(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The training loop's per-batch hook: ``x`` made afresh from the images ``y`` ``(B, 784)``.

        The ``x`` passed in is not read (training stores the images as both halves).
        """
        return self.prepare(y, fresh_masks(y, self.family)), y  # (B, 2352), (B, 784)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 2352)`` inputs to ``h`` (visible pixels and mask, ``(B, 1568)``) and ``h_prior``."""
        return x[..., : self.h_dim], x  # (B, 1568), (B, 2352)

    def counted(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 784)`` bool: the hidden pixels, the only ones the likelihood counts."""
        return hidden_pixels(x)

    @classmethod
    def build(cls, cfg: TrainConfig, baseline: BaselineNN | None) -> MaskCondition:
        """The condition of ``cfg``'s mask CVAE around its trained mask ``baseline``."""
        return cls(_need(baseline, cls.name), cfg.family)

    @staticmethod
    def make_baseline(cfg: TrainConfig) -> MaskBaselineNN:
        """An untrained mask baseline NN."""
        return MaskBaselineNN(cfg.hidden)

    @staticmethod
    def baseline_pairs(cfg: TrainConfig, split: Split) -> Pairs:
        """The mask baseline's validation ``(x, y)``, with the fixed masks."""
        visible = fixed_masks(len(split), cfg.family).to(split.images.device)  # (N, 784)
        return mask_input(split.images, visible), split.images  # (N, 1568), (N, 784)

    @staticmethod
    def baseline_batches(cfg: TrainConfig, split: Split) -> Batches:
        """``(images, images)`` and the hook that masks every batch afresh."""
        return (split.images, split.images), redraw_baseline_batch(cfg.family)

    @staticmethod
    def baseline_evaluation_pairs(arch: dict, split: Split, quadrants: int | None) -> Pairs:
        """A trained mask baseline's evaluation pairs (see :func:`evaluation_masks`)."""
        visible = evaluation_masks(arch, split, quadrants)
        return mask_input(split.images, visible), split.images  # (N, 1568), (N, 784)

    def training_batches(self, split: Split) -> Batches:
        """``(images, images)`` and :meth:`redraw`: no input is stored for 50,000 images."""
        return (split.images, split.images), self.redraw

    def evaluation_pairs(self, split: Split, quadrants: int | None = None) -> Pairs:
        """Pairs on one quadrant layout, or on the fixed family masks (``quadrants`` None)."""
        arch = {"mask_weights": self.family.weights()}
        return self.prepare(split.images, evaluation_masks(arch, split, quadrants)), split.images

    def figures(self, cvae: CVAE, split: Split, class_names: Sequence[str]) -> dict:
        """``samples``: fixed masks, one image per class, the NN's guess and CVAE samples."""
        idx = plots.pick_one_per_digit(split.labels)
        visible = fixed_masks(len(split), self.family)[idx.cpu()].to(split.images.device)
        images = split.images[idx]  # (N, 784)
        x = self.prepare(images, visible)  # (N, 2352)
        return {"samples": plots.mask_samples_figure(cvae, x, images, visible)}

    def complete(
        self, cvae: CVAE, picture: torch.Tensor, visible: torch.Tensor, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The NN's guess ``(784,)`` and ``n`` drawn pictures ``(n, 784)`` of ``picture``."""
        x = self.prepare(picture[None], visible[None])  # (1, 2352)
        return x[0, MASK_INPUT_DIM:], cvae.sample(x, n)[:, 0]


def redraw_baseline_batch(
    family: MaskFamilyConfig,
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The mask baseline's per-batch hook: ``(x, y)`` to ``([y * mask, mask], y)``, fresh masks.

    The ``x`` passed in is not read.
    """

    def redraw(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return mask_input(y, fresh_masks(y, family)), y  # (B, 1568), (B, 784)

    return redraw


Condition = QuadrantCondition | LabelCondition | MaskCondition
#: The class of each condition name of :data:`~cvae_pyro.config.CONDITIONS`.
CONDITION_TYPES = {c.name: c for c in (QuadrantCondition, LabelCondition, MaskCondition)}


def condition_type(name: str) -> type[Condition]:
    """The condition class of a condition name ("quadrant", "label" or "mask")."""
    try:
        return CONDITION_TYPES[name]
    except KeyError:
        raise ConfigError(f"unknown condition {name!r}") from None


def evaluation_masks(arch: dict, split: Split, quadrants: int | None) -> torch.Tensor:
    """Visible pixels of a mask model's evaluation: ``(784,)`` layout or ``(N, 784)`` fixed masks."""
    if quadrants is not None:
        return input_mask(check_quadrants(quadrants)).to(split.images.device)  # (784,)
    family = mask_family(tuple(arch["mask_weights"]))
    return fixed_masks(len(split), family).to(split.images.device)  # (N, 784)


def _need(baseline: BaselineNN | None, name: str) -> BaselineNN:
    if baseline is None:
        raise ValueError(f"the {name} CVAE needs the trained baseline")
    return baseline


def baseline_architecture(cfg: TrainConfig) -> dict:
    """The settings a baseline checkpoint must match (the CVAE's extra settings do not matter)."""
    keys = ("condition", "quadrants", "hidden", "dataset") + cfg.task_keys()
    return {key: value for key, value in cfg.architecture().items() if key in keys}


def build_baseline(cfg: TrainConfig) -> BaselineNN:
    """An untrained baseline NN of ``cfg``'s condition."""
    make = condition_type(cfg.condition).make_baseline
    if make is None:
        raise ValueError(f"the {cfg.condition} condition has no baseline NN")
    return make(cfg)


def build_cvae(cfg: TrainConfig, baseline: BaselineNN | None = None) -> CVAE:
    """An untrained CVAE for ``cfg``; the quadrant and mask conditions need the trained ``baseline``."""
    condition = condition_type(cfg.condition).build(cfg, baseline)
    return CVAE(condition, cfg.z_dim, cfg.hidden, cfg.prior)


@dataclass
class Trained:
    """A model loaded from its best checkpoint.

    Attributes:
        kind: "baseline" or "cvae".
        architecture: the settings it was trained with (``TrainConfig.architecture()``);
            ``condition`` and ``objective`` say what it is.
        module: the :class:`~cvae_pyro.models.BaselineNN` or :class:`~cvae_pyro.models.CVAE`,
            in evaluation mode.
        baseline_sha256: for a CVAE with a frozen baseline, the hash of that baseline's
            weights recorded at training (:func:`~cvae_pyro.checkpoints.weights_sha256`);
            None in checkpoints from before it was recorded.
    """

    kind: str
    architecture: dict
    module: nn.Module
    baseline_sha256: str | None = None

    @property
    def frozen_baseline(self) -> nn.Module | None:
        """The frozen baseline inside a CVAE (None for a baseline or a label CVAE)."""
        condition = getattr(self.module, "condition", None)
        return getattr(condition, "baseline", None)

    @property
    def condition(self) -> type[Condition]:
        """The class of the condition it was trained on."""
        return condition_type(self.architecture["condition"])

    @property
    def objective(self) -> str | None:
        """The CVAE's training objective (None for a baseline)."""
        return None if self.kind == BASELINE else self.architecture["objective"]


def load_trained(
    path: str | Path,
    device: str | torch.device = "cpu",
    kind: str | tuple[str, ...] = MODEL_KINDS,
    expect: dict | None = None,
) -> Trained:
    """Rebuild a trained baseline or CVAE from its best checkpoint.

    Args:
        path: a checkpoint written by training (``baseline.pt``, ``cvae.pt``, ...).
        device: where to put the model.
        kind: "baseline", "cvae", or both.
        expect: settings the checkpoint must have been trained with (for example
            ``{"condition": "quadrant", "quadrants": 2}``).

    Raises:
        CheckpointError: the file is missing, truncated, foreign, of another kind, or
            trained with other settings, or its weights are not finite numbers.
    """
    ckpt = load_checkpoint(path, expect=expect, kind=kind)
    arch = ckpt.get("architecture", {})
    try:
        cfg = TrainConfig(**{**arch, "hidden": tuple(arch["hidden"])})
        with torch.device("meta"):  # shapes only: nothing is allocated for settings that lie
            problem = shape_problem(_build(cfg, ckpt["kind"]).state_dict(), ckpt["state_dict"])
        if problem:
            raise ValueError(problem)
        module = _build(cfg, ckpt["kind"])
        module.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError, AttributeError) as err:
        reason = one_line(err, 160)
        raise CheckpointError(f"{path} does not hold the model it claims to: {reason}") from None
    recorded = ckpt.get("baseline_sha256")
    recorded = recorded if isinstance(recorded, str) else None
    return Trained(ckpt["kind"], arch, module.to(device).eval(), recorded)


def _build(cfg: TrainConfig, kind: str) -> nn.Module:
    """An untrained model of ``kind`` ("baseline" or "cvae") with ``cfg``'s settings."""
    baseline = None if condition_type(cfg.condition).make_baseline is None else build_baseline(cfg)
    return baseline if kind == BASELINE else build_cvae(cfg, baseline)


def shape_problem(wanted: dict, found: dict) -> str | None:
    """What differs between the tensor names and shapes of two state dicts (None if nothing).

    ``wanted`` is what the recorded settings build, ``found`` what the checkpoint holds: a
    checkpoint whose settings claim far bigger networks than its weights is refused
    before those networks are made.
    """
    missing = [name for name in wanted if name not in found]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        return f"Missing key(s) in state_dict: {missing[0]}{more}"
    unexpected = [name for name in found if name not in wanted]
    if unexpected:
        return f"Unexpected key(s) in state_dict: {unexpected[0]}"
    for name, tensor in wanted.items():
        if tuple(found[name].shape) != tuple(tensor.shape):
            return (
                f"size mismatch for {name}: the checkpoint holds {tuple(found[name].shape)}, "
                f"its settings make {tuple(tensor.shape)}"
            )
    return None


def pretrained_models() -> dict:
    """The shipped models' records (:data:`PRETRAINED_MANIFEST`): file, SHA-256, how made.

    No record and no model file: nothing is shipped ({}).

    Raises:
        CheckpointError: the install is damaged: model files without their record, or a
            record that is not the JSON :func:`pretrained_record_problem` accepts. The
            message says how to reinstall.
    """
    if not os.path.lexists(PRETRAINED_MANIFEST):
        shipped = sorted(PRETRAINED_DIR.glob("*.pt")) if PRETRAINED_DIR.is_dir() else []
        if not shipped:
            return {}
        raise CheckpointError(
            f"the shipped models' record {PRETRAINED_MANIFEST} is missing; {DAMAGED_INSTALL}"
        )
    found = read_json(
        PRETRAINED_MANIFEST, "record of the shipped models", DAMAGED_INSTALL, CheckpointError
    )
    models = found.get("models") if isinstance(found, dict) else None
    problem = "it has no table of models" if not isinstance(models, dict) else None
    for name, record in (models if isinstance(models, dict) else {}).items():
        problem = problem or pretrained_record_problem(name, record)
    if problem:
        raise CheckpointError(
            f"the shipped models' record {PRETRAINED_MANIFEST} is damaged ({problem}); "
            f"{DAMAGED_INSTALL}"
        )
    return models


def pretrained_record_problem(name: object, record: object) -> str | None:
    """What is wrong with one model's record in the manifest (None if nothing).

    It must hold a plain ``file`` name and a ``sha256``, ``title`` and ``summary`` text.
    """
    if not isinstance(record, dict):
        return f"the record of {str(name)[:40]} is not an object"
    for key in PRETRAINED_RECORD_KEYS:
        if not isinstance(record.get(key), str):
            return f"the record of {str(name)[:40]} has no text {key}"
    if Path(record["file"]).name != record["file"] or record["file"] in ("", ".", ".."):
        return f"the record of {str(name)[:40]} names a file outside its folder"
    return None


def pretrained_path(condition: str, dataset: str) -> Path | None:
    """The shipped model of ``condition`` for ``dataset``, or None if none is shipped."""
    record = pretrained_models().get(f"{dataset}-{condition}")
    return None if record is None else PRETRAINED_DIR / record["file"]


def load_pretrained(
    condition: str, dataset: str, device: str | torch.device = "cpu"
) -> tuple[Trained, str]:
    """The shipped CVAE of ``condition`` for ``dataset``, and a line naming it.

    Its file is checked against the SHA-256 recorded when it was made, then loaded like
    every checkpoint (:func:`load_trained`: ``weights_only``, settings, finite weights).

    Raises:
        CheckpointError: none is shipped, or the file is not the one that was shipped.
    """
    name = f"{dataset}-{condition}"
    record = pretrained_models().get(name)
    if record is None:
        raise CheckpointError(f"no shipped {condition} model for {dataset}")
    path = PRETRAINED_DIR / record["file"]
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != record["sha256"]:
        raise CheckpointError(
            f"the shipped model {path} is missing or damaged (its SHA-256 differs from "
            f"the one recorded when it was made); {DAMAGED_INSTALL}"
        )
    expect = {"condition": condition, "dataset": dataset}
    trained = load_trained(path, device, "cvae", expect)
    return trained, f"shipped {record['title']} ({path.name}, {record['summary']})"


def load_model(path: str | Path, device: str | torch.device = "cpu") -> BaselineNN | CVAE:
    """The trained baseline or CVAE at ``path`` (see :func:`load_trained`)."""
    return load_trained(path, device).module


def shared_noise(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """Standard-normal noise ``eps`` ``(n, z_dim)`` from its own generator (global RNG untouched)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, z_dim, generator=gen)  # (n, z)


def prior_latents(cvae: CVAE, digits: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``z = loc_c + scale_c * eps`` for every digit c and noise row: ``(n, D, z_dim)``.

    Args:
        cvae: a label :class:`~cvae_pyro.models.CVAE`.
        digits: ``(D,)`` int64 labels.
        eps: ``(n, z_dim)`` standard-normal noise shared by all digits.
    """
    _, h_prior = cvae.condition(digits)  # (D, 10)
    loc, scale = cvae.prior_net(h_prior)  # (D, z), (D, z)
    return loc + scale * eps[:, None, :]  # (n, D, z)


def decode(cvae: CVAE, digits: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Pixel probabilities of p(y|c,z) for ``z`` ``(..., D, z_dim)``: ``(..., D, 784)``."""
    h, _ = cvae.condition(digits)  # (D, 10)
    return torch.sigmoid(cvae.generation_net(h, z))


def check_label_cvae(cvae: CVAE) -> None:
    """Raise :class:`CheckpointError` unless ``cvae`` is a CVAE conditioned on the label."""
    if not isinstance(getattr(cvae, "condition", None), LabelCondition):
        raise CheckpointError("this checkpoint is not a label CVAE (train with --condition label)")


def sample_digits(cvae: CVAE, digits: Sequence[int], n: int, seed: int = 0) -> torch.Tensor:
    """``n`` samples of each digit, the same latent noise for every digit.

    Args:
        cvae: a trained label :class:`~cvae_pyro.models.CVAE`.
        digits: the D digits to draw, each 0..9.
        n: samples per digit.
        seed: seed of the shared noise ``eps``.

    Returns:
        Pixel probabilities in [0, 1], ``(D, n, 784)``.
    """
    check_label_cvae(cvae)
    if n < 1:
        raise ConfigError(f"n must be a positive integer, got {n}")
    if any(not 0 <= int(d) < NUM_CLASSES for d in digits):
        raise ConfigError(f"digits must lie in 0..9, got {list(digits)}")
    device = next(cvae.parameters()).device
    labels = torch.as_tensor(list(digits), dtype=torch.long, device=device)  # (D,)
    eps = shared_noise(n, cvae.z_dim, seed).to(device)  # (n, z)
    with torch.no_grad():
        z = prior_latents(cvae, labels, eps)  # (n, D, z)
        return decode(cvae, labels, z).transpose(0, 1)  # (D, n, 784)


@dataclass(frozen=True)
class LabelReading:
    """Which label a label CVAE reads in each of B pictures.

    Attributes:
        log_likelihood: ``(B, 10)`` IS estimates of log p(y | c) for every label c, nats.
        samples: S, latent samples per picture and label of each estimate.
    """

    log_likelihood: torch.Tensor
    samples: int

    @property
    def posterior(self) -> torch.Tensor:
        """``(B, 10)`` p(c | y) under a uniform prior over the labels: softmax of log p(y | c)."""
        return torch.softmax(self.log_likelihood, dim=-1)

    @property
    def labels(self) -> torch.Tensor:
        """``(B,)`` the label of the highest estimate of log p(y | c)."""
        return self.log_likelihood.argmax(dim=-1)


def read_labels(
    cvae: CVAE, images: torch.Tensor, num_samples: int = DEFAULT_SAMPLES, seed: int = 0
) -> LabelReading:
    """The label CVAE as a classifier: log p(y | c) of ``images`` ``(B, 784)`` for every c.

    Each estimate is :func:`~cvae_pyro.metrics.is_nll` (z from q(z | y, c)); every label
    uses the same noise eps per picture, so the labels are compared on the same draws.
    """
    check_label_cvae(cvae)
    device = next(cvae.parameters()).device
    images = images.to(device)
    columns = [
        -is_nll(
            cvae, torch.full((len(images),), c, device=device), images, num_samples, seed=seed
        ).per_image  # (B,)
        for c in range(NUM_CLASSES)
    ]
    return LabelReading(torch.stack(columns, dim=-1), num_samples)  # (B, 10)


def styles(cvae: CVAE, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The style of each picture: the mean of q(z | y, c) as noise of the prior p(z | c).

    ``eps = (mean - loc_c) / scale_c``, so that ``loc_c + scale_c * eps`` (what
    :func:`prior_latents` makes of it) is the mean itself. The same eps drawn as another
    class c' is the same style, as the columns of :func:`sample_digits` share eps: the
    conditional prior puts each class's z elsewhere, so the mean of q itself, decoded as
    another class, mostly draws the picture's own class again. With the standard-normal
    prior eps is the mean of q.

    Args:
        cvae: a trained label CVAE.
        images: ``(B, 784)`` pictures y.
        labels: ``(B,)`` int64 labels c they are read as.

    Returns:
        ``(B, z_dim)`` the styles eps.
    """
    check_label_cvae(cvae)
    device = next(cvae.parameters()).device
    images, labels = images.to(device), labels.to(device)
    with torch.no_grad():
        prior = cvae.prior(labels).base_dist  # p(z | c): loc and scale (B, z) each
        return (cvae.posterior(labels, images).mean - prior.loc) / prior.scale  # (B, z)


def draw_in_style(
    cvae: CVAE, eps: torch.Tensor, digits: Sequence[int] = range(NUM_CLASSES)
) -> torch.Tensor:
    """Pixel probabilities of p(y | c, z) at ``z = loc_c + scale_c * eps`` for each style and digit.

    Args:
        cvae: a trained label CVAE.
        eps: ``(B, z_dim)`` styles (:func:`styles`).
        digits: the D digits to draw.

    Returns:
        ``(B, D, 784)``: row b is style b drawn as each of the D ``digits``.
    """
    check_label_cvae(cvae)
    device = next(cvae.parameters()).device
    labels = torch.as_tensor(list(digits), dtype=torch.long, device=device)  # (D,)
    with torch.no_grad():
        z = prior_latents(cvae, labels, eps.to(device))  # (B, D, z)
        return decode(cvae, labels, z)  # (B, D, 784)


def interpolate_styles(
    cvae: CVAE,
    eps_a: torch.Tensor,
    eps_b: torch.Tensor,
    label: int,
    steps: int = INTERPOLATION_STEPS,
) -> torch.Tensor:
    """``(steps, 784)``: ``steps`` styles from ``eps_a`` to ``eps_b`` ``(z_dim,)``, drawn as ``label``.

    The styles are ``(1 - t) eps_a + t eps_b`` for t from 0 to 1, so that z goes in a straight
    line from one picture's mean of q(z | y, label) to the other's: the first picture is
    ``eps_a`` drawn as ``label``, the last ``eps_b``.
    """
    if steps < 2:
        raise ConfigError(f"an interpolation needs at least 2 steps, got {steps}")
    if not 0 <= int(label) < NUM_CLASSES:
        raise ConfigError(f"label must lie in 0..9, got {label}")
    t = torch.linspace(0.0, 1.0, steps, device=eps_a.device)[:, None]  # (steps, 1)
    eps = (1 - t) * eps_a + t * eps_b.to(eps_a.device)  # (steps, z)
    return draw_in_style(cvae, eps, [int(label)])[:, 0]  # (steps, 784)
