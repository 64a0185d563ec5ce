"""What each idea for a cheaper training step buys, measured side by side in one run.

    python benchmarks/step_ideas.py [--rounds 4] [--steps 100] [--data-dir DIR]
        [--out benchmarks/step_ideas.json]

Five copies of the default 1-quadrant CVAE (the same initial weights, batch 128) take
SVI steps with Trace_ELBO and the fused Adam on the same batches, one step of each per
batch in a rotating order, so that the machine's drift touches them alike:

- ``before``: Pyro's validation on in the steps, ReLU writing a new tensor (neither
  idea);
- ``validation off``: ``pyro.validation_enabled(False)`` around each step, as
  :class:`cvae_pyro.cli.experiment.CheckedSVI` does;
- ``relu in place``: ``nn.ReLU(inplace=True)`` in every network, as :func:`cvae_pyro.networks.mlp`;
- ``both``: the two together (what training runs now);
- ``compiled``: ``both`` with each network's ``forward`` through ``torch.compile`` (its
  compile time is reported apart; the modules keep their names, so ``pyro.module``
  and the checkpoints see no ``_orig_mod.`` prefix).

Each figure is the median step time over a round's batches; the result the median
over rounds. Run it with nothing else on the machine.
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
from pyro.infer import SVI, Trace_ELBO
from torch import nn

from cvae_pyro.cli.config import TrainConfig
from cvae_pyro.cli.experiment import CheckedSVI
from cvae_pyro.cli.files import save_json
from cvae_pyro.cli.model_files import build_baseline, build_cvae
from cvae_pyro.data import load_dataset
from cvae_pyro.fit import FusedAdam

#: name: (Pyro's validation off in the steps, ReLU in place, networks compiled)
VARIANTS = {
    "before": (False, False, False),
    "validation off": (True, False, False),
    "relu in place": (False, True, False),
    "both": (True, True, False),
    "compiled": (True, True, True),
}


def variant(cfg: TrainConfig, x, y, validation_off: bool, inplace: bool, compiled: bool):
    """A step function over a fresh copy of the CVAE; and its first step's seconds."""
    pyro.set_rng_seed(0)
    cvae = build_cvae(cfg, build_baseline(cfg))
    for module in cvae.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = inplace
    if compiled:
        for net in (cvae.recognition_net, cvae.prior_net, cvae.generation_net):
            net.forward = torch.compile(net.forward, dynamic=False)
    pyro.clear_param_store()
    svi = CheckedSVI(cvae.model, cvae.guide, FusedAdam(cvae, cfg.lr), Trace_ELBO())

    def step(xb, yb):
        if validation_off:
            return svi.step(xb, yb)
        return SVI.step(svi, xb, yb)

    start = time.perf_counter()
    step(x[: cfg.batch_size], y[: cfg.batch_size])  # registers the parameters; compiles
    return step, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--steps", type=int, default=100, help="batches a round")
    p.add_argument("--data-dir")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)
    cfg = TrainConfig(quadrants=1)
    train = load_dataset("mnist", args.data_dir).train.head(args.steps * cfg.batch_size)
    x, y = build_cvae(cfg, build_baseline(cfg)).condition.pairs(train)
    steps, first = {}, {}
    for name, flags in VARIANTS.items():
        steps[name], first[name] = variant(cfg, x, y, *flags)
    batches = [
        (x[i : i + cfg.batch_size], y[i : i + cfg.batch_size]) for i in range(0, len(y), 128)
    ]
    names = list(VARIANTS)
    for batch in batches[:3]:  # warm-up
        for name in names:
            steps[name](*batch)
    rounds = []
    for _ in range(args.rounds):
        times = {name: [] for name in names}
        for i, batch in enumerate(batches):
            k = i % len(names)
            for name in names[k:] + names[:k]:
                start = time.perf_counter()
                steps[name](*batch)
                times[name].append(time.perf_counter() - start)
        rounds.append({name: statistics.median(t) for name, t in times.items()})
    step_ms = {name: 1e3 * statistics.median(r[name] for r in rounds) for name in names}
    result = {
        "torch_threads": torch.get_num_threads(),
        "rounds": rounds,
        "step_ms": step_ms,
        "speedup_over_before": {name: step_ms["before"] / ms for name, ms in step_ms.items()},
        "first_step_seconds": first,
    }
    for name in names:
        print(
            f"{name:15s}: {step_ms[name]:6.2f} ms a step, {result['speedup_over_before'][name]:.3f}x "
            f"before's speed (first step {first[name]:.2f} s)"
        )
    if args.out:
        save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
