"""Random masks for the mask-conditioned CVAE: a fresh mask for every image of every batch.

A mask is a ``(784,)`` bool tensor over the row-major pixels of a 28x28 image,
True where the pixel is visible (part of the condition) and False where it is
hidden (to be completed). Each mask is drawn from one of five kinds, chosen with
the weights of :class:`MaskFamilyConfig`:

==============  ==============================================================
kind            visible pixels
==============  ==============================================================
``quadrants``   one of the three quadrant layouts of Sohn et al. (2015), each
                with probability 1/3 (:func:`cvae_pyro.masks.input_mask`)
``rectangles``  all but one axis-aligned rectangle with integer sides drawn
                uniformly from ``[rectangle_min_side, rectangle_max_side]`` at a
                uniform position; with probability ``rectangle_keep_prob`` the
                rectangle is the visible part instead
``halves``      the top, bottom, left or right half (392 pixels), each 1/4
``strokes``     all but 1 to ``max_strokes`` brush strokes: polylines of
                ``stroke_vertices`` points (a random walk with uniform
                directions and step lengths), each with a width drawn uniformly
                from ``[stroke_min_width, stroke_max_width]`` pixels
``pixels``      each pixel independently, with a keep rate drawn uniformly from
                ``[min_keep_rate, max_keep_rate]`` for each mask
==============  ==============================================================

No mask is all visible or all hidden: the rare one that comes out so (a keep
rate near 0 or 1, strokes covering everything) has one random pixel flipped.
Everything is drawn from the ``torch.Generator`` passed in, on its device, so
the same seed gives the same masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import torch
from torch import nn

from ..conditions import PREPARE_CHUNK, Batches, TaskSettings, need_baseline
from ..data import Split
from ..fit import Pairs
from ..masks import (
    IMAGE_SIDE,
    MASK_INPUT_DIM,
    NUM_PIXELS,
    VALID_QUADRANTS,
    check_quadrants,
    hidden_pixels,
    input_mask,
    mask_task_input,
)
from ..models import CVAE, BaselineNN, MaskBaselineNN, check_pairs
from .mask_family import MaskFamilyConfig, mask_family

HALF_SIDE = IMAGE_SIDE // 2  #: rows (or columns) in half an image
HALVES = ("top", "bottom", "left", "right")  #: the visible half, in table order
_TINY = 1e-12  # squared length below which a stroke segment is a dot
MASK_SEED = 20_151_207  #: seed of the fixed masks of validation and evaluation (mask task)


def sample_masks(
    batch: int, generator: torch.Generator, cfg: MaskFamilyConfig | None = None
) -> torch.Tensor:
    """Draw ``batch`` masks from the family.

    Args:
        batch: number of masks B.
        generator: the source of randomness; masks are made on its device.
        cfg: mixture weights and shapes (defaults: every kind equally likely).

    Returns:
        ``(B, 784)`` bool, True = visible; no row is all True or all False.
    """
    cfg = cfg or MaskFamilyConfig()
    kinds = sample_kinds(batch, generator, cfg)  # (B,)
    masks = torch.zeros(batch, NUM_PIXELS, dtype=torch.bool, device=generator.device)
    for index, sampler in enumerate(_SAMPLERS):
        rows = (kinds == index).nonzero().squeeze(1)  # (n,)
        if len(rows):
            masks[rows] = sampler(len(rows), generator, cfg)
    return ensure_mixed(masks, generator)


def sample_kinds(batch: int, generator: torch.Generator, cfg: MaskFamilyConfig) -> torch.Tensor:
    """``(B,)`` int64 index into :data:`MASK_KINDS` of each mask, drawn with the weights."""
    weights = torch.tensor(cfg.weights(), device=generator.device)
    return torch.multinomial(weights, batch, replacement=True, generator=generator)


def ensure_mixed(masks: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip one random pixel of every all-visible or all-hidden mask in ``(B, 784)`` ``masks``."""
    count = masks.sum(1)  # (B,)
    uniform = (count == 0) | (count == NUM_PIXELS)  # (B,)
    pixel = torch.randint(NUM_PIXELS, (len(masks),), generator=generator, device=masks.device)
    flip = torch.zeros_like(masks)
    flip[torch.arange(len(masks), device=masks.device), pixel] = uniform
    return masks ^ flip  # (B, 784)


def quadrant_masks(n: int, generator: torch.Generator, cfg: MaskFamilyConfig) -> torch.Tensor:
    """``(n, 784)`` masks, each one of the three quadrant layouts with probability 1/3."""
    table = _quadrant_table().to(generator.device)  # (3, 784)
    return table[torch.randint(len(table), (n,), generator=generator, device=generator.device)]


