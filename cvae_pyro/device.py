"""Where the networks run: the device, and the matrix products' precision.

``--device auto`` is CUDA when a GPU is there, else the CPU (:func:`resolve_device`).
``--precision bf16`` runs the networks under bfloat16 autocast
(:func:`precision_context`); :func:`check_precision` refuses it, before any work, where
it would be slower than fp32.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time

import torch

from .errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """``auto`` means cuda when available; asking for cuda without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but no CUDA GPU is available")
    return torch.device(name)


#: bf16 is refused unless its matrix products run at least this much faster than fp32's
BF16_MIN_SPEEDUP = 1.1
#: Set to 1, this lets ``--precision bf16`` run on a CPU where it is slower (to measure its
#: accuracy there); the speed is then not checked.
BF16_ANYWAY_ENV_VAR = "CVAE_PYRO_BF16_ANYWAY"
PROBE_SHAPE = (128, 784, 500)  #: (m, k, n) of the probe: the model's first layer at batch 128


@functools.cache
def bf16_speedup(device: torch.device, repeats: int = 15) -> float:
    """How much faster bf16 matrix products run than fp32 ones here (median of ``repeats``).

    Measured once per process: a command that trains several models probes once.

    Times the three products of a training step's first layer at batch 128 (forward
    ``(128, 784) @ (784, 500)``, and the two of its backward pass) in fp32 and in bf16,
    alternating, and returns the median over the repeats of fp32's time over bf16's
    (about 0.1 s on a CPU).
    """
    m, k, n = PROBE_SHAPE
    operands = {}
    for dtype in (torch.float32, torch.bfloat16):
        x, w, g = (
            torch.randn(*shape, device=device).to(dtype) for shape in ((m, k), (n, k), (m, n))
        )
        operands[dtype] = (x, w, g)

    def seconds(dtype: torch.dtype) -> float:
        x, w, g = operands[dtype]
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        x @ w.t(), g @ w, g.t() @ x  # noqa: B018  (forward, input and weight gradients)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for _ in range(3):  # warm-up: kernels chosen and compiled
        seconds(torch.float32), seconds(torch.bfloat16)
    ratios = [seconds(torch.float32) / seconds(torch.bfloat16) for _ in range(repeats)]
    return sorted(ratios)[len(ratios) // 2]


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse ``--precision bf16`` where it would be slower than fp32 (one-line ConfigError).

    On CUDA it needs a GPU with bf16 (``torch.cuda.is_bf16_supported``). On a CPU it
    needs AVX512-BF16 or AMX (as ``torch.cpu`` reports them), and then a probe of the
    matrix products (:func:`bf16_speedup`) must find bf16 at least
    :data:`BF16_MIN_SPEEDUP` times as fast as fp32: some CPUs with AVX512-BF16 but no
    AMX run bf16 products slower than fp32 ones. With ``$CVAE_PYRO_BF16_ANYWAY=1`` a
    CPU is not checked (bf16 runs, however slow).
    """
    if precision == "fp32":
        return
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise ConfigError("--precision bf16: this GPU has no bfloat16; use fp32")
        return
    if os.environ.get(BF16_ANYWAY_ENV_VAR) == "1":
        return
    flags = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    if not flags:
        raise ConfigError(
            "--precision bf16 would be slower than fp32 here: the CPU has neither AVX512-BF16 "
            "nor AMX (torch.cpu reports them); use fp32"
        )
    speedup = bf16_speedup(device)
    if speedup < BF16_MIN_SPEEDUP:
        m, k, n = PROBE_SHAPE
        raise ConfigError(
            f"--precision bf16 would be slower than fp32 here: bf16 matrix products "
            f"({m}x{k} @ {k}x{n} and its backward) ran at {speedup:.2f}x the speed of fp32 ones on this CPU "
            f"(AVX512-BF16 {'with' if torch.cpu._is_amx_tile_supported() else 'without'} AMX); "
            f"use fp32 (or set {BF16_ANYWAY_ENV_VAR}=1 to run it anyway)"
        )


def precision_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """Where the networks run: as they are for fp32, under bf16 autocast for bf16.

    Autocast runs the matrix products in bfloat16; the networks hand fp32 parameters of
    the distributions back, so the log-densities are computed in fp32.
    """
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
