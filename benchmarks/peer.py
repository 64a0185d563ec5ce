"""CVAE training speed side by side with Pyro's own CVAE example, against the matmul peak.

    python benchmarks/peer.py [--rounds 3] [--quadrants 1] [--peer-dir DIR] [--data-dir DIR]
                              [--limit N] [--precision fp32|bf16] [--out benchmarks/peer.json]

Pyro's example (``examples/cvae`` of pyro-ppl/pyro, the code behind its CVAE tutorial) is
imported from ``--peer-dir`` (default: ``../shared/peers/pyro-examples-cvae`` next to the
repository); none of its code is part of this project. Its ``main.py`` is not run (it
asserts Pyro 1.9.1): its modules are loaded by file path and its own functions are called.
It reads MNIST through torchvision from ``../data`` relative to the working directory, so
the four IDX files are decompressed into a scratch folder ``S/data/MNIST/raw/`` and its
data are built with ``S/work`` as the working directory (no download is attempted).

Both sides use the same sizes: ``--quadrants`` given quadrants (default 1), hidden layers
500-500, z of 200, batch 128, Adam with learning rate 1e-3, an untrained baseline (the
weights do not change the time). Each round measures the matmul peak (speed.py), then one
training epoch of each side, ours first in odd rounds and the peer's first in even rounds.

What is timed:

- ours: speed.py's ``time_epoch`` on the CVAE built as speed.py builds it: one SVI step
  (Trace_ELBO, the fused Adam of ``cvae_pyro.fit.FusedAdam``) per batch of 128 over the first 50,000 training images,
  in-memory tensors in a fixed random order, after one untimed warm-up step.
- the peer's: its own ``cvae.train(..., num_epochs=1)`` over its own training loader from
  ``mnist.get_data`` (all 60,000 training images, batch 128, shuffled, its per-image
  to-tensor and masking transforms). The clock wraps the loader: it runs from the request
  of the second batch to the end of the loader, so it covers the loop body for every batch
  but the first: loading and transforming the batch, ``svi.step``, its tqdm bar (written to
  a buffer) and its loss bookkeeping. Not timed: building its CVAE and SVI, the first
  batch (Pyro's first step registers the parameters and creates the optimizers: the
  counterpart of our warm-up step), its validation pass (it is given an empty validation
  loader), and the saving and reloading of its weights. Its baseline is never trained.

``--limit N`` uses the first N training images on both sides (for the tests).

FLOPs are counted from the layer shapes of each side's own modules as speed.py counts
them: 2 * in * out per image for a Linear layer's forward pass, 3x that for a trained
layer with its backward pass, the frozen baseline forward only. The peer's generation
network reads z only and its networks read and write all 784 pixels; the counts follow
its actual layers. Only figures from one run compare: the machine's peak drifts.
"""

from __future__ import annotations

# ruff: noqa: E402  (the OpenMP spin is set before torch is imported)
# The commands set libgomp's spin before threads sleep (GOMP_SPINCOUNT) unless the
# environment sets OMP_WAIT_POLICY; libgomp reads it once, when torch loads it, so this
# comes first. Both sides run under it.
from cvae_pyro.cli import tune_openmp

tune_openmp()

# isort: split
import argparse
import contextlib
import gzip
import importlib.util
import io
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pyro
import torch
import torchvision
from speed import PEAK_SIZE, cvae_train_flops, linear_macs, matmul_peak_gflops, rates, time_epoch
from torch.utils.data import DataLoader, Subset

from cvae_pyro.cli.config import PRECISIONS, TrainConfig
from cvae_pyro.cli.files import save_json
from cvae_pyro.cli.model_files import build_baseline, build_cvae
from cvae_pyro.data import OFFICIAL_MD5, Split, find_idx_file, load_dataset, resolve_data_dir

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PEER_DIR = REPO_ROOT.parent / "shared" / "peers" / "pyro-examples-cvae"
PEER_MODULES = ("baseline", "cvae", "mnist")  #: the peer's files this benchmark imports
PEER_HIDDEN = 500  #: the peer's train() builds CVAE(200, 500, 500, baseline)
PEER_Z_DIM = 200
SIDES = ("ours", "peer")


def ours_epoch_seconds(cvae, train: Split, cfg: TrainConfig) -> float:
    """Seconds for one training epoch of our CVAE over ``train`` (the package's own loop)."""
    prepare = lambda: cvae.condition.pairs(train)  # noqa: E731
    pair = (cvae.model, cvae.guide)
    return time_epoch(cvae, pair, prepare, cfg.batch_size, cfg.lr, cfg.precision)


