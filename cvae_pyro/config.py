"""Every setting of every command, written once: type, default and help text.

Each command (train, evaluate, reproduce, sample) has one dataclass here. The
command-line parsers are generated from these fields (:mod:`cvae_pyro.cli`), the
notebooks and tests build the same dataclasses directly, and ``validate`` raises
:class:`~cvae_pyro.errors.ConfigError` naming the first bad setting.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .errors import ConfigError

# Every choice a setting can take is defined here, so that this module needs no torch
# and the command line answers --help before the library is imported.
CONDITIONS = ("quadrant", "label", "mask")  #: what the CVAE is conditioned on
OBJECTIVES = ("cvae", "gsnn", "hybrid")  #: training objectives of Sohn et al. (sec. 4)
#: --elbo choices, the estimate of the CVAE objective that SVI climbs: Trace_ELBO,
#: TraceMeanField_ELBO (the KL term in closed form), or the IWAE bound with K particles.
ELBOS = ("trace", "meanfield", "iwae")
DEFAULT_PARTICLES = 5  #: --particles default: K of the IWAE bound
MAX_PARTICLES = 1000  #: most IWAE particles: the memory of a training step grows with K
PRIORS = ("conditional", "standard")  #: prior network p(z|x), or N(0, I)
DATASET_NAMES = ("mnist", "fashion-mnist")  #: the choices of --dataset
VALID_QUADRANTS = (1, 2, 3)  #: how many quadrants the model may be given
IMAGE_SIDE = 28  #: pixels per image side
NUM_CLASSES = 10  #: labels 0..9 (digits, or Fashion-MNIST's classes)
DEFAULT_SAMPLES = 100  #: S, the number of latent samples per image of the estimators
#: Most latent samples per image (S) a command accepts: the estimators hold S samples of
#: every pixel of a chunk of images at once, so memory grows with S (about 160 kB per
#: sample per 50 images; some 1.6 GB per tensor at this bound).
MAX_ESTIMATE_SAMPLES = 10_000
SAMPLES_LIMIT = f"at most {MAX_ESTIMATE_SAMPLES:,}: the memory grows with S"  #: --samples help
#: Kinds of random mask in the mask task's family, in sampling order.
MASK_KINDS = ("quadrants", "rectangles", "halves", "strokes", "pixels")
LONGEST_SIDE = IMAGE_SIDE - 1  #: longest rectangle side, so that a rectangle never fills the image
DEFAULT_DATASET = "mnist"  #: --dataset default; checkpoints that record no dataset hold MNIST
KEEP_LAYOUTS = {"bottom-left": 1, "left": 2, "top-and-bottom-left": 3}  #: --keep: quadrants given
DEVICES = ("auto", "cpu", "cuda")  #: --device choices
#: --precision choices: fp32, or the matrix products in bfloat16 (autocast; opt-in)
PRECISIONS = ("fp32", "bf16")
SPLITS = ("validation", "test")  #: splits evaluation may use
MAX_SEED = 2**32 - 1  #: numpy's seeds are 32-bit
#: Widest layer or latent a config accepts: far above any MNIST model (the defaults are 500
#: and 200), low enough that a checkpoint claiming more is refused before it is allocated.
MAX_WIDTH = 8192
MAX_LAYERS = 64  #: most hidden layers per network (the defaults have 2)
#: Most weights one network may have: about 200 MB in float32, some 3 GB for the four
#: networks with their gradients and Adam's state (the defaults have about 1.7 million).
MAX_NETWORK_WEIGHTS = 50_000_000
DEFAULT_ALPHA = 0.5  #: --alpha default: weight of the CVAE term in the hybrid objective

#: Settings that fix the networks' shapes and objective; a checkpoint must match them.
ARCHITECTURE_KEYS = (
    "condition",
    "quadrants",
    "z_dim",
    "hidden",
    "objective",
    "alpha",
    "elbo",
    "particles",
    "kl_warmup",
    "prior",
    "guess",
    "dataset",
)
MASK_KEYS = ("mask_weights",)  #: further settings a mask-task checkpoint must match


@dataclass(frozen=True)
class MaskFamilyConfig:
    """Mixture weights and shape parameters of the mask family (see the module docstring)."""

    quadrants: float = 1.0  # weight of the three quadrant layouts
    rectangles: float = 1.0  # weight of a hidden (or kept) random rectangle
    halves: float = 1.0  # weight of a random visible half
    strokes: float = 1.0  # weight of random brush strokes hidden
    pixels: float = 1.0  # weight of independently kept pixels
    rectangle_min_side: int = 4  # shortest rectangle side, pixels
    rectangle_max_side: int = 20  # longest rectangle side, pixels (at most 27)
    rectangle_keep_prob: float = 0.5  # chance that the rectangle is visible, the rest hidden
    max_strokes: int = 3  # strokes per mask, uniform on 1..max_strokes
    stroke_vertices: int = 4  # points per stroke polyline (segments + 1)
    stroke_min_step: float = 3.0  # shortest segment of a stroke, pixels
    stroke_max_step: float = 10.0  # longest segment of a stroke, pixels
    stroke_min_width: float = 2.0  # thinnest brush, pixels
    stroke_max_width: float = 5.0  # thickest brush, pixels
    min_keep_rate: float = 0.1  # lowest fraction of pixels kept by the pixels kind
    max_keep_rate: float = 0.9  # highest fraction of pixels kept by the pixels kind

    def __post_init__(self) -> None:
        weights = self.weights()
        if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
            raise ConfigError(f"mask weights must be >= 0 with a positive sum, got {weights}")
        _check_range(
            "rectangle side", self.rectangle_min_side, self.rectangle_max_side, 1, LONGEST_SIDE
        )
        _check_range("stroke step", self.stroke_min_step, self.stroke_max_step, 0, IMAGE_SIDE)
        _check_range("stroke width", self.stroke_min_width, self.stroke_max_width, 1, IMAGE_SIDE)
        _check_range("keep rate", self.min_keep_rate, self.max_keep_rate, 0, 1)
        if not 0 <= self.rectangle_keep_prob <= 1:
            raise ConfigError(
                f"rectangle_keep_prob must be in [0, 1], got {self.rectangle_keep_prob}"
            )
        if self.max_strokes < 1 or self.stroke_vertices < 2:
            raise ConfigError("max_strokes must be >= 1 and stroke_vertices >= 2")

    def weights(self) -> tuple[float, ...]:
        """The mixture weights, in the order of :data:`MASK_KINDS`."""
        return tuple(float(getattr(self, kind)) for kind in MASK_KINDS)


def _check_range(what: str, low: float, high: float, lowest: float, highest: float) -> None:
    if not lowest <= low <= high <= highest:
        raise ConfigError(f"{what}: need {lowest} <= {low} <= {high} <= {highest}")


def setting(default: Any = dataclasses.MISSING, help: str = "", **meta: Any) -> Any:
    """A dataclass field with its command-line help (and optional ``choices``)."""
    if isinstance(default, tuple | list):
        value = tuple(default)
        return field(default_factory=lambda: value, metadata={"help": help, **meta})
    return field(default=default, metadata={"help": help, **meta})


def run_dir(
    out_dir: str | Path, condition: str, quadrants: int | None, dataset: str = DEFAULT_DATASET
) -> Path:
    """Folder of one task's files: ``out_dir/q{n}``, ``out_dir/label`` or ``out_dir/mask``.

    Other datasets than MNIST get their own folder level: ``out_dir/fashion-mnist/q{n}``.
    """
    base = Path(out_dir) if dataset == DEFAULT_DATASET else Path(out_dir) / dataset
    return base / (f"q{quadrants}" if condition == "quadrant" else condition)


def dataset_setting() -> Any:
    """The ``--dataset`` field every command shares."""
    return setting(DEFAULT_DATASET, "mnist or fashion-mnist", choices=DATASET_NAMES)


def mask_family(weights: tuple[float, ...]) -> MaskFamilyConfig:
    """The mask family with mixture ``weights`` in the order of :data:`MASK_KINDS`."""
    if len(weights) != len(MASK_KINDS):
        raise ConfigError(
            f"mask_weights needs {len(MASK_KINDS)} weights ({', '.join(MASK_KINDS)}), "
            f"got {len(weights)}"
        )
    return MaskFamilyConfig(**dict(zip(MASK_KINDS, map(float, weights), strict=True)))


@dataclass
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


@dataclass
class ComputeSettings(DataSettings):
    """The data settings and the precision of the networks' matrix products."""

    precision: str = setting(
        "fp32",
        "bf16: matrix products in bfloat16 (autocast), where the CPU has AVX512-BF16 or "
        "AMX, or on CUDA; training only for train and reproduce, the estimates for evaluate",
        choices=PRECISIONS,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        choice("precision", self.precision, PRECISIONS)


@dataclass
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
    epochs: int = setting(200, "most epochs per model (early stopping ends training first)")
    patience: int = setting(5, "stop after this many epochs in a row without improvement")
    lr_patience: int = setting(2, "multiply the learning rate by lr-decay after this many")
    lr_decay: float = setting(0.3, "factor applied to the learning rate on a plateau")
    min_improvement: float = setting(
        1e-3, "an epoch improves if it beats the best validation loss by this fraction"
    )
    batch_size: int = setting(128, "images per SVI step")
    lr: float = setting(1e-3, "initial Adam learning rate")
    z_dim: int = setting(200, "latent size")
    hidden: tuple[int, ...] = setting((500, 500), "hidden widths of every network")
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
        self.hidden = tuple(int(h) for h in self.hidden)
        self.mask_weights = tuple(float(w) for w in self.mask_weights)
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
        mask_family(self.mask_weights)
        if self.condition != "mask" and self.mask_weights != (1.0,) * len(MASK_KINDS):
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
        if self.objective != "hybrid" and self.alpha != DEFAULT_ALPHA:
            raise ConfigError(
                f"alpha weighs the hybrid objective only; --objective {self.objective} "
                "would ignore it (add --objective hybrid, or leave --alpha out)"
            )
        check_estimator(self.objective, self.elbo, self.particles, self.kl_warmup)
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


@dataclass
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


@dataclass
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
    epochs: int = setting(200, "most epochs per model (early stopping ends training first)")
    patience: int = setting(5, "early stopping patience")
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
            setattr(self, name, tuple(getattr(self, name)))
            twice = [v for i, v in enumerate(getattr(self, name)) if v in getattr(self, name)[:i]]
            if twice:  # a second time would train nothing new and count its rows twice
                raise ConfigError(f"--{name} lists {twice[0]} more than once; give each once")
        if self.mask_only:
            check_unused(self, MASK_ONLY_OPTIONS, MASK_ONLY_IGNORES, only=True)
        self.mask_model = self.mask_model or self.mask_only
        for q in self.quadrants:
            check_quadrants(q)
        for objective in self.objectives:
            choice("objective", objective, OBJECTIVES)
            check_estimator(objective, self.elbo, self.particles, self.kl_warmup)
        for seed in self.seeds:
            seed_in_range(seed)
        for name in ("epochs", "patience"):
            positive_int(name, getattr(self, name))
        check_samples("samples", self.samples)
        if self.limit is not None:
            positive_int("limit", self.limit)


@dataclass
class SampleConfig:
    """Draw digits from a trained label CVAE, or carry a picture's style to every class."""

    digit: str | None = setting(None, "a digit 0..9, or 'all' for a 10-row grid")
    style_of: str | None = setting(
        None,
        "or: a picture (PNG, JPEG, ...; read as `complete` reads it): every class drawn "
        "in its style, the picture first",
    )
    interpolate: tuple[str, ...] | None = setting(
        None, "or: two pictures A B: ten steps from A's style to B's, drawn as --label"
    )
    label: int | None = setting(
        None,
        "the class of the pictures (0..9): needed by --interpolate; with --style-of it "
        "skips reading the class",
    )
    samples: int = setting(
        DEFAULT_SAMPLES,
        f"S, latent samples per label when --style-of reads the class ({SAMPLES_LIMIT})",
    )
    n: int = setting(16, "samples per digit (1..100) of --digit")
    out: str | None = setting(
        None,
        "image to write, format from its suffix (default digit_<d>.png, digits.png, "
        "styles.png or interpolation.png)",
    )
    out_dir: str = setting("runs", "the --out-dir used for training")
    checkpoint: str | None = setting(
        None, "checkpoint to load (default OUT_DIR/label/cvae.pt, OUT_DIR/fashion-mnist/label/...)"
    )
    seed: int = setting(0, "seed of the latent noise (and of the IS estimates of --style-of)")
    device: str = setting("auto", "cpu, cuda, or auto (cuda when available)", choices=DEVICES)
    dataset: str = dataset_setting()

    def __post_init__(self) -> None:
        choice("dataset", self.dataset, DATASET_NAMES)
        seed_in_range(self.seed)
        if self.interpolate is not None:
            self.interpolate = tuple(self.interpolate)
        tasks = {"--digit": self.digit, "--style-of": self.style_of}
        tasks["--interpolate"] = self.interpolate
        given = [flag for flag, value in tasks.items() if value is not None]
        if len(given) != 1:
            both = f"; got {' and '.join(given)}" if given else ""
            raise ConfigError(f"give exactly one of --digit, --style-of and --interpolate{both}")
        if self.interpolate is not None and len(self.interpolate) != 2:
            raise ConfigError(f"--interpolate takes two pictures A B, got {len(self.interpolate)}")
        if self.label is not None:
            if self.digit is not None:
                raise ConfigError(
                    "--label goes with --style-of or --interpolate; --digit names its own"
                )
            if isinstance(self.label, bool) or not 0 <= self.label < NUM_CLASSES:
                raise ConfigError(f"--label must be a class 0..9, got {self.label}")
        elif self.interpolate is not None:
            raise ConfigError("--interpolate needs --label N, the class both pictures are drawn as")
        check_samples("--samples", self.samples)
        unused, why = SAMPLE_IGNORES[given[0] + (" --label" if self.label is not None else "")]
        check_unused(self, unused, why, only=True)


@dataclass
class CompleteConfig(DataSettings):
    """Complete the hidden part of a picture with a trained mask CVAE (or a quadrant CVAE)."""

    image: str | None = setting(None, "a PNG or JPEG of any size: made into an MNIST-like image")
    index: int | None = setting(None, "or: the index of a dataset image in --split")
    split: str = setting("test", "split that --index reads", choices=("train", *SPLITS))
    keep: str | None = setting(
        None, "the region to keep: a quadrant layout", choices=tuple(KEEP_LAYOUTS)
    )
    mask: str | None = setting(None, "or: a 28x28 mask image, white = visible")
    hide: tuple[str, ...] | None = setting(
        None, "or: rectangles x0,y0,x1,y1 to hide (28x28 coordinates, x1 and y1 excluded)"
    )
    n: int = setting(8, "completions to draw (1..100)")
    out: str = setting("completions.png", "PNG to write")
    out_dir: str = setting("runs", "the --out-dir used for training")
    seed: int = setting(0, "seed of the latent noise")

    def __post_init__(self) -> None:
        super().__post_init__()
        seed_in_range(self.seed)
        if (self.image is None) == (self.index is None):
            raise ConfigError("give exactly one of --image PATH and --index N")
        if self.image is not None:
            check_unused(self, IMAGE_IGNORES, "--image reads no dataset", only=True)
        if self.index is not None and (isinstance(self.index, bool) or self.index < 0):
            raise ConfigError(f"--index must be 0 or more, got {self.index}")
        regions = [self.keep, self.mask, self.hide]
        if sum(r is not None for r in regions) != 1:
            raise ConfigError("give exactly one of --keep, --mask and --hide")
        if self.keep is not None:
            choice("keep", self.keep, tuple(KEEP_LAYOUTS))
        if not 1 <= self.n <= 100:
            raise ConfigError(f"--n must lie in 1..100, got {self.n}")


#: The settings ``reproduce --combine`` reads; any other given is refused.
COMBINE_USES = ("combine", "results_dir", "dataset", "quiet")
#: Why ``reproduce --mask-only`` refuses ``--objectives``: it trains the mask CVAE alone.
MASK_ONLY_OPTIONS = ("objectives", "elbo", "particles", "kl_warmup")
MASK_ONLY_IGNORES = "--mask-only trains the mask CVAE only (with the cvae objective)"
#: The settings ``complete --image`` does not read (they pick a dataset image).
IMAGE_IGNORES = ("split", "data_dir")
#: The settings each kind of ``sample`` does not read, and why: --n counts the samples of
#: --digit, --samples is the S of reading a class, --seed seeds either's noise.
SAMPLE_IGNORES = {
    "--digit": (("samples",), "--digit reads no class"),
    "--style-of": (("n",), "--style-of draws each class once"),
    "--style-of --label": (
        ("n", "samples", "seed"),
        "--style-of with --label reads no class and draws each class once, without noise",
    ),
    "--interpolate --label": (
        ("n", "samples", "seed"),
        "--interpolate draws its steps without noise",
    ),
}


def check_unused(config: object, names: tuple[str, ...], why: str, only: bool = False) -> None:
    """Raise :class:`ConfigError` if a setting that this run ignores differs from its default.

    ``names`` are the settings it reads (or, with ``only``, the ones it ignores).
    """
    for f in dataclasses.fields(config):
        ignored = f.name in names if only else f.name not in names
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if ignored and getattr(config, f.name) != default:
            option = "--" + f.name.replace("_", "-")
            raise ConfigError(f"{why}: {option} does not apply to it (leave it out)")


def plain(value: object) -> object:
    """Tuples as lists, for JSON."""
    return list(value) if isinstance(value, tuple) else value


def choice(name: str, value: object, choices: tuple) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")


def positive_int(name: str, value: object) -> None:
    """Raise :class:`ConfigError` unless ``value`` is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def network_weights(hidden: tuple[int, ...], z_dim: int) -> int:
    """Weights and biases of the largest network ``hidden`` and ``z_dim`` make (an upper bound).

    The widest input is the mask CVAE's prior network (the visible pixels, the mask and
    the baseline's guess: three images), the widest output 784 pixels or ``2 * z_dim``.
    """
    widths = [3 * IMAGE_SIDE**2, *hidden, max(IMAGE_SIDE**2, 2 * z_dim)]
    return sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))


def check_samples(name: str, value: object) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an integer in 1..:data:`MAX_ESTIMATE_SAMPLES`."""
    positive_int(name, value)
    if value > MAX_ESTIMATE_SAMPLES:
        raise ConfigError(
            f"{name} must be at most {MAX_ESTIMATE_SAMPLES} (the memory grows with S), got {value}"
        )


def seed_in_range(seed: object) -> None:
    """Raise :class:`ConfigError` unless ``seed`` is an integer in 0..2**32-1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"seed must be an integer in 0..{MAX_SEED}, got {seed!r}")


def check_estimator(objective: str, elbo: str, particles: int, kl_warmup: int) -> None:
    """ConfigError unless ``elbo``, ``particles`` and ``kl_warmup`` fit ``objective``.

    They change how the cvae objective is estimated and weighted while training, so they
    apply to ``--objective cvae`` only; ``particles`` to ``--elbo iwae`` only.
    """
    choice("elbo", elbo, ELBOS)
    positive_int("particles", particles)
    if particles > MAX_PARTICLES:
        raise ConfigError(f"particles must lie in 1..{MAX_PARTICLES}, got {particles}")
    if isinstance(kl_warmup, bool) or not isinstance(kl_warmup, int) or kl_warmup < 0:
        raise ConfigError(f"kl_warmup must be a whole number of epochs >= 0, got {kl_warmup!r}")
    if elbo != "iwae" and particles != DEFAULT_PARTICLES:
        raise ConfigError("particles is K of the IWAE bound: add --elbo iwae, or leave it out")
    if objective != "cvae" and (elbo != "trace" or kl_warmup):
        raise ConfigError(
            f"--elbo and --kl-warmup apply to the cvae objective only, not to {objective}"
        )


def model_name(
    objective: str, elbo: str = "trace", particles: int = DEFAULT_PARTICLES, kl_warmup: int = 0
) -> str:
    """A CVAE's file stem and row name: the objective, then how it was estimated.

    ``cvae``, ``gsnn`` and ``hybrid`` for the paper's training; otherwise for example
    ``cvae-meanfield``, ``cvae-iwae5`` or ``cvae-iwae5-warmup10``.
    """
    parts = [objective]
    if elbo != "trace":
        parts.append(f"iwae{particles}" if elbo == "iwae" else elbo)
    if kl_warmup:
        parts.append(f"warmup{kl_warmup}")
    return "-".join(parts)


MODEL_NAME = re.compile(r"cvae(-meanfield|-iwae(?P<k>[1-9][0-9]*))?(-warmup(?P<w>[1-9][0-9]*))?")


def model_settings(name: str) -> dict | None:
    """The objective and estimator settings a CVAE's name stands for (None: not a CVAE name).

    The inverse of :func:`model_name`: ``"cvae-iwae5"`` gives ``{"objective": "cvae",
    "elbo": "iwae", "particles": 5, "kl_warmup": 0}``.
    """
    if name in OBJECTIVES:
        return {"objective": name, "elbo": "trace", "particles": DEFAULT_PARTICLES, "kl_warmup": 0}
    found = MODEL_NAME.fullmatch(name)
    if found is None or int(found["k"] or 1) > MAX_PARTICLES:
        return None
    elbo = "iwae" if found["k"] else ("meanfield" if "meanfield" in name else "trace")
    return {
        "objective": "cvae",
        "elbo": elbo,
        "particles": int(found["k"] or DEFAULT_PARTICLES),
        "kl_warmup": int(found["w"] or 0),
    }


def estimator_title(name: str) -> str:
    """How tables describe a CVAE beyond the paper's training, e.g. "IWAE bound, K = 5"."""
    settings = model_settings(name) or {}
    words = {
        "meanfield": ["TraceMeanField_ELBO"],
        "iwae": [f"IWAE bound, K = {settings.get('particles')}"],
    }.get(settings.get("elbo"), [])
    if settings.get("kl_warmup"):
        words.append(f"KL warm-up {settings['kl_warmup']} epochs")
    return ", ".join(words) or "Trace_ELBO"


def check_quadrants(quadrants: object) -> int:
    """``quadrants`` if it is 1, 2 or 3 (quadrants given); else :class:`ConfigError`."""
    if (
        not isinstance(quadrants, int)
        or isinstance(quadrants, bool)
        or quadrants not in VALID_QUADRANTS
    ):
        raise ConfigError(
            f"quadrants must be 1, 2 or 3 (the number of quadrants given), got {quadrants!r}"
        )
    return quadrants  # type: ignore[return-value]
