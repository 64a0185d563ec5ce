"""Figures of the label CVAE: digits, reconstructions and (for z_dim = 2) the latent plane.

- ``digits.png``: one row per digit 0..9; every column reuses one standard-normal
  draw eps, ``z = loc_c + scale_c * eps``, so a column is one style written as
  each digit.
- ``reconstructions.png``: validation images and their reconstructions, the
  probabilities of p(y|c,z) at the mean z of q(z|y,c).
- ``latent_scatter.png`` (z_dim = 2): the means of q(z|y,c) over validation
  images, colored by label.
- ``latent_grid.png`` (z_dim = 2): p(y|c,z) decoded over a grid of the latent
  plane for one fixed digit, ``z = loc_c + scale_c * Phi^-1(u)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from .conditions import NUM_CLASSES
from .config import TrainConfig
from .data import Split
from .figures import FIGURE_SEED, pick_one_per_digit, save_figure
from .masks import IMAGE_SIDE
from .models import CVAE
from .sampling import decode, prior_latents, sample_digits

DIGIT_COLUMNS = 12  #: latent draws (columns) of digits.png
WRAP_COLUMNS = 10  #: most images per row when one digit's samples are wrapped
PAD_PIXELS = 2  #: separator between tiled images
SEPARATOR_GREY = 0.5  #: grey level of the separators
RECONSTRUCTIONS_PER_DIGIT = 2  #: validation images per digit in reconstructions.png
SCATTER_POINTS = 5000  #: most validation images in latent_scatter.png
LATENT_GRID_SIZE = 15  #: latent_grid.png is a LATENT_GRID_SIZE x LATENT_GRID_SIZE grid
LATENT_GRID_DIGIT = 2  #: the fixed digit of latent_grid.png
QUANTILE_RANGE = (0.05, 0.95)  #: the grid spans these standard-normal quantiles
INCHES_PER_IMAGE = 0.45  #: figure size per tiled image


def tile(rows: list[torch.Tensor]) -> torch.Tensor:
    """Tile rows of flat images, each ``(C_r, 784)``, into one ``(H, W)`` picture.

    Short rows are padded with the separator grey.
    """
    cols = max(len(r) for r in rows)
    step = IMAGE_SIDE + PAD_PIXELS
    canvas = torch.full((len(rows) * step + PAD_PIXELS, cols * step + PAD_PIXELS), SEPARATOR_GREY)
    for i, row in enumerate(rows):
        for j, image in enumerate(row.detach().cpu()):
            top, left = PAD_PIXELS + i * step, PAD_PIXELS + j * step
            canvas[top : top + IMAGE_SIDE, left : left + IMAGE_SIDE] = image.reshape(
                IMAGE_SIDE, IMAGE_SIDE
            )
    return canvas  # (H, W)


def grid_figure(rows: list[torch.Tensor], names: list[str], title: str = "") -> plt.Figure:
    """Draw rows of flat images ``(C_r, 784)`` as one tiled picture, each row named."""
    canvas = tile(rows)
    height, width = canvas.shape
    step = IMAGE_SIDE + PAD_PIXELS
    fig, ax = plt.subplots(
        figsize=(width / step * INCHES_PER_IMAGE + 1.0, height / step * INCHES_PER_IMAGE + 0.6),
        layout="constrained",
    )
    ax.imshow(canvas.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks([PAD_PIXELS + i * step + IMAGE_SIDE / 2 for i in range(len(rows))], names)
    ax.set_xticks([])
    ax.tick_params(length=0)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def reconstruct(cvae: CVAE, labels: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Probabilities of p(y|c,z) at z = the mean of q(z|y,c): ``(B, 784)``."""
    with torch.no_grad():
        z = cvae.posterior(labels, images).mean  # (B, z)
        return cvae.likelihood(labels, z).mean  # (B, 784)


def digits_figure(
    cvae: CVAE,
    num_columns: int = DIGIT_COLUMNS,
    seed: int = FIGURE_SEED,
    class_names: Sequence[str] | None = None,
) -> plt.Figure:
    """One row per class (named by ``class_names``, default "0".."9"), one latent draw per column."""
    samples = sample_digits(cvae, range(NUM_CLASSES), num_columns, seed)  # (10, n, 784)
    title = "samples of p(y|c,z), z = loc_c + scale_c * eps; one eps per column"
    names = list(class_names or [str(d) for d in range(NUM_CLASSES)])
    return grid_figure(list(samples), names, title)


