"""Where the networks run: the device, and the matrix products' precision.

``--device auto`` is CUDA when a GPU is there, else the CPU (:func:`resolve_device`).
``--precision bf16`` runs the networks under bfloat16 autocast
(:func:`precision_context`) where the hardware computes bfloat16 products fast
(:func:`check_precision`).
"""

import os

import torch

from .errors import ConfigError

#: Set to 1, this lets ``--precision bf16`` run on a CPU without AMX, where it is slower
#: than fp32 (to measure its accuracy there).
BF16_ANYWAY_ENV_VAR = "CVAE_PYRO_BF16_ANYWAY"


def resolve_device(name: str) -> torch.device:
    """``auto`` means cuda when available; asking for cuda without a GPU is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is available")
    return torch.device(name if name != "auto" else "cuda" if torch.cuda.is_available() else "cpu")


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse ``--precision bf16`` (one line, ConfigError) where the hardware has no fast
    bfloat16 products: on CUDA a GPU without bf16 (``torch.cuda.is_bf16_supported``); on
    a CPU, one without AMX (``torch.cpu._is_amx_tile_supported``), where oneDNN's bf16
    products run slower than fp32 ones, even with AVX512-BF16 (docs/performance.md),
    unless ``$CVAE_PYRO_BF16_ANYWAY=1``."""
    if precision == "fp32":
        return
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("--precision bf16: this GPU has no bfloat16; use fp32")
    fast = torch.cpu._is_amx_tile_supported() or os.environ.get(BF16_ANYWAY_ENV_VAR) == "1"
    if device.type == "cpu" and not fast:
        raise ConfigError(
            "--precision bf16 would be slower than fp32 here: this CPU has no AMX (as "
            f"torch.cpu reports it); use fp32 (or set {BF16_ANYWAY_ENV_VAR}=1 to run it anyway)"
        )


def precision_context(precision: str, device: torch.device) -> torch.autocast:
    """Where the networks run: under bf16 autocast for bf16 (the matrix products in
    bfloat16; the networks hand fp32 parameters of the distributions back, so the
    log-densities are computed in fp32), as they are (autocast off) for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
