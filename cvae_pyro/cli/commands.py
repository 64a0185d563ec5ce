"""The commands: what each ``python -m cvae_pyro`` command does once its settings are parsed.

Each ``*_command`` function reads its settings dataclass, calls the library (training,
evaluation, the reproduction, sampling) and prints what it did and where the files
are: the library itself never prints a command's results. :mod:`cvae_pyro.cli` parses
the command line and calls these (:data:`~cvae_pyro.cli.parsers.COMMANDS`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from tqdm import tqdm

from ..beyond.label import sample_digits
from ..beyond.pictures import hide_mask, picture_to_digit, read_mask
from ..beyond.plots import (
    completion_figure,
    interpolation_figure,
    label_samples_figure,
    style_figure,
)
from ..data import dataset_info, load_splits
from ..models import CVAE
from .choices import DEFAULT_DATASET, LAYOUT_EVALUATED, NUM_CLASSES, run_dir
from .cll_table import reproduce
from .config import CompleteConfig, EvaluateConfig, ReproduceConfig, SampleConfig, TrainConfig
from .device import check_precision, resolve_device
from .drawing import (
    class_name,
    complete,
    completion_model,
    interpolate_pictures,
    keep_mask,
    posterior_table,
    transfer_style,
)
from .errors import CheckpointError, ConfigError
from .experiment import run
from .files import (
    check_figure_path,
    check_folder,
    check_out_dir,
    check_target,
    folder_lock,
    save_figure,
    save_json,
)
from .model_files import load_pretrained, load_trained, pretrained_path
from .pooling import combine
from .run_evaluation import evaluate_run_dir
from .tables import markdown_table

ALL_DIGITS = "all"  #: ``--digit all``: one row per digit 0..9


def train_command(cfg: TrainConfig, command: str) -> None:
    """``python -m cvae_pyro.train``: train, then say where the files are."""
    start = time.perf_counter()
    metrics = run(cfg)
    if not cfg.quiet:
        print(
            f"done in {time.perf_counter() - start:.0f} s; best {cfg.model_name} at epoch "
            f"{metrics[cfg.model_name]['best_epoch']}; files in {cfg.run_dir}"
        )


def format_rows(rows: list[dict]) -> str:
    """A plain-text table of evaluation rows."""
    width = max([13, *(len(r["model"]) for r in rows)])
    lines = [f"{'model':{width}s} {'estimator':9s} {'nats/image':>12s} {'stderr':>7s} {'S':>4s}"]
    for r in rows:
        lines.append(
            f"{r['model']:{width}s} {r['estimator']:9s} {r['nll_mean']:12.3f} "
            f"{r['nll_stderr']:7.3f} {r['samples']:4d}"
        )
    return "\n".join(lines)


def evaluate_command(cfg: EvaluateConfig, command: str) -> None:
    """``python -m cvae_pyro.evaluate``: the estimates of every model in one run folder."""
    check_folder(cfg.run_dir, "--out-dir")  # a run folder that is missing, or a file
    device = resolve_device(cfg.device)
    check_precision(cfg.precision, device)
    expect = {"condition": cfg.condition, "dataset": cfg.dataset}
    on_layout = cfg.condition in LAYOUT_EVALUATED
    task = cfg.quadrants if on_layout else None
    if not on_layout:
        expect["quadrants"] = cfg.quadrants
    name = f"evaluation_{cfg.split}" + (f"_q{task}" if task else "")
    name += ("" if cfg.precision == "fp32" else f"_{cfg.precision}") + ".json"
    with folder_lock(cfg.run_dir):  # no training writes the folder while it is read
        check_target(cfg.run_dir / name)  # a write-protected file is found before the work
        data = load_splits(cfg.data_dir, cfg.limit, device, cfg.dataset)
        images = len(data.split(cfg.split))
        if cfg.limit is not None and cfg.limit > images:
            raise ConfigError(
                f"--limit {cfg.limit} is more than the {images} images of the {cfg.split} split"
            )
        rows = evaluate_run_dir(
            cfg.run_dir, data, cfg.split, cfg.samples, cfg.seed, expect, task, cfg.precision
        )
        out = save_json({"split": cfg.split, "rows": rows}, cfg.run_dir / name)
    where = ""
    if on_layout:
        where = f" ({task}-quadrant layout)" if task else " (fixed family masks)"
    print(
        f"{cfg.run_dir}{where}, {cfg.split} split, {rows[0]['images']} images, grey-level "
        "Bernoulli likelihood; negative CLL in nats per image (lower is better)"
    )
    print(format_rows(rows))
    print(f"saved {out}")


def reproduce_command(cfg: ReproduceConfig, command: str) -> None:
    """``python -m cvae_pyro.reproduce``: train, evaluate and tabulate, or ``--combine``."""
    if not cfg.combine:  # refused before any folder is made
        check_precision(cfg.precision, resolve_device(cfg.device))
    results_dir = check_out_dir(cfg.results_dir, "--results-dir")
    if cfg.combine:
        table = combine(cfg.combine, results_dir, command, cfg.dataset)
        quadrants = sorted(table.quadrants.unique())
    else:
        check_out_dir(cfg.runs_dir, "--runs-dir")
        jobs = len(cfg.seeds) * len(cfg.quadrants) * (len(cfg.objectives) + 1)
        jobs = 0 if cfg.mask_only else jobs
        if cfg.mask_model:
            jobs += len(cfg.seeds) * (1 + len(cfg.quadrants))
        bar = tqdm(total=jobs, unit="job", desc="reproduce", position=0)
        started: list[str] = []

        def progress(phase: str) -> None:
            bar.update(len(started))  # the phase before this one is done
            started[:] = [phase]
            bar.set_description(phase)

        try:
            table = reproduce(cfg, command, progress)
        except BaseException:
            bar.close()  # and end its line, so that the error gets a line of its own
            bar.fp.write("\n")
            bar.fp.flush()
            raise
        bar.update(1)
        bar.close()
        quadrants = list(cfg.quadrants)
    print(markdown_table(table, quadrants))
    print(f"wrote {Path(cfg.results_dir) / 'cll_table.md'}")


MAX_SAMPLES = 100  #: most samples per digit the command draws


STYLES_OUT = "styles.png"  #: default --out of --style-of


INTERPOLATION_OUT = "interpolation.png"  #: default --out of --interpolate


def parse_digits(text: str) -> list[int]:
    """``"all"`` to ``[0, ..., 9]``, ``"2"`` to ``[2]``; anything else is a :class:`ConfigError`."""
    if text.strip().lower() == ALL_DIGITS:
        return list(range(NUM_CLASSES))
    try:
        digit = int(text)
    except ValueError:
        digit = None
    if digit is None or not 0 <= digit < NUM_CLASSES:
        raise ConfigError(f"--digit must be a digit 0..9 or 'all', got {text!r}")
    return [digit]


def check_image_path(out: Path, example: str = "digits.png", inputs: tuple = ()) -> Path:
    """``out`` if the figure can be written there and is none of the pictures ``inputs``
    (:func:`~cvae_pyro.cli.files.check_figure_path`)."""
    return check_figure_path(out, "--out", example, inputs)


def sample_command(cfg: SampleConfig, command: str) -> None:
    """``python -m cvae_pyro.sample``: digits, a picture's style in every class, or a path.

    ``--digit`` draws digits; ``--style-of`` draws every class in a picture's style;
    ``--interpolate`` walks from one picture's style to another's.
    """
    if cfg.style_of is not None:
        return style_command(cfg)
    if cfg.interpolate is not None:
        return interpolate_command(cfg)
    digits = parse_digits(cfg.digit)
    if not 1 <= cfg.n <= MAX_SAMPLES:
        raise ConfigError(f"--n must lie in 1..{MAX_SAMPLES}, got {cfg.n}")
    default = "digits.png" if len(digits) > 1 else f"digit_{digits[0]}.png"
    out = check_image_path(Path(cfg.out or default))
    cvae, model = label_model(cfg)
    samples = sample_digits(cvae, digits, cfg.n, cfg.seed)  # (D, n, 784)
    names = dataset_info(cfg.dataset).class_names
    print(f"drawn by the {model}")
    print(f"saved {save_figure(label_samples_figure(samples, digits, names), out)}")


def style_command(cfg: SampleConfig) -> None:
    """``sample --style-of PICTURE``: read its class, print the posterior, draw every class."""
    out = check_image_path(Path(cfg.out or STYLES_OUT), STYLES_OUT, (cfg.style_of,))
    picture = picture_to_digit(cfg.style_of)  # (784,)
    cvae, model = label_model(cfg)
    names = dataset_info(cfg.dataset).class_names
    result = transfer_style(cvae, picture, cfg.label, cfg.samples, cfg.seed, model)
    if result.reading is not None:
        print(posterior_table(result.reading, names))
    how = "given by --label" if result.reading is None else "read by the CVAE"
    print(f"the style of {cfg.style_of}, {class_name(result.label, names)} ({how})")
    print(f"drawn by the {model}")
    title = f"the picture's style ({class_name(result.label, names)}) as every class; {model}"
    fig = style_figure(result.picture, result.drawn, result.label, names, title)
    print(f"saved {save_figure(fig, out)}")


def interpolate_command(cfg: SampleConfig) -> None:
    """``sample --interpolate A B --label N``: ten steps from A's style to B's."""
    out = check_image_path(Path(cfg.out or INTERPOLATION_OUT), INTERPOLATION_OUT, cfg.interpolate)
    a, b = (picture_to_digit(path) for path in cfg.interpolate)  # (784,) each
    cvae, model = label_model(cfg)
    steps = interpolate_pictures(cvae, a, b, cfg.label)  # (T, 784)
    name = class_name(cfg.label, dataset_info(cfg.dataset).class_names)
    print(f"{len(steps)} steps from the style of {cfg.interpolate[0]} to {cfg.interpolate[1]}")
    print(f"drawn as {name} by the {model}")
    title = f"{name}, z_t = (1 - t) z_A + t z_B; drawn by the {model}"
    print(f"saved {save_figure(interpolation_figure(a, b, steps, title), out)}")


def label_model(cfg: SampleConfig) -> tuple[CVAE, str]:
    """``--checkpoint``, else the label CVAE in ``--out-dir``, else the shipped one; its name.

    Raises:
        CheckpointError: none of them exists (the message gives the training command).
    """
    device = resolve_device(cfg.device)
    expect = {"condition": "label", "dataset": cfg.dataset}
    path = Path(cfg.checkpoint or run_dir(cfg.out_dir, "label", None, cfg.dataset) / "cvae.pt")
    if cfg.checkpoint is None:
        check_folder(path.parent, "--out-dir", missing_ok=True)  # a file there is no model
    if cfg.checkpoint is not None or os.path.lexists(path):
        return load_trained(path, device, "cvae", expect).module, f"label CVAE {path}"
    if pretrained_path("label", cfg.dataset) is not None:
        trained, line = load_pretrained("label", cfg.dataset, device)
        return trained.module, line
    extra = "" if cfg.dataset == DEFAULT_DATASET else f" --dataset {cfg.dataset}"
    raise CheckpointError(
        f"no label model in {path.parent}: train one with `python -m cvae_pyro.train "
        f"--condition label --out-dir {cfg.out_dir}{extra}`"
    )


def read_picture(cfg: CompleteConfig) -> torch.Tensor:
    """``(784,)``: ``--image`` made MNIST-like, or dataset image ``--index`` of ``--split``."""
    if cfg.image is not None:
        return picture_to_digit(cfg.image)
    split = load_splits(cfg.data_dir, None, torch.device("cpu"), cfg.dataset).split(cfg.split)
    if cfg.index >= len(split):
        raise ConfigError(f"--index {cfg.index}: the {cfg.split} split has {len(split)} images")
    return split.images[cfg.index]


def visible_pixels(cfg: CompleteConfig) -> torch.Tensor:
    """``(784,)`` bool visible pixels from ``--keep``, ``--mask`` or ``--hide``."""
    if cfg.keep is not None:
        return keep_mask(cfg.keep)
    if cfg.mask is not None:
        return read_mask(cfg.mask)
    return hide_mask(cfg.hide)


def complete_command(cfg: CompleteConfig, command: str) -> None:
    """``python -m cvae_pyro.complete``: complete the hidden part of a picture into a PNG."""
    out = check_image_path(Path(cfg.out), "completions.png", (cfg.image, cfg.mask))
    visible = visible_pixels(cfg)
    picture = read_picture(cfg)
    device = resolve_device(cfg.device)
    cvae, model = completion_model(cfg.out_dir, cfg.dataset, cfg.keep, device)
    completion = complete(cvae, picture, visible, cfg.n, cfg.seed, model)
    print(f"completed by the {model}")
    print(f"saved {save_figure(completion_figure(completion), out)}")