def load_peer(peer_dir: Path) -> dict:
    """The peer's modules, loaded by file path under private names."""
    modules = {}
    for name in PEER_MODULES:
        spec = importlib.util.spec_from_file_location(
            f"pyro_example_{name}", peer_dir / f"{name}.py"
        )
        modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[name])
    return modules


def stage_mnist(data_dir: Path, scratch: Path) -> Path:
    """Decompress the four IDX files into ``scratch/data/MNIST/raw``; return ``scratch/work``."""
    raw = scratch / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in OFFICIAL_MD5:
        source = find_idx_file(data_dir, name)
        opener = gzip.open if source.suffix == ".gz" else open
        with opener(source, "rb") as f, open(raw / name, "wb") as out:
            shutil.copyfileobj(f, out)
    work = scratch / "work"
    work.mkdir()
    return work


@contextlib.contextmanager
def working_dir(path: Path):
    """Run the body with ``path`` as the working directory."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class ClockedLoader:
    """An iterable over ``loader`` that clocks every batch after the first.

    ``seconds`` runs from the request of the second batch to the loader's end, and
    ``images`` counts the images in those batches.
    """

    def __init__(self, loader: DataLoader) -> None:
        self.loader, self.seconds, self.images = loader, None, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        batches = iter(self.loader)
        yield next(batches)
        start = time.perf_counter()
        for batch in batches:
            self.images += len(batch["input"])
            yield batch
        self.seconds = time.perf_counter() - start


def peer_epoch(peer: dict, loader: DataLoader, cfg: TrainConfig, scratch: Path) -> dict:
    """One epoch of the peer's ``cvae.train``; the images and seconds its clock saw."""
    clocked = ClockedLoader(loader)
    no_validation = DataLoader(Subset(loader.dataset, []), batch_size=cfg.batch_size)
    with contextlib.redirect_stderr(io.StringIO()):  # its tqdm bars
        peer["cvae"].train(
            device=torch.device("cpu"),
            dataloaders={"train": clocked, "val": no_validation},
            dataset_sizes={"train": len(loader.dataset), "val": 1},
            learning_rate=cfg.lr,
            num_epochs=1,
            early_stop_patience=1,
            model_path=str(scratch / "cvae_net.pth"),
            pre_trained_baseline_net=peer["baseline"].BaselineNet(PEER_HIDDEN, PEER_HIDDEN),
        )
    return {"images": clocked.images, "seconds": clocked.seconds}


def peer_flops_per_image(peer: dict) -> int:
    """Training FLOPs per image of the CVAE the peer's ``train`` builds."""
    baseline = peer["baseline"].BaselineNet(PEER_HIDDEN, PEER_HIDDEN)
    net = peer["cvae"].CVAE(PEER_Z_DIM, PEER_HIDDEN, PEER_HIDDEN, baseline)
    trained = (net.recognition_net, net.prior_net, net.generation_net)
    return 2 * (3 * sum(linear_macs(n) for n in trained) + linear_macs(baseline))


def spread(values: list[float]) -> dict:
    """Median and range over the rounds."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def one_round(number: int, ours_run, peer_run) -> dict:
    """The matmul peak, then both epochs: ours first in odd rounds, the peer's first in even."""
    peak = matmul_peak_gflops()
    order = SIDES if number % 2 == 1 else SIDES[::-1]
    runs = {"ours": ours_run, "peer": peer_run}
    timed = {side: runs[side](peak) for side in order}
    return {
        "round": number,
        "order": list(order),
        "matmul_peak_gflops": peak,
        **timed,
        "ratio_images_per_second": timed["ours"]["images_per_second"]
        / timed["peer"]["images_per_second"],
    }


def summarize(rounds: list[dict]) -> dict:
    """Median and range of the peak, of each side's rate and fraction of peak, and of the ratio."""
    summary = {"matmul_peak_gflops": spread([r["matmul_peak_gflops"] for r in rounds])}
    for side in SIDES:
        for key in ("images_per_second", "gflops", "fraction_of_peak"):
            summary[f"{side}_{key}"] = spread([r[side][key] for r in rounds])
    summary["ratio_images_per_second"] = spread([r["ratio_images_per_second"] for r in rounds])
    return summary