def reconstructions_figure(cvae: CVAE, split: Split) -> plt.Figure:
    """Validation images (top) and their reconstructions through q(z|y,c), p(y|c,z)."""
    idx = pick_one_per_digit(split.labels, RECONSTRUCTIONS_PER_DIGIT)
    images, labels = split.images[idx], split.labels[idx]  # (N, 784), (N,)
    rows = [images, reconstruct(cvae, labels, images)]
    return grid_figure(rows, ["input", "recon."], "reconstruction at the mean of q(z|y,c)")


def latent_scatter_figure(cvae: CVAE, split: Split) -> plt.Figure:
    """Means of q(z|y,c) over validation images in the plane, colored by label (z_dim = 2)."""
    images, labels = split.images[:SCATTER_POINTS], split.labels[:SCATTER_POINTS]
    with torch.no_grad():
        means = cvae.posterior(labels, images).mean.cpu().numpy()  # (N, 2)
    fig, ax = plt.subplots(figsize=(5.5, 4.6), layout="constrained")
    colors = labels.cpu().numpy()  # (N,)
    points = ax.scatter(*means.T, c=colors, cmap="tab10", vmin=-0.5, vmax=9.5, s=2)
    fig.colorbar(points, ax=ax, ticks=range(NUM_CLASSES), label="digit label c")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(f"means of q(z|y,c), {len(labels)} validation images", fontsize=9)
    return fig


def latent_grid_figure(cvae: CVAE, digit: int = LATENT_GRID_DIGIT) -> plt.Figure:
    """p(y|c,z) decoded over the latent plane for one digit c (z_dim = 2).

    ``z = loc_c + scale_c * eps`` with eps on a grid of standard-normal quantiles;
    eps_1 grows to the right, eps_2 upwards.
    """
    u = torch.linspace(*QUANTILE_RANGE, LATENT_GRID_SIZE)  # (G,)
    q = torch.distributions.Normal(0.0, 1.0).icdf(u)  # (G,)
    eps_2, eps_1 = torch.meshgrid(q.flip(0), q, indexing="ij")  # (G, G) each
    eps = torch.stack([eps_1.flatten(), eps_2.flatten()], dim=-1)  # (G*G, 2)
    device = next(cvae.parameters()).device
    label = torch.tensor([digit], device=device)  # (1,)
    with torch.no_grad():
        z = prior_latents(cvae, label, eps.to(device))  # (G*G, 1, 2)
        images = decode(cvae, label, z)[:, 0]  # (G*G, 784)
    rows = list(images.reshape(LATENT_GRID_SIZE, LATENT_GRID_SIZE, -1))  # G x (G, 784)
    names = [f"{v:+.1f}" for v in q.flip(0).tolist()]
    title = f"digit {digit}: z = loc_c + scale_c * eps; eps_1 to the right, eps_2 (labels) up"
    return grid_figure(rows, names, title)


def save_label_figures(
    cfg: TrainConfig, split: Split, cvae: CVAE, class_names: Sequence[str] | None = None
) -> list[Path]:
    """Write the label CVAE's figures into ``cfg.run_dir``; returns their paths.

    Args:
        cfg: the run's :class:`~cvae_pyro.config.TrainConfig`.
        split: validation images and labels (reconstructions and latent scatter).
        cvae: the trained label CVAE.
        class_names: row names of ``digits.png`` (default "0".."9").
    """
    suffix = "" if cfg.objective == "cvae" else f"_{cfg.objective}"
    figures = {
        "digits": digits_figure(cvae, class_names=class_names),
        "reconstructions": reconstructions_figure(cvae, split),
    }
    if cvae.z_dim == 2:
        figures["latent_scatter"] = latent_scatter_figure(cvae, split)
        figures["latent_grid"] = latent_grid_figure(cvae)
    return [save_figure(fig, cfg.run_dir / f"{name}{suffix}.png") for name, fig in figures.items()]
