"""A user's picture becomes an MNIST-like digit; masks from an image or from --hide rectangles."""

from __future__ import annotations

import struct
import warnings
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cvae_pyro.beyond.pictures import (
    DIGIT_BOX,
    MASS_CENTRE,
    MAX_PICTURE_PIXELS,
    hide_mask,
    parse_rectangle,
    picture_to_digit,
    read_mask,
)
from cvae_pyro.cli.config import IMAGE_SIDE
from cvae_pyro.data import DataError
from cvae_pyro.masks import NUM_PIXELS

COORDS = torch.arange(IMAGE_SIDE, dtype=torch.float32)


def draw_seven(ink="black", paper="white", mode="RGB", size=(400, 300)) -> Image.Image:
    """A large 7, 100 px wide and 238 px tall, in the top-left part of a big picture."""
    image = Image.new(mode, size, paper)
    ImageDraw.Draw(image).line([(40, 30), (140, 30), (70, 250)], fill=ink, width=18)
    return image


def centre_of_mass(digit: torch.Tensor) -> tuple[float, float]:
    grid = digit.reshape(IMAGE_SIDE, IMAGE_SIDE)
    mass = grid.sum()
    return float((grid.sum(1) * COORDS).sum() / mass), float((grid.sum(0) * COORDS).sum() / mass)