def half_masks(n: int, generator: torch.Generator, cfg: MaskFamilyConfig) -> torch.Tensor:
    """``(n, 784)`` masks, each the top, bottom, left or right half visible, 1/4 each."""
    table = _half_table().to(generator.device)  # (4, 784)
    return table[torch.randint(len(table), (n,), generator=generator, device=generator.device)]


def rectangle_masks(n: int, generator: torch.Generator, cfg: MaskFamilyConfig) -> torch.Tensor:
    """``(n, 784)`` masks hiding (or, with ``rectangle_keep_prob``, keeping) one rectangle."""
    device = generator.device
    sides = torch.randint(
        cfg.rectangle_min_side,
        cfg.rectangle_max_side + 1,
        (n, 2),
        generator=generator,
        device=device,
    )  # (n, 2): height, width
    corner = (
        torch.rand(n, 2, generator=generator, device=device) * (IMAGE_SIDE - sides + 1)
    ).long()
    keep = torch.rand(n, generator=generator, device=device) < cfg.rectangle_keep_prob  # (n,)
    coords = torch.arange(IMAGE_SIDE, device=device)  # (28,)
    inside = (coords >= corner[:, :, None]) & (coords < (corner + sides)[:, :, None])  # (n, 2, 28)
    rectangle = inside[:, 0, :, None] & inside[:, 1, None, :]  # (n, 28, 28)
    return (rectangle == keep[:, None, None]).reshape(n, NUM_PIXELS)


def stroke_masks(n: int, generator: torch.Generator, cfg: MaskFamilyConfig) -> torch.Tensor:
    """``(n, 784)`` masks hiding 1 to ``max_strokes`` random brush strokes."""
    device = generator.device
    shape = (n, cfg.max_strokes)
    start = torch.rand(*shape, 1, 2, generator=generator, device=device) * (IMAGE_SIDE - 1)
    steps = cfg.stroke_vertices - 1
    angle = torch.rand(*shape, steps, generator=generator, device=device) * (2 * math.pi)
    length = _uniform(cfg.stroke_min_step, cfg.stroke_max_step, (*shape, steps), generator)
    moves = torch.stack((angle.sin(), angle.cos()), -1) * length[..., None]  # (n, S, V-1, 2)
    vertices = torch.cat((start, start + moves.cumsum(2)), 2).clamp(0, IMAGE_SIDE - 1)
    width = _uniform(cfg.stroke_min_width, cfg.stroke_max_width, shape, generator)  # (n, S)
    count = torch.randint(1, cfg.max_strokes + 1, (n, 1), generator=generator, device=device)
    active = torch.arange(cfg.max_strokes, device=device) < count  # (n, S)
    return ~polyline_mask(vertices, width.masked_fill(~active, 0.0))


