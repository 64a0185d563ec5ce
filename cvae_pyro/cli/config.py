"""Every setting of every command, written once, and the command-line parsers made from them.

Each command (train, evaluate, reproduce, sample, complete) has one frozen dataclass
(:data:`COMMANDS`). A field's type says what a value is, its metadata the values it allows:
a tuple of choices, or an interval (an integer field is a positive integer unless it says
otherwise). :class:`Settings` checks every field, then the command's rules between fields
(``check``), and raises :class:`~cvae_pyro.cli.errors.ConfigError` naming the first bad
setting. :func:`build_parser` makes one option per field: its type, default and choices
from the field, its help text from the field's entry under "Attributes:" in the docstring,
the description from the docstring's first paragraph. The notebooks and tests build the
same dataclasses directly. The paper's defaults and choices are imported from the paper's
modules; the names of models and run folders (:func:`model_name`, :func:`run_dir`) are the
command line's own.
"""

import argparse
import dataclasses
import importlib.metadata
import inspect
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from ..beyond.mask_family import MASK_KINDS, MaskFamilyConfig, mask_family
from ..data import DATASET_NAMES, NUM_CLASSES
from ..estimators import DEFAULT_SAMPLES, MAX_ESTIMATE_SAMPLES
from ..masks import IMAGE_SIDE, VALID_QUADRANTS
from ..models import DEFAULT_HIDDEN, DEFAULT_Z_DIM, PRIORS
from ..objectives import DEFAULT_ALPHA, DEFAULT_PARTICLES, ELBOS, OBJECTIVES
from .errors import ConfigError

CONDITIONS = ("quadrant", "label", "mask")  #: what the CVAE is conditioned on
DEVICES = ("auto", "cpu", "cuda")  #: --device choices
PRECISIONS = ("fp32", "bf16")  #: --precision: fp32, or matrix products in bfloat16 (autocast)
SPLITS = ("validation", "test")  #: splits evaluation may use
DEFAULT_DATASET = "mnist"  #: --dataset default; checkpoints that record no dataset hold MNIST
KEEP_LAYOUTS = {"bottom-left": 1, "left": 2, "top-and-bottom-left": 3}  #: --keep: quadrants given
SAMPLES = f"[1, {MAX_ESTIMATE_SAMPLES}]"  #: --samples: the estimators' memory grows with S
SEEDS = "[0, 4294967295]"  #: numpy's seeds are 32-bit
#: Widths of a layer or the latent: far above any MNIST model (the defaults are 500 and 200),
#: low enough that a checkpoint claiming more is refused before it is allocated.
WIDTHS = "[1, 8192]"
BASELINE = "baseline"  #: the baseline NN's name: its checkpoints' file stem and its rows'
MODEL_FILES = (BASELINE, *OBJECTIVES)  #: the checkpoint file stems of a quadrant run folder
#: Row names in tables where not the file stem: the mask task's, apart from the specialists'.
ROW_NAMES = {"mask": {BASELINE: "mask_baseline", "cvae": "mask"}}
TITLE_PREFIXES = {"mask": "mask "}  #: how messages prefix a condition's model names
#: Conditions whose models are evaluated on any quadrant layout (``evaluate --quadrants``).
LAYOUT_EVALUATED = ("mask",)


def run_dir(
    out_dir: str | Path, condition: str, quadrants: int | None, dataset: str = DEFAULT_DATASET
) -> Path:
    """Folder of one task's files: ``out_dir/q{n}``, ``out_dir/label`` or ``out_dir/mask``.

    Other datasets than MNIST get their own folder level: ``out_dir/fashion-mnist/q{n}``.
    """
    base = Path(out_dir) if dataset == DEFAULT_DATASET else Path(out_dir) / dataset
    return base / (f"q{quadrants}" if condition == "quadrant" else condition)


def model_name(
    objective: str, elbo: str = "trace", particles: int = DEFAULT_PARTICLES, kl_warmup: int = 0
) -> str:
    """A CVAE's file stem and row name: the objective, then how it was estimated.

    ``cvae``, ``gsnn`` and ``hybrid`` for the paper's training; otherwise for example
    ``cvae-meanfield``, ``cvae-iwae5`` or ``cvae-iwae5-warmup10``.
    """
    parts = [objective, f"iwae{particles}" if elbo == "iwae" else elbo]
    parts += [f"warmup{kl_warmup}"] if kl_warmup else []
    return "-".join(part for part in parts if part != "trace")


