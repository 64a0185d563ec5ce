import pytest
import torch

from cvae_pyro.cli.config import IMAGE_SIDE
from cvae_pyro.masks import (
    NUM_PIXELS,
    input_dim,
    input_mask,
    merge_xy,
    output_dim,
    output_mask,
    split_xy,
)


def grid(quadrants):
    return input_mask(quadrants).reshape(IMAGE_SIDE, IMAGE_SIDE)


def test_one_quadrant_is_bottom_left():
    g = grid(1)
    assert g[14:, :14].all()
    assert not g[:14, :].any() and not g[14:, 14:].any()
    assert g.sum() == 196


def test_two_quadrants_are_left_half():
    g = grid(2)
    assert g[:, :14].all() and not g[:, 14:].any()


def test_three_quadrants_are_top_half_and_bottom_left():
    g = grid(3)
    assert g[:14, :].all() and g[14:, :14].all() and not g[14:, 14:].any()


def test_pixel_indices_are_row_major():
    # pixel (row 14, col 0) is flat index 14 * 28 = 392: first input pixel for 1 quadrant
    assert torch.nonzero(input_mask(1))[0].item() == 14 * 28
    assert output_mask(3).nonzero().flatten()[0].item() == 14 * 28 + 14


@pytest.mark.parametrize("q, n_x", [(1, 196), (2, 392), (3, 588)])
def test_dims_and_round_trip(q, n_x):
    images = torch.rand(5, NUM_PIXELS)
    x, y = split_xy(images, q)
    assert x.shape == (5, n_x) and y.shape == (5, NUM_PIXELS - n_x)
    assert input_dim(q) == n_x and output_dim(q) == NUM_PIXELS - n_x
    assert torch.equal(merge_xy(x, y, q), images)


def test_merge_broadcasts_over_samples():
    x, y = split_xy(torch.rand(4, NUM_PIXELS), 2)
    samples = torch.rand(3, 4, y.shape[-1])
    merged = merge_xy(x, samples, 2)
    assert merged.shape == (3, 4, NUM_PIXELS)
    assert torch.equal(merged[1][:, input_mask(2)], x)


@pytest.mark.parametrize("bad", [0, 4, -1, "two", 2.0, True, None])
def test_invalid_quadrant_counts_raise(bad):
    with pytest.raises(ValueError, match="1, 2 or 3"):
        input_mask(bad)
