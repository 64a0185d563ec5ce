"""A user's own picture as an MNIST-like digit, and the region to keep as an image or rectangles.

MNIST's digits were made (LeCun et al., 1998) by scaling each NIST digit, with
anti-aliasing, so that it fits a 20x20 box keeping its aspect ratio, then placing
it in a 28x28 field with its centre of mass at the centre. :func:`picture_to_digit`
does the same to any picture Pillow opens (PNG, JPEG, ... of any size and mode):

1. grey levels in [0, 1]; transparent parts count as background;
2. inverted when the ink is darker than the background (the median of the
   border pixels), as on light paper, so that ink is light on dark as in MNIST;
   the background level becomes 0 and the strongest ink 1;
3. cropped to the bounding box of the ink (pixels above :data:`INK_THRESHOLD`);
4. scaled so that the longer side is 20 pixels, keeping the aspect ratio;
5. pasted into a 28x28 field, shifted by whole pixels so that the centre of mass
   lies within half a pixel of :data:`MASS_CENTRE` (as far as the field allows).

Grey levels are read on the full scale of the picture's format, whatever its bit
depth: 0..255 for 8 bits, 0..65535 for 16-bit (and 32-bit integer) grey, 0..1 for
float grey. Masks are ``(784,)`` bool tensors, True where a pixel is visible: grey at
least half of the full scale (:data:`MASK_WHITE`), the same rule for every format.
A picture given as a tensor must be ``(784,)`` grey levels in [0, 1] (:func:`check_picture`).
Problems raise :class:`~cvae_pyro.data.DataError` (a file, or a region's description)
with one line that names the problem.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from ..data import DataError
from ..masks import IMAGE_SIDE, NUM_PIXELS

DIGIT_BOX = 20  #: pixels on the longer side of a digit, as in MNIST
#: Where MNIST puts a digit's centre of mass, in pixel indices 0..27 of both axes
#: (the test set's mean is 13.99 for rows and 14.01 for columns, sd 0.29).
MASS_CENTRE = 14.0
INK_THRESHOLD = 0.3  #: ink level (background 0, strongest ink 1) counted in the bounding box
MIN_CONTRAST = 0.1  #: least difference between ink and background; less is a blank picture
MASK_WHITE = 0.5  #: grey level (of the full scale) from which a mask pixel is white (visible)
LIGHT = 0.5  #: grey level from which a drawing counts as light (for transparent pictures)
#: Full scale of the grey modes beyond 8 bits: Pillow reads 16-bit PNG and TIFF grey as
#: "I;16" (or "I"), float TIFFs as "F" (0 black, 1 white).
FULL_SCALE = {"I": 65535, "I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I;16N": 65535, "F": 1.0}
#: Most pixels a picture may have (50 megapixels, 8660x5770: more than a phone camera's
#: photo, about 12). Checked from the file's header before anything is decoded, since a
#: picture of this size already takes about 2 GB on its way to 28x28.
MAX_PICTURE_PIXELS = 50_000_000


def open_picture(path: str | os.PathLike, what: str = "picture") -> Image.Image:
    """Read an image file with Pillow, upright (EXIF orientation applied).

    Args:
        path: a PNG, JPEG or other file that Pillow reads.
        what: how messages name the file ("picture", "mask").

    Raises:
        DataError: the file is missing or is not an image Pillow can read.
    """
    path = Path(path)
    if not path.is_file():
        problem = "is not a file" if path.exists() else "does not exist"
        raise DataError(f"{what} {path} {problem}")
    try:
        with warnings.catch_warnings():  # Pillow's own bomb warning: refused below instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:  # reads the header only
                check_picture_size(image, f"{what} {path}")
                return ImageOps.exif_transpose(image)  # a loaded copy
    except Image.DecompressionBombError:  # Pillow refuses it while opening: past twice its limit
        raise DataError(picture_too_big(f"{what} {path}")) from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0]
        raise DataError(f"cannot read {what} {path}: {reason}; give a PNG or JPEG image") from None


def check_picture_size(image: Image.Image, name: str) -> None:
    """Raise :class:`DataError` if ``image`` has more than :data:`MAX_PICTURE_PIXELS` pixels.

    Pillow's ``open`` reads only the header, so this runs before any pixel is decoded.
    """
    width, height = image.size
    if width * height > MAX_PICTURE_PIXELS:
        raise DataError(picture_too_big(name, f"{width}x{height} pixels, "))


def picture_too_big(name: str, size: str = "") -> str:
    """The message for a picture over the limit; ``size`` is e.g. "9000x9000 pixels, "."""
    return (
        f"{name} is {size}more than the {MAX_PICTURE_PIXELS // 10**6} megapixels cvae_pyro "
        "reads; scale it down (28x28 is what the model sees)"
    )


def grey_levels(image: Image.Image) -> np.ndarray:
    """``(H, W)`` float grey levels in [0, 1] (0 black, 1 white) of a Pillow image.

    Transparent pixels are laid on a backdrop that contrasts with the opaque ones
    (white behind dark drawing, black behind light drawing), so they read as background.
    """
    if image.mode in FULL_SCALE:  # 16-bit, 32-bit or float grey: on its own full scale
        return np.asarray(image, dtype=np.float64) / FULL_SCALE[image.mode]  # see check_levels
    rgba = image.convert("RGBA")
    grey = np.asarray(rgba.convert("L"), dtype=np.float64) / 255  # (H, W)
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.float64) / 255  # (H, W)
    if alpha.min() == 1.0:
        return grey
    opaque = (grey * alpha).sum() / max(alpha.sum(), 1e-12)  # mean grey of the drawing
    backdrop = 1.0 if opaque < LIGHT else 0.0
    return alpha * grey + (1 - alpha) * backdrop


def picture_to_digit(picture: Image.Image | str | os.PathLike) -> torch.Tensor:
    """Turn a picture into a digit the way MNIST was made (see the module docstring).

    Args:
        picture: a Pillow image, or the path of an image file.

    Returns:
        ``(784,)`` float32 in [0, 1], light ink on a dark (0) background, row-major.

    Raises:
        DataError: the file is missing or unreadable, or the picture has no ink.
    """
    name = "the picture"
    if not isinstance(picture, Image.Image):
        name, picture = f"picture {picture}", open_picture(picture)
    ink = ink_levels(grey_levels(picture), name)  # (H, W)
    rows, cols = np.nonzero(ink > INK_THRESHOLD)
    cropped = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]  # (h, w)
    return torch.from_numpy(centre_by_mass(scale_to_box(cropped, DIGIT_BOX)))  # (784,)


def check_picture(picture: object) -> torch.Tensor:
    """``picture`` as ``(784,)`` if it is 784 grey levels in [0, 1]; DataError otherwise."""
    tensor = isinstance(picture, torch.Tensor)
    if not (tensor and picture.is_floating_point() and picture.numel() == NUM_PIXELS) or not (
        0 <= picture.min() <= picture.max() <= 1
    ):
        got = type(picture).__name__
        if tensor:
            got = f"{tuple(picture.shape)} {picture.dtype}"
            got += f" in [{picture.min():.4g}, {picture.max():.4g}]" if picture.numel() else ""
        raise DataError(
            f"a picture must be {NUM_PIXELS} grey levels in [0, 1] (floats: 0..255 divided "
            f"by 255); got {got}"
        )
    return picture.reshape(NUM_PIXELS)


def ink_levels(grey: np.ndarray, name: str = "the picture") -> np.ndarray:
    """``(H, W)`` ink in [0, 1] from grey levels: background 0, strongest ink 1.

    The background is the median of the border pixels. The ink is what departs
    furthest from it: darker (then the picture is inverted, the usual dark drawing
    on light paper) or lighter.

    Raises:
        DataError: the levels are not numbers in [0, 1] (:func:`check_levels`), or the
            ink differs from the background by less than :data:`MIN_CONTRAST`.
    """
    check_levels(grey, name)
    border = np.concatenate((grey[0], grey[-1], grey[:, 0], grey[:, -1]))
    background = float(np.median(border))
    dark_ink = background - grey.min() > grey.max() - background
    ink = background - grey if dark_ink else grey - background  # (H, W), > 0 where inked
    contrast = float(ink.max())
    if contrast < MIN_CONTRAST:
        raise DataError(f"{name} is blank: no ink stands out from its background")
    return np.clip(ink / contrast, 0, 1)


def check_levels(grey: np.ndarray, name: str) -> np.ndarray:
    """``grey`` if every level is a number in [0, 1], the full scale; DataError otherwise.

    Float TIFFs may hold NaN, infinities or levels outside 0..1, 32-bit integer pictures
    levels above 65535: such a picture has no full scale to read it on.
    """
    if not np.isfinite(grey).all():
        raise DataError(f"{name} has pixels that are not numbers (NaN or infinite)")
    if grey.size and (grey.min() < 0 or grey.max() > 1):
        raise DataError(
            f"{name} has grey levels outside its format's full scale (0..1 for float "
            "pixels, 0..65535 for integer ones); save it as an 8- or 16-bit grey PNG"
        )
    return grey


def scale_to_box(ink: np.ndarray, box: int = DIGIT_BOX) -> np.ndarray:
    """Resize ``(h, w)`` ink, anti-aliased, so that its longer side is ``box`` pixels."""
    height, width = ink.shape
    scale = box / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # Pillow's (w, h)
    resized = Image.fromarray(ink.astype(np.float32)).resize(  # mode "F"
        size, Image.Resampling.BILINEAR
    )
    return np.clip(np.asarray(resized), 0, 1)  # (h', w')


def centre_by_mass(patch: np.ndarray) -> np.ndarray:
    """Paste a ``(h, w)`` patch (sides <= 28) into a 28x28 field, centre of mass at the centre.

    The shift is whole pixels, so the centre of mass ends within half a pixel of
    :data:`MASS_CENTRE` unless the patch would leave the field; then it touches the edge.

    Returns:
        ``(784,)`` float32, row-major.
    """
    height, width = patch.shape
    mass = patch.sum()
    row_centre = (patch.sum(1) * np.arange(height)).sum() / mass
    col_centre = (patch.sum(0) * np.arange(width)).sum() / mass
    top = int(np.clip(round(MASS_CENTRE - row_centre), 0, IMAGE_SIDE - height))
    left = int(np.clip(round(MASS_CENTRE - col_centre), 0, IMAGE_SIDE - width))
    field = np.zeros((IMAGE_SIDE, IMAGE_SIDE), dtype=np.float32)  # (28, 28)
    field[top : top + height, left : left + width] = patch
    return field.reshape(NUM_PIXELS)  # (784,)


def read_mask(path: str | os.PathLike) -> torch.Tensor:
    """Read a 28x28 mask image: white (grey >= :data:`MASK_WHITE` of the full scale) = visible.

    Every format is read on its own full scale (see the module docstring), so the same
    mask saved with 8 or 16 bits per pixel, or as floats, gives the same pixels.

    Returns:
        ``(784,)`` bool, True where the pixel is visible.

    Raises:
        DataError: the file is missing, unreadable, not 28x28, or all white or all black.
    """
    image = open_picture(path, what="mask")
    if image.size != (IMAGE_SIDE, IMAGE_SIDE):
        width, height = image.size
        raise DataError(
            f"mask {path} is {width}x{height} pixels; a mask must be "
            f"{IMAGE_SIDE}x{IMAGE_SIDE} (white = visible, black = hidden)"
        )
    grey = check_levels(grey_levels(image), f"mask {path}")
    visible = torch.from_numpy(grey >= MASK_WHITE).reshape(NUM_PIXELS)
    return _check_mixed(visible, f"mask {path}", DataError)


def parse_rectangle(spec: str) -> tuple[int, int, int, int]:
    """Parse ``"x0,y0,x1,y1"``: columns x0..x1-1 and rows y0..y1-1 of the 28x28 image.

    Like a Pillow box, the far corner is excluded: ``"14,0,28,28"`` is the right half.

    Raises:
        DataError: not four integers, or not ``0 <= x0 < x1 <= 28`` and ``0 <= y0 < y1 <= 28``.
    """
    try:
        x0, y0, x1, y1 = (int(part) for part in spec.split(","))
    except ValueError:
        raise DataError(f"--hide {spec!r}: give four integers x0,y0,x1,y1") from None
    if not (0 <= x0 < x1 <= IMAGE_SIDE and 0 <= y0 < y1 <= IMAGE_SIDE):
        raise DataError(
            f"--hide {spec}: need 0 <= x0 < x1 <= {IMAGE_SIDE} and 0 <= y0 < y1 <= "
            f"{IMAGE_SIDE} (x is the column, y the row; x1 and y1 are excluded)"
        )
    return x0, y0, x1, y1


def hide_mask(specs: str | Sequence[str]) -> torch.Tensor:
    """The mask that hides the rectangles ``specs`` (``--hide``, once or more).

    Returns:
        ``(784,)`` bool, False inside any rectangle (hidden), True elsewhere (visible).

    Raises:
        DataError: a bad rectangle, or rectangles that hide every pixel.
    """
    specs = [specs] if isinstance(specs, str) else list(specs)
    visible = torch.ones(IMAGE_SIDE, IMAGE_SIDE, dtype=torch.bool)  # (28, 28)
    for spec in specs:
        x0, y0, x1, y1 = parse_rectangle(spec)
        visible[y0:y1, x0:x1] = False
    return _check_mixed(visible.reshape(NUM_PIXELS), "--hide " + " ".join(specs), DataError)


def _check_mixed(visible: torch.Tensor, source: str, error: type[Exception]) -> torch.Tensor:
    if not visible.any():
        raise error(f"{source} hides every pixel: leave some visible to complete from")
    if visible.all():
        raise error(f"{source} hides no pixel: there is nothing to complete")
    return visible
