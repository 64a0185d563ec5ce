"""Figures of the quadrant and mask tasks (input, truth, NN guess and CVAE samples); saving figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch

from .checkpoints import write_atomic
from .conditions import fixed_masks
from .config import TrainConfig
from .data import Split
from .masks import IMAGE_SIDE, MASK_INPUT_DIM, input_mask, merge_xy, split_xy
from .models import CVAE, BaselineNN

HIDDEN_GREY = 0.35  #: grey level that marks pixels the model is not given
FIGURE_SEED = 1234  #: seed of the CVAE samples drawn for figures
FIGURE_SAMPLES = 3  #: CVAE samples per image in the mask task's training figure


def pick_one_per_digit(labels: torch.Tensor, per_digit: int = 1) -> torch.Tensor:
    """Indices of the first ``per_digit`` examples of each digit 0..9, in digit order."""
    picks = [torch.nonzero(labels == d).flatten()[:per_digit] for d in range(10)]
    return torch.cat(picks)  # (10 * per_digit,)


def quadrant_rows(
    images: torch.Tensor,
    quadrants: int,
    baseline: BaselineNN | None,
    cvae: CVAE,
    num_samples: int = 3,
) -> tuple[list[str], torch.Tensor]:
    """Rows of the samples figure, each ``(N, 784)``: input, truth, NN, CVAE samples.

    Input pixels are shown as given; predicted pixels are probabilities.
    """
    x, y = split_xy(images, quadrants)  # (N, n_x), (N, n_y)
    shown_input = merge_xy(x, torch.full_like(y, HIDDEN_GREY), quadrants)
    names, rows = ["input", "truth"], [shown_input, images]
    if baseline is not None:
        names.append("NN")
        rows.append(merge_xy(x, baseline.predict(x), quadrants))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(FIGURE_SEED)
        samples = cvae.sample(cvae.condition.prepare(x), num_samples)  # (S, N, n_y)
    for s in range(num_samples):
        names.append(f"CVAE {s + 1}")
        rows.append(merge_xy(x, samples[s], quadrants))
    return names, torch.stack(rows)  # (R, N, 784)


def plot_image_rows(
    names: list[str], rows: torch.Tensor, title: str = "", boundary: torch.Tensor | None = None
) -> plt.Figure:
    """Draw ``rows`` ``(R, N, 784)`` as a grid of digits with a label on each row."""
    num_rows, num_cols = rows.shape[:2]
    fig, axes = plt.subplots(
        num_rows, num_cols, figsize=(num_cols * 0.9, num_rows * 0.95), squeeze=False
    )
    for r in range(num_rows):
        for col in range(num_cols):
            ax = axes[r, col]
            ax.imshow(
                rows[r, col].reshape(IMAGE_SIDE, IMAGE_SIDE).cpu().numpy(),
                cmap="gray",
                vmin=0,
                vmax=1,
            )
            if boundary is not None:
                ax.contour(boundary.numpy(), levels=[0.5], colors="tab:red", linewidths=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(names[r], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def samples_figure(
    images: torch.Tensor,
    quadrants: int,
    baseline: BaselineNN | None,
    cvae: CVAE,
    num_samples: int = 3,
) -> plt.Figure:
    """Pyro's tutorial figure: input, truth, NN prediction and CVAE samples per digit."""
    names, rows = quadrant_rows(images, quadrants, baseline, cvae, num_samples)
    boundary = input_mask(quadrants).reshape(IMAGE_SIDE, IMAGE_SIDE).float()  # (28, 28)
    title = f"{quadrants} quadrant{'s' if quadrants > 1 else ''} given (red line: input border)"
    return plot_image_rows(names, rows, title, boundary)


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Save ``fig`` (atomically) in the format its suffix names (PNG without one); close it."""
    path = Path(path)
    kind = path.suffix.lstrip(".").lower() or "png"
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format=kind))
    plt.close(fig)
    return path


def save_quadrant_figures(
    cfg: TrainConfig, split: Split, baseline: BaselineNN | None, cvae: CVAE
) -> list[Path]:
    """The samples figure written at the end of training, under ``cfg.run_dir``."""
    idx = pick_one_per_digit(split.labels)
    fig = samples_figure(split.images[idx], cfg.quadrants, baseline, cvae)
    name = "samples.png" if cfg.objective == "cvae" else f"samples_{cfg.objective}.png"
    return [save_figure(fig, cfg.run_dir / name)]


def shown_visible(picture: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """``(..., 784)``: the visible pixels, hidden ones at :data:`HIDDEN_GREY`."""
    return torch.where(visible, picture, torch.full_like(picture, HIDDEN_GREY))


def mask_rows(
    cvae: CVAE, images: torch.Tensor, visible: torch.Tensor, num_samples: int = FIGURE_SAMPLES
) -> tuple[list[str], torch.Tensor]:
    """Rows of the mask task's figure, each ``(N, 784)``: input, truth, NN, CVAE samples."""
    x = cvae.condition.prepare(images, visible)  # (N, 2352)
    keep = visible.to(images.dtype)  # (N, 784)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(FIGURE_SEED)
        samples = cvae.sample(x, num_samples)  # (S, N, 784)
    guess = x[:, MASK_INPUT_DIM:]  # (N, 784)
    rows = [shown_visible(images, visible), images, keep * images + (1 - keep) * guess]
    rows += [keep * images + (1 - keep) * s for s in samples]
    names = ["input", "truth", "NN"] + [f"CVAE {s + 1}" for s in range(num_samples)]
    return names, torch.stack(rows)  # (R, N, 784)


def save_mask_figures(cfg: TrainConfig, split: Split, cvae: CVAE) -> list[Path]:
    """The mask task's samples figure (fixed masks, one image per class) in ``cfg.run_dir``."""
    idx = pick_one_per_digit(split.labels)
    visible = fixed_masks(len(split), cfg.family)[idx.cpu()].to(split.images.device)  # (N, 784)
    names, rows = mask_rows(cvae, split.images[idx], visible)
    title = "mask CVAE: grey = hidden; visible pixels kept in every row"
    return [save_figure(plot_image_rows(names, rows, title), cfg.run_dir / "samples.png")]
