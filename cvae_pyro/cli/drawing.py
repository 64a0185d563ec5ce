"""Draw from trained CVAEs: a picture's style as every class, and picture completions.

A picture's style is the mean of q(z | picture, label) of the label CVAE, written as
the noise eps that the prior p(z | label) maps to it; the label is given, or read by
the CVAE itself (the label with the highest IS estimate of log p(picture | label)).
:func:`transfer_style` draws that style as every class; :func:`interpolate_pictures`
walks in z from one picture's style to another's.

A completion keeps the visible pixels as they are and fills the hidden ones with
the pixel probabilities of p(y|x,z), z drawn from the conditional prior p(z|x).
The model is the mask CVAE (``--condition mask``), which takes any mask; when
none is trained, a quadrant CVAE can complete its own layout (the ``--keep``
choices). :func:`completion_model` says which model it found, or which command trains one.
Nothing here prints: the ``sample`` and ``complete`` commands (:mod:`cvae_pyro.cli.commands`)
say what was drawn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..beyond.label import (
    INTERPOLATION_STEPS,
    LabelReading,
    draw_in_style,
    interpolate_styles,
    read_labels,
    styles,
)
from ..masks import NUM_PIXELS, input_mask
from ..models import CVAE
from .choices import DEFAULT_DATASET, DEFAULT_SAMPLES, KEEP_LAYOUTS, run_dir
from .errors import CheckpointError, ConfigError
from .files import check_folder
from .model_files import load_pretrained, load_trained, pretrained_path


@dataclass(frozen=True)
class Completion:
    """One picture completed n times.

    Attributes:
        picture: ``(784,)`` the picture as read.
        visible: ``(784,)`` bool, True where a pixel is visible.
        guess: ``(784,)`` the baseline NN's guess in the hidden pixels, visible ones kept.
        samples: ``(n, 784)`` completions: visible pixels kept, hidden ones drawn.
        model: which model made them, in words.
    """

    picture: torch.Tensor
    visible: torch.Tensor
    guess: torch.Tensor
    samples: torch.Tensor
    model: str


def completion_model(
    out_dir: str | Path,
    dataset: str = DEFAULT_DATASET,
    keep: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[CVAE, str]:
    """The trained model to complete with, and a line naming it.

    The mask CVAE in ``out_dir/mask`` first; else, when ``keep`` names a quadrant
    layout, the quadrant CVAE of that layout; else the shipped mask CVAE of ``dataset``.

    Raises:
        CheckpointError: neither is trained (the message gives the training command).
    """
    mask_path = run_dir(out_dir, "mask", None, dataset) / "cvae.pt"
    check_folder(mask_path.parent, "--out-dir", missing_ok=True)  # a file there is no model
    expect = {"dataset": dataset}
    if os.path.lexists(mask_path):  # whatever is there is read, or refused
        cvae = load_trained(mask_path, device, "cvae", {**expect, "condition": "mask"}).module
        return cvae, f"mask CVAE {mask_path}"
    quadrants = KEEP_LAYOUTS.get(keep) if keep else None
    if quadrants is not None:
        path = run_dir(out_dir, "quadrant", quadrants, dataset) / "cvae.pt"
        check_folder(path.parent, "--out-dir", missing_ok=True)
        if os.path.lexists(path):
            quadrant = {"condition": "quadrant", "quadrants": quadrants}
            found = load_trained(path, device, "cvae", {**expect, **quadrant})
            return found.module, f"{quadrants}-quadrant CVAE {path} (no mask model trained)"
    if pretrained_path("mask", dataset) is not None:
        trained, line = load_pretrained("mask", dataset, device)
        return trained.module, line
    extra = "" if dataset == DEFAULT_DATASET else f" --dataset {dataset}"
    command = f"python -m cvae_pyro.train --out-dir {out_dir}{extra}"
    also = f" (or `{command} --quadrants {quadrants}` for --keep {keep})" if quadrants else ""
    raise CheckpointError(
        f"no mask model in {mask_path.parent}: train one with `{command} --condition mask`{also}"
    )


def keep_mask(keep: str) -> torch.Tensor:
    """``(784,)`` bool visible pixels of a ``--keep`` quadrant layout."""
    if keep not in KEEP_LAYOUTS:
        raise ConfigError(f"--keep must be one of {', '.join(KEEP_LAYOUTS)}, got {keep!r}")
    return input_mask(KEEP_LAYOUTS[keep])


def complete(
    cvae: CVAE, picture: torch.Tensor, visible: torch.Tensor, n: int, seed: int = 0, model: str = ""
) -> Completion:
    """Complete ``picture`` ``(784,)`` from its ``visible`` ``(784,)`` pixels, ``n`` times.

    Raises:
        ConfigError: a quadrant CVAE was given a mask other than its own layout.
    """
    device = next(cvae.parameters()).device
    picture, visible = picture.to(device), visible.to(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        try:
            guess, drawn = cvae.condition.complete(cvae, picture, visible, n)  # (784,), (n, 784)
        except ValueError as err:  # a quadrant CVAE given another layout, or a label CVAE
            raise ConfigError(str(err)) from None
    keep = visible.to(picture.dtype)
    samples = keep * picture + (1 - keep) * drawn  # (n, 784)
    guess = keep * picture + (1 - keep) * guess  # (784,)
    return Completion(picture.cpu(), visible.cpu(), guess.cpu(), samples.cpu(), model)


def check_picture(picture: torch.Tensor) -> torch.Tensor:
    """``picture`` as ``(784,)`` float; ConfigError for another size."""
    if picture.numel() != NUM_PIXELS:
        raise ConfigError(f"a picture must have {NUM_PIXELS} pixels, got {picture.numel()}")
    return picture.reshape(NUM_PIXELS).float()


@dataclass(frozen=True)
class StyleTransfer:
    """One picture's style drawn as every class.

    Attributes:
        picture: ``(784,)`` the picture as read.
        label: the class it was read as (or was given).
        reading: the label CVAE's reading of the class, None when the label was given.
        style: ``(z_dim,)`` the mean of q(z | picture, label) as noise eps of the prior
            p(z | label) (:func:`~cvae_pyro.beyond.label.styles`).
        drawn: ``(10, 784)`` pixel probabilities of p(y | c, loc_c + scale_c * eps), c = 0..9.
        model: which model made them, in words.
    """

    picture: torch.Tensor
    label: int
    reading: LabelReading | None
    style: torch.Tensor
    drawn: torch.Tensor
    model: str


def transfer_style(
    cvae: CVAE,
    picture: torch.Tensor,
    label: int | None = None,
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    model: str = "",
) -> StyleTransfer:
    """Draw the style of ``picture`` ``(784,)`` as every class.

    Args:
        cvae: a trained label CVAE.
        picture: the picture, grey levels in [0, 1].
        label: its class; None reads it (:func:`~cvae_pyro.beyond.label.read_labels`,
            ``num_samples`` latent samples per label, noise from ``seed``).
        model: the model's name, kept with the result.
    """
    picture = check_picture(picture)
    reading = None
    if label is None:
        reading = read_labels(cvae, picture[None], num_samples, seed)
        label = int(reading.labels[0])
    style = styles(cvae, picture[None], torch.tensor([label]))  # (1, z)
    drawn = draw_in_style(cvae, style)[0]  # (10, 784)
    return StyleTransfer(picture, label, reading, style[0].cpu(), drawn.cpu(), model)


def interpolate_pictures(
    cvae: CVAE, a: torch.Tensor, b: torch.Tensor, label: int, steps: int = INTERPOLATION_STEPS
) -> torch.Tensor:
    """``(steps, 784)``: p(y | label, z) from the style of picture ``a`` to that of ``b``.

    The steps are linear in z, from the mean of q(z | a, label) to that of q(z | b, label).
    """
    pictures = torch.stack([check_picture(a), check_picture(b)])  # (2, 784)
    eps = styles(cvae, pictures, torch.tensor([label, label]))  # (2, z)
    return interpolate_styles(cvae, eps[0], eps[1], label, steps).cpu()


def posterior_table(reading: LabelReading, class_names: Sequence[str]) -> str:
    """The posterior over labels of one picture as a short text table, the label read marked.

    A class column is shown where the classes have names of their own (Fashion-MNIST).
    """
    log_p, posterior = reading.log_likelihood[0], reading.posterior[0]  # (10,) each
    named = any(name != str(c) for c, name in enumerate(class_names))
    width = max(len("class"), *(len(name) for name in class_names))
    lines = ["label  " + (f"{'class':<{width}}  " if named else "") + "log p(y|c), nats  p(c|y)"]
    for c, name in enumerate(class_names):
        shown = f"{name:<{width}}  " if named else ""
        mark = "  <- read" if c == int(reading.labels[0]) else ""
        lines.append(f"{c:>5}  {shown}{log_p[c]:>16.2f}  {posterior[c]:>6.3f}{mark}")
    note = f"p(c|y): uniform prior over labels, log p(y|c) by IS with S = {reading.samples}"
    return "\n".join([*lines, note])


def class_name(label: int, class_names: Sequence[str]) -> str:
    """``class 7``, or ``class 1 (Trouser)`` where the class has a name of its own."""
    name = class_names[label]
    return f"class {label}" if name == str(label) else f"class {label} ({name})"
