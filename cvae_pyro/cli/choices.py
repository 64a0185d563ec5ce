"""Every choice and limit of the settings, their names and the checks of single values.

The choices a setting can take, the limits of sizes and counts, the names of models and
run folders (:func:`model_name`, :func:`run_dir`), the mask family's parameters, and
the functions that check one value and raise :class:`~cvae_pyro.cli.errors.ConfigError`
naming it. Nothing here needs torch, so the command line answers ``--help`` before
the library is imported. For that reason the defaults and limits of the paper's code that
the options show are written here again: ``PRIORS``, ``DEFAULT_Z_DIM`` and ``DEFAULT_HIDDEN``
of :mod:`cvae_pyro.models`, ``DEFAULT_SAMPLES`` and ``MAX_ESTIMATE_SAMPLES`` of
:mod:`cvae_pyro.estimators` (a test checks that the two agree).
"""

from __future__ import annotations

import dataclasses
from contextvars import ContextVar
from pathlib import Path

from .errors import ConfigError

DATASET_NAMES = ("mnist", "fashion-mnist")  #: the choices of --dataset (data.DATASETS)
CONDITIONS = ("quadrant", "label", "mask")  #: what the CVAE is conditioned on
#: How messages prefix a condition's model names ("mask cvae"), where they do.
TITLE_PREFIXES = {"mask": "mask "}
#: Row names in tables where not the file stem: the mask task's, apart from the specialists'.
ROW_NAMES = {"mask": {"baseline": "mask_baseline", "cvae": "mask"}}
#: Conditions whose models are evaluated on any quadrant layout (``evaluate --quadrants``).
LAYOUT_EVALUATED = ("mask",)
OBJECTIVES = ("cvae", "gsnn", "hybrid")  #: training objectives of Sohn et al. (sec. 4)
BASELINE = "baseline"  #: the baseline NN's name: its checkpoints' file stem and its rows'
MODEL_FILES = (BASELINE, *OBJECTIVES)  #: the checkpoint file stems of a quadrant run folder
MASK_MODEL = "mask"  #: the mask CVAE's name in evaluation rows and tables
MASK_BASELINE = "mask_baseline"  #: the mask task's baseline NN in evaluation rows and tables
#: --elbo choices, the estimate of the CVAE objective that SVI climbs: Trace_ELBO,
#: TraceMeanField_ELBO (the KL term in closed form), or the IWAE bound with K particles.
ELBOS = ("trace", "meanfield", "iwae")
DEFAULT_PARTICLES = 5  #: --particles default: K of the IWAE bound
MAX_PARTICLES = 1000  #: most IWAE particles: the memory of a training step grows with K
PRIORS = ("conditional", "standard")  #: prior network p(z|x), or N(0, I)
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
DEFAULT_EPOCHS = 200  #: --epochs default: a cap that early stopping always comes before
DEFAULT_PATIENCE = 5  #: --patience default: epochs without improvement before stopping
DEFAULT_Z_DIM = 200  #: --z-dim default: the paper's latent size
DEFAULT_HIDDEN = (500, 500)  #: --hidden default: two hidden layers of 500, as in the paper

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


def run_dir(
    out_dir: str | Path, condition: str, quadrants: int | None, dataset: str = DEFAULT_DATASET
) -> Path:
    """Folder of one task's files: ``out_dir/q{n}``, ``out_dir/label`` or ``out_dir/mask``.

    Other datasets than MNIST get their own folder level: ``out_dir/fashion-mnist/q{n}``.
    """
    base = Path(out_dir) if dataset == DEFAULT_DATASET else Path(out_dir) / dataset
    return base / (f"q{quadrants}" if condition == "quadrant" else condition)


#: The options given on the command line while :mod:`cvae_pyro.cli` builds a command's
#: settings (None otherwise): an option the command would ignore is refused when given,
#: even with its default value.
GIVEN: ContextVar[frozenset[str] | None] = ContextVar("GIVEN", default=None)


def chosen(config: object, name: str) -> bool:
    """Whether setting ``name`` of the dataclass ``config`` was chosen: given on the command
    line (:data:`GIVEN`), or, for settings made in Python, different from its default."""
    given = GIVEN.get()
    if given is not None:
        return name in given
    field = config.__dataclass_fields__[name]
    factory = field.default_factory
    return getattr(config, name) != (field.default if factory is dataclasses.MISSING else factory())


def check_unused(config: object, names: tuple[str, ...], why: str, only: bool = False) -> None:
    """Raise :class:`ConfigError` if a setting that this run ignores was chosen (:func:`chosen`).

    ``names`` are the settings it reads (or, with ``only``, the ones it ignores).
    """
    for f in dataclasses.fields(config):
        ignored = f.name in names if only else f.name not in names
        if ignored and chosen(config, f.name):
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


def check_estimator(config: object, objective: str) -> None:
    """ConfigError unless ``config``'s ``elbo``, ``particles`` and ``kl_warmup`` fit ``objective``.

    They change how the cvae objective is estimated and weighted while training, so they
    apply to ``--objective cvae`` only; ``particles`` to ``--elbo iwae`` only.
    """
    elbo, particles, kl_warmup = config.elbo, config.particles, config.kl_warmup
    choice("elbo", elbo, ELBOS)
    positive_int("particles", particles)
    if particles > MAX_PARTICLES:
        raise ConfigError(f"particles must lie in 1..{MAX_PARTICLES}, got {particles}")
    if isinstance(kl_warmup, bool) or not isinstance(kl_warmup, int) or kl_warmup < 0:
        raise ConfigError(f"kl_warmup must be a whole number of epochs >= 0, got {kl_warmup!r}")
    if elbo != "iwae" and chosen(config, "particles"):
        raise ConfigError("particles is K of the IWAE bound: add --elbo iwae, or leave it out")
    if objective != "cvae" and (chosen(config, "elbo") or chosen(config, "kl_warmup")):
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


def model_settings(name: str) -> dict | None:
    """The objective and estimator settings a CVAE's name stands for (None: not a CVAE name).

    The inverse of :func:`model_name`: ``"cvae-iwae5"`` gives ``{"objective": "cvae",
    "elbo": "iwae", "particles": 5, "kl_warmup": 0}``. A name counts when
    :func:`model_name` gives it back from the settings read.
    """
    objective, *parts = name.split("-")
    found = {
        "objective": objective,
        "elbo": "trace",
        "particles": DEFAULT_PARTICLES,
        "kl_warmup": 0,
    }
    for part in parts:  # "iwae5", "warmup10", "meanfield"
        word = part.rstrip("0123456789")
        number = int(part[len(word) :] or 0)
        if word == "iwae":
            found.update(elbo="iwae", particles=number)
        elif word == "warmup":
            found["kl_warmup"] = number
        elif word == "meanfield":
            found["elbo"] = word
    usable = objective == "cvae" or (objective in OBJECTIVES and not parts)
    if not usable or not 1 <= found["particles"] <= MAX_PARTICLES:
        return None
    return found if model_name(**found) == name else None


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
