"""The classifier that reads generated digits: are the label CVAE's samples the digits asked for?

An MLP from the 784 grey levels of an image to the logits of its digit, trained on the
50,000 training images by Adam on the cross-entropy (:func:`train_classifier`).
:func:`digit_accuracy` is the share of a label CVAE's samples it reads as the digit
they were drawn for. Notebook 03 and ``experiments/label_quality.py`` score the label
CVAE with it; the models themselves never need it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data import NUM_CLASSES, Split
from ..masks import NUM_PIXELS
from ..models import CVAE
from ..networks import mlp
from .label import sample_digits

EVAL_BATCH = 2000  #: images per batch when predicting


@dataclass
class ClassifierConfig:
    """Settings of the classifier and its training."""

    hidden: tuple[int, ...] = (512,)  # hidden widths: 784 -> 512 -> 10
    epochs: int = 5  # passes over the training images
    batch_size: int = 128  # images per Adam step
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # seeds the initial weights and the shuffling


class DigitClassifier(nn.Module):
    """An MLP from the 784 grey levels of an image to the logits of its digit 0..9.

    Args:
        hidden: hidden layer widths.
    """

    def __init__(self, hidden: tuple[int, ...] = ClassifierConfig.hidden) -> None:
        super().__init__()
        self.hidden = tuple(hidden)
        self.net = mlp(NUM_PIXELS, self.hidden, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 784)`` grey levels to ``(B, 10)`` logits."""
        return self.net(images)

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """The most likely digit of each image: ``(B, 784)`` to ``(B,)`` int64."""
        with torch.no_grad():
            chunks = [self(images[i : i + EVAL_BATCH]) for i in range(0, len(images), EVAL_BATCH)]
        return torch.cat(chunks).argmax(dim=-1)  # (B,)


def train_classifier(train: Split, cfg: ClassifierConfig | None = None) -> DigitClassifier:
    """Fit a :class:`DigitClassifier` to ``train`` by Adam on the cross-entropy.

    The global RNG is left as it was: weights and shuffling use ``cfg.seed``.
    """
    cfg = cfg or ClassifierConfig()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        classifier = DigitClassifier(cfg.hidden).to(train.images.device)
    optim = torch.optim.Adam(classifier.parameters(), lr=cfg.lr)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    classifier.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(train), generator=shuffle).to(train.images.device)  # (N,)
        for start in range(0, len(train), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]  # (b,)
            loss = F.cross_entropy(classifier(train.images[idx]), train.labels[idx])
            optim.zero_grad()
            loss.backward()
            optim.step()
    return classifier.eval()


def accuracy(classifier: DigitClassifier, split: Split) -> float:
    """Share of ``split``'s images whose label the classifier predicts."""
    return (classifier.predict(split.images) == split.labels).double().mean().item()


def digit_accuracy(
    classifier: DigitClassifier, cvae: CVAE, n_per_digit: int, seed: int = 0
) -> dict:
    """Share of the CVAE's samples that the classifier reads as the digit asked for.

    Args:
        classifier: a trained :class:`DigitClassifier`.
        cvae: a trained label :class:`~cvae_pyro.models.CVAE`.
        n_per_digit: samples drawn for each digit 0..9.
        seed: seed of the latent noise (see :func:`~cvae_pyro.beyond.label.sample_digits`).

    Returns:
        ``per_digit`` (``{"0": share, ..., "9": share}``), ``overall`` (share of all
        samples), ``n_per_digit`` and ``seed``. Samples are pixel probabilities.
    """
    samples = sample_digits(cvae, range(NUM_CLASSES), n_per_digit, seed)  # (10, n, 784)
    device = next(classifier.parameters()).device
    predicted = classifier.predict(samples.reshape(-1, NUM_PIXELS).to(device))  # (10 n,)
    asked = torch.arange(NUM_CLASSES)[:, None]  # (10, 1)
    correct = predicted.reshape(NUM_CLASSES, n_per_digit).cpu() == asked  # (10, n)
    per_digit = correct.double().mean(dim=1)  # (10,)
    return {
        "per_digit": {str(d): per_digit[d].item() for d in range(NUM_CLASSES)},
        "overall": correct.double().mean().item(),
        "n_per_digit": n_per_digit,
        "seed": seed,
    }
