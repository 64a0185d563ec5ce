"""How good is the label CVAE? ``python -m experiments.label_quality --epochs 8``.

Trains (or loads, when a finished run is in ``--out-dir``):

1. an MLP digit classifier on the 50,000 training images
   (:mod:`cvae_pyro.beyond.classifier`), saved as a checkpoint of its own;
2. the label CVAE at the default settings (z_dim 200, hidden 500-500,
   conditional prior), at most ``--epochs`` epochs with early stopping;
3. a z_dim = 2 label CVAE for the latent plots, ``--z2-epochs`` epochs.

Then reports the classifier's test accuracy, the share of generated digits the
classifier reads as the digit asked for (per digit and overall), and the test
negative ELBO and importance-sampled negative log-likelihood (S samples, nats
per image) of the label CVAE. Writes ``label_quality.json``,
``label_quality.md`` and the figures into ``--results-dir``.
"""

from __future__ import annotations

# ruff: noqa: E402  (the OpenMP spin is set before torch is imported)
from cvae_pyro.cli import describe, tune_openmp

tune_openmp()  # the commands' OpenMP spin, set before torch loads its runtime

# isort: split
import argparse
import os
import shlex
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from cvae_pyro.beyond.classifier import (
    ClassifierConfig,
    DigitClassifier,
    accuracy,
    digit_accuracy,
    train_classifier,
)
from cvae_pyro.cli.checkpoints import load_checkpoint, save_checkpoint
from cvae_pyro.cli.cll_table import machine_info
from cvae_pyro.cli.config import DEFAULT_SAMPLES, TrainConfig
from cvae_pyro.cli.device import resolve_device
from cvae_pyro.cli.errors import CheckpointError, ConfigError
from cvae_pyro.cli.experiment import run
from cvae_pyro.cli.files import check_out_dir, save_json, save_text, write_atomic
from cvae_pyro.cli.model_files import load_trained
from cvae_pyro.data import load_splits
from cvae_pyro.estimators import is_nll, negative_elbo

CLASSIFIER = "classifier"  #: the kind of classifier checkpoints
DEFAULT_FIGURES = ("digits.png", "reconstructions.png")  #: copied from the default run
LATENT_FIGURES = ("latent_scatter.png", "latent_grid.png")  #: copied from the z_dim = 2 run


@dataclass
class BenchmarkConfig:
    """Settings of one label-quality benchmark."""

    epochs: int = 50  # most epochs of the default label CVAE (early stopping on validation)
    z2_epochs: int = 5  # most epochs of the z_dim = 2 label CVAE (latent plots only)
    classifier_epochs: int = 5  # epochs of the digit classifier
    n_per_digit: int = 1000  # generated samples per digit scored by the classifier
    samples: int = DEFAULT_SAMPLES  # S, latent samples per test image for -ELBO and IS
    seed: int = 0  # seeds training, the latent noise and the estimators
    out_dir: str = "runs/label_quality"  # checkpoints (not committed)
    results_dir: str = "results/label"  # JSON, markdown and figures
    data_dir: str | None = None  # MNIST folder; None: $CVAE_PYRO_DATA
    limit: int | None = None  # only the first N images of each split (smoke runs)
    device: str = "auto"  # cpu, cuda or auto
    quiet: bool = False  # no per-epoch lines


def save_classifier(
    classifier: DigitClassifier, path: str | os.PathLike, cfg: ClassifierConfig, **info
) -> None:
    """Save weights, settings and ``info`` (for example the test accuracy) as a checkpoint."""
    architecture = {"hidden": list(classifier.hidden)}
    settings = {**asdict(cfg), "hidden": list(cfg.hidden)}
    payload = {"state_dict": classifier.state_dict(), "config": settings, "info": info}
    save_checkpoint({"architecture": architecture, **payload}, path, CLASSIFIER)


def load_classifier(path: str | os.PathLike) -> tuple[DigitClassifier, dict]:
    """The classifier saved at ``path`` and the ``info`` saved with it, plus its ``config``.

    Raises:
        CheckpointError: missing, truncated or not a classifier checkpoint.
    """
    ckpt = load_checkpoint(path, kind=CLASSIFIER)
    try:
        classifier = DigitClassifier(tuple(ckpt["architecture"]["hidden"]))
        classifier.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{path} does not hold the classifier it claims to: {err}") from None
    return classifier.eval(), {**ckpt.get("info", {}), "config": ckpt.get("config", {})}


