"""cvae_pyro: the conditional VAE of Sohn, Lee and Yan (NIPS 2015) in Pyro."""

import os
import signal
import sys
import warnings

# How long torch's idle OpenMP threads spin before they sleep (libgomp, the OpenMP of
# the Linux wheels). Measured on 2 cores, one CVAE SVI step at the default sizes:
# libgomp's default spin (OMP_WAIT_POLICY unset) takes 11.8 ms alone but 290-510 ms
# when two processes share the cores; OMP_WAIT_POLICY=PASSIVE (no spin) 20 ms in both
# cases; a short spin of 3000 iterations 13.6 ms alone and 27 ms shared. The short
# spin is the default here; either variable set in the environment wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "3000")

# Pyro imports tqdm.auto at import time, which in a Jupyter kernel without ipywidgets
# warns once about a widget progress bar that this package never uses (its own bars
# are plain text).
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")

# ruff: noqa: E402

# Loading torch and Pyro takes seconds. When a command starts (``python -m
# cvae_pyro.X``: argv[0] is "-m" while the package loads; or a cvae-pyro-* script),
# Ctrl-C in that time prints one line and exits 130 at once: a KeyboardInterrupt raised
# inside torch's or numpy's own imports can surface as some other error, or as none.
INTERRUPTED_WHILE_STARTING = "cvae_pyro: interrupted while starting (nothing was written)"


def _exit_interrupted(signum, frame):  # a SIGINT handler
    sys.stderr.write(INTERRUPTED_WHILE_STARTING + "\n")
    sys.stderr.flush()
    os._exit(130)


_command = bool(sys.argv) and (
    sys.argv[0] == "-m" or os.path.basename(sys.argv[0]).startswith("cvae-pyro-")
)
_previous = signal.getsignal(signal.SIGINT)
if _command:
    try:
        signal.signal(signal.SIGINT, _exit_interrupted)
    except ValueError:  # not the main thread
        _command = False

from .conditions import LabelCondition, MaskCondition, QuadrantCondition
from .config import CompleteConfig, EvaluateConfig, ReproduceConfig, SampleConfig, TrainConfig
from .data import MNIST, Split, load_dataset, load_mnist
from .errors import CheckpointError, ConfigError, CvaePyroError, DataError, TrainingDiverged
from .models import CVAE, BaselineNN, MaskBaselineNN
from .objectives import objective_pair

if _command:
    signal.signal(signal.SIGINT, _previous)

__version__ = "0.2.0"

__all__ = [
    "CVAE",
    "MNIST",
    "BaselineNN",
    "CheckpointError",
    "CompleteConfig",
    "ConfigError",
    "CvaePyroError",
    "DataError",
    "EvaluateConfig",
    "LabelCondition",
    "MaskBaselineNN",
    "MaskCondition",
    "QuadrantCondition",
    "ReproduceConfig",
    "SampleConfig",
    "Split",
    "TrainConfig",
    "TrainingDiverged",
    "load_dataset",
    "load_mnist",
    "objective_pair",
]