def polyline_mask(vertices: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Pixels painted by thick polylines with round ends.

    Args:
        vertices: ``(n, S, V, 2)`` (row, column) points of S polylines per mask, in
            pixel units with pixel (r, c) centred at (r, c).
        width: ``(n, S)`` brush width in pixels; 0 paints nothing.

    Returns:
        ``(n, 784)`` bool, True where a pixel centre lies within ``width / 2`` of a polyline.
    """
    n, strokes, points, _ = vertices.shape
    active = (width > 0)[:, :, None].expand(n, strokes, points - 1)  # (n, S, V-1)
    owner = torch.arange(n, device=width.device)[:, None, None].expand_as(active)[active]  # (M,)
    a = vertices[:, :, :-1][active]  # (M, 2): segment starts
    d = (vertices[:, :, 1:] - vertices[:, :, :-1])[active]  # (M, 2): segment directions
    radius2 = (width[:, :, None].expand_as(active)[active] / 2).square()  # (M,)
    # For a pixel centre p, u = p - a and t = clamp(u.d / |d|^2, 0, 1), the squared
    # distance to the segment is |u - t d|^2 = |u|^2 - t (2 u.d - t |d|^2). Both u.d and
    # |u|^2 = |p|^2 - 2 p.a + |a|^2 are linear in (p_r, p_c, 1, |p|^2): two small matmuls.
    features = _pixel_features(width.device)  # (4, 784)
    zero, one = torch.zeros_like(radius2), torch.ones_like(radius2)
    u_dot_d = torch.stack((d[:, 0], d[:, 1], -(a * d).sum(1), zero), 1) @ features  # (M, 784)
    u_norm2 = torch.stack((-2 * a[:, 0], -2 * a[:, 1], a.square().sum(1), one), 1) @ features
    length2 = d.square().sum(1, keepdim=True)  # (M, 1)
    t = (u_dot_d / length2.clamp_min(_TINY)).clamp(0, 1)  # (M, 784)
    distance2 = u_norm2 - t * (2 * u_dot_d - t * length2)  # (M, 784)
    painted = (distance2 <= radius2[:, None]).float()  # (M, 784)
    canvas = torch.zeros(n, NUM_PIXELS, device=width.device)  # (n, 784)
    return canvas.index_add_(0, owner, painted) > 0


def pixel_masks(n: int, generator: torch.Generator, cfg: MaskFamilyConfig) -> torch.Tensor:
    """``(n, 784)`` masks keeping each pixel with a per-mask rate from the configured range."""
    rate = _uniform(cfg.min_keep_rate, cfg.max_keep_rate, (n, 1), generator)  # (n, 1)
    return keep_pixels(rate, generator)


def keep_pixels(rate: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``(n, 784)`` masks keeping each pixel independently with probability ``rate`` ``(n, 1)``."""
    draws = torch.rand(len(rate), NUM_PIXELS, generator=generator, device=rate.device)
    return draws < rate  # (n, 784)


def _uniform(
    low: float, high: float, shape: tuple[int, ...], generator: torch.Generator
) -> torch.Tensor:
    draws = torch.rand(shape, generator=generator, device=generator.device)
    return low + (high - low) * draws


@cache
def _quadrant_table() -> torch.Tensor:
    return torch.stack([input_mask(q) for q in VALID_QUADRANTS])  # (3, 784)


@cache
def _half_table() -> torch.Tensor:
    rows = torch.arange(IMAGE_SIDE)[:, None].expand(IMAGE_SIDE, IMAGE_SIDE)  # (28, 28)
    cols = rows.T
    halves = (rows < HALF_SIDE, rows >= HALF_SIDE, cols < HALF_SIDE, cols >= HALF_SIDE)
    return torch.stack(halves).reshape(len(HALVES), NUM_PIXELS)  # (4, 784)


@cache
def _pixel_features(device: torch.device) -> torch.Tensor:
    """``(4, 784)`` rows p_r, p_c, 1, |p|^2 of every pixel centre p."""
    coords = torch.arange(IMAGE_SIDE, dtype=torch.float32, device=device)
    rows, cols = (
        grid.reshape(NUM_PIXELS) for grid in torch.meshgrid(coords, coords, indexing="ij")
    )
    return torch.stack((rows, cols, torch.ones_like(rows), rows.square() + cols.square()))


_SAMPLERS = (quadrant_masks, rectangle_masks, half_masks, stroke_masks, pixel_masks)


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


def evaluation_masks(arch: dict, images: torch.Tensor, quadrants: int | None) -> torch.Tensor:
    """Visible pixels of a mask model's evaluation on ``images`` ``(N, 784)``: the ``(784,)``
    quadrant layout, or ``(N, 784)`` fixed masks of the family in ``arch["mask_weights"]``."""
    if quadrants is not None:
        return input_mask(check_quadrants(quadrants)).to(images.device)  # (784,)
    family = mask_family(tuple(arch["mask_weights"]))
    return fixed_masks(len(images), family).to(images.device)  # (N, 784)


def redraw_baseline_batch(
    family: MaskFamilyConfig,
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """The mask baseline's per-batch hook: ``(x, y)`` to ``([y * mask, mask], y)``, fresh masks.

    The ``x`` passed in is not read.
    """

    def redraw(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return mask_task_input(y, fresh_masks(y, family)), y  # (B, 1568), (B, 784)

    return redraw


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
    def build(cls, cfg: TaskSettings, baseline: BaselineNN | None) -> MaskCondition:
        """The condition of ``cfg``'s mask CVAE around its trained mask ``baseline``."""
        return cls(need_baseline(baseline, cls.name), cfg.family)

    @staticmethod
    def make_baseline(cfg: TaskSettings) -> MaskBaselineNN:
        """An untrained mask baseline NN."""
        return MaskBaselineNN(cfg.hidden)

    @staticmethod
    def baseline_pairs(cfg: TaskSettings, split: Split) -> Pairs:
        """The mask baseline's validation ``(x, y)``, with the fixed masks."""
        visible = fixed_masks(len(split), cfg.family).to(split.images.device)  # (N, 784)
        return mask_task_input(split.images, visible), split.images  # (N, 1568), (N, 784)

    @staticmethod
    def baseline_batches(cfg: TaskSettings, split: Split) -> Batches:
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
