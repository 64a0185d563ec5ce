"""cvae_pyro: the conditional VAE of Sohn, Lee and Yan (NIPS 2015) in Pyro.

Importing the package changes nothing in the process and loads neither torch nor
Pyro: the names below are loaded from their modules when first used
(``cvae_pyro.CVAE`` imports :mod:`cvae_pyro.models`). The commands set up the
process themselves (:mod:`cvae_pyro.cli`).
"""

import importlib.metadata

#: The public names, by the module that defines them.
_MODULES = {
    "models": ["CVAE", "BaselineNN", "MaskBaselineNN"],
    "objectives": ["objective_pair"],
    "conditions": ["QuadrantCondition"],
    "beyond.label": ["LabelCondition"],
    "beyond.any_mask": ["MaskCondition"],
    "data": ["MNIST", "Split", "load_dataset", "DataError"],
    "cli.model_files": ["load_trained"],
    "cli.config": [f"{c}Config" for c in ("Complete", "Evaluate", "Reproduce", "Sample", "Train")],
    "cli.errors": ["CheckpointError", "ConfigError", "CvaePyroError", "TrainingDiverged"],
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    """Load a public name from its module on first use (PEP 562)."""
    if name == "__version__":  # written once, in pyproject.toml
        return importlib.metadata.version("cvae-pyro")
    if name not in _EXPORTS:
        raise AttributeError(f"module 'cvae_pyro' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