def classifier_phase(cfg: BenchmarkConfig, data, device) -> tuple[object, dict]:
    """Load the classifier from ``out_dir`` or train and save it; score it on the test set."""
    path = Path(cfg.out_dir) / "classifier.pt"
    ccfg = ClassifierConfig(epochs=cfg.classifier_epochs, seed=cfg.seed)
    start = time.perf_counter()
    if path.exists():
        classifier, info = load_classifier(path)
        classifier = classifier.to(device)
    else:
        classifier = train_classifier(data.train, ccfg)
        info = {"train_seconds": time.perf_counter() - start, "train_images": len(data.train)}
        save_classifier(classifier, path, ccfg, **info)
        info["config"] = asdict(ccfg)
    result = {**info, "checkpoint": str(path)}
    result["test_accuracy"] = accuracy(classifier, data.test)
    return classifier, result


def train_label_cvae(cfg: BenchmarkConfig, sub: str, epochs: int, z_dim: int) -> tuple:
    """Train (or load, if finished) a label CVAE under ``out_dir/sub``; returns it and a summary."""
    tcfg = TrainConfig(
        condition="label",
        epochs=epochs,
        z_dim=z_dim,
        seed=cfg.seed,
        device=cfg.device,
        data_dir=cfg.data_dir,
        out_dir=str(Path(cfg.out_dir) / sub),
        limit=cfg.limit,
        resume=True,
        quiet=cfg.quiet,
    )
    start = time.perf_counter()
    metrics = run(tcfg)["cvae"]
    summary = {
        key: metrics[key]
        for key in ("epochs_run", "best_epoch", "seconds_total", "val_negative_elbo_nats_per_image")
    }
    summary.update(
        config=tcfg.to_dict(),
        seconds_this_call=time.perf_counter() - start,
        run_dir=str(tcfg.run_dir),
    )
    return load_trained(tcfg.run_dir / "cvae.pt", resolve_device(cfg.device)).module, summary


def estimate_on_test(cvae, test, cfg: BenchmarkConfig) -> dict:
    """Test-set negative ELBO and IS negative log-likelihood, nats per image."""
    c, y = cvae.condition.pairs(test)
    out = {}
    for name, estimator in (("negative_elbo", negative_elbo), ("is_nll", is_nll)):
        start = time.perf_counter()
        out[name] = {**estimator(cvae, c, y, cfg.samples, seed=cfg.seed).as_dict()}
        out[name]["seconds"] = time.perf_counter() - start
    return out


