"""One SVI step against its own matrix products, timed side by side in one run.

    python benchmarks/step.py [--quadrants 1] [--precision fp32|bf16] [--rounds 5]
        [--data-dir DIR] [--out benchmarks/step.json]

The CVAE of ``python -m cvae_pyro.train`` (default sizes, batch 128) takes SVI
steps with ``Trace_ELBO`` exactly as training does (:func:`cvae_pyro.training.make_svi`
and :func:`~cvae_pyro.training.svi_step`). One step is recorded first: every
matrix product it runs (``aten::mm``, ``addmm``, ``bmm``, forward and backward),
with its shapes, strides and dtype, caught by a ``TorchDispatchMode``. Then the
rounds alternate: a round of full steps, a round of those same products alone
(replayed on fresh tensors of the same layouts, in the same order). The ratio of
the medians, *step / its matrix products*, is the overhead of everything else
(Pyro's tracing, the distributions, the element-wise work, Adam) and holds on
any machine: the matrix products are the floor a step cannot go below.

Run it with nothing else on the machine. ``--precision bf16`` is refused where the
commands refuse it; ``--measure-anyway`` times it there too.
"""

from __future__ import annotations

# ruff: noqa: E402  (the OpenMP spin is set before torch is imported)
import argparse
import json
import platform
import statistics
import time

from cvae_pyro.cli import tune_openmp

tune_openmp()

# isort: split
import pyro
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from cvae_pyro.conditions import build_baseline, build_cvae
from cvae_pyro.config import PRECISIONS, TrainConfig
from cvae_pyro.data import bf16_speedup, check_precision, load_mnist, precision_context
from cvae_pyro.training import make_svi, svi_step

MATMULS = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default}


class MatmulRecorder(TorchDispatchMode):
    """Records every matrix product dispatched inside it: ``(op, [(shape, stride, dtype)])``."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in MATMULS:
            layouts = [(tuple(a.shape), a.stride(), a.dtype) for a in args if torch.is_tensor(a)]
            self.calls.append((func, layouts))
        return func(*args, **(kwargs or {}))


def replay_inputs(calls: list[tuple]) -> list[tuple]:
    """Fresh tensors with each recorded call's shapes, strides and dtypes."""
    replays = []
    for func, layouts in calls:
        tensors = []
        for shape, stride, dtype in layouts:
            base = torch.randn(shape, dtype=torch.float32).to(dtype)
            tensors.append(torch.empty_strided(shape, stride, dtype=dtype).copy_(base))
        replays.append((func, tensors))
    return replays


def time_matmuls(replays: list[tuple], repeats: int) -> float:
    """Median seconds of one pass over the recorded products."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for func, tensors in replays:
            func(*tensors)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_steps(step, batches: list[tuple], repeats: int) -> float:
    """Median seconds of one SVI step, over ``repeats`` steps on the given batches."""
    times = []
    for i in range(repeats):
        batch = batches[i % len(batches)]
        start = time.perf_counter()
        step(*batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def flops(calls: list[tuple]) -> int:
    """FLOPs of the recorded products (2 m n k each)."""
    total = 0
    for _, layouts in calls:
        shapes = [shape for shape, _, _ in layouts]
        a, b = shapes[-2], shapes[-1]  # addmm's first tensor is the bias
        batch = a[0] if len(a) == 3 else 1
        total += 2 * batch * a[-2] * a[-1] * b[-1]
    return total


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quadrants", type=int, default=1, choices=(1, 2, 3))
    p.add_argument("--precision", default="fp32", choices=PRECISIONS)
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds of each")
    p.add_argument("--steps", type=int, default=60, help="steps (or product passes) a round")
    p.add_argument(
        "--measure-anyway",
        action="store_true",
        help="time bf16 even where the commands refuse it (to show how much slower it is)",
    )
    p.add_argument("--data-dir")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)
    pyro.set_rng_seed(0)
    cfg = TrainConfig(quadrants=args.quadrants, precision=args.precision)
    train = load_mnist(args.data_dir).train.head(64 * cfg.batch_size)
    cvae = build_cvae(cfg, build_baseline(cfg))
    x, y = cvae.condition.pairs(train)
    batches = [
        (x[i : i + cfg.batch_size], y[i : i + cfg.batch_size]) for i in range(0, len(y), 128)
    ]
    if not args.measure_anyway:
        check_precision(cfg.precision, x.device)
    svi, _ = make_svi(cvae, (cvae.model, cvae.guide), cfg.lr)
    autocast = precision_context(cfg.precision, x.device)

    def step(xb, yb):
        return svi_step(svi, (xb, yb), autocast)

    for batch in batches[:5]:  # warm-up: parameters registered, caches filled
        step(*batch)
    recorder = MatmulRecorder()
    with recorder:
        step(*batches[0])
    replays = replay_inputs(recorder.calls)
    time_matmuls(replays, 5)
    rounds = []
    for _ in range(args.rounds):
        step_s = time_steps(step, batches, args.steps)
        matmul_s = time_matmuls(replays, args.steps)
        rounds.append({"step_seconds": step_s, "matmul_seconds": matmul_s})
    step_s = statistics.median(r["step_seconds"] for r in rounds)
    matmul_s = statistics.median(r["matmul_seconds"] for r in rounds)
    gflop = flops(recorder.calls) / 1e9
    result = {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "quadrants": cfg.quadrants,
        "precision": cfg.precision,
        "bf16_probe_speedup": bf16_speedup(x.device),
        "batch_size": cfg.batch_size,
        "matmuls_per_step": len(recorder.calls),
        "matmul_gflop_per_step": gflop,
        "rounds": rounds,
        "step_ms": 1e3 * step_s,
        "matmul_ms": 1e3 * matmul_s,
        "step_over_matmuls": step_s / matmul_s,
        "matmul_gflops": gflop / matmul_s,
        "step_images_per_second": cfg.batch_size / step_s,
    }
    print(
        f"{args.precision}, {args.quadrants} quadrant(s), batch {cfg.batch_size}: step "
        f"{result['step_ms']:.2f} ms, its {len(recorder.calls)} matrix products "
        f"{result['matmul_ms']:.2f} ms ({result['matmul_gflops']:.0f} GFLOP/s): "
        f"step = {result['step_over_matmuls']:.2f}x its matrix products "
        f"({result['step_images_per_second']:.0f} images/s), medians of {args.rounds} rounds"
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return result


if __name__ == "__main__":
    main()
