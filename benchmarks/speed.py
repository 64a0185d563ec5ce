"""Training and evaluation speed at the default sizes, against this machine's matmul peak.

    python benchmarks/speed.py [--quadrants 1] [--data-dir DIR] [--out benchmarks/speed.json]

``--limit N`` times on the first N training and test images only (for the tests).

Times one full training epoch (50,000 images, batch 128) of the baseline and of the
CVAE through the package's own SVI step, and the importance-sampling CLL with S = 100
on the 10,000 test images. FLOPs are counted from the layer shapes (a Linear layer
costs 2 * in * out per image forward; a trained layer 3x that with its backward pass;
the frozen baseline runs forward only). The matmul peak is the best rate of a large
fp32 matrix product measured in the same run. Ratios within one run are what to
compare: the machine is shared and absolute times drift.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import cvae_pyro  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads its OpenMP runtime)

# isort: split
import pyro
import torch
from pyro.infer import SVI, Trace_ELBO
from torch import nn

from cvae_pyro.build import build_baseline, build_cvae
from cvae_pyro.config import TrainConfig
from cvae_pyro.data import load_mnist
from cvae_pyro.masks import split_xy
from cvae_pyro.metrics import is_nll

PEAK_SIZE = 2048  #: side of the square matrices used to measure the matmul peak


def matmul_peak_gflops(size: int = PEAK_SIZE, repeats: int = 10) -> float:
    """Best observed fp32 GFLOP/s of a ``size x size`` matrix product."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def linear_macs(module: nn.Module) -> int:
    """Multiply-accumulates per image of every Linear layer in ``module``."""
    return sum(m.in_features * m.out_features for m in module.modules() if isinstance(m, nn.Linear))


def time_epoch(module, pairs, batch_size: int, lr: float) -> float:
    """Seconds for one epoch of SVI steps over ``pairs`` in a fixed random order."""
    c, y = pairs
    pyro.clear_param_store()
    svi = SVI(module.model, module.guide, pyro.optim.Adam({"lr": lr}), Trace_ELBO())
    order = torch.randperm(len(y))
    svi.step(c[order[:batch_size]], y[order[:batch_size]])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(y), batch_size):
        idx = order[i : i + batch_size]
        svi.step(c[idx], y[idx])
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quadrants", type=int, default=1, choices=(1, 2, 3))
    p.add_argument("--data-dir")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--limit", type=int, default=None, help="first N train and test images")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)
    pyro.set_rng_seed(0)
    cfg = TrainConfig(quadrants=args.quadrants)
    data = load_mnist(args.data_dir)
    train_split, test_split = data.train.head(args.limit), data.test.head(args.limit)
    train = split_xy(train_split.images, cfg.quadrants)
    n_train = len(train[1])

    peak = matmul_peak_gflops()
    baseline = build_baseline(cfg.quadrants, cfg.hidden)
    base_macs = linear_macs(baseline)
    base_s = time_epoch(baseline, train, cfg.batch_size, cfg.lr)
    cvae = build_cvae(cfg, baseline)
    trained_macs = sum(
        linear_macs(n) for n in (cvae.recognition_net, cvae.prior_net, cvae.generation_net)
    )
    cvae_s = time_epoch(cvae, cvae.condition.pairs(train_split), cfg.batch_size, cfg.lr)
    cvae_flops = n_train * 2 * (3 * trained_macs + base_macs)
    base_flops = n_train * 2 * 3 * base_macs

    test = cvae.condition.pairs(test_split)
    gen_first = cvae.generation_net.net[0]
    h_dim = gen_first.in_features - cfg.z_dim
    per_sample = linear_macs(cvae.generation_net) - h_dim * gen_first.out_features
    once = base_macs + linear_macs(cvae.prior_net) + linear_macs(cvae.recognition_net)
    once += h_dim * gen_first.out_features
    eval_flops = len(test[1]) * 2 * (once + args.samples * per_sample)
    torch.manual_seed(0)
    start = time.perf_counter()
    estimate = is_nll(cvae.eval(), *test, args.samples)
    eval_s = time.perf_counter() - start

    result = {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "quadrants": cfg.quadrants,
        "matmul_peak_gflops": peak,
        "baseline": {
            "seconds_per_epoch": base_s,
            "images_per_second": n_train / base_s,
            "gflops": base_flops / base_s / 1e9,
            "fraction_of_peak": base_flops / base_s / 1e9 / peak,
        },
        "cvae": {
            "seconds_per_epoch": cvae_s,
            "images_per_second": n_train / cvae_s,
            "gflops": cvae_flops / cvae_s / 1e9,
            "fraction_of_peak": cvae_flops / cvae_s / 1e9 / peak,
        },
        "is_eval": {
            "samples": args.samples,
            "images": len(test[1]),
            "seconds": eval_s,
            "gflops": eval_flops / eval_s / 1e9,
            "fraction_of_peak": eval_flops / eval_s / 1e9 / peak,
            "nll_untrained_model": estimate.mean,
        },
    }
    print(
        f"matmul peak ({PEAK_SIZE}x{PEAK_SIZE} fp32): {peak:.1f} GFLOP/s, "
        f"{torch.get_num_threads()} threads"
    )
    for name in ("baseline", "cvae"):
        r = result[name]
        print(
            f"{name:8s} epoch: {r['seconds_per_epoch']:6.2f} s, {r['images_per_second']:7.0f} "
            f"images/s, {r['gflops']:6.1f} GFLOP/s = {100 * r['fraction_of_peak']:.0f}% of peak"
        )
    r = result["is_eval"]
    print(
        f"IS CLL, S={args.samples}, {r['images']} test images: {r['seconds']:.2f} s, "
        f"{r['gflops']:.1f} GFLOP/s = {100 * r['fraction_of_peak']:.0f}% of peak"
    )
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return result


if __name__ == "__main__":
    main()