def markdown(report: dict) -> str:
    """``label_quality.md``: the numbers of ``report`` as tables."""
    gen, est = report["generation"], report["test_estimates"]
    cvae = report["cvae"]
    digits = list(gen["per_digit"])
    lines = [
        "# Label CVAE: class-conditional generation on MNIST",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Label CVAE at the default settings (z_dim {cvae['config']['z_dim']}, hidden "
        f"{cvae['config']['hidden']}, conditional prior, objective cvae), at most "
        f"{cvae['config']['epochs']} epochs: ran {cvae['epochs_run']}, best validation "
        f"epoch {cvae['best_epoch']}, {cvae['seconds_total']:.0f} s of training.",
        "",
        "| quantity | value |",
        "| --- | --- |",
        f"| classifier test accuracy ({report['test_images']} images) | "
        f"{report['classifier']['test_accuracy']:.2%} |",
        f"| generated digits read as the digit asked for ({gen['n_per_digit']} per digit) | "
        f"{gen['overall']:.2%} |",
    ]
    for key, label in (("negative_elbo", "test negative ELBO"), ("is_nll", "test IS NLL")):
        e = est[key]
        lines.append(
            f"| {label} (S = {e['samples']}), nats/image | "
            f"{e['nll_mean']:.2f} ± {e['nll_stderr']:.2f} |"
        )
    lines += [
        "",
        "Per digit (share of samples of digit d that the classifier reads as d):",
        "",
        "| digit | " + " | ".join(digits) + " |",
        "| --- |" + " --- |" * len(digits),
        "| share | " + " | ".join(f"{gen['per_digit'][d]:.1%}" for d in digits) + " |",
    ]
    z2 = report["z2"]
    lines += [
        "",
        f"Figures: {', '.join(DEFAULT_FIGURES)} (default run); {', '.join(LATENT_FIGURES)} "
        f"from a z_dim = 2 label CVAE trained {z2['epochs_run']} epochs (best "
        f"{z2['best_epoch']}; its samples are read as the asked digit "
        f"{z2['generation_overall']:.1%} of the time).",
        "Pixels are scored as Bernoulli on grey levels; ± is the standard error over test images.",
        "",
    ]
    return "\n".join(lines)


def run_benchmark(cfg: BenchmarkConfig, command: str) -> dict:
    """Train or load everything, measure, write ``results_dir``; returns the report."""
    results_dir = check_out_dir(cfg.results_dir, "--results-dir")
    check_out_dir(cfg.out_dir)
    device = resolve_device(cfg.device)
    start = time.perf_counter()
    data = load_splits(cfg.data_dir, cfg.limit, device)
    classifier, clf = classifier_phase(cfg, data, device)
    cvae, summary = train_label_cvae(cfg, "default", cfg.epochs, TrainConfig.z_dim)
    cvae_2d, summary_2d = train_label_cvae(cfg, "z2", cfg.z2_epochs, 2)
    gen = digit_accuracy(classifier, cvae, cfg.n_per_digit, cfg.seed)
    summary_2d["generation_overall"] = digit_accuracy(
        classifier, cvae_2d, cfg.n_per_digit, cfg.seed
    )["overall"]
    report = {
        "command": command,
        "benchmark": asdict(cfg),
        "test_images": len(data.test),
        "classifier": clf,
        "generation": gen,
        "test_estimates": estimate_on_test(cvae, data.test, cfg),
        "cvae": summary,
        "z2": summary_2d,
        "machine": machine_info(device),
    }
    for names, run_dir in ((DEFAULT_FIGURES, summary), (LATENT_FIGURES, summary_2d)):
        for name in names:
            source = Path(run_dir["run_dir"]) / name
            write_atomic(results_dir / name, lambda tmp, src=source: shutil.copyfile(src, tmp))
    report["seconds_total"] = time.perf_counter() - start
    save_json(report, results_dir / "label_quality.json")
    save_text(markdown(report), results_dir / "label_quality.md")
    return report


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``experiments/label_quality.py``."""
    d = BenchmarkConfig()
    p = argparse.ArgumentParser(
        prog="python -m experiments.label_quality", description=__doc__.split("\n")[0]
    )
    p.add_argument("--epochs", type=int, default=d.epochs, help="most epochs of the label CVAE")
    p.add_argument("--z2-epochs", type=int, default=d.z2_epochs, help="epochs of the z_dim=2 CVAE")
    p.add_argument("--classifier-epochs", type=int, default=d.classifier_epochs)
    p.add_argument("--n-per-digit", type=int, default=d.n_per_digit, help="samples per digit")
    p.add_argument("--samples", type=int, default=d.samples, help="S for -ELBO and IS")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out-dir", default=d.out_dir, help="checkpoints (not committed)")
    p.add_argument("--results-dir", default=d.results_dir)
    p.add_argument("--data-dir", help="folder with the MNIST IDX files (else $CVAE_PYRO_DATA)")
    p.add_argument("--limit", type=int, help="only the first N images of each split")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=d.device)
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, print the numbers and the command that reproduces them."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        body(args, argv)
    except BaseException as err:
        message, code = describe(err, "run it again")
        if code is None:
            raise
        parser.exit(code, f"{parser.prog}: error: {message}\n")
    return 0


def body(args: argparse.Namespace, argv: list[str]) -> None:
    """Run the benchmark for parsed ``args``; print the report."""
    command = shlex.join(["python", "-m", "experiments.label_quality", *argv])
    for name in ("epochs", "z2_epochs", "classifier_epochs", "n_per_digit", "samples"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer")
    cfg = BenchmarkConfig(**vars(args))
    report = run_benchmark(cfg, command)
    print(Path(cfg.results_dir, "label_quality.md").read_text())
    print(f"reproduce with: {command}")
    print(f"total {report['seconds_total']:.0f} s; files in {cfg.results_dir}")


if __name__ == "__main__":
    sys.exit(main())
