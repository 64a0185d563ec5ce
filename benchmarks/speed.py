"""Training and evaluation speed at the default sizes, against this machine's matmul peak.

    python benchmarks/speed.py [--quadrants 1] [--data-dir DIR] [--out benchmarks/speed.json]

``--limit N`` times on the first N training and test images only (for the tests).

Times, through the package's own code: one training epoch (50,000 images, batch 128)
of the baseline and of the CVAE (:class:`cvae_pyro.cli.experiment.CheckedSVI` over
:class:`~cvae_pyro.fit.Batches`: SVI with Trace_ELBO and the fused Adam), and
the MC, IS and negative-ELBO estimates with S = 100 on the 10,000 test images. The
CVAE's timed region includes preparing its inputs (the frozen baseline's guess
y_hat, computed once per image).

FLOPs are counted from the layer shapes: a Linear layer costs 2 * in * out per image
forward; a trained layer 3x that with its backward pass; the frozen baseline runs
forward once per image. In the S-sample estimates the generation network's first
layer applies to the condition once per image and to z once per sample. The matmul
peak is the best rate of a large fp32 matrix product, measured again just before each
figure (the machine is shared and its speed drifts): each figure is timed
``--repeats`` times, each time against the peak measured just before it, and the
repeat with the median fraction of its peak is reported.
"""

from __future__ import annotations

# ruff: noqa: E402  (the OpenMP spin is set before torch is imported)
import argparse
import platform
import statistics
import time

from cvae_pyro.cli import tune_openmp

tune_openmp()  # the commands' OpenMP spin, set before torch loads its runtime

# isort: split
import pyro
import torch
from pyro.infer import Trace_ELBO
from torch import nn

from cvae_pyro.cli.config import PRECISIONS, TrainConfig
from cvae_pyro.cli.device import precision_context
from cvae_pyro.cli.experiment import CheckedSVI
from cvae_pyro.cli.files import save_json
from cvae_pyro.cli.model_files import build_baseline, build_cvae
from cvae_pyro.data import Split, load_dataset
from cvae_pyro.estimators import evaluate_cvae, is_nll, mc_nll, negative_elbo
from cvae_pyro.fit import Batches, FusedAdam
from cvae_pyro.masks import split_xy
from cvae_pyro.models import CVAE

PEAK_SIZE = 2048  #: side of the square matrices used to measure the matmul peak
#: the timed estimates; "evaluate" is what ``python -m cvae_pyro.evaluate`` runs for a CVAE:
#: MC, IS and -ELBO from one pass over the images with one noise draw per image
ESTIMATORS = {"mc": mc_nll, "is": is_nll, "elbo": negative_elbo, "evaluate": evaluate_cvae}


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


def bf16_speedup(device: torch.device, repeats: int = 15) -> float:
    """How much faster bf16 matrix products run than fp32 ones here (median of ``repeats``).

    Times the three products of a training step's first layer at batch 128 (forward
    ``(128, 784) @ (784, 500)``, and the two of its backward pass) in fp32 and in bf16,
    alternating, and returns the median over the repeats of fp32's time over bf16's
    (about 0.1 s on a CPU).
    """
    m, k, n = 128, 784, 500
    operands = {
        dtype: [torch.randn(*shape, device=device).to(dtype) for shape in ((m, k), (n, k), (m, n))]
        for dtype in (torch.float32, torch.bfloat16)
    }

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


