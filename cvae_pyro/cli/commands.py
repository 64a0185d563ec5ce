"""The commands: what each ``python -m cvae_pyro`` command does once its settings are parsed.

Each ``*_command(cfg, command)`` gets its settings dataclass and the command line as
typed, finds its model or data, calls the library and prints what it did and where the
files are: the library itself never prints. :mod:`cvae_pyro.cli` parses the options and
calls these (:data:`~cvae_pyro.cli.config.COMMANDS`).
"""

import os
import time
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from ..beyond import plots
from ..beyond.completion import complete
from ..beyond.label import interpolate_pictures, posterior_table, sample_digits, transfer_style
from ..beyond.pictures import hide_mask, picture_to_digit, read_mask
from ..data import NUM_CLASSES, dataset_info, load_splits
from ..masks import input_mask
from ..models import CVAE
from . import config, files
from .cll_table import combine, markdown_table, reproduce
from .device import resolve_device
from .errors import CheckpointError, ConfigError
from .experiment import run
from .model_files import evaluate_run_dir, load_pretrained, load_trained, pretrained_models


def train_command(cfg: config.TrainConfig, command: str) -> None:
    """``python -m cvae_pyro.train``: train, then say where the files are."""
    start = time.perf_counter()
    metrics = run(cfg)
    if not cfg.quiet:
        print(
            f"done in {time.perf_counter() - start:.0f} s; best {cfg.model_name} at epoch "
            f"{metrics[cfg.model_name]['best_epoch']}; files in {cfg.run_dir}"
        )


def evaluate_command(cfg: config.EvaluateConfig, command: str) -> None:
    """``python -m cvae_pyro.evaluate``: the estimates of every model in one run folder."""
    files.check_folder(cfg.run_dir, "--out-dir")  # a run folder that is missing, or a file
    device = resolve_device(cfg.device)
    on_layout = cfg.condition in config.LAYOUT_EVALUATED  # the mask task: on a quadrant layout
    task = cfg.quadrants if on_layout else None
    expect = {"condition": cfg.condition, "dataset": cfg.dataset}
    expect |= {} if on_layout else {"quadrants": cfg.quadrants}
    name = f"evaluation_{cfg.split}" + (f"_q{task}" if task else "")
    name += ("" if cfg.precision == "fp32" else f"_{cfg.precision}") + ".json"
    with files.folder_lock(cfg.run_dir):  # no training writes the folder while it is read
        files.check_target(cfg.run_dir / name)  # a write-protected file is found before the work
        data = load_splits(cfg.data_dir, cfg.limit, device, cfg.dataset)
        rows = evaluate_run_dir(
            cfg.run_dir, data, cfg.split, cfg.samples, cfg.seed, expect, task, cfg.precision
        )
        out = files.save_json({"split": cfg.split, "rows": rows}, cfg.run_dir / name)
    where = f" ({task}-quadrant layout)" if task else " (fixed family masks)" if on_layout else ""
    print(
        f"{cfg.run_dir}{where}, {cfg.split} split, {rows[0]['images']} images, grey-level "
        "Bernoulli likelihood; negative CLL in nats per image (lower is better)"
    )
    columns = ["model", "estimator", "nll_mean", "nll_stderr", "samples"]
    print(pd.DataFrame(rows)[columns].to_string(index=False, float_format="%.3f"))
    print(f"saved {out}")


def reproduce_command(cfg: config.ReproduceConfig, command: str) -> None:
    """``python -m cvae_pyro.reproduce``: train, evaluate and tabulate, or ``--combine``."""
    if cfg.combine:
        table = combine(cfg.combine, Path(cfg.results_dir), command, cfg.dataset)
    else:
        with tqdm(unit="phase", position=0) as bar:  # closed, it ends its line

            def progress(phase: str) -> None:  # the bar counts the phases begun
                bar.set_description(phase)
                bar.update()

            table = reproduce(cfg, command, progress)
    print(markdown_table(table, None if cfg.combine else cfg.quadrants))
    print(f"wrote {Path(cfg.results_dir) / 'cll_table.md'}")


def find_model(
    out_dir: str | Path, condition: str, dataset: str, device: torch.device, keep: str | None = None
) -> tuple[CVAE, str]:
    """The CVAE of ``condition`` to draw with, and a line naming it.

    The one trained in ``out_dir``; else, when ``keep`` names a quadrant layout, the
    quadrant CVAE of that layout trained there; else the shipped one of ``dataset``.

    Raises:
        CheckpointError: none of them is there (the message gives the training command),
            or the one found is broken or of other settings.
    """
    quadrants = config.KEEP_LAYOUTS.get(keep)
    tasks = [({"condition": condition}, condition)]
    if quadrants:
        tasks.append(({"condition": "quadrant", "quadrants": quadrants}, f"{quadrants}-quadrant"))
    for expect, name in tasks:
        path = config.run_dir(out_dir, expect["condition"], quadrants, dataset) / "cvae.pt"
        files.check_folder(path.parent, "--out-dir", missing_ok=True)  # a file there is no model
        if os.path.lexists(path):  # whatever is there is read, or refused
            found = load_trained(path, device, "cvae", {**expect, "dataset": dataset})
            return found.module, f"{name} CVAE {path}"
    if f"{dataset}-{condition}" in pretrained_models():
        found, name = load_pretrained(condition, dataset, device)
        return found.module, name
    also = f" (or --quadrants {quadrants} in place of --condition {condition}, for --keep {keep})"
    raise CheckpointError(
        f"no {condition} model in {config.run_dir(out_dir, condition, None, dataset)}: train "
        f"one with `python -m cvae_pyro.train --condition {condition} --out-dir {out_dir} "
        f"--dataset {dataset}`{also if quadrants else ''}"
    )


