"""Every setting of every command, written once: type, default and help text.

Each command (train, evaluate, reproduce, sample, complete) has one frozen dataclass
here; its choices, limits and defaults come from :mod:`cvae_pyro.cli.choices`. The
command-line parsers are generated from these fields (:mod:`cvae_pyro.cli`), the
notebooks and tests build the same dataclasses directly, and ``validate`` raises
:class:`~cvae_pyro.cli.errors.ConfigError` naming the first bad setting.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..beyond.mask_family import MASK_KINDS, MaskFamilyConfig, mask_family
from .choices import (
    ARCHITECTURE_KEYS,
    CONDITIONS,
    DATASET_NAMES,
    DEFAULT_ALPHA,
    DEFAULT_DATASET,
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN,
    DEFAULT_PARTICLES,
    DEFAULT_PATIENCE,
    DEFAULT_SAMPLES,
    DEFAULT_Z_DIM,
    DEVICES,
    ELBOS,
    MASK_KEYS,
    MAX_LAYERS,
    MAX_NETWORK_WEIGHTS,
    MAX_WIDTH,
    OBJECTIVES,
    PRECISIONS,
    PRIORS,
    SAMPLES_LIMIT,
    SPLITS,
    VALID_QUADRANTS,
    check_estimator,
    check_quadrants,
    check_samples,
    check_unused,
    choice,
    chosen,
    model_name,
    network_weights,
    plain,
    positive_int,
    run_dir,
    seed_in_range,
)
from .errors import ConfigError


def setting(default: Any = dataclasses.MISSING, help: str = "", **meta: Any) -> Any:
    """A dataclass field with its command-line help (and optional ``choices``)."""
    if isinstance(default, tuple | list):
        value = tuple(default)
        return field(default_factory=lambda: value, metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


def dataset_setting() -> Any:
    """The ``--dataset`` field every command shares."""
    return setting(DEFAULT_DATASET, "mnist or fashion-mnist", choices=DATASET_NAMES)


@dataclass(frozen=True)
class DataSettings:
    """The settings every command that reads a dataset shares (composed in by inheritance)."""

    dataset: str = dataset_setting()
    data_dir: str | None = setting(
        None,
        "folder with the dataset's IDX files (else $CVAE_PYRO_DATA for MNIST, "
        "$CVAE_PYRO_FASHION_DATA for Fashion-MNIST)",
    )
    device: str = setting("auto", "cpu, cuda, or auto (cuda when available)", choices=DEVICES)

    def __post_init__(self) -> None:
        choice("dataset", self.dataset, DATASET_NAMES)
        choice("device", self.device, DEVICES)


@dataclass(frozen=True)
class ComputeSettings(DataSettings):
    """The data settings and the precision of the networks' matrix products."""

    precision: str = setting(
        "fp32",
        "bf16: matrix products in bfloat16 (autocast), where the CPU has AMX, or on CUDA; "
        "training only for train and reproduce, the estimates for evaluate",
        choices=PRECISIONS,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        choice("precision", self.precision, PRECISIONS)


@dataclass(frozen=True)
class TrainConfig(ComputeSettings):
    """One training run: the baseline (quadrant task) and one CVAE objective."""

    quadrants: int | None = setting(
        None, "quadrants given as input (required for the quadrant task)", choices=VALID_QUADRANTS
    )
    condition: str = setting(
        "quadrant",
        "condition on given quadrants, the digit label, or any visible region (mask)",
        choices=CONDITIONS,
    )
    mask_weights: tuple[float, ...] = setting(
        (1.0,) * len(MASK_KINDS),
        "mask task: mixture weights of " + ", ".join(MASK_KINDS) + " masks",
    )
    objective: str = setting("cvae", "training objective (Sohn et al., sec. 4)", choices=OBJECTIVES)
    alpha: float = setting(DEFAULT_ALPHA, "weight of the CVAE term in the hybrid objective")
    elbo: str = setting(
        "trace",
        "the cvae objective's estimate that SVI climbs: Trace_ELBO, TraceMeanField_ELBO "
        "(closed-form KL) or the IWAE bound",
        choices=ELBOS,
    )
    particles: int = setting(DEFAULT_PARTICLES, "K, latent draws per image of --elbo iwae")
    kl_warmup: int = setting(
        0, "epochs over which the KL term's weight rises linearly to 1 (0: from the start)"
    )
    prior: str = setting("conditional", "prior network p(z|x), or N(0, I)", choices=PRIORS)
    guess: bool = setting(True, "feed the baseline's guess y_hat to the prior network")
    epochs: int = setting(
        DEFAULT_EPOCHS, "most epochs per model (early stopping ends training first)"
    )
    patience: int = setting(
        DEFAULT_PATIENCE, "stop after this many epochs in a row without improvement"
    )
    lr_patience: int = setting(2, "multiply the learning rate by lr-decay after this many")
    lr_decay: float = setting(0.3, "factor applied to the learning rate on a plateau")
    min_improvement: float = setting(
        1e-3, "an epoch improves if it beats the best validation loss by this fraction"
    )
    batch_size: int = setting(128, "images per SVI step")
    lr: float = setting(1e-3, "initial Adam learning rate")
    z_dim: int = setting(DEFAULT_Z_DIM, "latent size")
    hidden: tuple[int, ...] = setting(DEFAULT_HIDDEN, "hidden widths of every network")
    seed: int = setting(0, "seeds the initial weights, the noise and the shuffling")
    out_dir: str = setting(
        "runs", "files go to OUT_DIR/q{n}/, OUT_DIR/label/ or OUT_DIR/mask/ (MNIST)"
    )
    limit: int | None = setting(None, "use only the first N images of each split")
    resume: bool = setting(False, "continue an interrupted run from its last checkpoint")
    quiet: bool = setting(False, "no progress bars or per-epoch lines")
    eval_batch_size: int = setting(2000, "images per batch when computing validation losses")
    figures: bool = setting(True, "write the sample figures after training")
    #: The option that names the run folders, in messages (reproduce sets ``--runs-dir``).
    folder_option: ClassVar[str] = "--out-dir"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for width in self.hidden:
            positive_int("hidden", width)
        object.__setattr__(self, "mask_weights", tuple(float(w) for w in self.mask_weights))
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first invalid setting."""
        if self.condition not in CONDITIONS:
            raise ConfigError(f"condition must be one of {CONDITIONS}, got {self.condition!r}")
        if self.condition == "quadrant":
            check_quadrants(self.quadrants)
        elif self.quadrants is not None:
            raise ConfigError("quadrants applies to the quadrant condition only")
        elif not self.guess:
            raise ConfigError("guess (the baseline's y_hat) applies to the quadrant condition only")
        try:
            mask_family(self.mask_weights)
        except ValueError as err:  # the family's own check, named as a setting
            raise ConfigError(str(err)) from None
        if self.condition != "mask" and chosen(self, "mask_weights"):
            raise ConfigError("mask_weights applies to the mask condition only")
        choice("dataset", self.dataset, DATASET_NAMES)
        choice("objective", self.objective, OBJECTIVES)
        choice("prior", self.prior, PRIORS)
        choice("device", self.device, DEVICES)
        for name in ("epochs", "batch_size", "z_dim", "eval_batch_size", "patience"):
            positive_int(name, getattr(self, name))
        positive_int("lr_patience", self.lr_patience)
        if not 0.0 < self.lr_decay <= 1.0:
            raise ConfigError(f"lr_decay must lie in (0, 1], got {self.lr_decay}")
        if not 0.0 <= self.min_improvement < 1.0:
            raise ConfigError(f"min_improvement must lie in [0, 1), got {self.min_improvement}")
        if self.limit is not None:
            positive_int("limit", self.limit)
        seed_in_range(self.seed)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive finite number, got {self.lr}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must lie in [0, 1], got {self.alpha}")
        if self.objective != "hybrid" and chosen(self, "alpha"):
            raise ConfigError(
                f"alpha weighs the hybrid objective only; --objective {self.objective} "
                "would ignore it (add --objective hybrid, or leave --alpha out)"
            )
        check_estimator(self, self.objective)
        if not self.hidden or min(self.hidden) < 1 or max(self.hidden) > MAX_WIDTH:
            raise ConfigError(f"hidden must be widths in 1..{MAX_WIDTH}, got {self.hidden}")
        if len(self.hidden) > MAX_LAYERS:
            raise ConfigError(
                f"hidden may have at most {MAX_LAYERS} layers, got {len(self.hidden)}"
            )
        if self.z_dim > MAX_WIDTH:
            raise ConfigError(f"z_dim must lie in 1..{MAX_WIDTH}, got {self.z_dim}")
        weights = network_weights(self.hidden, self.z_dim)
        if weights > MAX_NETWORK_WEIGHTS:
            raise ConfigError(
                f"hidden ({len(self.hidden)} layers, up to {max(self.hidden)} wide) with z_dim "
                f"{self.z_dim} makes networks of up to "
                f"{weights:,} weights, more than {MAX_NETWORK_WEIGHTS:,} (the memory grows "
                "with them): use fewer or narrower layers"
            )

    @property
    def run_dir(self) -> Path:
        """Folder of this task's files (see :func:`run_dir`)."""
        return run_dir(self.out_dir, self.condition, self.quadrants, self.dataset)

    @property
    def model_name(self) -> str:
        """The CVAE's file stem and row name (see :func:`model_name`)."""
        return model_name(self.objective, self.elbo, self.particles, self.kl_warmup)

    def task_keys(self) -> tuple[str, ...]:
        """Settings beyond :data:`ARCHITECTURE_KEYS` that this task's checkpoints record."""
        return MASK_KEYS if self.condition == "mask" else ()

    @property
    def family(self) -> MaskFamilyConfig:
        """The mask family of the mask task (its mixture weights from ``mask_weights``)."""
        return mask_family(self.mask_weights)

    def architecture(self) -> dict:
        """The settings a checkpoint must share with this run."""
        keys = ARCHITECTURE_KEYS + self.task_keys()
        return {key: plain(getattr(self, key)) for key in keys}

    def to_dict(self) -> dict:
        """All settings as JSON-friendly values."""
        return {k: plain(v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class EvaluateConfig(ComputeSettings):
    """Evaluate every model trained into one run folder."""

    quadrants: int | None = setting(
        None,
        "quadrant task to evaluate (omit with --condition label; with --condition mask: "
        "the mask model on this quadrant layout, else on the fixed family masks)",
        choices=VALID_QUADRANTS,
    )
    condition: str = setting("quadrant", "the task's condition", choices=CONDITIONS)
    out_dir: str = setting("runs", "the --out-dir used for training")
    split: str = setting("test", "split to evaluate on", choices=SPLITS)
    samples: int = setting(
        DEFAULT_SAMPLES, f"S, latent samples per image for MC, IS and -ELBO ({SAMPLES_LIMIT})"
    )
    seed: int = setting(0, "seed of the estimators' noise")
    limit: int | None = setting(None, "evaluate only the first N images")

    def __post_init__(self) -> None:
        super().__post_init__()
        choice("condition", self.condition, CONDITIONS)
        if self.condition == "quadrant":
            check_quadrants(self.quadrants)
        elif self.condition == "mask" and self.quadrants is not None:
            check_quadrants(self.quadrants)
        elif self.quadrants is not None:
            raise ConfigError(
                "quadrants applies to the quadrant condition only (and to a mask model, "
                "evaluated on that quadrant layout)"
            )
        check_samples("samples", self.samples)
        if self.limit is not None:
            positive_int("limit", self.limit)
        seed_in_range(self.seed)

    @property
    def run_dir(self) -> Path:
        """The training run's folder (see :func:`run_dir`)."""
        return run_dir(self.out_dir, self.condition, self.quadrants, self.dataset)


@dataclass(frozen=True)
class ReproduceConfig(ComputeSettings):
    """Train, evaluate and tabulate the 1/2/3-quadrant table."""

    quadrants: tuple[int, ...] = setting(
        VALID_QUADRANTS, "quadrant counts to run", choices=VALID_QUADRANTS
    )
    seeds: tuple[int, ...] = setting((0,), "training seeds")
    objectives: tuple[str, ...] = setting(OBJECTIVES, "CVAE objectives", choices=OBJECTIVES)
    elbo: str = setting(
        "trace", "with --objectives cvae: the estimate SVI climbs (see train --elbo)", choices=ELBOS
    )
    particles: int = setting(DEFAULT_PARTICLES, "K, latent draws per image of --elbo iwae")
    kl_warmup: int = setting(0, "with --objectives cvae: epochs of KL warm-up (see train)")
    mask_model: bool = setting(
        False, "also train the mask CVAE (OUT/mask) and add its rows for every quadrant count"
    )
    mask_only: bool = setting(
        False, "train and evaluate the mask CVAE only (its rows can join a table via --combine)"
    )
    epochs: int = setting(
        DEFAULT_EPOCHS, "most epochs per model (early stopping ends training first)"
    )
    patience: int = setting(DEFAULT_PATIENCE, "early stopping patience")
    samples: int = setting(DEFAULT_SAMPLES, f"S for MC, IS and -ELBO ({SAMPLES_LIMIT})")
    runs_dir: str = setting("runs/reproduce", "checkpoints (not committed)")
    results_dir: str = setting("results", "where the table and figures go")
    limit: int | None = setting(None, "only the first N images of each split (smoke runs)")
    quiet: bool = setting(False, "only the overall progress bar")
    combine: tuple[str, ...] | None = setting(
        None, "train nothing: pool the rows of these run.json files into one table"
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.combine is not None:
            check_unused(self, COMBINE_USES, "--combine trains nothing, it pools run.json rows")
        for name in ("quadrants", "seeds", "objectives"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
            twice = [v for i, v in enumerate(getattr(self, name)) if v in getattr(self, name)[:i]]
            if twice:  # a second time would train nothing new and count its rows twice
                raise ConfigError(f"--{name} lists {twice[0]} more than once; give each once")
        if self.mask_only:
            check_unused(self, MASK_ONLY_OPTIONS, MASK_ONLY_IGNORES, only=True)
        object.__setattr__(self, "mask_model", self.mask_model or self.mask_only)
        for q in self.quadrants:
            check_quadrants(q)
        for objective in self.objectives:
            choice("objective", objective, OBJECTIVES)
            check_estimator(self, objective)
        for seed in self.seeds:
            seed_in_range(seed)
        for name in ("epochs", "patience"):
            positive_int(name, getattr(self, name))
        check_samples("samples", self.samples)
        if self.limit is not None:
            positive_int("limit", self.limit)


#: The settings ``reproduce --combine`` reads; any other given is refused.
COMBINE_USES = ("combine", "results_dir", "dataset", "quiet")
#: Why ``reproduce --mask-only`` refuses ``--objectives``: it trains the mask CVAE alone.
MASK_ONLY_OPTIONS = ("objectives", "elbo", "particles", "kl_warmup")
MASK_ONLY_IGNORES = "--mask-only trains the mask CVAE only (with the cvae objective)"
