"""Drawing from a label CVAE: digits of a class, the class a picture reads as, its style.

:func:`sample_digits` draws ``n`` pictures of each class from the prior network p(z|c)
with the same latent noise for every class, so the columns of a grid share a style.
:func:`read_labels` uses the CVAE as a classifier: the IS estimate of log p(y|c) of a
picture for every class c (:func:`posterior_table` shows it). :func:`styles` turns a
picture into the noise of its posterior mean under the prior of its class;
:func:`draw_in_style` draws such styles as any class. :func:`transfer_style` draws one
picture's style as every class, its class given or read; :func:`interpolate_pictures`
walks in z from one picture's style to another's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..conditions import Batches, TaskSettings
from ..data import NUM_CLASSES, Split
from ..estimators import DEFAULT_SAMPLES, is_nll
from ..fit import Pairs
from ..masks import NUM_PIXELS
from ..models import CVAE, BaselineNN
from .pictures import check_picture

INTERPOLATION_STEPS = 10  #: pictures from one style to another, both ends included


def shared_noise(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """Standard-normal noise ``eps`` ``(n, z_dim)`` from its own generator (global RNG untouched)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, z_dim, generator=gen)  # (n, z)


def prior_latents(cvae: CVAE, digits: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """``z = loc_c + scale_c * eps`` for every digit c and noise row: ``(n, D, z_dim)``.

    Args:
        cvae: a label :class:`~cvae_pyro.models.CVAE`.
        digits: ``(D,)`` int64 labels.
        eps: ``(n, z_dim)`` standard-normal noise shared by all digits.
    """
    _, h_prior = cvae.condition(digits)  # (D, 10)
    loc, scale = cvae.prior_net(h_prior)  # (D, z), (D, z)
    return loc + scale * eps[:, None, :]  # (n, D, z)


def decode(cvae: CVAE, digits: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Pixel probabilities of p(y|c,z) for ``z`` ``(..., D, z_dim)``: ``(..., D, 784)``."""
    h, _ = cvae.condition(digits)  # (D, 10)
    return torch.sigmoid(cvae.generation_net(h, z))


def check_label_cvae(cvae: CVAE) -> None:
    """Raise ValueError unless ``cvae`` is a CVAE conditioned on the label."""
    if not isinstance(getattr(cvae, "condition", None), LabelCondition):
        raise ValueError("this is not a label CVAE (train one with --condition label)")


def sample_digits(cvae: CVAE, digits: Sequence[int], n: int, seed: int = 0) -> torch.Tensor:
    """``n`` samples of each digit, the same latent noise for every digit.

    Args:
        cvae: a trained label :class:`~cvae_pyro.models.CVAE`.
        digits: the D digits to draw, each 0..9.
        n: samples per digit.
        seed: seed of the shared noise ``eps``.

    Returns:
        Pixel probabilities in [0, 1], ``(D, n, 784)``.
    """
    check_label_cvae(cvae)
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    if any(not 0 <= int(d) < NUM_CLASSES for d in digits):
        raise ValueError(f"digits must lie in 0..9, got {list(digits)}")
    device = next(cvae.parameters()).device
    labels = torch.as_tensor(list(digits), dtype=torch.long, device=device)  # (D,)
    eps = shared_noise(n, cvae.z_dim, seed).to(device)  # (n, z)
    with torch.no_grad():
        z = prior_latents(cvae, labels, eps)  # (n, D, z)
        return decode(cvae, labels, z).transpose(0, 1)  # (D, n, 784)


class LabelCondition(nn.Module):
    """Condition on the digit label: ``h = h_prior = one_hot(label)``; y is the whole image."""

    name = "label"
    has_baseline = False  #: the label task trains no baseline NN
    h_dim = NUM_CLASSES
    h_prior_dim = NUM_CLASSES
    y_dim = NUM_PIXELS

    def pairs(self, split: Split) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: labels ``(N,)`` and images ``(N, 784)``."""
        return split.labels, split.images

    def forward(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B,)`` labels to one-hot ``h`` and ``h_prior``, each ``(B, 10)``."""
        one_hot = F.one_hot(labels, NUM_CLASSES).to(torch.get_default_dtype())  # (B, 10)
        return one_hot, one_hot

    def counted(self, labels: torch.Tensor) -> None:
        """Output pixels the likelihood counts: all of y (None)."""
        return None

    @classmethod
    def build(cls, cfg: TaskSettings, baseline: BaselineNN | None) -> LabelCondition:
        """The label condition (it has no baseline)."""
        return cls()

    def training_batches(self, split: Split) -> Batches:
        """The CVAE's training pairs: labels and images."""
        return self.pairs(split), None

    def evaluation_pairs(self, split: Split, quadrants: int | None = None) -> Pairs:
        """The CVAE's evaluation pairs: labels and images."""
        return self.pairs(split)

    def complete(
        self, cvae: CVAE, picture: torch.Tensor, visible: torch.Tensor, n: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A label CVAE completes no picture: ValueError."""
        raise ValueError("a label CVAE does not complete pictures: use a mask or quadrant CVAE")


@dataclass(frozen=True)
class LabelReading:
    """Which label a label CVAE reads in each of B pictures.

    Attributes:
        log_likelihood: ``(B, 10)`` IS estimates of log p(y | c) for every label c, nats.
        samples: S, latent samples per picture and label of each estimate.
    """

    log_likelihood: torch.Tensor
    samples: int

    @property
    def posterior(self) -> torch.Tensor:
        """``(B, 10)`` p(c | y) under a uniform prior over the labels: softmax of log p(y | c)."""
        return torch.softmax(self.log_likelihood, dim=-1)

    @property
    def labels(self) -> torch.Tensor:
        """``(B,)`` the label of the highest estimate of log p(y | c)."""
        return self.log_likelihood.argmax(dim=-1)


def read_labels(
    cvae: CVAE, images: torch.Tensor, num_samples: int = DEFAULT_SAMPLES, seed: int = 0
) -> LabelReading:
    """The label CVAE as a classifier: log p(y | c) of ``images`` ``(B, 784)`` for every c.

    Each estimate is :func:`~cvae_pyro.estimators.is_nll` (z from q(z | y, c)); every label
    uses the same noise eps per picture, so the labels are compared on the same draws.
    """
    check_label_cvae(cvae)
    device = next(cvae.parameters()).device
    images = images.to(device)
    columns = [
        -is_nll(
            cvae, torch.full((len(images),), c, device=device), images, num_samples, seed=seed
        ).per_image  # (B,)
        for c in range(NUM_CLASSES)
    ]
    return LabelReading(torch.stack(columns, dim=-1), num_samples)  # (B, 10)


def styles(cvae: CVAE, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The style of each picture: the mean of q(z | y, c) as noise of the prior p(z | c).

    ``eps = (mean - loc_c) / scale_c``, so that ``loc_c + scale_c * eps`` (what
    :func:`prior_latents` makes of it) is the mean itself. The same eps drawn as another
    class c' is the same style, as the columns of :func:`sample_digits` share eps: the
    conditional prior puts each class's z elsewhere, so the mean of q itself, decoded as
    another class, mostly draws the picture's own class again. With the standard-normal
    prior eps is the mean of q.

    Args:
        cvae: a trained label CVAE.
        images: ``(B, 784)`` pictures y.
        labels: ``(B,)`` int64 labels c they are read as.

    Returns:
        ``(B, z_dim)`` the styles eps.
    """
    check_label_cvae(cvae)
    device = next(cvae.parameters()).device
    images, labels = images.to(device), labels.to(device)
    with torch.no_grad():
        prior = cvae.prior(labels).base_dist  # p(z | c): loc and scale (B, z) each
        return (cvae.posterior(labels, images).mean - prior.loc) / prior.scale  # (B, z)


def draw_in_style(
    cvae: CVAE, eps: torch.Tensor, digits: Sequence[int] = range(NUM_CLASSES)
) -> torch.Tensor:
    """Pixel probabilities of p(y | c, z) at ``z = loc_c + scale_c * eps`` for each style and digit.

    Args:
        cvae: a trained label CVAE.
        eps: ``(B, z_dim)`` styles (:func:`styles`).
        digits: the D digits to draw.

    Returns:
        ``(B, D, 784)``: row b is style b drawn as each of the D ``digits``.
    """
    check_label_cvae(cvae)
    device = next(cvae.parameters()).device
    labels = torch.as_tensor(list(digits), dtype=torch.long, device=device)  # (D,)
    with torch.no_grad():
        z = prior_latents(cvae, labels, eps.to(device))  # (B, D, z)
        return decode(cvae, labels, z)  # (B, D, 784)


def interpolate_pictures(
    cvae: CVAE, a: torch.Tensor, b: torch.Tensor, label: int, steps: int = INTERPOLATION_STEPS
) -> torch.Tensor:
    """``(steps, 784)``: p(y | label, z) from the style of picture ``a`` to that of ``b``.

    The styles (:func:`styles`) are ``(1 - t) eps_a + t eps_b`` for t from 0 to 1, so that
    z goes in a straight line from the mean of q(z | a, label) to that of q(z | b, label):
    the first step is ``a``'s style drawn as ``label``, the last ``b``'s.
    """
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    check_label(label)
    pictures = torch.stack([check_picture(a), check_picture(b)])  # (2, 784)
    eps = styles(cvae, pictures, torch.tensor([label, label]))  # (2, z)
    t = torch.linspace(0.0, 1.0, steps, device=eps.device)[:, None]  # (steps, 1)
    return draw_in_style(cvae, (1 - t) * eps[0] + t * eps[1], [label])[:, 0].cpu()


def check_label(label: object) -> None:
    """Raise ValueError unless ``label`` is a class 0..9."""
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < NUM_CLASSES:
        raise ValueError(f"label must be a class 0..9, got {label!r}")


@dataclass(frozen=True)
class StyleTransfer:
    """One picture's style drawn as every class.

    Attributes:
        picture: ``(784,)`` the picture.
        label: the class it was read as (or was given).
        reading: the label CVAE's reading of the class, None when the label was given.
        style: ``(z_dim,)`` the mean of q(z | picture, label) as noise eps of the prior
            p(z | label) (:func:`styles`).
        drawn: ``(10, 784)`` pixel probabilities of p(y | c, loc_c + scale_c * eps), c = 0..9.
    """

    picture: torch.Tensor
    label: int
    reading: LabelReading | None
    style: torch.Tensor
    drawn: torch.Tensor


def transfer_style(
    cvae: CVAE,
    picture: torch.Tensor,
    label: int | None = None,
    num_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> StyleTransfer:
    """Draw the style of ``picture`` ``(784,)``, grey levels in [0, 1], as every class.

    ``label`` is its class; None reads it (:func:`read_labels`, ``num_samples`` latent
    samples per label, noise from ``seed``).
    """
    picture = check_picture(picture)
    reading = None
    if label is None:
        reading = read_labels(cvae, picture[None], num_samples, seed)
        label = int(reading.labels[0])
    check_label(label)
    style = styles(cvae, picture[None], torch.tensor([label]))  # (1, z)
    drawn = draw_in_style(cvae, style)[0]  # (10, 784)
    return StyleTransfer(picture, label, reading, style[0].cpu(), drawn.cpu())


def posterior_table(reading: LabelReading, class_names: Sequence[str]) -> str:
    """The posterior over labels of one picture as a short text table, the label read marked.

    A class column is shown where the classes have names of their own (Fashion-MNIST).
    """
    log_p, posterior = reading.log_likelihood[0], reading.posterior[0]  # (10,) each
    named = any(name != str(c) for c, name in enumerate(class_names))
    width = max(len("class"), *map(len, class_names))
    lines = ["label  " + (f"{'class':<{width}}  " if named else "") + "log p(y|c), nats  p(c|y)"]
    for c, name in enumerate(class_names):
        shown = f"{name:<{width}}  " if named else ""
        mark = "  <- read" if c == int(reading.labels[0]) else ""
        lines.append(f"{c:>5}  {shown}{log_p[c]:>16.2f}  {posterior[c]:>6.3f}{mark}")
    note = f"p(c|y): uniform prior over labels, log p(y|c) by IS with S = {reading.samples}"
    return "\n".join([*lines, note])
