"""Every figure: tensors and trained networks in, matplotlib figures out.

The quadrant and mask tasks' sample figures (input, truth, NN guess and CVAE
samples), the label CVAE's digit grids, reconstructions, latent plots, style
transfers and interpolations, and the completion figure of ``python -m
cvae_pyro.complete``. :func:`training_figures` makes the figures of a trained CVAE of
any condition.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch

from ..data import NUM_CLASSES, Split
from ..masks import IMAGE_SIDE, MASK_INPUT_DIM, input_mask, merge_xy, split_xy
from ..models import CVAE, BaselineNN
from .any_mask import fixed_masks
from .label import decode, prior_latents, sample_digits

FIGURE_COLUMNS = 8  #: completions per row of the completion figure
STRIP_INCHES = 0.95  #: width of one image in a one-row strip (style transfer, interpolation)
TITLE_CHARS_PER_IMAGE = 16  #: a strip's title is wrapped at this many characters per image


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


def shown_visible(picture: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """``(..., 784)``: the visible pixels, hidden ones at :data:`HIDDEN_GREY`."""
    return torch.where(visible, picture, torch.full_like(picture, HIDDEN_GREY))


def mask_rows(
    cvae: CVAE,
    x: torch.Tensor,
    images: torch.Tensor,
    visible: torch.Tensor,
    num_samples: int = FIGURE_SAMPLES,
) -> tuple[list[str], torch.Tensor]:
    """Rows of the mask task's figure, each ``(N, 784)``: input, truth, NN, CVAE samples.

    ``x`` ``(N, 2352)`` is the mask CVAE's input for ``images`` and ``visible``.
    """
    keep = visible.to(images.dtype)  # (N, 784)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(FIGURE_SEED)
        samples = cvae.sample(x, num_samples)  # (S, N, 784)
    guess = x[:, MASK_INPUT_DIM:]  # (N, 784)
    rows = [shown_visible(images, visible), images, keep * images + (1 - keep) * guess]
    rows += [keep * images + (1 - keep) * s for s in samples]
    names = ["input", "truth", "NN"] + [f"CVAE {s + 1}" for s in range(num_samples)]
    return names, torch.stack(rows)  # (R, N, 784)


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


def mask_samples_figure(
    cvae: CVAE, x: torch.Tensor, images: torch.Tensor, visible: torch.Tensor
) -> plt.Figure:
    """The mask task's samples figure: input, truth, the NN's guess and CVAE samples."""
    names, rows = mask_rows(cvae, x, images, visible)
    return plot_image_rows(
        names, rows, "mask CVAE: grey = hidden; visible pixels kept in every row"
    )


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


def digits_figure(samples: torch.Tensor, class_names: Sequence[str] | None = None) -> plt.Figure:
    """``samples`` ``(10, n, 784)``: one row per class (named by ``class_names``, default
    "0".."9"), one latent draw per column."""
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


def latent_grid_noise() -> tuple[torch.Tensor, list[str]]:
    """The noise ``eps`` ``(G*G, 2)`` of :func:`latent_grid_figure` and its row names.

    ``eps`` lies on a grid of standard-normal quantiles; eps_1 grows to the right,
    eps_2 upwards.
    """
    u = torch.linspace(*QUANTILE_RANGE, LATENT_GRID_SIZE)  # (G,)
    q = torch.distributions.Normal(0.0, 1.0).icdf(u)  # (G,)
    eps_2, eps_1 = torch.meshgrid(q.flip(0), q, indexing="ij")  # (G, G) each
    eps = torch.stack([eps_1.flatten(), eps_2.flatten()], dim=-1)  # (G*G, 2)
    return eps, [f"{v:+.1f}" for v in q.flip(0).tolist()]


def latent_grid_figure(
    images: torch.Tensor, names: list[str], digit: int = LATENT_GRID_DIGIT
) -> plt.Figure:
    """p(y|c,z) decoded over the latent plane for one digit c (z_dim = 2).

    ``images`` ``(G*G, 784)`` are decoded at ``z = loc_c + scale_c * eps`` for the
    noise of :func:`latent_grid_noise`, whose row ``names`` label the rows.
    """
    rows = list(images.reshape(LATENT_GRID_SIZE, LATENT_GRID_SIZE, -1))  # G x (G, 784)
    title = f"digit {digit}: z = loc_c + scale_c * eps; eps_1 to the right, eps_2 (labels) up"
    return grid_figure(rows, names, title)


def completion_figure(c, title: str = "") -> plt.Figure:
    """The picture as read, the visible part, the NN's guess, then the completions.

    ``c`` is a :class:`~cvae_pyro.beyond.completion.Completion`.
    """
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
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def label_samples_figure(
    samples: torch.Tensor, digits: list[int], class_names: Sequence[str] | None = None
) -> plt.Figure:
    """``samples`` ``(D, n, 784)``: one row per class, or one class's samples wrapped in rows.

    Rows are named by ``class_names`` (default: the digits themselves).
    """
    names = [class_names[d] if class_names else str(d) for d in digits]
    if len(digits) == 1:
        n = samples.shape[1]
        rows = [samples[0, i : i + WRAP_COLUMNS] for i in range(0, n, WRAP_COLUMNS)]
        row_names = [names[0]] + [""] * (len(rows) - 1)
        return grid_figure(rows, row_names, f"class {digits[0]} ({names[0]}): {n} samples")
    return grid_figure(list(samples), names, "each column: one latent draw")


def image_strip(panels: Sequence[tuple[torch.Tensor, str]], title: str = "") -> plt.Figure:
    """One row of ``(image (784,), name)`` panels, each name above its image."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(len(panels) * STRIP_INCHES, STRIP_INCHES + 0.7), squeeze=False
    )
    for ax, (image, name) in zip(axes[0], panels, strict=True):
        grid = image.detach().reshape(IMAGE_SIDE, IMAGE_SIDE).cpu().numpy()
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=7)
        ax.set_axis_off()
    if title:
        fig.suptitle(textwrap.fill(title, TITLE_CHARS_PER_IMAGE * len(panels)), fontsize=8)
    fig.tight_layout()
    return fig


