"""cvae_pyro: the conditional VAE of Sohn, Lee and Yan (NIPS 2015) in Pyro."""

import os
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

# Loading torch and Pyro takes seconds; Ctrl-C then gets a command's one line and
# exit status 130, not a traceback from deep inside torch's import.
try:
    from .conditions import LabelCondition, MaskCondition, QuadrantCondition
    from .config import CompleteConfig, EvaluateConfig, ReproduceConfig, SampleConfig, TrainConfig
    from .data import MNIST, Split, load_dataset, load_mnist
    from .errors import CheckpointError, ConfigError, CvaePyroError, DataError, TrainingDiverged
    from .models import CVAE, BaselineNN, MaskBaselineNN
    from .objectives import objective_pair
except KeyboardInterrupt:
    sys.stderr.write("cvae_pyro: interrupted while starting (nothing was written)\n")
    raise SystemExit(130) from None

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
