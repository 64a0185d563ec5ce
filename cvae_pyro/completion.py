"""Complete the hidden part of any picture (the library behind ``python -m cvae_pyro.complete``).

A completion keeps the visible pixels as they are and fills the hidden ones with
the pixel probabilities of p(y|x,z), z drawn from the conditional prior p(z|x).
The model is the mask CVAE (``--condition mask``), which takes any mask; when
none is trained, a quadrant CVAE can complete its own layout (the ``--keep``
choices). :func:`find_model` says which model it found, or which command trains one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from .build import load_trained
from .config import DEFAULT_DATASET, KEEP_LAYOUTS, run_dir
from .errors import CheckpointError, ConfigError
from .figures import shown_visible
from .masks import IMAGE_SIDE, MASK_INPUT_DIM, NUM_PIXELS, input_mask, merge_xy
from .models import CVAE

FIGURE_COLUMNS = 8  #: completions per row of the completion figure


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


def find_model(
    out_dir: str | Path,
    dataset: str = DEFAULT_DATASET,
    keep: str | None = None,
    device: str | torch.device = "cpu",
) -> tuple[CVAE, str]:
    """The trained model to complete with, and a line naming it.

    The mask CVAE in ``out_dir/mask`` first; else, when ``keep`` names a quadrant
    layout, the quadrant CVAE of that layout.

    Raises:
        CheckpointError: neither is trained (the message gives the training command).
    """
    mask_path = run_dir(out_dir, "mask", None, dataset) / "cvae.pt"
    expect = {"dataset": dataset}
    if mask_path.exists():
        cvae = load_trained(mask_path, device, kind="mask", expect=expect).module
        return cvae, f"mask CVAE {mask_path}"
    quadrants = KEEP_LAYOUTS.get(keep) if keep else None
    if quadrants is not None:
        path = run_dir(out_dir, "quadrant", quadrants, dataset) / "cvae.pt"
        if path.exists():
            found = load_trained(
                path, device, kind="cvae", expect={**expect, "quadrants": quadrants}
            )
            return found.module, f"{quadrants}-quadrant CVAE {path} (no mask model trained)"
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
    condition = cvae.condition
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        if condition.kind == "mask":
            x = condition.prepare(picture[None], visible[None])  # (1, 2352)
            guess = x[0, MASK_INPUT_DIM:]  # (784,) the baseline's y_hat
            drawn = cvae.sample(x, n)[:, 0]  # (n, 784)
        else:
            layout = input_mask(condition.quadrants).to(device)  # (784,)
            if not torch.equal(layout, visible):
                raise ConfigError(
                    "a quadrant CVAE completes its own layout only: use --keep, or train "
                    "the mask model (python -m cvae_pyro.train --condition mask)"
                )
            given = picture[None, layout]  # (1, x_dim)
            x = condition.prepare(given)  # (1, 784)
            guess = merge_xy(given, x[:, given.shape[1] :], condition.quadrants)[0]  # (784,)
            drawn = merge_xy(given, cvae.sample(x, n)[:, 0], condition.quadrants)  # (n, 784)
    keep = visible.to(picture.dtype)
    samples = keep * picture + (1 - keep) * drawn  # (n, 784)
    guess = keep * picture + (1 - keep) * guess  # (784,)
    return Completion(picture.cpu(), visible.cpu(), guess.cpu(), samples.cpu(), model)


def completion_figure(c: Completion, title: str = "") -> plt.Figure:
    """The picture as read, the visible part, the NN's guess, then the completions."""
    n = len(c.samples)
    columns = max(3, min(n, FIGURE_COLUMNS))
    rows = 1 + math.ceil(n / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.25), squeeze=False)
    panels = [(c.picture, "as read"), (shown_visible(c.picture, c.visible), "visible")]
    panels.append((c.guess, "NN guess"))
    panels += [None] * (columns - 3)
    panels += [(s, f"{i + 1}") for i, s in enumerate(c.samples)]
    for ax, panel in zip(axes.flat, panels + [None] * (axes.size - len(panels)), strict=True):
        ax.set_axis_off()
        if panel is not None:
            image, name = panel
            grid = image.reshape(IMAGE_SIDE, IMAGE_SIDE).numpy()
            ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(name, fontsize=8)
    fig.suptitle(title or c.model, fontsize=8)
    fig.tight_layout()
    return fig


def check_picture(picture: torch.Tensor) -> torch.Tensor:
    """``picture`` as ``(784,)`` float; ConfigError for another size."""
    if picture.numel() != NUM_PIXELS:
        raise ConfigError(f"a picture must have {NUM_PIXELS} pixels, got {picture.numel()}")
    return picture.reshape(NUM_PIXELS).float()