def class_name(label: int, names: tuple[str, ...]) -> str:
    """``class 7``, or ``class 1 (Trouser)`` where the class has a name of its own."""
    return f"class {label}" if names[label] == str(label) else f"class {label} ({names[label]})"


def sample_command(cfg: config.SampleConfig, command: str) -> None:
    """``python -m cvae_pyro.sample``: ``--digit`` draws digits; ``--style-of`` draws every
    class in a picture's style; ``--interpolate`` walks from one picture's style to another's."""
    default = "styles.png" if cfg.style_of is not None else "interpolation.png"
    if cfg.digit is not None:  # a digit, or "all" for one row per digit
        digits = list(range(NUM_CLASSES)) if cfg.digit == "all" else [int(cfg.digit)]
        default = "digits.png" if len(digits) > 1 else f"digit_{digits[0]}.png"
    inputs = [path for path in (cfg.style_of, *(cfg.interpolate or ())) if path is not None]
    out = files.check_figure_path(cfg.out or default, "--out", inputs)
    pictures = [picture_to_digit(path) for path in inputs]  # (784,) each
    device = resolve_device(cfg.device)
    if cfg.checkpoint is None:  # the label CVAE trained in --out-dir, else the shipped one
        cvae, model = find_model(cfg.out_dir, "label", cfg.dataset, device)
    else:
        expect = {"condition": "label", "dataset": cfg.dataset}
        cvae = load_trained(cfg.checkpoint, device, "cvae", expect).module
        model = f"label CVAE {cfg.checkpoint}"
    names = dataset_info(cfg.dataset).class_names
    if cfg.style_of is not None:
        result = transfer_style(cvae, pictures[0], cfg.label, cfg.samples, cfg.seed)
        if result.reading is not None:
            print(posterior_table(result.reading, names))
        how = "given by --label" if result.reading is None else "read by the CVAE"
        name = class_name(result.label, names)
        print(f"the style of {cfg.style_of}, {name} ({how})\ndrawn by the {model}")
        title = f"the picture's style ({name}) as every class; {model}"
        fig = plots.style_figure(result.picture, result.drawn, result.label, names, title)
    elif cfg.interpolate is not None:
        steps = interpolate_pictures(cvae, *pictures, cfg.label)  # (T, 784)
        name = class_name(cfg.label, names)
        print(f"{len(steps)} steps from the style of {inputs[0]} to {inputs[1]}")
        print(f"drawn as {name} by the {model}")
        title = f"{name}, z_t = (1 - t) z_A + t z_B; drawn by the {model}"
        fig = plots.interpolation_figure(*pictures, steps, title)
    else:
        samples = sample_digits(cvae, digits, cfg.n, cfg.seed)  # (D, n, 784)
        print(f"drawn by the {model}")
        fig = plots.label_samples_figure(samples, digits, names)
    print(f"saved {files.save_figure(fig, out)}")


def complete_command(cfg: config.CompleteConfig, command: str) -> None:
    """``python -m cvae_pyro.complete``: complete the hidden part of a picture into a figure."""
    out = files.check_figure_path(cfg.out, "--out", (cfg.image, cfg.mask))
    if cfg.keep is not None:
        visible = input_mask(config.KEEP_LAYOUTS[cfg.keep])  # (784,) bool
    else:
        visible = hide_mask(cfg.hide) if cfg.mask is None else read_mask(cfg.mask)
    if cfg.image is not None:
        picture = picture_to_digit(cfg.image)  # (784,)
    else:
        split = load_splits(cfg.data_dir, None, torch.device("cpu"), cfg.dataset).split(cfg.split)
        if cfg.index >= len(split):
            raise ConfigError(f"--index {cfg.index}: the {cfg.split} split has {len(split)} images")
        picture = split.images[cfg.index]
    cvae, model = find_model(cfg.out_dir, "mask", cfg.dataset, resolve_device(cfg.device), cfg.keep)
    completion = complete(cvae, picture, visible, cfg.n, cfg.seed)
    print(f"completed by the {model}")
    print(f"saved {files.save_figure(plots.completion_figure(completion, model), out)}")
