"""cvae_pyro: the conditional VAE of Sohn, Lee and Yan (NIPS 2015) in Pyro.

Importing the package changes nothing in the process and loads neither torch nor
Pyro: the names below are loaded from their modules when first used
(``cvae_pyro.CVAE`` imports :mod:`cvae_pyro.models`). The commands set up the
process themselves (:mod:`cvae_pyro.cli`).
"""

import importlib
import importlib.metadata

#: The public names, and the module each is defined in.
_EXPORTS = {
    "CVAE": "models",
    "BaselineNN": "models",
    "MaskBaselineNN": "models",
    "objective_pair": "objectives",
    "LabelCondition": "beyond.label",
    "MaskCondition": "beyond.any_mask",
    "QuadrantCondition": "conditions",
    "load_trained": "cli.model_files",
    "CompleteConfig": "cli.config",
    "EvaluateConfig": "cli.config",
    "ReproduceConfig": "cli.config",
    "SampleConfig": "cli.config",
    "TrainConfig": "cli.config",
    "MNIST": "data",
    "Split": "data",
    "load_dataset": "data",
    "CheckpointError": "cli.errors",
    "ConfigError": "cli.errors",
    "CvaePyroError": "cli.errors",
    "DataError": "data",
    "TrainingDiverged": "cli.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """Load a public name from its module on first use (PEP 562)."""
    if name == "__version__":  # written once, in pyproject.toml
        return importlib.metadata.version("cvae-pyro")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cvae_pyro' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
