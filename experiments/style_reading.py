"""The label CVAE as a classifier: ``python -m experiments.style_reading --data-dir ../shared/data/mnist``.

``python -m cvae_pyro.sample --style-of PICTURE`` reads the class of a picture
with the label CVAE itself: the label c with the highest importance-sampled
estimate of log p(picture | c) (:func:`cvae_pyro.beyond.label.read_labels`, S latent
samples per label, a fixed seed). This script measures how often that reading
agrees with the truth on the first ``--images`` test images (default 1,000), with
the shipped label model (or ``--checkpoint``), and prints the rate with its 95%
interval, the rate per class, the mean posterior p(true label | picture) under a
uniform prior over the labels, and the seconds it took.

It also checks that a style carried to the other classes draws those classes: the
styles of the first ``--carried-images`` test images (default 20) drawn as every
class, read back by the same CVAE, as ``sample --style-of`` draws them (the mean of
q(z|y,c) as noise eps of the prior p(z|c), drawn at loc_c' + scale_c' * eps) and,
for comparison, decoding the mean of q itself as every class. ``--json FILE`` also
writes the numbers.
"""

from __future__ import annotations

# ruff: noqa: E402  (the OpenMP spin is set before torch is imported)
from cvae_pyro.cli import describe, tune_openmp

tune_openmp()  # the commands' OpenMP spin, set before torch loads its runtime

# isort: split
import argparse
import math
import shlex
import sys
import time
from collections.abc import Sequence

import torch

from benchmarks.speed import machine
from cvae_pyro.beyond.label import decode, draw_in_style, read_labels, styles
from cvae_pyro.cli.cll_table import machine_info
from cvae_pyro.cli.config import DATASET_NAMES, DEFAULT_DATASET, DEFAULT_SAMPLES, NUM_CLASSES
from cvae_pyro.cli.device import resolve_device
from cvae_pyro.cli.errors import ConfigError
from cvae_pyro.cli.files import save_json
from cvae_pyro.cli.model_files import load_pretrained, load_trained
from cvae_pyro.data import dataset_info, load_splits
from cvae_pyro.masks import NUM_PIXELS

DEFAULT_IMAGES = 1000  #: test images read (the first ones of the test split)
DEFAULT_CARRIED = 20  #: test images whose style is drawn as every class and read back
Z_95 = 1.96  #: normal quantile of a two-sided 95% interval


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``experiments/style_reading.py``."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.style_reading", description=__doc__.split("\n")[0]
    )
    p.add_argument("--images", type=int, default=DEFAULT_IMAGES, help="first N test images")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="S per label")
    p.add_argument(
        "--carried-images", type=int, default=DEFAULT_CARRIED, help="styles drawn as every class"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the IS noise")
    p.add_argument("--dataset", default=DEFAULT_DATASET, choices=DATASET_NAMES)
    p.add_argument("--data-dir", default=None, help="dataset folder (else $CVAE_PYRO_DATA)")
    p.add_argument("--checkpoint", default=None, help="a label CVAE (default: the shipped one)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    return p


def load_label_model(args: argparse.Namespace, device: torch.device) -> tuple[object, str]:
    """``--checkpoint``, else the shipped label CVAE of ``--dataset``; and its name."""
    if args.checkpoint is not None:
        expect = {"condition": "label", "dataset": args.dataset}
        cvae = load_trained(args.checkpoint, device, "cvae", expect).module
        return cvae, f"label CVAE {args.checkpoint}"
    trained, line = load_pretrained("label", args.dataset, device)
    return trained.module, line


def carried(cvae, images: torch.Tensor, labels: torch.Tensor, samples: int, seed: int) -> dict:
    """Share of the pictures' styles drawn as every class that the CVAE reads as that class."""
    classes = torch.arange(NUM_CLASSES, device=labels.device)  # (10,)
    as_noise = draw_in_style(cvae, styles(cvae, images, labels))  # (N, 10, 784)
    with torch.no_grad():
        mean = cvae.posterior(labels, images).mean  # (N, z)
        as_mean = decode(cvae, classes, mean[:, None, :].expand(-1, NUM_CLASSES, -1))

    def read_back(drawn: torch.Tensor) -> float:
        read = read_labels(cvae, drawn.reshape(-1, NUM_PIXELS), samples, seed).labels
        return (read == classes.repeat(len(labels))).float().mean().item()

    return {
        "images": len(labels),
        "style_as_prior_noise": read_back(as_noise),
        "mean_of_q_decoded": read_back(as_mean),
    }


def measure(args: argparse.Namespace) -> dict:
    """Read the labels of the first ``args.images`` test images; the numbers as a dict."""
    for name in ("images", "samples", "carried_images"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer")
    device = resolve_device(args.device)
    cvae, model = load_label_model(args, device)
    test = load_splits(args.data_dir, None, device, args.dataset).test
    if max(args.images, args.carried_images) > len(test):
        raise ConfigError(f"the test split has {len(test)} images; ask for fewer")
    images, truth = test.images[: args.images], test.labels[: args.images].cpu()
    start = time.perf_counter()
    reading = read_labels(cvae, images, args.samples, args.seed)
    seconds = time.perf_counter() - start
    right = reading.labels.cpu() == truth  # (N,)
    rate = right.float().mean().item()
    names = dataset_info(args.dataset).class_names
    per_class = {names[c]: right[truth == c].float().mean().item() for c in range(NUM_CLASSES)}
    true_posterior = reading.posterior.cpu()[torch.arange(len(truth)), truth]  # (N,)
    k = args.carried_images
    carried_styles = carried(cvae, test.images[:k], test.labels[:k], args.samples, args.seed)
    return {
        "model": model,
        "dataset": args.dataset,
        "images": len(truth),
        "samples": args.samples,
        "seed": args.seed,
        "agreement": rate,
        "agreement_95": Z_95 * math.sqrt(rate * (1 - rate) / len(truth)),
        "per_class": per_class,
        "mean_posterior_of_true_label": true_posterior.mean().item(),
        "seconds": seconds,
        "carried": carried_styles,
        "machine": machine_info(device) | machine(),  # with the CPU's model and vector units
    }


def report_lines(result: dict) -> list[str]:
    """What the script prints."""
    per_class = ", ".join(f"{name} {rate:.1%}" for name, rate in result["per_class"].items())
    c = result["carried"]
    return [
        f"model: {result['model']}",
        f"labels read from the first {result['images']} {result['dataset']} test images "
        f"(IS, S = {result['samples']}, seed {result['seed']}): {result['agreement']:.2%} "
        f"± {result['agreement_95']:.2%} (95%) agree with the truth (chance 10%)",
        f"per class: {per_class}",
        f"mean p(true label | picture), uniform prior over labels: "
        f"{result['mean_posterior_of_true_label']:.3f}",
        f"{result['seconds']:.0f} s to read them on {result['machine']['device']} "
        f"({result['machine']['torch_threads']} torch threads)",
        f"styles of the first {c['images']} test images drawn as every class, read back as "
        f"the class drawn: {c['style_as_prior_noise']:.1%} as sample --style-of draws them "
        f"(prior noise eps), {c['mean_of_q_decoded']:.1%} decoding the mean of q(z|y,c) itself",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, measure, print (and write ``--json``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = measure(args)
        result["command"] = shlex.join(["python", "-m", "experiments.style_reading", *argv])
        print("\n".join(report_lines(result)))
        print(f"reproduce with: {result['command']}")
        if args.json is not None:
            save_json(result, args.json)
    except BaseException as err:
        message, code = describe(err, "run it again")
        if code is None:
            raise
        parser.exit(code, f"{parser.prog}: error: {message}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
