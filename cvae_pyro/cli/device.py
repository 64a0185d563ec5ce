"""Where the networks run: the device, and the matrix products' precision.

``--device auto`` is CUDA when a GPU is there, else the CPU (:func:`resolve_device`).
``--precision bf16`` runs the networks under bfloat16 autocast
(:func:`precision_context`): faster than fp32 on a GPU and on a CPU with AMX, slower on
one without (docs/performance.md).
"""

import torch

from .errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto`` means cuda when available; asking for cuda without a GPU is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is available")
    return torch.device(name if name != "auto" else "cuda" if torch.cuda.is_available() else "cpu")


def precision_context(precision: str, device: torch.device) -> torch.autocast:
    """Where the networks run: under bf16 autocast for bf16 (the matrix products in
    bfloat16; the networks hand fp32 parameters of the distributions back, so the
    log-densities are computed in fp32), as they are (autocast off) for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