def ink_box(digit: torch.Tensor) -> tuple[int, int]:
    """Height and width of the bounding box of the non-zero pixels."""
    grid = digit.reshape(IMAGE_SIDE, IMAGE_SIDE) > 0
    rows, cols = grid.any(1).nonzero(), grid.any(0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_drawn_digit_is_centred_scaled_and_light_on_dark():
    digit = picture_to_digit(draw_seven())
    assert digit.shape == (NUM_PIXELS,) and digit.dtype == torch.float32
    grid = digit.reshape(IMAGE_SIDE, IMAGE_SIDE)
    assert grid[0].max() == 0 and grid[:, 0].max() == 0 and grid[-1].max() == 0  # dark field
    assert digit.max() == 1.0 and (digit > 0.5).sum() > 40  # light ink
    height, width = ink_box(digit)
    assert height == DIGIT_BOX  # the longer side, 238 px tall in the picture
    assert width == pytest.approx(DIGIT_BOX * 118 / 256, abs=1.5)  # aspect ratio kept
    row, col = centre_of_mass(digit)
    assert abs(row - MASS_CENTRE) <= 0.5 and abs(col - MASS_CENTRE) <= 0.5


def test_wide_picture_is_twenty_pixels_wide():
    image = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(image).rectangle([(200, 250), (290, 270)], fill=0)  # a dash, 91 x 21 px
    height, width = ink_box(picture_to_digit(image))
    assert (height, width) == (round(DIGIT_BOX * 21 / 91), DIGIT_BOX)


def test_mnist_centre_of_mass_is_where_mnist_puts_it(mnist):
    images = mnist.test.images[:2000]
    rows, cols = zip(*(centre_of_mass(image) for image in images), strict=True)
    assert np.mean(rows) == pytest.approx(MASS_CENTRE, abs=0.05)
    assert np.mean(cols) == pytest.approx(MASS_CENTRE, abs=0.05)


def test_large_print_of_an_mnist_digit_comes_back_close(mnist):
    differences = []
    for image in mnist.test.images[:50]:
        dark_on_white = ((1 - image.reshape(IMAGE_SIDE, IMAGE_SIDE)) * 255).to(torch.uint8)
        print_ = Image.fromarray(dark_on_white.numpy()).resize((280, 280), Image.Resampling.BICUBIC)
        differences.append((picture_to_digit(print_) - image).abs().mean().item())
    assert np.mean(differences) < 0.04  # MNIST's mean grey level is 0.13


@pytest.mark.parametrize(
    "ink, paper, mode",
    [
        ("white", "black", "RGB"),  # light on dark: not inverted
        ((0, 0, 0, 255), (0, 0, 0, 0), "RGBA"),  # dark ink on a transparent background
        ((255, 255, 255, 255), (255, 255, 255, 0), "RGBA"),  # light ink on transparent
        ((20, 20, 20), (90, 90, 90), "RGB"),  # low-contrast ink: stretched to 0..1
        ((60, 60, 60), (200, 200, 200), "RGB"),  # grey paper, as in a photograph
    ],
)
def test_other_inks_and_papers_read_the_same(ink, paper, mode):
    digit = picture_to_digit(draw_seven(ink=ink, paper=paper, mode=mode))
    assert (digit - picture_to_digit(draw_seven())).abs().max() < 1e-6


def in_mode(image: Image.Image, mode: str) -> Image.Image:
    """``image`` in Pillow mode ``mode``; the grey modes beyond 8 bits on their full scale."""
    grey = np.asarray(image.convert("L"))  # (H, W) 0..255
    if mode == "I;16":
        return Image.fromarray(grey.astype(np.uint16) * 257)  # 0..65535
    if mode == "I":
        return Image.fromarray(grey.astype(np.int32) * 257)  # 0..65535 in 32 bits
    if mode == "F":
        return Image.fromarray(grey.astype(np.float32) / 255)  # 0..1
    return image.convert(mode)


@pytest.mark.parametrize("mode", ["L", "1", "P", "LA", "CMYK", "I", "I;16", "F"])
def test_every_image_mode_reads_the_same(mode):
    reference = picture_to_digit(draw_seven())
    image = in_mode(draw_seven(), mode)
    assert image.mode == mode
    assert (picture_to_digit(image) - reference).abs().max() < 1e-6


@pytest.mark.parametrize("suffix, tolerance", [(".png", 1e-6), (".jpg", 0.03)])
def test_files_read_like_the_image(tmp_path, suffix, tolerance):
    path = tmp_path / f"seven{suffix}"
    draw_seven().save(path)
    difference = (picture_to_digit(path) - picture_to_digit(draw_seven())).abs()
    assert difference.mean() < tolerance


def one_line_error(error, match, call, *args):
    with pytest.raises(error, match=match) as caught:
        call(*args)
    assert "\n" not in str(caught.value)


def test_missing_and_unreadable_pictures(tmp_path):
    one_line_error(
        DataError, "picture .*nope.png does not exist", picture_to_digit, tmp_path / "nope.png"
    )
    one_line_error(DataError, f"picture {tmp_path} is not a file", picture_to_digit, tmp_path)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    one_line_error(DataError, "cannot read picture .*notes.png", picture_to_digit, text)
    truncated = tmp_path / "truncated.png"
    draw_seven().save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    one_line_error(DataError, "cannot read picture .*truncated.png", picture_to_digit, truncated)


@pytest.mark.parametrize("grey", [0, 128, 255])
def test_blank_picture_is_an_error(tmp_path, grey):
    path = tmp_path / "blank.png"
    Image.new("L", (50, 40), grey).save(path)
    one_line_error(DataError, "picture .*blank.png is blank", picture_to_digit, path)
    faint = Image.new("L", (50, 40), 200)
    ImageDraw.Draw(faint).line([(10, 10), (40, 30)], fill=190, width=3)  # 4% contrast
    one_line_error(DataError, "blank", picture_to_digit, faint)


def test_mask_image_white_is_visible(tmp_path):
    image = Image.new("L", (IMAGE_SIDE, IMAGE_SIDE), 0)
    ImageDraw.Draw(image).rectangle([(0, 0), (13, 27)], fill=255)  # white left half
    path = tmp_path / "left.png"
    image.convert("RGB").save(path)
    visible = read_mask(path)
    assert visible.shape == (NUM_PIXELS,) and visible.dtype == torch.bool
    grid = visible.reshape(IMAGE_SIDE, IMAGE_SIDE)
    assert grid[:, :14].all() and not grid[:, 14:].any()


@pytest.mark.parametrize("size", [(30, 28), (28, 27), (280, 280)])
def test_mask_of_the_wrong_size(tmp_path, size):
    path = tmp_path / "mask.png"
    Image.new("L", size, 255).save(path)
    width, height = size
    match = f"mask .*mask.png is {width}x{height} pixels; a mask must be 28x28"
    one_line_error(DataError, match, read_mask, path)


def test_mask_that_hides_nothing_or_everything(tmp_path):
    for grey, problem in ((255, "hides no pixel"), (0, "hides every pixel")):
        path = tmp_path / f"{grey}.png"
        Image.new("L", (IMAGE_SIDE, IMAGE_SIDE), grey).save(path)
        one_line_error(DataError, problem, read_mask, path)
    one_line_error(DataError, "mask .*gone.png does not exist", read_mask, tmp_path / "gone.png")


def test_hide_rectangles():
    assert parse_rectangle("14,0,28,28") == (14, 0, 28, 28)
    grid = hide_mask("14,0,28,28").reshape(IMAGE_SIDE, IMAGE_SIDE)
    assert grid[:, :14].all() and not grid[:, 14:].any()  # x is the column
    grid = hide_mask(["0,0,5,3", " 20, 25, 22, 28"]).reshape(IMAGE_SIDE, IMAGE_SIDE)
    assert not grid[:3, :5].any() and not grid[25:, 20:22].any()
    assert grid.sum() == NUM_PIXELS - 15 - 6  # x1 and y1 are excluded


@pytest.mark.parametrize(
    "spec, problem",
    [
        ("1,2,3", "four integers"),
        ("a,b,c,d", "four integers"),
        ("5,0,3,28", "0 <= x0 < x1 <= 28"),
        ("0,0,29,28", "0 <= x0 < x1 <= 28"),
        ("0,-1,4,4", "0 <= y0 < y1 <= 28"),
        ("0,0,28,28", "hides every pixel"),
    ],
)
def test_bad_hide_rectangles(spec, problem):
    one_line_error(DataError, problem, hide_mask, [spec])


def header_only_png(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and holds none (no image data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_float_tiffs_with_pixels_that_are_not_numbers(value, tmp_path):
    levels = np.zeros((40, 30), dtype=np.float32)
    levels[10:30, 12:18] = 1.0  # a stroke of ink
    levels[0, 0] = value
    path = tmp_path / "float.tiff"
    Image.fromarray(levels).save(path)  # mode "F": 32-bit float grey
    with pytest.raises(DataError, match="float.tiff has pixels that are not numbers") as err:
        picture_to_digit(path)
    assert "\n" not in str(err.value)
    mask = np.full((28, 28), 1.0, dtype=np.float32)
    mask[:, :14], mask[3, 3] = 0.0, value
    Image.fromarray(mask).save(tmp_path / "mask.tiff")
    with pytest.raises(DataError, match="mask .*mask.tiff has pixels that are not numbers"):
        read_mask(tmp_path / "mask.tiff")


@pytest.mark.parametrize("side", [13_000, 9_000])
def test_huge_pictures_are_refused_from_their_header(side, tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(header_only_png(side, side))
    assert side * side > MAX_PICTURE_PIXELS
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DataError, match=f"huge.png is {side}x{side} pixels, more than"):
            picture_to_digit(path)
        with pytest.raises(DataError, match=f"{side}x{side} pixels"):
            read_mask(path)
    assert not caught  # Pillow's two-line DecompressionBombWarning is not printed


def mask_files(folder, levels: np.ndarray) -> dict[str, object]:
    """The mask of grey ``levels`` in [0, 1] saved in four formats of other bit depths."""
    files = {
        "8-bit PNG": (Image.fromarray(np.round(levels * 255).astype(np.uint8)), "png"),
        "16-bit PNG": (Image.fromarray(np.round(levels * 65535).astype(np.uint16)), "png"),
        "32-bit integer TIFF": (Image.fromarray(np.round(levels * 65535).astype(np.int32)), "tiff"),
        "float TIFF": (Image.fromarray(levels.astype(np.float32)), "tiff"),
    }
    paths = {}
    for name, (image, suffix) in files.items():
        paths[name] = folder / f"{name.replace(' ', '_')}.{suffix}"
        image.save(paths[name])
    return paths


def test_a_mask_reads_the_same_at_every_bit_depth(tmp_path):
    """Grey below half of the full scale is hidden, above it visible, whatever the depth:
    a mask without any white pixel is not stretched to white."""
    levels = np.zeros((IMAGE_SIDE, IMAGE_SIDE))
    levels[:, :10] = 0.6  # grey above half: visible
    levels[:, 10:20] = 0.45  # grey below half: hidden (0.75 of the brightest pixel)
    expected = torch.zeros(IMAGE_SIDE, IMAGE_SIDE, dtype=torch.bool)
    expected[:, :10] = True
    for name, path in mask_files(tmp_path, levels).items():
        with Image.open(path) as image:
            assert image.mode != "L" or name == "8-bit PNG", name  # other depths were kept
        assert torch.equal(read_mask(path).reshape(IMAGE_SIDE, IMAGE_SIDE), expected), name


def test_levels_beyond_the_full_scale_are_refused(tmp_path):
    levels = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)
    levels[:, :14] = 255.0  # a float picture on the 0..255 scale
    Image.fromarray(levels).save(tmp_path / "mask.tiff")
    with pytest.raises(DataError, match="mask.tiff has grey levels outside") as err:
        read_mask(tmp_path / "mask.tiff")
    assert "\n" not in str(err.value)
    big = np.zeros((40, 30), dtype=np.int32)
    big[10:30, 12:18] = 70_000  # more than 16 bits
    Image.fromarray(big).save(tmp_path / "big.tiff")
    with pytest.raises(DataError, match="big.tiff has grey levels outside"):
        picture_to_digit(tmp_path / "big.tiff")


def test_a_picture_past_pillows_own_limit_is_one_plain_line(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(header_only_png(20_000, 20_000))  # Pillow refuses it when opening
    for read in (picture_to_digit, read_mask):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(DataError) as err:
                read(path)
        text = str(err.value)
        assert f"bomb.png is more than the {MAX_PICTURE_PIXELS // 10**6} megapixels" in text
        assert "DOS" not in text and "decompression" not in text.lower() and "\n" not in text
        assert not caught
