"""One SVI step against its own matrix products, timed side by side in one run.

    python benchmarks/step.py [--quadrants 1] [--precision fp32|bf16] [--rounds 5]
        [--data-dir DIR] [--out benchmarks/step.json]

The CVAE of ``python -m cvae_pyro.train`` (default sizes, batch 128) takes SVI
steps with ``Trace_ELBO`` exactly as training does (:class:`cvae_pyro.cli.experiment.CheckedSVI`
with the fused Adam). One step is recorded first: every
matrix product it runs (``aten::mm``, ``addmm``, ``bmm``, forward and backward),
with its shapes, strides and dtype, caught by a ``TorchDispatchMode``. Then the
rounds alternate: a round of full steps, a round of those same products alone
(replayed on fresh tensors of the same layouts, in the same order). The ratio of
the medians, *step / its matrix products*, is the overhead of everything else
(Pyro's tracing, the distributions, the element-wise work, Adam) and holds on
any machine: the matrix products are the floor a step cannot go below.

Two more things are timed beside them, to say where the rest goes: the same loss
written in plain PyTorch (no Pyro) with the same fused Adam step, and its forward and
backward passes alone (no optimizer). Each batch runs all four, in a rotating order,
so that the machine's drift touches them alike; each round's figures are medians over
its batches, the result the median over rounds.

Run it with nothing else on the machine.
"""

from __future__ import annotations

# ruff: noqa: E402  (the OpenMP spin is set before torch is imported)
import argparse
import statistics
import time

from cvae_pyro.cli import tune_openmp

tune_openmp()

# isort: split
import pyro
import torch
from pyro.infer import Trace_ELBO
from speed import bf16_speedup, machine  # noqa: I001  (speed.py sits beside this script)
from torch.distributions import Normal
from torch.utils._python_dispatch import TorchDispatchMode

from cvae_pyro.cli.config import PRECISIONS, TrainConfig
from cvae_pyro.cli.device import precision_context
from cvae_pyro.cli.experiment import CheckedSVI
from cvae_pyro.cli.files import save_json
from cvae_pyro.cli.model_files import build_baseline, build_cvae
from cvae_pyro.data import load_dataset
from cvae_pyro.fit import FusedAdam
from cvae_pyro.models import grey_bernoulli

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


def matmul_pass(replays: list[tuple]) -> None:
    """The recorded products once, in their order."""
    for func, tensors in replays:
        func(*tensors)


def plain_step(cvae, adam: torch.optim.Optimizer | None, x: torch.Tensor, y: torch.Tensor) -> float:
    """The same CVAE loss as Trace_ELBO's, written in PyTorch without Pyro, and its step.

    -[log p(y|x,z) + log p(z|x) - log q(z|x,y)] for one reparameterized z ~ q(z|x,y),
    summed over the batch (the same random draws as Trace_ELBO with the same seed; the
    tests compare the two). ``adam`` None: forward and backward only, no optimizer step.
    """
    h, h_prior = cvae.condition(x)
    q = Normal(*cvae.recognition_net(h, y), validate_args=False)
    z = q.rsample()  # (B, z_dim)
    log_prior = Normal(*cvae.prior_net(h_prior), validate_args=False).log_prob(z).sum()
    logits = cvae.generation_net(h, z)
    log_lik = grey_bernoulli(logits, cvae.condition.counted(x)).log_prob(y).sum()
    loss = -(log_lik + log_prior - q.log_prob(z).sum())
    loss.backward()
    if adam is not None:
        adam.step()
        adam.zero_grad(set_to_none=True)
    else:
        for param in cvae.parameters():
            param.grad = None
    return loss.item()


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
    p.add_argument("--data-dir")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)
    pyro.set_rng_seed(0)
    cfg = TrainConfig(quadrants=args.quadrants, precision=args.precision)
    train = load_dataset("mnist", args.data_dir).train.head(64 * cfg.batch_size)
    cvae = build_cvae(cfg, build_baseline(cfg))
    x, y = cvae.condition.pairs(train)
    batches = [
        (x[i : i + cfg.batch_size], y[i : i + cfg.batch_size]) for i in range(0, len(y), 128)
    ]
    pyro.clear_param_store()
    optim = FusedAdam(cvae, cfg.lr)
    autocast = precision_context(cfg.precision, x.device)
    svi = CheckedSVI(cvae.model, cvae.guide, optim, Trace_ELBO(), autocast)
    step = svi.step

    for batch in batches[:5]:  # warm-up: parameters registered, caches filled
        step(*batch)
    recorder = MatmulRecorder()
    with recorder:
        step(*batches[0])
    replays = replay_inputs(recorder.calls)
    adam = optim.optimizer  # the fused Adam SVI steps with
    timed = {
        "step": step,  # SVI with Trace_ELBO, as training runs it
        "plain_step": lambda xb, yb: plain_step(cvae, adam, xb, yb),  # no Pyro
        "forward_backward": lambda xb, yb: plain_step(cvae, None, xb, yb),  # no Pyro, no Adam
        "matmuls": lambda xb, yb: matmul_pass(replays),  # the step's products alone
    }
    names = list(timed)
    for batch in batches[:3]:
        for name in names:
            with autocast:
                timed[name](*batch)
    rounds = []
    for _ in range(args.rounds):
        times = {name: [] for name in names}
        for i in range(args.steps):  # one of each per batch, in a rotating order
            batch = batches[i % len(batches)]
            for name in names[i % 4 :] + names[: i % 4]:
                with autocast:
                    start = time.perf_counter()
                    timed[name](*batch)
                    times[name].append(time.perf_counter() - start)
        rounds.append({f"{name}_seconds": statistics.median(times[name]) for name in names})
    medians = {name: statistics.median(r[f"{name}_seconds"] for r in rounds) for name in names}
    step_s, matmul_s = medians["step"], medians["matmuls"]
    gflop = flops(recorder.calls) / 1e9
    result = {
        "machine": machine(),
        "quadrants": cfg.quadrants,
        "precision": cfg.precision,
        "bf16_probe_speedup": bf16_speedup(x.device),
        "batch_size": cfg.batch_size,
        "matmuls_per_step": len(recorder.calls),
        "matmul_gflop_per_step": gflop,
        "rounds": rounds,
        "step_ms": 1e3 * step_s,
        "matmul_ms": 1e3 * matmul_s,
        "plain_step_ms": 1e3 * medians["plain_step"],
        "forward_backward_ms": 1e3 * medians["forward_backward"],
        "breakdown_ms": {
            "matrix products": 1e3 * matmul_s,
            "rest of forward and backward": 1e3 * (medians["forward_backward"] - matmul_s),
            "Adam": 1e3 * (medians["plain_step"] - medians["forward_backward"]),
            "Pyro (tracing, sites, SVI)": 1e3 * (step_s - medians["plain_step"]),
        },
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
    print(
        "where a step's time goes: "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in result["breakdown_ms"].items())
    )
    if args.out:
        save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
