"""The family of random masks the mask CVAE is trained on: its kinds, weights and shapes.

:class:`MaskFamilyConfig` holds the parameters that :mod:`cvae_pyro.beyond.any_mask` draws
masks with. This module needs no torch, so that the command line can check
``--mask-weights`` before torch loads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

IMAGE_SIDE = 28  #: pixels per image side (as in cvae_pyro.masks)
MASK_KINDS = ("quadrants", "rectangles", "halves", "strokes", "pixels")
LONGEST_SIDE = IMAGE_SIDE - 1  #: longest rectangle side, so that a rectangle never fills the image


@dataclass(frozen=True)
class MaskFamilyConfig:
    """Mixture weights and shape parameters of the mask family (see the module docstring)."""

    quadrants: float = 1.0  # weight of the three quadrant layouts
    rectangles: float = 1.0  # weight of a hidden (or kept) random rectangle
    halves: float = 1.0  # weight of a random visible half
    strokes: float = 1.0  # weight of random brush strokes hidden
    pixels: float = 1.0  # weight of independently kept pixels
    rectangle_min_side: int = 4  # shortest rectangle side, pixels
    rectangle_max_side: int = 20  # longest rectangle side, pixels (at most 27)
    rectangle_keep_prob: float = 0.5  # chance that the rectangle is visible, the rest hidden
    max_strokes: int = 3  # strokes per mask, uniform on 1..max_strokes
    stroke_vertices: int = 4  # points per stroke polyline (segments + 1)
    stroke_min_step: float = 3.0  # shortest segment of a stroke, pixels
    stroke_max_step: float = 10.0  # longest segment of a stroke, pixels
    stroke_min_width: float = 2.0  # thinnest brush, pixels
    stroke_max_width: float = 5.0  # thickest brush, pixels
    min_keep_rate: float = 0.1  # lowest fraction of pixels kept by the pixels kind
    max_keep_rate: float = 0.9  # highest fraction of pixels kept by the pixels kind

    def __post_init__(self) -> None:
        weights = self.weights()
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise ValueError(f"mask weights must be >= 0 with a positive sum, got {weights}")
        _check_range(
            "rectangle side", self.rectangle_min_side, self.rectangle_max_side, 1, LONGEST_SIDE
        )
        _check_range("stroke step", self.stroke_min_step, self.stroke_max_step, 0, IMAGE_SIDE)
        _check_range("stroke width", self.stroke_min_width, self.stroke_max_width, 1, IMAGE_SIDE)
        _check_range("keep rate", self.min_keep_rate, self.max_keep_rate, 0, 1)
        if not 0 <= self.rectangle_keep_prob <= 1:
            raise ValueError(
                f"rectangle_keep_prob must be in [0, 1], got {self.rectangle_keep_prob}"
            )
        if self.max_strokes < 1 or self.stroke_vertices < 2:
            raise ValueError("max_strokes must be >= 1 and stroke_vertices >= 2")

    def weights(self) -> tuple[float, ...]:
        """The mixture weights, in the order of :data:`MASK_KINDS`."""
        return tuple(float(getattr(self, kind)) for kind in MASK_KINDS)


def _check_range(what: str, low: float, high: float, lowest: float, highest: float) -> None:
    if not lowest <= low <= high <= highest:
        raise ValueError(f"{what}: need {lowest} <= {low} <= {high} <= {highest}")


def mask_family(weights: tuple[float, ...]) -> MaskFamilyConfig:
    """The mask family with mixture ``weights`` in the order of :data:`MASK_KINDS`."""
    if len(weights) != len(MASK_KINDS):
        raise ValueError(
            f"mask_weights needs {len(MASK_KINDS)} weights ({', '.join(MASK_KINDS)}), "
            f"got {len(weights)}"
        )
    return MaskFamilyConfig(**dict(zip(MASK_KINDS, map(float, weights), strict=True)))