def plain(value: object) -> object:
    """Tuples as lists, for JSON."""
    return list(value) if isinstance(value, tuple) else value


def setting(default: Any, allowed: tuple | str) -> Any:
    """A field whose values must be one of the tuple ``allowed``, or lie in the interval
    ``allowed``, written as in mathematics: "(0, 1]"."""
    return field(default=default, metadata={"allowed": allowed})


def value_type(f: dataclasses.Field) -> tuple[type, bool]:
    """The type of one value of field ``f`` (``int`` for ``tuple[int, ...] | None``), and
    whether the field holds several."""
    kind = typing.get_args(f.type)[0] if isinstance(f.type, types.UnionType) else f.type
    several = typing.get_origin(kind) is tuple
    return (typing.get_args(kind)[0] if several else kind), several


def inside(value: float, interval: str) -> bool:
    """Whether ``value`` lies in ``interval``, written as in mathematics: "(0, 1]"."""
    low, high = (float(end) for end in interval[1:-1].split(","))
    above = low < value if interval[0] == "(" else low <= value
    return above and (value < high if interval[-1] == ")" else value <= high)


def flag(f: dataclasses.Field) -> str:
    """The option of field ``f``: ``--batch-size``, or ``--no-figures`` for one on by default."""
    return ("--no-" if f.default is True else "--") + f.name.replace("_", "-")


@dataclass(frozen=True)
class Settings:
    """Base of the settings: checks each field's values, then the rules between fields.

    A command's settings document each field under "Attributes:": that is its help text.
    The first paragraph of their docstring is the command's description. An option that
    changes what train or reproduce makes is refused, when not at its default, where the
    command would ignore it (:meth:`refuse`); the other commands ignore what they do not read.
    """

    #: The command's advice after Ctrl-C.
    interrupted: ClassVar[str] = "run the same command again"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            kind, several = value_type(f)
            value = getattr(self, f.name)
            if several and isinstance(value, list):
                object.__setattr__(self, f.name, value := tuple(value))
            allowed = f.metadata.get("allowed", "[1, inf)" if kind is int else None)
            for item in value if several and value is not None else (value,):
                if allowed is None or (item is None and f.default is None):
                    continue
                if isinstance(allowed, tuple):
                    what, ok = f"one of {', '.join(map(str, allowed))}", item in allowed
                else:
                    what, ok = f"in {allowed}", type(item) in (int, kind) and inside(item, allowed)
                if not ok:
                    raise ConfigError(f"{flag(f)} must be {what}, got {item!r}")
        if getattr(self, "condition", None) == "quadrant" and self.quadrants is None:
            raise ConfigError("--quadrants must be 1, 2 or 3 (the number of quadrants given)")
        self.check()

    def check(self) -> None:
        """Raise :class:`ConfigError` if the settings do not fit together."""

    def refuse(self, ignored: bool, why: str, *names: str) -> None:
        """If ``ignored``: :class:`ConfigError` when one of the settings ``names`` is not its
        default."""
        for name in names if ignored else ():
            if getattr(self, name) != (f := self.__dataclass_fields__[name]).default:
                raise ConfigError(f"{why}: {flag(f)} does not apply (leave it out)")

    def exactly_one(self, *names: str) -> None:
        """:class:`ConfigError` unless exactly one of the settings ``names`` is given."""
        if sum(getattr(self, name) is not None for name in names) != 1:
            options = [flag(self.__dataclass_fields__[name]) for name in names]
            raise ConfigError(f"give exactly one of {', '.join(options[:-1])} and {options[-1]}")

    def check_estimator(self, objectives: tuple[str, ...]) -> None:
        """``--elbo``, ``--particles`` and ``--kl-warmup`` change how the cvae objective is
        estimated and weighted: refused for other objectives, ``--particles`` without IWAE."""
        not_iwae = "particles is K of the IWAE bound (add --elbo iwae)"
        self.refuse(self.elbo != "iwae", not_iwae, "particles")
        only_cvae = "--elbo and --kl-warmup apply to the cvae objective only"
        self.refuse(any(o != "cvae" for o in objectives), only_cvae, "elbo", "kl_warmup")


