"""cvae_pyro: the conditional VAE of Sohn, Lee and Yan (NIPS 2015) in Pyro.

Importing the package changes nothing in the process and loads neither torch nor
Pyro: the names below are loaded from their modules when first used
(``cvae_pyro.CVAE`` imports :mod:`cvae_pyro.models`). The commands set up the
process themselves (:mod:`cvae_pyro.cli`).
"""

import importlib

#: The public names, and the module each is defined in.
_EXPORTS = {
    "CVAE": "models",
    "BaselineNN": "models",
    "MaskBaselineNN": "models",
    "objective_pair": "objectives",
    "LabelCondition": "generation",
    "MaskCondition": "random_masks",
    "QuadrantCondition": "conditions",
    "load_trained": "trained",
    "CompleteConfig": "draw_config",
    "EvaluateConfig": "config",
    "ReproduceConfig": "config",
    "SampleConfig": "draw_config",
    "TrainConfig": "config",
    "MNIST": "data",
    "Split": "data",
    "load_dataset": "data",
    "CheckpointError": "errors",
    "ConfigError": "errors",
    "CvaePyroError": "errors",
    "DataError": "data",
    "TrainingDiverged": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """Load a public name from its module on first use (PEP 562)."""
    if name == "__version__":  # written once, in pyproject.toml
        return importlib.import_module(".cli_parsers", __name__).version()
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cvae_pyro' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
