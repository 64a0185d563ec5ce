r"""The paper's models as Pyro programs: the baseline NN and the conditional VAE.

Sohn, Lee and Yan, "Learning Structured Output Representation using Deep
Conditional Generative Models", NIPS 2015 (see the docs' model page).

The CVAE's generative story is the **model**: draw a latent
:math:`z \sim p_\theta(z|x)` from the conditional prior network, then the output
:math:`y \sim p_\theta(y|x,z)` from the generation network. The **guide** is the
recognition network :math:`q_\phi(z|x,y)`. ``Trace_ELBO`` of this pair estimates
the paper's objective (eq. 4), a lower bound on the conditional log-likelihood:

.. math::

    \mathcal{L}_\mathrm{CVAE}(x, y) = \mathbb{E}_{q_\phi(z|x,y)}[\log p_\theta(y|x,z)]
        - \mathrm{KL}(q_\phi(z|x,y) \,\|\, p_\theta(z|x)) \le \log p_\theta(y|x).

The GSNN and hybrid objectives are built on this pair in :mod:`cvae_pyro.objectives`.
The models refuse sizes that are not positive integers when they are built
(:func:`check_sizes`); :meth:`CVAE.sample` and the estimators of :mod:`cvae_pyro.estimators`
refuse inputs the model cannot read (:func:`check_pairs`), with a ValueError that says what
was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from .masks import MASK_INPUT_DIM, NUM_PIXELS, hidden_pixels
from .networks import GenerationNet, PriorNet, RecognitionNet, StandardNormalPrior, mlp

PRIORS = ("conditional", "standard")  #: prior network p(z|x), or N(0, I)
DEFAULT_Z_DIM = 200  #: the paper's latent size
DEFAULT_HIDDEN = (500, 500)  #: two hidden layers of 500, as in the paper


def grey_bernoulli(logits: torch.Tensor, counted: torch.Tensor | None = None) -> dist.Distribution:
    """Independent Bernoulli pixels ``(..., B, y_dim)``, scored on grey levels in [0, 1].

    ``log_prob(y)`` is ``y log sigmoid(l) + (1 - y) log sigmoid(-l)`` summed over pixels:
    minus the binary cross-entropy. Support validation is off because grey levels
    are not in {0, 1}. ``counted`` ``(B, y_dim)`` bool, when given, keeps only those
    pixels in the sum (the mask task counts the hidden pixels only).
    """
    pixels = dist.Bernoulli(logits=logits, validate_args=False)
    return (pixels if counted is None else pixels.mask(counted)).to_event(1)


class BaselineNN(nn.Module):
    """The deterministic baseline NN, and its Pyro model y ~ Bernoulli(sigmoid(NN(x))).

    Its guide is empty, so ``Trace_ELBO`` of the pair is exactly -log p(y|x): the
    summed binary cross-entropy over the output pixels.

    Args:
        x_dim: given pixels.
        y_dim: output pixels.
        hidden: hidden layer widths.
    """

    def __init__(self, x_dim: int, y_dim: int, hidden: Sequence[int]) -> None:
        super().__init__()
        check_sizes(hidden, x_dim=x_dim, y_dim=y_dim)
        self.net = mlp(x_dim, hidden, y_dim)
        self.x_dim, self.y_dim = x_dim, y_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, x_dim)`` given pixels to ``(B, y_dim)`` logits of y."""
        return self.net(x)

    def model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """y ~ p(y|x). ``x`` ``(B, x_dim)``, ``y`` ``(B, y_dim)`` or None."""
        pyro.module("baseline_net", self)
        with pyro.plate("data", x.shape[0]):
            return pyro.sample("y", grey_bernoulli(self(x), self.counted(x)), obs=y)

    def guide(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """No latent variables: nothing to sample."""

    def counted(self, x: torch.Tensor) -> torch.Tensor | None:
        """Output pixels the likelihood counts: all of them (None)."""
        return None

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel probabilities ``(B, y_dim)`` of the output given ``(B, x_dim)`` pixels."""
        with torch.no_grad():
            return torch.sigmoid(self(x))


class MaskBaselineNN(BaselineNN):
    """The mask task's baseline: ``[visible pixels, mask]`` ``(B, 1568)`` to logits of all 784.

    Its likelihood counts the hidden pixels only, as the mask CVAE's does.
    """

    def __init__(self, hidden: Sequence[int]) -> None:
        super().__init__(MASK_INPUT_DIM, NUM_PIXELS, hidden)

    def counted(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 784)`` bool: the hidden pixels, read from the mask in ``x``."""
        return hidden_pixels(x)


class CVAE(nn.Module):
    """The conditional VAE as a Pyro model/guide pair, for any condition.

    Args:
        condition: prepares and encodes the input x (see :mod:`cvae_pyro.conditions`).
        z_dim: latent size, a positive integer.
        hidden: hidden layer widths of every network, positive integers.
        prior: "conditional" (prior network p(z|x)) or "standard" (N(0, I)).
    """

    def __init__(
        self,
        condition: nn.Module,
        z_dim: int = DEFAULT_Z_DIM,
        hidden: Sequence[int] = DEFAULT_HIDDEN,
        prior: str = "conditional",
    ) -> None:
        super().__init__()
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        check_sizes(hidden, z_dim=z_dim)
        self.condition = condition
        self.z_dim = z_dim
        h, y = condition.h_dim, condition.y_dim
        self.recognition_net = RecognitionNet(h, y, hidden, z_dim)
        if prior == "conditional":
            self.prior_net: nn.Module = PriorNet(condition.h_prior_dim, hidden, z_dim)
        else:
            self.prior_net = StandardNormalPrior(z_dim)
        self.generation_net = GenerationNet(h, z_dim, hidden, y)

    def model(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """p(z|x) p(y|x,z). ``x`` ``(B, ...)`` as the condition prepares it, ``y`` ``(B, y_dim)``."""
        pyro.module("prior_net", self.prior_net)
        pyro.module("generation_net", self.generation_net)
        h, h_prior = self.condition(x)  # (B, h_dim), (B, h_prior_dim)
        with pyro.plate("data", h.shape[0]):
            loc, scale = self.prior_net(h_prior)  # p(z|x): (B, z_dim) each
            z = pyro.sample("z", dist.Normal(loc, scale).to_event(1))  # (B, z_dim)
            logits = self.generation_net(h, z)  # p(y|x,z): (B, y_dim)
            return pyro.sample("y", grey_bernoulli(logits, self.condition.counted(x)), obs=y)

    def guide(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """q(z|x,y), the recognition network. Same arguments as :meth:`model`."""
        pyro.module("recognition_net", self.recognition_net)
        h, _ = self.condition(x)  # (B, h_dim)
        with pyro.plate("data", h.shape[0]):
            loc, scale = self.recognition_net(h, y)  # q(z|x,y): (B, z_dim) each
            return pyro.sample("z", dist.Normal(loc, scale).to_event(1))  # (B, z_dim)

    def prior(self, x: torch.Tensor) -> dist.Distribution:
        """p(z|x) with batch shape ``(B,)`` and event shape ``(z_dim,)``."""
        _, h_prior = self.condition(x)  # (B, h_prior_dim)
        loc, scale = self.prior_net(h_prior)  # (B, z_dim) each
        return dist.Normal(loc, scale).to_event(1)

    def posterior(self, x: torch.Tensor, y: torch.Tensor) -> dist.Distribution:
        """q(z|x,y) with batch shape ``(B,)`` and event shape ``(z_dim,)``."""
        h, _ = self.condition(x)  # (B, h_dim)
        loc, scale = self.recognition_net(h, y)  # (B, z_dim) each
        return dist.Normal(loc, scale).to_event(1)

    def likelihood(self, x: torch.Tensor, z: torch.Tensor) -> dist.Distribution:
        """p(y|x,z) for ``z`` ``(..., B, z_dim)``: Bernoulli with batch shape ``(..., B)``."""
        h, _ = self.condition(x)  # (B, h_dim)
        logits = self.generation_net(h, z)  # (..., B, y_dim)
        return grey_bernoulli(logits, self.condition.counted(x))

    def sample(self, x: torch.Tensor, num_samples: int = 1) -> torch.Tensor:
        """Pixel probabilities of y for z drawn from the prior: ``(num_samples, B, y_dim)``."""
        check_pairs(self, x)
        with torch.no_grad():
            z = self.prior(x).sample((num_samples,))  # (S, B, z_dim)
            h, _ = self.condition(x)  # (B, h_dim)
            return torch.sigmoid(self.generation_net(h, z))  # (S, B, y_dim)


def check_sizes(hidden: object, **sizes: object) -> None:
    """Raise ValueError unless ``hidden`` is a sequence of positive integers and each size one."""

    def positive(value: object) -> bool:
        return isinstance(value, Integral) and not isinstance(value, bool) and value > 0

    if (
        isinstance(hidden, str)
        or not isinstance(hidden, Sequence)
        or not all(map(positive, hidden))
    ):
        raise ValueError(
            f"hidden must be a sequence of positive integers (layer widths); got {hidden!r}"
        )
    for name, value in sizes.items():
        if not positive(value):
            raise ValueError(f"{name} must be a positive integer; got {value!r}")


def check_pairs(model: BaselineNN | CVAE, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
    """Raise ValueError, saying what was expected, unless ``model`` can read ``x`` (and ``y``).

    ``x``: the model's inputs, floats in [0, 1]: a baseline's ``(B, x_dim)`` given pixels, a
    CVAE's inputs as its condition prepares them (``condition.pairs``), or a label CVAE's
    ``(B,)`` int64 labels. ``y``: ``(B, y_dim)`` grey levels in [0, 1] (the pixels' 0..255
    divided by 255), one row per row of ``x``.
    """
    condition = getattr(model, "condition", None)
    given = getattr(condition, "quadrants", None)
    task = f" for {given} given quadrant{'s' * (given > 1)}" if given else ""
    if condition is None:  # a baseline NN
        expected, readable = f"(B, {model.x_dim}) inputs in [0, 1]", _grey_levels(x, model.x_dim)
    else:
        expected = (
            "the CVAE's inputs as its condition prepares them (condition.pairs or prepare): "
            f"(B, ...) values in [0, 1]{task}, or (B,) int64 labels for a label CVAE"
        )
        labels = isinstance(x, torch.Tensor) and x.dtype == torch.int64 and x.dim() == 1
        readable = labels or _grey_levels(x, None)
        if readable:  # and of the widths the networks read
            h, h_prior = condition(x)
            widths = (h.shape[1:], h_prior.shape[1:])
            readable = widths == ((condition.h_dim,), (condition.h_prior_dim,))
    if not readable:
        raise ValueError(f"x must be {expected}; got {_described(x)}")
    if y is None:
        return
    y_dim = model.y_dim if condition is None else condition.y_dim
    if not _grey_levels(y, y_dim):
        raise ValueError(f"y must be (B, {y_dim}) grey levels in [0, 1]{task}; got {_described(y)}")
    if len(y) != len(x):
        raise ValueError(f"x and y must have one row per image each; got {len(x)} and {len(y)}")


def _grey_levels(t: object, width: int | None) -> bool:
    """Whether ``t`` is a float tensor ``(B, width)`` (any width if None) with values in [0, 1]."""
    return (
        isinstance(t, torch.Tensor)
        and t.is_floating_point()
        and t.dim() == 2
        and width in (None, t.shape[1])
        and bool(((t >= 0) & (t <= 1)).all())
    )


def _described(t: object) -> str:
    """What a value is, for messages: e.g. ``(120, 784) uint8`` or ``(5, 588) float32 in [0, 255]``."""
    if not isinstance(t, torch.Tensor):
        return type(t).__name__
    text = f"{tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}"
    if t.is_floating_point() and t.numel():
        text += f" in [{t.min().item():g}, {t.max().item():g}]"
    return text