def machine() -> dict:
    """The CPU, torch's threads and torch's version, for the JSON records.

    On Linux the CPU's model name, its logical CPUs and physical cores, and whether it
    has the instruction sets that decide the matrix products' speed (``avx2``,
    ``avx512f``, ``avx512_bf16``, ``amx_bf16``) are read from ``/proc/cpuinfo``;
    elsewhere only ``processor`` is recorded.
    """
    record = {"processor": platform.processor() or platform.machine()}
    try:
        with open("/proc/cpuinfo") as file:
            blocks = file.read().strip().split("\n\n")  # one block per logical CPU
    except OSError:
        blocks = []
    cpus = []
    for block in blocks:
        pairs = (line.split(":", 1) for line in block.splitlines() if ":" in line)
        cpus.append({key.strip(): value.strip() for key, value in pairs})
    if cpus and "flags" in cpus[0]:
        flags = set(cpus[0]["flags"].split())
        cores = {(cpu.get("physical id"), cpu.get("core id")) for cpu in cpus}
        record |= {
            "cpu_model": cpus[0].get("model name", "unknown"),
            "cpu_logical": len(cpus),
            "cpu_cores": len(cores) if (None, None) not in cores else len(cpus),
            "cpu_flags": {f: f in flags for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")},
        }
    return record | {"torch_threads": torch.get_num_threads(), "torch": torch.__version__}


def linear_macs(module: nn.Module) -> int:
    """Multiply-accumulates per image of every Linear layer in ``module``."""
    return sum(m.in_features * m.out_features for m in module.modules() if isinstance(m, nn.Linear))


def time_epoch(
    module: nn.Module, pair, prepare, batch_size: int, lr: float, precision: str = "fp32"
) -> float:
    """Seconds for ``prepare()`` (the inputs) and one epoch of SVI steps over them.

    Args:
        module: the networks (their fused Adam is built here).
        pair: ``(model, guide)``.
        prepare: returns the ``(x, y)`` pairs; timed, as it is part of training.
        batch_size: images per step.
        lr: learning rate.
        precision: "fp32", or "bf16" (autocast).
    """
    pyro.clear_param_store()
    x, y = prepare()
    autocast = precision_context(precision, y.device)
    svi = CheckedSVI(*pair, FusedAdam(module, lr), Trace_ELBO(), autocast)
    svi.step(x[:batch_size], y[:batch_size])  # warm-up: registers the parameters
    shuffle = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for xb, yb in Batches(*prepare(), batch_size, shuffle):
        svi.step(xb, yb)
    return time.perf_counter() - start


def cvae_train_flops(cvae: CVAE, baseline: nn.Module) -> int:
    """Training FLOPs per image: three trained networks, the frozen baseline forward."""
    trained = (cvae.recognition_net, cvae.prior_net, cvae.generation_net)
    return 2 * (3 * sum(linear_macs(n) for n in trained) + linear_macs(baseline))


def estimate_flops(cvae: CVAE, baseline: nn.Module, samples: int, name: str) -> int:
    """FLOPs per image of an S-sample estimate: MC draws from the prior (no recognition
    network), IS and -ELBO from the posterior, "evaluate" both (two generation passes)."""
    first = cvae.generation_net.net[0]
    h_dim = first.in_features - cvae.z_dim
    per_sample = linear_macs(cvae.generation_net) - h_dim * first.out_features
    once = linear_macs(baseline) + linear_macs(cvae.prior_net) + h_dim * first.out_features
    if name != "mc":
        once += linear_macs(cvae.recognition_net)
    passes = 2 if name == "evaluate" else 1
    return 2 * (once + passes * samples * per_sample)


def rates(images: int, seconds: float, flops_per_image: int, peak: float) -> dict:
    """Images/s, GFLOP/s and the fraction of the matmul peak."""
    gflops = images * flops_per_image / seconds / 1e9
    return {
        "seconds": seconds,
        "images": images,
        "images_per_second": images / seconds,
        "gflops": gflops,
        "fraction_of_peak": gflops / peak,
    }


def time_estimate(
    name: str, cvae: CVAE, test: Split, samples: int, precision: str = "fp32"
) -> tuple[float, float]:
    """Seconds for preparing the inputs and one estimate over ``test``; and its mean
    (for "evaluate": the IS estimate's)."""
    start = time.perf_counter()
    x, y = cvae.condition.pairs(test)
    with precision_context(precision, y.device):
        estimate = ESTIMATORS[name](cvae, x, y, samples)
    estimate = estimate[1] if name == "evaluate" else estimate
    return time.perf_counter() - start, estimate.mean


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quadrants", type=int, default=1, choices=(1, 2, 3))
    p.add_argument("--data-dir")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--limit", type=int, default=None, help="first N train and test images")
    p.add_argument("--repeats", type=int, default=3, help="times each figure is measured")
    p.add_argument("--precision", default="fp32", choices=PRECISIONS, help="of training")
    p.add_argument("--eval-precision", default="fp32", choices=PRECISIONS, help="of the estimates")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)
    pyro.set_rng_seed(0)
    cfg = TrainConfig(quadrants=args.quadrants, precision=args.precision)
    data = load_dataset("mnist", args.data_dir)
    train, test = data.train.head(args.limit), data.test.head(args.limit)

    baseline = build_baseline(cfg)  # trained in the baseline's epochs
    cvae = build_cvae(cfg, build_baseline(cfg))  # freezes a baseline of its own
    # the estimators time an untrained copy, the same model in every repeat (the one above
    # trains an epoch per repeat)
    untrained = build_cvae(cfg, build_baseline(cfg)).eval()
    base_pairs = split_xy(train.images, cfg.quadrants)
    pairs = {"baseline": (baseline.model, baseline.guide), "cvae": (cvae.model, cvae.guide)}
    prepare = {"baseline": lambda: base_pairs, "cvae": lambda: cvae.condition.pairs(train)}
    modules = {"baseline": baseline, "cvae": cvae}
    train_flops = {
        "baseline": 2 * 3 * linear_macs(baseline),
        "cvae": cvae_train_flops(cvae, baseline),
    }
    repeats: dict[str, list[dict]] = {}
    peaks = []
    for _ in range(args.repeats):  # each figure against the peak measured just before it
        for name in ("baseline", "cvae"):
            peaks.append(matmul_peak_gflops())
            seconds = time_epoch(
                modules[name], pairs[name], prepare[name], cfg.batch_size, cfg.lr, args.precision
            )
            repeats.setdefault(name, []).append(
                rates(len(train), seconds, train_flops[name], peaks[-1])
            )
        for name in ESTIMATORS:
            peaks.append(matmul_peak_gflops())
            seconds, mean = time_estimate(name, untrained, test, args.samples, args.eval_precision)
            flops = estimate_flops(untrained, baseline, args.samples, name)
            figures = {**rates(len(test), seconds, flops, peaks[-1]), "samples": args.samples}
            repeats.setdefault(f"{name}_eval", []).append({**figures, "nll_untrained_model": mean})
    peak = statistics.median(peaks)
    result = {
        "machine": machine(),
        "quadrants": cfg.quadrants,
        "precision": args.precision,
        "eval_precision": args.eval_precision,
        "repeats": args.repeats,
        "matmul_peak_gflops": peak,
        "matmul_peaks_gflops": peaks,
    }
    for name, runs in repeats.items():  # the repeat with the median fraction of its peak
        ordered = sorted(runs, key=lambda r: r["fraction_of_peak"])
        result[name] = {**ordered[len(ordered) // 2], "repeats": runs}
    print(
        f"matmul peak ({PEAK_SIZE}x{PEAK_SIZE} fp32): {peak:.1f} GFLOP/s (median of "
        f"{len(peaks)}: {min(peaks):.0f}-{max(peaks):.0f}; each figure uses the one before it), "
        f"{torch.get_num_threads()} threads; training {args.precision}, "
        f"estimates {args.eval_precision}"
    )
    for name in ("baseline", "cvae", *(f"{n}_eval" for n in ESTIMATORS)):
        r = result[name]
        print(
            f"{name:13s}: {r['seconds']:6.2f} s, {r['images']} images, "
            f"{r['images_per_second']:7.0f} images/s, {r['gflops']:6.1f} GFLOP/s = "
            f"{100 * r['fraction_of_peak']:.0f}% of peak (median of {args.repeats})"
        )
    if args.out:
        save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