def print_table(result: dict) -> None:
    """The rounds and their medians, as a Markdown table."""
    print(
        f"CVAE training, {result['quadrants']} quadrant(s), batch 128, hidden 500-500, z 200, "
        f"ours in {result['precision']}; "
        f"matmul peak {PEAK_SIZE}x{PEAK_SIZE} fp32, {result['machine']['torch_threads']} threads"
    )
    print(
        "| round | first | peak GFLOP/s | ours images/s | ours GFLOP/s | ours % of peak "
        "| peer images/s | peer GFLOP/s | peer % of peak | ratio ours/peer |"
    )
    print("| --- " * 10 + "|")
    for r in result["rounds"]:
        cells = [str(r["round"]), r["order"][0], f"{r['matmul_peak_gflops']:.0f}"]
        for side in SIDES:
            s = r[side]
            cells += [
                f"{s['images_per_second']:,.0f}",
                f"{s['gflops']:.1f}",
                f"{100 * s['fraction_of_peak']:.0f}%",
            ]
        cells.append(f"{r['ratio_images_per_second']:.2f}")
        print("| " + " | ".join(cells) + " |")
    m = result["summary"]

    def cell(key: str, fmt: str, scale: float = 1) -> str:
        return " - ".join(format(scale * m[key][k], fmt) for k in ("median", "min", "max"))

    print(
        f"median - min - max: peak {cell('matmul_peak_gflops', '.0f')} GFLOP/s; "
        f"ours {cell('ours_images_per_second', ',.0f')} images/s, "
        f"{cell('ours_fraction_of_peak', '.0f', 100)}% of peak; "
        f"peer {cell('peer_images_per_second', ',.0f')} images/s, "
        f"{cell('peer_fraction_of_peak', '.0f', 100)}% of peak; "
        f"ratio {cell('ratio_images_per_second', '.2f')}"
    )


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quadrants", type=int, default=1, choices=(1, 2, 3))
    p.add_argument("--peer-dir", type=Path, default=DEFAULT_PEER_DIR)
    p.add_argument("--data-dir")
    p.add_argument("--limit", type=int, default=None, help="first N training images, both sides")
    p.add_argument(
        "--precision", default="fp32", choices=PRECISIONS, help="of our side (the peer's: fp32)"
    )
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.limit is not None and args.limit <= TrainConfig.batch_size:
        p.error(f"--limit must exceed one batch ({TrainConfig.batch_size}): the peer's is untimed")
    peer_dir = args.peer_dir.resolve()
    if not all((peer_dir / f"{name}.py").is_file() for name in PEER_MODULES):
        p.error(f"{peer_dir} does not hold Pyro's CVAE example ({', '.join(PEER_MODULES)}.py)")
    pyro.set_rng_seed(0)
    cfg = TrainConfig(
        quadrants=args.quadrants,
        z_dim=PEER_Z_DIM,
        hidden=(PEER_HIDDEN,) * 2,
        precision=args.precision,
    )
    data_dir = resolve_data_dir(args.data_dir)
    train = load_dataset("mnist", data_dir).train.head(args.limit)
    peer = load_peer(peer_dir)

    with tempfile.TemporaryDirectory(prefix="cvae_pyro_peer_") as name:
        scratch = Path(name)
        with working_dir(stage_mnist(data_dir, scratch)):
            datasets, loaders, _ = peer["mnist"].get_data(cfg.quadrants, cfg.batch_size)
        loader = loaders["train"]
        if args.limit is not None:
            subset = Subset(datasets["train"], range(min(args.limit, len(datasets["train"]))))
            loader = DataLoader(subset, batch_size=cfg.batch_size, shuffle=True, num_workers=0)

        baseline = build_baseline(cfg)
        cvae = build_cvae(cfg, baseline)
        ours_flops = cvae_train_flops(cvae, baseline)
        peer_flops = peer_flops_per_image(peer)

        def ours_run(peak: float) -> dict:
            seconds = ours_epoch_seconds(cvae, train, cfg)
            return rates(len(train), seconds, ours_flops, peak)

        def peer_run(peak: float) -> dict:
            epoch = peer_epoch(peer, loader, cfg, scratch)
            return rates(epoch["images"], epoch["seconds"], peer_flops, peak)

        rounds = [one_round(n, ours_run, peer_run) for n in range(1, args.rounds + 1)]

    result = {
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "pyro": pyro.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"),
        },
        "peer_dir": str(peer_dir),
        "quadrants": cfg.quadrants,
        "precision": cfg.precision,
        "limit": args.limit,
        "train_flops_per_image": {"ours": ours_flops, "peer": peer_flops},
        "rounds": rounds,
        "summary": summarize(rounds),
    }
    print_table(result)
    if args.out:
        save_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