def style_figure(
    picture: torch.Tensor,
    drawn: torch.Tensor,
    label: int,
    class_names: Sequence[str] | None = None,
    title: str = "",
) -> plt.Figure:
    """The picture ``(784,)``, read as ``label``, then its style drawn as each class.

    ``drawn`` ``(10, 784)``: p(y | c, z) for c = 0..9 at z = the mean of q(z | picture, label).
    """
    names = list(class_names or [str(d) for d in range(NUM_CLASSES)])
    panels = [(picture, f"picture ({names[label]})")]
    panels += list(zip(drawn, names, strict=True))
    return image_strip(panels, title or "each class drawn in the style of the picture")


def interpolation_figure(
    a: torch.Tensor, b: torch.Tensor, steps: torch.Tensor, title: str = ""
) -> plt.Figure:
    """Picture A ``(784,)``, the ``steps`` ``(T, 784)`` from its style to B's, picture B."""
    t = torch.linspace(0.0, 1.0, len(steps)).tolist()
    panels = [(a, "A"), *((s, f"t = {v:.2f}") for s, v in zip(steps, t, strict=True)), (b, "B")]
    return image_strip(panels, title or "z_t = (1 - t) z_A + t z_B, z = the mean of q(z | y, c)")


def training_figures(cvae: CVAE, split: Split, class_names: Sequence[str]) -> dict:
    """The figures written after training, by name, for a CVAE of any condition.

    Quadrant and mask CVAEs: ``samples`` (input, truth, the NN's guess and CVAE samples
    for one image of each class; the mask task on its fixed masks). Label CVAEs:
    ``digits`` and ``reconstructions``, and for a 2-d latent ``latent_scatter`` and
    ``latent_grid``.
    """
    idx = pick_one_per_digit(split.labels)
    return TRAINING_FIGURES[cvae.condition.name](cvae, split.images[idx], split, class_names)


def _quadrant_figures(cvae: CVAE, images: torch.Tensor, split: Split, names: Sequence[str]) -> dict:
    condition = cvae.condition
    return {"samples": samples_figure(images, condition.quadrants, condition.baseline, cvae)}


def _mask_figures(cvae: CVAE, images: torch.Tensor, split: Split, names: Sequence[str]) -> dict:
    idx = pick_one_per_digit(split.labels).cpu()
    visible = fixed_masks(len(split), cvae.condition.family)[idx].to(images.device)  # (N, 784)
    x = cvae.condition.prepare(images, visible)  # (N, 2352)
    return {"samples": mask_samples_figure(cvae, x, images, visible)}


def _label_figures(cvae: CVAE, images: torch.Tensor, split: Split, names: Sequence[str]) -> dict:
    samples = sample_digits(cvae, range(NUM_CLASSES), DIGIT_COLUMNS, FIGURE_SEED)
    figures = {
        "digits": digits_figure(samples, names),
        "reconstructions": reconstructions_figure(cvae, split),
    }
    if cvae.z_dim == 2:
        eps, row_names = latent_grid_noise()  # (G*G, 2), G row names
        device = next(cvae.parameters()).device
        label = torch.tensor([LATENT_GRID_DIGIT], device=device)  # (1,)
        with torch.no_grad():
            grid = decode(cvae, label, prior_latents(cvae, label, eps.to(device)))
        figures["latent_scatter"] = latent_scatter_figure(cvae, split)
        figures["latent_grid"] = latent_grid_figure(grid[:, 0], row_names)
    return figures


#: The figures of each condition, by its name.
TRAINING_FIGURES = {"quadrant": _quadrant_figures, "mask": _mask_figures, "label": _label_figures}
