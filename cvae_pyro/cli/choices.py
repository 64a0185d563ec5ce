"""The choices and limits of the settings, and the names of models and run folders.

The paper's defaults and choices (priors, sizes, objectives, estimators, datasets) are
imported from the paper's modules, so that each is written once; the rest are the
command line's own: folder and file names, limits, and the names of models in files and
tables (:func:`model_name`, :func:`run_dir`). The settings themselves, with the choices
and limits only they use, are in :mod:`cvae_pyro.cli.config`.
"""

from __future__ import annotations

from pathlib import Path

# The paper's names that the command line shows (they are defined in the paper's modules).
from ..data import DATASET_NAMES, NUM_CLASSES  # noqa: F401
from ..estimators import DEFAULT_SAMPLES, MAX_ESTIMATE_SAMPLES  # noqa: F401
from ..masks import IMAGE_SIDE, VALID_QUADRANTS  # noqa: F401
from ..objectives import DEFAULT_PARTICLES, ELBOS, OBJECTIVES

#: How messages prefix a condition's model names ("mask cvae"), where they do.
TITLE_PREFIXES = {"mask": "mask "}
#: Row names in tables where not the file stem: the mask task's, apart from the specialists'.
ROW_NAMES = {"mask": {"baseline": "mask_baseline", "cvae": "mask"}}
#: Conditions whose models are evaluated on any quadrant layout (``evaluate --quadrants``).
LAYOUT_EVALUATED = ("mask",)
BASELINE = "baseline"  #: the baseline NN's name: its checkpoints' file stem and its rows'
MODEL_FILES = (BASELINE, *OBJECTIVES)  #: the checkpoint file stems of a quadrant run folder
MASK_MODEL = "mask"  #: the mask CVAE's name in evaluation rows and tables
MASK_BASELINE = "mask_baseline"  #: the mask task's baseline NN in evaluation rows and tables
MAX_PARTICLES = 1000  #: most IWAE particles: the memory of a training step grows with K
DEFAULT_DATASET = "mnist"  #: --dataset default; checkpoints that record no dataset hold MNIST
KEEP_LAYOUTS = {"bottom-left": 1, "left": 2, "top-and-bottom-left": 3}  #: --keep: quadrants given
#: --precision choices: fp32, or the matrix products in bfloat16 (autocast; opt-in)
PRECISIONS = ("fp32", "bf16")
MAX_SEED = 2**32 - 1  #: numpy's seeds are 32-bit
#: Widest layer or latent a config accepts: far above any MNIST model (the defaults are 500
#: and 200), low enough that a checkpoint claiming more is refused before it is allocated.
MAX_WIDTH = 8192


def run_dir(
    out_dir: str | Path, condition: str, quadrants: int | None, dataset: str = DEFAULT_DATASET
) -> Path:
    """Folder of one task's files: ``out_dir/q{n}``, ``out_dir/label`` or ``out_dir/mask``.

    Other datasets than MNIST get their own folder level: ``out_dir/fashion-mnist/q{n}``.
    """
    base = Path(out_dir) if dataset == DEFAULT_DATASET else Path(out_dir) / dataset
    return base / (f"q{quadrants}" if condition == "quadrant" else condition)


def plain(value: object) -> object:
    """Tuples as lists, for JSON."""
    return list(value) if isinstance(value, tuple) else value


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
    "elbo": "iwae", "particles": 5, "kl_warmup": 0}``.
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
        else:
            found["elbo"] = word
    usable = objective == "cvae" or (objective in OBJECTIVES and not parts)
    if not usable or found["elbo"] not in ELBOS or not 1 <= found["particles"] <= MAX_PARTICLES:
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
