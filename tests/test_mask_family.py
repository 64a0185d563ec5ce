"""The mask family of the mask-conditioned CVAE: each kind's statistics, the mixture,
determinism, and masks that are never all visible or all hidden."""

from __future__ import annotations

import pytest
import torch

from cvae_pyro.beyond.any_mask import (
    ensure_mixed,
    half_masks,
    keep_pixels,
    pixel_masks,
    polyline_mask,
    quadrant_masks,
    rectangle_masks,
    sample_kinds,
    sample_masks,
    stroke_masks,
)
from cvae_pyro.beyond.mask_family import IMAGE_SIDE, MASK_KINDS, MaskFamilyConfig
from cvae_pyro.masks import NUM_PIXELS, input_mask

DEFAULT = MaskFamilyConfig()
MANY = 4000  # masks per statistical test


def only(kind: str, **shape) -> MaskFamilyConfig:
    """A config that draws only ``kind``."""
    return MaskFamilyConfig(**{k: float(k == kind) for k in MASK_KINDS}, **shape)


def rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def row_in_table(masks: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """``(n, T)`` bool: mask i equals table row j."""
    return (masks[:, None, :] == table[None]).all(-1)


def is_filled_rectangle(grid: torch.Tensor) -> torch.Tensor:
    """Whether the True pixels of a ``(28, 28)`` grid are exactly their bounding box."""
    rows, cols = grid.any(1).nonzero(), grid.any(0).nonzero()
    if len(rows) == 0:
        return False
    box = torch.zeros_like(grid)
    box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    return bool(torch.equal(box, grid))


HALF_TABLE = torch.zeros(4, IMAGE_SIDE, IMAGE_SIDE, dtype=torch.bool)
HALF_TABLE[0, :14], HALF_TABLE[1, 14:], HALF_TABLE[2, :, :14], HALF_TABLE[3, :, 14:] = (True,) * 4
HALF_TABLE = HALF_TABLE.reshape(4, NUM_PIXELS)
QUADRANT_TABLE = torch.stack([input_mask(q) for q in (1, 2, 3)])


def test_masks_are_bool_rows_never_all_visible_nor_all_hidden():
    masks = sample_masks(MANY, rng(), DEFAULT)
    assert masks.shape == (MANY, NUM_PIXELS) and masks.dtype == torch.bool
    visible = masks.sum(1)
    assert visible.min() > 0 and visible.max() < NUM_PIXELS


@pytest.mark.parametrize("rate, expected_visible", [(1.0, NUM_PIXELS - 1), (0.0, 1)])
def test_full_or_empty_masks_get_one_pixel_flipped(rate, expected_visible):
    cfg = only("pixels", min_keep_rate=rate, max_keep_rate=rate)
    masks = sample_masks(50, rng(), cfg)
    assert masks.sum(1).tolist() == [expected_visible] * 50
    assert masks.any(0).sum() > 1  # the flipped pixel is random, not always the same one


def test_ensure_mixed_leaves_mixed_masks_alone():
    masks = torch.rand(100, NUM_PIXELS, generator=rng()) < 0.5
    assert torch.equal(ensure_mixed(masks, rng(1)), masks)


def test_same_seed_same_masks():
    assert torch.equal(sample_masks(256, rng(7)), sample_masks(256, rng(7)))
    assert not torch.equal(sample_masks(256, rng(7)), sample_masks(256, rng(8)))


def test_kind_proportions_match_the_weights():
    cfg = MaskFamilyConfig(quadrants=1, rectangles=2, halves=3, strokes=4, pixels=0)
    counts = torch.bincount(sample_kinds(20_000, rng(), cfg), minlength=len(MASK_KINDS))
    assert counts.tolist()[-1] == 0
    assert torch.allclose(counts / 20_000, torch.tensor([0.1, 0.2, 0.3, 0.4, 0.0]), atol=0.015)


def test_each_mask_is_drawn_from_its_kind():
    cfg = MaskFamilyConfig(quadrants=1, rectangles=0, halves=1, strokes=0, pixels=2)
    kinds = sample_kinds(MANY, rng(3), cfg)  # the first draw of sample_masks
    masks = sample_masks(MANY, rng(3), cfg)
    in_quadrants = row_in_table(masks, QUADRANT_TABLE).any(1)
    in_halves = row_in_table(masks, HALF_TABLE).any(1)
    assert in_quadrants[kinds == MASK_KINDS.index("quadrants")].all()
    assert in_halves[kinds == MASK_KINDS.index("halves")].all()
    assert not (in_quadrants | in_halves)[kinds == MASK_KINDS.index("pixels")].any()
    # weight 1/4 for quadrants, plus the left half (1/4 of the halves), which is layout 2
    assert in_quadrants.float().mean() == pytest.approx(0.25 + 0.25 / 4, abs=0.03)


def test_quadrant_layouts_are_exact_and_equally_likely():
    hits = row_in_table(quadrant_masks(MANY, rng(), DEFAULT), QUADRANT_TABLE)  # (n, 3)
    assert (hits.sum(1) == 1).all()
    assert torch.allclose(hits.float().mean(0), torch.full((3,), 1 / 3), atol=0.03)


def test_halves_are_exact_halves_equally_likely():
    masks = half_masks(MANY, rng(), DEFAULT)
    assert (masks.sum(1) == NUM_PIXELS // 2).all()
    hits = row_in_table(masks, HALF_TABLE)  # (n, 4): top, bottom, left, right
    assert (hits.sum(1) == 1).all()
    assert torch.allclose(hits.float().mean(0), torch.full((4,), 0.25), atol=0.03)


def test_rectangles_have_sides_in_range_and_are_kept_or_hidden():
    cfg = MaskFamilyConfig(rectangle_min_side=4, rectangle_max_side=20, rectangle_keep_prob=0.5)
    masks = rectangle_masks(MANY, rng(), cfg).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    kept, heights, widths = [], [], []
    for mask in masks:
        keep = is_filled_rectangle(mask)
        assert keep != is_filled_rectangle(~mask)  # exactly one side is the rectangle
        rectangle = mask if keep else ~mask
        kept.append(keep)
        heights.append(int(rectangle.any(1).sum()))
        widths.append(int(rectangle.any(0).sum()))
    sides = torch.tensor(heights + widths)
    assert sides.min() == 4 and sides.max() == 20  # every bound is reached, none passed
    assert sides.float().mean() == pytest.approx(12, abs=0.2)  # uniform on 4..20
    area = torch.tensor(heights) * torch.tensor(widths)
    assert 16 <= area.min() and area.max() <= 400
    assert area.float().mean() == pytest.approx(144, abs=4)  # E[h] E[w] = 12 * 12
    assert torch.tensor(kept).float().mean() == pytest.approx(0.5, abs=0.03)


def test_polyline_paints_a_capsule():
    vertices = torch.tensor([[[[10.0, 2.0], [10.0, 20.0]]]])  # (1, 1, 2, 2): row 10, cols 2..20
    painted = polyline_mask(vertices, torch.tensor([[3.0]])).reshape(IMAGE_SIDE, IMAGE_SIDE)
    expected = torch.zeros(IMAGE_SIDE, IMAGE_SIDE, dtype=torch.bool)
    expected[9:12, 1:22] = True  # within 1.5 px: rows 9-11, round ends reach cols 1 and 21
    assert torch.equal(painted, expected)
    assert not polyline_mask(vertices, torch.tensor([[0.0]])).any()  # width 0: no stroke


def test_polyline_includes_pixels_exactly_half_a_width_away():
    vertices = torch.tensor([[[[10.0, 2.0], [10.0, 20.0]]]])
    painted = polyline_mask(vertices, torch.tensor([[2.0]])).reshape(IMAGE_SIDE, IMAGE_SIDE)
    expected = torch.zeros(IMAGE_SIDE, IMAGE_SIDE, dtype=torch.bool)
    expected[9:12, 2:21] = True  # rows 9 and 11 are exactly 1 px away
    expected[10, 1], expected[10, 21] = True, True  # so are the ends' neighbours
    assert torch.equal(painted, expected)


def test_polyline_turns_corners():
    vertices = torch.tensor([[[[2.0, 2.0], [2.0, 10.0], [12.0, 10.0]]]])  # right, then down
    painted = polyline_mask(vertices, torch.tensor([[1.0]])).reshape(IMAGE_SIDE, IMAGE_SIDE)
    expected = torch.zeros(IMAGE_SIDE, IMAGE_SIDE, dtype=torch.bool)
    expected[2, 2:11], expected[2:13, 10] = True, True
    assert torch.equal(painted, expected)


def test_strokes_hide_a_plausible_area():
    one = only(
        "strokes", max_strokes=1, stroke_vertices=2, stroke_min_step=10.0, stroke_max_width=2.0
    )  # the default longest step is 10 px and the thinnest brush 2 px
    hidden = (~stroke_masks(MANY, rng(), one)).sum(1).float()  # one 10-px segment, 2 px wide
    assert hidden.min() >= 1
    # a capsule of 10 x 2 px plus round ends is about 23 pixels (less where it meets the border)
    assert 18 <= hidden.median() <= 28
    hidden_default = (~stroke_masks(MANY, rng(), DEFAULT)).float().mean(1)
    assert 0.05 < hidden_default.mean() < 0.3 and hidden_default.max() < 0.8


def test_stroke_count_is_uniform_up_to_the_maximum():
    one = (~stroke_masks(MANY, rng(), only("strokes", max_strokes=1))).float().mean()
    up_to_three = (~stroke_masks(MANY, rng(), only("strokes", max_strokes=3))).float().mean()
    # 2 strokes on average hide about twice one stroke's area (a little less: they overlap);
    # always 3 strokes would hide about 2.8 times as much
    assert 1.7 < up_to_three / one < 2.1


def test_kept_pixels_match_the_drawn_rate():
    rate = torch.linspace(0.1, 0.9, MANY)[:, None]  # (n, 1)
    kept = keep_pixels(rate, rng()).float().mean(1)  # (n,)
    sigma = (rate[:, 0] * (1 - rate[:, 0]) / NUM_PIXELS).sqrt()
    assert ((kept - rate[:, 0]).abs() < 5 * sigma).all()
    assert kept.mean() == pytest.approx(0.5, abs=0.002)


def test_pixel_keep_rates_spread_over_the_range():
    kept = pixel_masks(MANY, rng(), DEFAULT).float().mean(1)  # about uniform on [0.1, 0.9]
    assert 0.05 < kept.min() < 0.13 and 0.87 < kept.max() < 0.95
    assert kept.mean() == pytest.approx(0.5, abs=0.015)
    assert (kept < 0.3).float().mean() == pytest.approx(0.25, abs=0.03)


@pytest.mark.parametrize(
    "bad",
    [
        {"halves": -1.0},
        dict.fromkeys(MASK_KINDS, 0.0),
        {"min_keep_rate": 0.8, "max_keep_rate": 0.2},
        {"rectangle_max_side": IMAGE_SIDE},
        {"stroke_vertices": 1},
    ],
)
def test_bad_family_settings_are_value_errors(bad):
    with pytest.raises(ValueError):
        MaskFamilyConfig(**bad)