@dataclass(frozen=True)
class DataSettings(Settings):
    """The settings every command that reads a dataset shares (composed in by inheritance).

    Attributes:
        dataset: mnist or fashion-mnist
        data_dir: folder with the dataset's IDX files (else $CVAE_PYRO_DATA for MNIST,
            $CVAE_PYRO_FASHION_DATA for Fashion-MNIST)
        device: cpu, cuda, or auto (cuda when available)
    """

    dataset: str = setting(DEFAULT_DATASET, DATASET_NAMES)
    data_dir: str | None = None
    device: str = setting("auto", DEVICES)


@dataclass(frozen=True)
class ComputeSettings(DataSettings):
    """The data settings and the precision of the networks' matrix products.

    Attributes:
        precision: bf16: matrix products in bfloat16 (autocast), faster than fp32 on CUDA or a CPU with AMX;
            training only for train and reproduce, the estimates for evaluate
    """

    precision: str = setting("fp32", PRECISIONS)


@dataclass(frozen=True)
class TrainConfig(ComputeSettings):
    """Train the baseline NN and the CVAE of Sohn et al. (2015).

    One training run: the baseline (quadrant task) and one CVAE objective.

    Attributes:
        quadrants: quadrants given as input (required for the quadrant task)
        condition: condition on given quadrants, the digit label, or any visible region (mask)
        mask_weights: mask task: mixture weights of quadrants, rectangles, halves, strokes, pixels
            masks
        objective: training objective (Sohn et al., sec. 4)
        alpha: weight of the CVAE term in the hybrid objective
        elbo: the cvae objective's estimate that SVI climbs: Trace_ELBO, TraceMeanField_ELBO
            (closed-form KL) or the IWAE bound
        particles: K, latent draws per image of --elbo iwae
        kl_warmup: epochs over which the KL term's weight rises linearly to 1 (0: from the start)
        prior: prior network p(z|x), or N(0, I)
        guess: feed the baseline's guess y_hat to the prior network
        epochs: most epochs per model (early stopping ends training first)
        patience: stop after this many epochs in a row without improvement
        lr_patience: multiply the learning rate by lr-decay after this many
        lr_decay: factor applied to the learning rate on a plateau
        min_improvement: an epoch improves if it beats the best validation loss by this fraction
        batch_size: images per SVI step
        lr: initial Adam learning rate
        z_dim: latent size
        hidden: hidden widths of every network
        seed: seeds the initial weights, the noise and the shuffling
        out_dir: files go to OUT_DIR/q{n}/, OUT_DIR/label/ or OUT_DIR/mask/ (MNIST)
        limit: use only the first N images of each split
        resume: continue an interrupted run from its last checkpoint
        quiet: no progress bars or per-epoch lines
        eval_batch_size: images per batch when computing validation losses
        figures: write the sample figures after training
    """

    quadrants: int | None = setting(None, VALID_QUADRANTS)
    condition: str = setting("quadrant", CONDITIONS)
    mask_weights: tuple[float, ...] = (1.0,) * len(MASK_KINDS)
    objective: str = setting("cvae", OBJECTIVES)
    alpha: float = setting(DEFAULT_ALPHA, "[0, 1]")
    elbo: str = setting("trace", ELBOS)
    particles: int = setting(DEFAULT_PARTICLES, "[1, 1000]")  # the memory grows with K
    kl_warmup: int = setting(0, "[0, inf)")
    prior: str = setting("conditional", PRIORS)
    guess: bool = True
    epochs: int = 200  # a cap that early stopping always comes before
    patience: int = 5
    lr_patience: int = 2
    lr_decay: float = setting(0.3, "(0, 1]")
    min_improvement: float = setting(1e-3, "[0, 1)")
    batch_size: int = 128
    lr: float = setting(1e-3, "(0, inf)")
    z_dim: int = setting(DEFAULT_Z_DIM, WIDTHS)
    hidden: tuple[int, ...] = setting(DEFAULT_HIDDEN, WIDTHS)
    seed: int = setting(0, SEEDS)
    out_dir: str = "runs"
    limit: int | None = None
    resume: bool = False
    quiet: bool = False
    eval_batch_size: int = 2000
    figures: bool = True
    #: The option that names the run folders, in messages (reproduce sets ``--runs-dir``).
    folder_option: ClassVar[str] = "--out-dir"
    interrupted: ClassVar[str] = "run the same command with --resume to continue"

    def check(self) -> None:
        other = self.condition != "quadrant"
        self.refuse(other, "quadrants applies to the quadrant condition only", "quadrants")
        self.refuse(other, "the baseline's guess applies to the quadrant condition only", "guess")
        self.refuse(self.condition != "mask", "the mask condition only draws masks", "mask_weights")
        self.refuse(self.objective != "hybrid", "alpha weighs the hybrid objective only", "alpha")
        self.check_estimator((self.objective,))
        try:
            mask_family(self.mask_weights)
        except ValueError as err:  # the family's own check, named as a setting
            raise ConfigError(str(err)) from None
        # The largest network: the mask CVAE's prior network takes three images. At most 50
        # million weights: about 200 MB in float32, some 3 GB for the four networks with their
        # gradients and Adam's state (the defaults have about 1.7 million).
        widths = [3 * IMAGE_SIDE**2, *self.hidden, max(IMAGE_SIDE**2, 2 * self.z_dim)]
        weights = sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))
        if weights > 50_000_000:
            raise ConfigError(
                f"hidden ({len(self.hidden)} layers, up to {max(self.hidden)} wide) with z_dim {self.z_dim} makes networks of up to {weights:,} weights, more than 50,000,000 (the memory grows with them): use fewer or narrower layers"
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
        """Settings beyond those of every task that this task's checkpoints record."""
        return ("mask_weights",) if self.condition == "mask" else ()

    @property
    def family(self) -> MaskFamilyConfig:
        """The mask family of the mask task (its mixture weights from ``mask_weights``)."""
        return mask_family(self.mask_weights)

    def architecture(self) -> dict:
        """The settings a checkpoint must share with this run: those that fix the networks'
        shapes and objective."""
        keys = "condition quadrants z_dim hidden objective alpha elbo particles kl_warmup prior guess dataset"
        return {key: plain(getattr(self, key)) for key in [*keys.split(), *self.task_keys()]}

    def to_dict(self) -> dict:
        """All settings as JSON-friendly values."""
        return {k: plain(v) for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class EvaluateConfig(ComputeSettings):
    """Negative CLL estimates of trained models.

    Evaluates every model trained into one run folder.

    Attributes:
        quadrants: quadrant task to evaluate (omit with --condition label; with --condition mask:
            the mask model on this quadrant layout, else on the fixed family masks)
        condition: the task's condition
        out_dir: the --out-dir used for training
        split: split to evaluate on
        samples: S, latent samples per image for MC, IS and -ELBO (at most 10,000: the memory grows
            with S)
        seed: seed of the estimators' noise
        limit: evaluate only the first N images
    """

    quadrants: int | None = setting(None, VALID_QUADRANTS)
    condition: str = setting("quadrant", CONDITIONS)
    out_dir: str = "runs"
    split: str = setting("test", SPLITS)
    samples: int = setting(DEFAULT_SAMPLES, SAMPLES)
    seed: int = setting(0, SEEDS)
    limit: int | None = None

    interrupted: ClassVar[str] = "nothing was saved; run it again"

    run_dir = TrainConfig.run_dir  #: the training run's folder


@dataclass(frozen=True)
class ReproduceConfig(ComputeSettings):
    """Train, evaluate and tabulate the CLL table.

    The 1/2/3-quadrant table of the paper, for every seed and objective.

    Attributes:
        quadrants: quadrant counts to run
        seeds: training seeds
        objectives: CVAE objectives
        elbo: with --objectives cvae: the estimate SVI climbs (see train --elbo)
        particles: K, latent draws per image of --elbo iwae
        kl_warmup: with --objectives cvae: epochs of KL warm-up (see train)
        mask_model: also train the mask CVAE (OUT/mask) and add its rows for every quadrant count
        mask_only: train and evaluate the mask CVAE only (its rows can join a table via --combine)
        epochs: most epochs per model (early stopping ends training first)
        patience: early stopping patience
        samples: S for MC, IS and -ELBO (at most 10,000: the memory grows with S)
        runs_dir: checkpoints (not committed)
        results_dir: where the table and figures go
        limit: only the first N images of each split (smoke runs)
        quiet: only the overall progress bar
        combine: train nothing: pool the rows of these run.json files into one table
    """

    quadrants: tuple[int, ...] = setting(VALID_QUADRANTS, VALID_QUADRANTS)
    seeds: tuple[int, ...] = setting((0,), SEEDS)
    objectives: tuple[str, ...] = setting(OBJECTIVES, OBJECTIVES)
    elbo: str = setting("trace", ELBOS)
    particles: int = setting(DEFAULT_PARTICLES, "[1, 1000]")  # the memory grows with K
    kl_warmup: int = setting(0, "[0, inf)")
    mask_model: bool = False
    mask_only: bool = False
    epochs: int = 200  # a cap that early stopping always comes before
    patience: int = 5
    samples: int = setting(DEFAULT_SAMPLES, SAMPLES)
    runs_dir: str = "runs/reproduce"
    results_dir: str = "results"
    limit: int | None = None
    quiet: bool = False
    combine: tuple[str, ...] | None = None

    interrupted: ClassVar[str] = "run the same command again to continue; it resumes by itself"

    def check(self) -> None:
        uses = ("combine", "results_dir", "dataset", "quiet")  # all that --combine reads
        unused = [f.name for f in dataclasses.fields(self) if f.name not in uses]
        pools = "--combine trains nothing, it pools run.json rows"
        self.refuse(self.combine is not None, pools, *unused)
        for name in ("quadrants", "seeds", "objectives"):  # each once: rows are counted once
            object.__setattr__(self, name, tuple(dict.fromkeys(getattr(self, name))))
        mask_only = "--mask-only trains the mask CVAE only (with the cvae objective)"
        self.refuse(self.mask_only, mask_only, "objectives", "elbo", "particles", "kl_warmup")
        object.__setattr__(self, "mask_model", self.mask_model or self.mask_only)
        self.check_estimator(self.objectives)


@dataclass(frozen=True)
class SampleConfig(Settings):
    """Draw digits from a label CVAE trained with --condition label, or a picture's style
    as every class.

    Attributes:
        digit: a digit 0..9, or 'all' for a 10-row grid
        style_of: or: a picture (PNG, JPEG, ...; read as `complete` reads it): every class drawn in
            its style, the picture first
        interpolate: or: two pictures A B: ten steps from A's style to B's, drawn as --label
        label: the class of the pictures (0..9): needed by --interpolate; with --style-of it skips
            reading the class
        samples: S, latent samples per label when --style-of reads the class (at most 10,000: the
            memory grows with S)
        n: samples per digit (1..100) of --digit
        out: image to write, format from its suffix (default digit_<d>.png, digits.png, styles.png
            or interpolation.png)
        out_dir: the --out-dir used for training
        checkpoint: checkpoint to load (default OUT_DIR/label/cvae.pt,
            OUT_DIR/fashion-mnist/label/...)
        seed: seed of the latent noise (and of the IS estimates of --style-of)
        device: cpu, cuda, or auto (cuda when available)
        dataset: mnist or fashion-mnist
    """

    digit: str | None = setting(None, ("all", *map(str, range(NUM_CLASSES))))
    style_of: str | None = None
    interpolate: tuple[str, ...] | None = None
    label: int | None = setting(None, f"[0, {NUM_CLASSES - 1}]")
    samples: int = setting(DEFAULT_SAMPLES, SAMPLES)
    n: int = setting(16, "[1, 100]")
    out: str | None = None
    out_dir: str = "runs"
    checkpoint: str | None = None
    seed: int = setting(0, SEEDS)
    device: str = setting("auto", DEVICES)
    dataset: str = setting(DEFAULT_DATASET, DATASET_NAMES)

    interrupted: ClassVar[str] = "nothing was written; run it again"

    def check(self) -> None:
        self.exactly_one("digit", "style_of", "interpolate")
        if self.interpolate is not None and len(self.interpolate) != 2:
            raise ConfigError(f"--interpolate takes two pictures A B, got {len(self.interpolate)}")
        if self.label is None and self.interpolate is not None:
            raise ConfigError("--interpolate needs --label N, the class both pictures are drawn as")


@dataclass(frozen=True)
class CompleteConfig(DataSettings):
    """Complete any region of a picture with a trained mask CVAE.

    A quadrant CVAE completes its own quadrant layout.

    Attributes:
        image: a PNG or JPEG of any size: made into an MNIST-like image
        index: or: the index of a dataset image in --split
        split: split that --index reads
        keep: the region to keep: a quadrant layout
        mask: or: a 28x28 mask image, white = visible
        hide: or: rectangles x0,y0,x1,y1 to hide (28x28 coordinates, x1 and y1 excluded)
        n: completions to draw (1..100)
        out: PNG to write
        out_dir: the --out-dir used for training
        seed: seed of the latent noise
    """

    image: str | None = None
    index: int | None = setting(None, "[0, inf)")
    split: str = setting("test", ("train", *SPLITS))
    keep: str | None = setting(None, tuple(KEEP_LAYOUTS))
    mask: str | None = None
    hide: tuple[str, ...] | None = None
    n: int = setting(8, "[1, 100]")
    out: str = "completions.png"
    out_dir: str = "runs"
    seed: int = setting(0, SEEDS)

    def check(self) -> None:
        self.exactly_one("image", "index")
        self.exactly_one("keep", "mask", "hide")


#: The settings of each command; its work is the ``<name>_command`` function of
#: :mod:`cvae_pyro.cli.commands`.
COMMANDS = {
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
    "reproduce": ReproduceConfig,
    "sample": SampleConfig,
    "complete": CompleteConfig,
}


def help_texts(config: type) -> dict[str, str]:
    """Each field's help text: its entry under "Attributes:" in the docstrings of ``config``
    and its bases."""
    texts: dict[str, str] = {}
    for cls in reversed(config.__mro__):
        name = ""
        for line in inspect.cleandoc(cls.__doc__ or "").partition("Attributes:")[2].splitlines():
            if line.startswith(" " * 8):  # an entry's next line
                texts[name] += " " + line.strip()
            elif line.strip():
                name, _, texts[name] = line.strip().partition(": ")
    return texts


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (exit status 2, and a hint at --help)."""

    def error(self, message: str, status: int = 2, hint: str = " (see --help)") -> NoReturn:
        self.exit(status, f"{self.prog}: error: {message}{hint}\n")


def add_config_options(parser: argparse.ArgumentParser, config: type) -> None:
    """One option per field of the dataclass ``config`` (see the module's docstring).

    ``name: bool = False`` becomes ``--name``; ``name: bool = True`` becomes ``--no-name``;
    ``tuple[T, ...]`` takes one or more values. The parsed arguments hold only the options
    given (``argparse.SUPPRESS``): the dataclass fills in its defaults.
    """
    texts = help_texts(config)
    for f in dataclasses.fields(config):
        (kind, several), text = value_type(f), texts.get(f.name, "")
        allowed = f.metadata.get("allowed")
        options = {"type": kind, "nargs": "+" if several else None}
        options["choices"] = allowed if isinstance(allowed, tuple) else None
        if kind is bool:
            options = {"action": "store_false" if f.default else "store_true"}
            text = f"do not {text[0].lower()}{text[1:]}" if f.default else text
        elif f.default is not None:
            text += f" (default: {' '.join(map(str, f.default)) if several else f.default})"
        parser.add_argument(flag(f), dest=f.name, default=argparse.SUPPRESS, help=text, **options)


def build_parser(name: str) -> Parser:
    """The parser of ``python -m cvae_pyro.<name>``: its description is the first paragraph
    of the settings' docstring."""
    about = " ".join(inspect.cleandoc(COMMANDS[name].__doc__).split("\n\n")[0].split())
    parser = Parser(prog=f"python -m cvae_pyro.{name}", description=about)
    version = f"cvae_pyro {importlib.metadata.version('cvae-pyro')}"
    parser.add_argument("--version", action="version", version=version)
    add_config_options(parser, COMMANDS[name])
    return parser
