"""The training configuration: one dataclass shared by the CLI, the tests and the notebooks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .masks import VALID_QUADRANTS
from .models import OBJECTIVES, PRIORS

CONDITIONS = ("quadrant", "label")  #: what the CVAE is conditioned on
DEVICES = ("auto", "cpu", "cuda")  #: --device choices

#: Settings that fix the networks' shapes and objective; a checkpoint must match them.
ARCHITECTURE_KEYS = ("condition", "quadrants", "z_dim", "hidden", "objective", "alpha", "prior")


@dataclass
class TrainConfig:
    """Everything one training run needs. Defaults match Pyro's CVAE example."""

    quadrants: int | None = None  # quadrants given (1, 2, 3); None for the label condition
    condition: str = "quadrant"  # "quadrant" (partial image) or "label" (digit)
    objective: str = "cvae"  # "cvae", "gsnn" or "hybrid" (Sohn et al., section 4)
    alpha: float = 0.5  # weight of the CVAE term in the hybrid objective
    prior: str = "conditional"  # "conditional" prior network p(z|c) or "standard" N(0, I)
    epochs: int = 50  # most epochs per model
    patience: int = 5  # stop after this many epochs without a better validation loss
    batch_size: int = 128  # images per SVI step
    lr: float = 1e-3  # Adam learning rate
    z_dim: int = 200  # latent size
    hidden: tuple[int, ...] = (500, 500)  # hidden widths of every network
    seed: int = 0  # seeds torch, numpy, random and the shuffling
    device: str = "auto"  # "cpu", "cuda" or "auto" (cuda when available)
    data_dir: str | None = None  # MNIST folder; None: $CVAE_PYRO_DATA, then the download cache
    out_dir: str = "runs"  # checkpoints, metrics and figures go to out_dir/q{n} or out_dir/label
    limit: int | None = None  # use only the first `limit` images of each split
    resume: bool = False  # continue an interrupted run from its last checkpoint
    quiet: bool = False  # no progress bars or per-epoch lines
    eval_batch_size: int = 2000  # images per batch when evaluating
    figures: bool = True  # write the sample figures after training
    extra: dict = field(default_factory=dict)  # free-form notes saved with the metrics

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid setting."""
        if self.condition not in CONDITIONS:
            raise ConfigError(f"condition must be one of {CONDITIONS}, got {self.condition!r}")
        if self.condition == "quadrant":
            if isinstance(self.quadrants, bool) or self.quadrants not in VALID_QUADRANTS:
                raise ConfigError(
                    f"quadrants must be 1, 2 or 3 for the quadrant task, got {self.quadrants!r}"
                )
        elif self.quadrants is not None:
            raise ConfigError("quadrants applies to the quadrant condition only")
        _choice("objective", self.objective, OBJECTIVES)
        _choice("prior", self.prior, PRIORS)
        _choice("device", self.device, DEVICES)
        for name in ("epochs", "batch_size", "z_dim", "eval_batch_size"):
            _positive_int(name, getattr(self, name))
        if self.patience < 1:
            raise ConfigError(f"patience must be a positive integer, got {self.patience}")
        if self.limit is not None:
            _positive_int("limit", self.limit)
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must lie in [0, 1], got {self.alpha}")
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"hidden must be positive widths, got {self.hidden}")

    @property
    def run_dir(self) -> Path:
        """Folder of this task's files: ``out_dir/q{n}`` or ``out_dir/label``."""
        name = f"q{self.quadrants}" if self.condition == "quadrant" else "label"
        return Path(self.out_dir) / name

    def architecture(self) -> dict:
        """The settings a checkpoint must share with this run."""
        return {key: _plain(getattr(self, key)) for key in ARCHITECTURE_KEYS}

    def to_dict(self) -> dict:
        """All settings as JSON-friendly values."""
        return {k: _plain(v) for k, v in dataclasses.asdict(self).items()}


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
