"""cvae_pyro: the conditional VAE of Sohn, Lee and Yan (NIPS 2015) in Pyro."""

import os
import warnings

# OpenMP threads that spin while waiting make torch many times slower when another
# process shares the cores (measured: 34 s instead of 8 s for a small training run on
# 2 shared cores). Passive waiting costs little when alone; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Pyro imports tqdm.auto at import time, which in a Jupyter kernel without ipywidgets
# warns once about a widget progress bar that this package never uses (its own bars
# are plain text).
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")

# ruff: noqa: E402

from .conditions import LabelCondition, MaskCondition, QuadrantCondition
from .config import CompleteConfig, EvaluateConfig, ReproduceConfig, SampleConfig, TrainConfig
from .data import MNIST, Split, load_dataset, load_mnist
from .errors import CheckpointError, ConfigError, CvaePyroError, DataError, TrainingDiverged
from .models import CVAE, BaselineNN, MaskBaselineNN
from .objectives import objective_pair

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
