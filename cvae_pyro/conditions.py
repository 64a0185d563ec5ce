"""What the CVAE is conditioned on: a partial image (quadrants or any mask) or a digit label.

A condition turns a split of the data into pairs ``(x, y)``: the model's input (what it
is conditioned on) and its output pixels. Its forward pass encodes ``x`` into ``h``
(the input of the recognition and generation networks) and ``h_prior`` (the input of
the conditional prior network); ``counted(x)`` says which output pixels the likelihood
counts (None: all). The CVAE's model and guide (:mod:`cvae_pyro.models`) are the same
for every condition; only this encoder differs. :class:`Condition` writes down what
every condition has; the quadrant and mask conditions also have a baseline NN
(:class:`BaselineTask`), the label condition none. :func:`condition_type` finds the
class of a condition's name, so that the layers above never compare condition names.

For the quadrant task the prior network also reads the frozen baseline's guess y_hat
(the paper's "recurrent connection"), computed once per split
(:meth:`QuadrantCondition.prepare`): ``x = [given pixels, y_hat]``. The mask task
(:class:`MaskCondition`) conditions on any visible region: ``x`` carries the visible
pixels, the mask and the mask baseline's guess, ``y`` is the whole image and the
likelihood counts the hidden pixels only. Training draws fresh masks for every batch
(:meth:`MaskCondition.redraw`); validation and evaluation use fixed masks
(:func:`~cvae_pyro.random_masks.fixed_masks`), so their losses compare across runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from .config import TrainConfig
from .data import Split
from .errors import ConfigError
from .masks import (
    MASK_INPUT_DIM,
    NUM_PIXELS,
    hidden_pixels,
    input_dim,
    input_mask,
    mask_task_input,
    merge_xy,
    output_dim,
    split_xy,
)
from .models import CVAE, BaselineNN, MaskBaselineNN, check_pairs
from .random_masks import evaluation_masks, fixed_masks, fresh_masks, redraw_baseline_batch
from .settings import NUM_CLASSES, MaskFamilyConfig, check_quadrants

PREPARE_CHUNK = 2000  #: images per baseline forward pass in ``prepare``
Pairs = tuple[torch.Tensor, torch.Tensor]  #: (input x, output y)
Redraw = Callable[[torch.Tensor, torch.Tensor], Pairs]  #: per-batch hook, e.g. fresh masks
Batches = tuple[Pairs, "Redraw | None"]  #: training pairs and their per-batch hook


class Condition(Protocol):
    """What every condition is: an encoder of ``x`` and the pairs its CVAE reads."""

    name: ClassVar[str]  #: its name in the settings ("quadrant", "label" or "mask")
    title_prefix: ClassVar[str]  #: how messages prefix its models' names
    row_names: ClassVar[dict]  #: evaluation row names of its models, where not the file stem
    evaluates_on_layouts: ClassVar[bool]  #: whether it is evaluated on any quadrant layout
    has_baseline: ClassVar[bool]  #: whether a baseline NN (:class:`BaselineTask`) comes first
    h_dim: int  #: width of ``h``
    h_prior_dim: int  #: width of ``h_prior``
    y_dim: int  #: output pixels

    @classmethod
    def build(cls, cfg: TrainConfig, baseline: BaselineNN | None) -> Condition:
        """The condition of ``cfg``'s CVAE (around its trained baseline, if it has one)."""

    def pairs(self, split: Split) -> Pairs:
        """``(x, y)`` of a split: the model's input from the images, and its output."""

    def training_batches(self, split: Split) -> Batches:
        """The CVAE's training pairs and the per-batch hook, if any."""

    def evaluation_pairs(self, split: Split, quadrants: int | None = None) -> Pairs:
        """The CVAE's evaluation pairs (``quadrants``: a layout to evaluate on)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` to ``(h, h_prior)``."""

    def counted(self, x: torch.Tensor) -> torch.Tensor | None:
        """The output pixels the likelihood counts (None: all)."""

    def complete(
        self, cvae: CVAE, picture: torch.Tensor, visible: torch.Tensor, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The baseline's guess ``(784,)`` and ``n`` completions ``(n, 784)`` of a picture."""


class BaselineTask(Protocol):
    """The baseline NN of a condition that has one (``has_baseline``)."""

    @staticmethod
    def make_baseline(cfg: TrainConfig) -> BaselineNN:
        """An untrained baseline NN of ``cfg``."""

    @staticmethod
    def baseline_pairs(cfg: TrainConfig, split: Split) -> Pairs:
        """The baseline's validation pairs."""

    @staticmethod
    def baseline_batches(cfg: TrainConfig, split: Split) -> Batches:
        """The baseline's training pairs and per-batch hook."""

    @staticmethod
    def baseline_evaluation_pairs(arch: dict, split: Split, quadrants: int | None) -> Pairs:
        """A trained baseline's evaluation pairs."""


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
    row_names: ClassVar[dict] = {}  #: evaluation rows are named after the checkpoint files
    evaluates_on_layouts = False  #: evaluated on its own layout only
    has_baseline = True  #: a baseline NN is trained first; the prior reads its guess

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
        check_pairs(self.baseline, given)
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
    row_names: ClassVar[dict] = {}  #: evaluation rows are named after the checkpoint files
    evaluates_on_layouts = False  #: evaluated on the labels only
    has_baseline = False  #: the label task trains no baseline NN
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

    def training_batches(self, split: Split) -> Batches:
        """The CVAE's training pairs: labels and images."""
        return self.pairs(split), None

    def evaluation_pairs(self, split: Split, quadrants: int | None = None) -> Pairs:
        """The CVAE's evaluation pairs: labels and images."""
        return self.pairs(split)

    def complete(
        self, cvae: CVAE, picture: torch.Tensor, visible: torch.Tensor, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A label CVAE completes no picture: ConfigError."""
        raise ConfigError("a label CVAE does not complete pictures: use a mask or quadrant CVAE")


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
    row_names: ClassVar[dict] = {"baseline": "mask_baseline", "cvae": "mask"}
    evaluates_on_layouts = True  #: evaluated on a quadrant layout, or on the fixed masks
    has_baseline = True  #: a mask baseline NN is trained first; the prior reads its guess
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
        given = mask_task_input(images, visible)  # (B, 1568)
        check_pairs(self.baseline, given)
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
        return mask_task_input(split.images, visible), split.images  # (N, 1568), (N, 784)

    @staticmethod
    def baseline_batches(cfg: TrainConfig, split: Split) -> Batches:
        """``(images, images)`` and the hook that masks every batch afresh."""
        return (split.images, split.images), redraw_baseline_batch(cfg.family)

    @staticmethod
    def baseline_evaluation_pairs(arch: dict, split: Split, quadrants: int | None) -> Pairs:
        """A trained mask baseline's evaluation pairs (see :func:`evaluation_masks`)."""
        visible = evaluation_masks(arch, split.images, quadrants)
        return mask_task_input(split.images, visible), split.images  # (N, 1568), (N, 784)

    def training_batches(self, split: Split) -> Batches:
        """``(images, images)`` and :meth:`redraw`: no input is stored for 50,000 images."""
        return (split.images, split.images), self.redraw

    def evaluation_pairs(self, split: Split, quadrants: int | None = None) -> Pairs:
        """Pairs on one quadrant layout, or on the fixed family masks (``quadrants`` None)."""
        arch = {"mask_weights": self.family.weights()}
        return self.prepare(
            split.images, evaluation_masks(arch, split.images, quadrants)
        ), split.images

    def complete(
        self, cvae: CVAE, picture: torch.Tensor, visible: torch.Tensor, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The NN's guess ``(784,)`` and ``n`` drawn pictures ``(n, 784)`` of ``picture``."""
        x = self.prepare(picture[None], visible[None])  # (1, 2352)
        return x[0, MASK_INPUT_DIM:], cvae.sample(x, n)[:, 0]


#: The class of each condition name of :data:`~cvae_pyro.settings.CONDITIONS`.
CONDITION_TYPES = {c.name: c for c in (QuadrantCondition, LabelCondition, MaskCondition)}


def condition_type(name: str) -> type[Condition]:
    """The condition class of a condition name ("quadrant", "label" or "mask")."""
    try:
        return CONDITION_TYPES[name]
    except KeyError:
        raise ConfigError(f"unknown condition {name!r}") from None


def _need(baseline: BaselineNN | None, name: str) -> BaselineNN:
    if baseline is None:
        raise ValueError(f"the {name} CVAE needs the trained baseline")
    return baseline
