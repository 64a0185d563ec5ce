"""Quadrant masks: which pixels of a 28x28 digit are the input x and which the output y.

The layout is that of Pyro's CVAE tutorial, so that figures and numbers compare with it:

============  ===========================  ==================================
quadrants     input x                      output y
============  ===========================  ==================================
1             bottom-left                  top-left, top-right, bottom-right
2             left half                    right half
3             top half and bottom-left     bottom-right
============  ===========================  ==================================

Everything here is a pure function of tensors. Images are flat ``(B, 784)``
tensors in row-major order, as stored by :mod:`cvae_pyro.data`.
"""

from __future__ import annotations

import torch

IMAGE_SIDE = 28  #: pixels per image side
VALID_QUADRANTS = (1, 2, 3)  #: how many quadrants the model may be given
QUADRANT_SIDE = IMAGE_SIDE // 2  #: pixels per quadrant side
NUM_PIXELS = IMAGE_SIDE * IMAGE_SIDE  #: pixels per image (784)
QUADRANT_PIXELS = QUADRANT_SIDE * QUADRANT_SIDE  #: pixels per quadrant (196)

# (row, column) of each quadrant, in units of quadrants.
TOP_LEFT, TOP_RIGHT, BOTTOM_LEFT, BOTTOM_RIGHT = (0, 0), (0, 1), (1, 0), (1, 1)

#: Quadrants given as input x, by number of quadrants given.
INPUT_QUADRANTS = {
    1: (BOTTOM_LEFT,),
    2: (TOP_LEFT, BOTTOM_LEFT),
    3: (TOP_LEFT, TOP_RIGHT, BOTTOM_LEFT),
}


def input_mask(quadrants: int) -> torch.Tensor:
    """Boolean mask of the input pixels x.

    Args:
        quadrants: number of quadrants given (1, 2 or 3).

    Returns:
        ``(784,)`` bool tensor, True where the pixel belongs to the input x.
    """
    check_quadrants(quadrants)
    grid = torch.zeros(IMAGE_SIDE, IMAGE_SIDE, dtype=torch.bool)  # (28, 28)
    for row, col in INPUT_QUADRANTS[quadrants]:
        rows = slice(row * QUADRANT_SIDE, (row + 1) * QUADRANT_SIDE)
        cols = slice(col * QUADRANT_SIDE, (col + 1) * QUADRANT_SIDE)
        grid[rows, cols] = True
    return grid.reshape(NUM_PIXELS)  # (784,)


def output_mask(quadrants: int) -> torch.Tensor:
    """Boolean mask of the output pixels y: the complement of :func:`input_mask`."""
    return ~input_mask(quadrants)  # (784,)


def input_dim(quadrants: int) -> int:
    """Number of input pixels for ``quadrants`` given quadrants (196, 392 or 588)."""
    return check_quadrants(quadrants) * QUADRANT_PIXELS


def output_dim(quadrants: int) -> int:
    """Number of output pixels for ``quadrants`` given quadrants (588, 392 or 196)."""
    return NUM_PIXELS - input_dim(quadrants)


def split_xy(images: torch.Tensor, quadrants: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut flat images into input and output pixels.

    Args:
        images: ``(B, 784)`` images.
        quadrants: number of quadrants given.

    Returns:
        ``x`` of shape ``(B, input_dim)`` and ``y`` of shape ``(B, output_dim)``,
        each in row-major pixel order.
    """
    mask = input_mask(quadrants).to(images.device)
    return images[:, mask], images[:, ~mask]  # (B, n_x), (B, n_y)


def merge_xy(x: torch.Tensor, y: torch.Tensor, quadrants: int) -> torch.Tensor:
    """Inverse of :func:`split_xy`: put input and output pixels back into flat images.

    Args:
        x: ``(..., input_dim)`` input pixels.
        y: ``(..., output_dim)`` output pixels (data, probabilities or samples).
        quadrants: number of quadrants given.

    Returns:
        ``(..., 784)`` images.
    """
    mask = input_mask(quadrants).to(x.device)
    batch_shape = torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    images = x.new_zeros(*batch_shape, NUM_PIXELS)  # (..., 784)
    images[..., mask] = x.expand(*batch_shape, -1)
    images[..., ~mask] = y.expand(*batch_shape, -1).to(x.dtype)
    return images


MASK_INPUT_DIM = 2 * NUM_PIXELS  #: the mask task's input: visible pixels and the mask (1568)


def mask_task_input(images: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """The mask task's input ``[images * visible, visible]``.

    Args:
        images: ``(B, 784)`` images.
        visible: ``(B, 784)`` or ``(784,)`` bool, True where a pixel is visible.

    Returns:
        ``(B, 1568)``: the visible pixels (hidden ones 0), then the mask as 0/1.
    """
    keep = visible.to(images.dtype).expand_as(images)  # (B, 784)
    return torch.cat([images * keep, keep], dim=-1)  # (B, 1568)


def hidden_pixels(x: torch.Tensor) -> torch.Tensor:
    """``(B, 784)`` bool, True where a pixel is hidden, from a mask-task input ``(B, >=1568)``."""
    return x[..., NUM_PIXELS:MASK_INPUT_DIM] < 0.5  # (B, 784)


def check_quadrants(quadrants: object) -> int:
    """``quadrants`` if it is 1, 2 or 3 (the number of quadrants given); else ValueError."""
    if (
        not isinstance(quadrants, int)
        or isinstance(quadrants, bool)
        or quadrants not in VALID_QUADRANTS
    ):
        raise ValueError(
            f"quadrants must be 1, 2 or 3 (the number of quadrants given), got {quadrants!r}"
        )
    return quadrants
