"""Settings of the two commands that draw pictures: ``sample`` and ``complete``.

Like :mod:`cvae_pyro.cli.config`: one frozen dataclass per command, its fields the
command-line options, ``__post_init__`` refusing a bad or ignored setting.
"""

from __future__ import annotations

from dataclasses import dataclass

from .choices import (
    DATASET_NAMES,
    DEFAULT_SAMPLES,
    DEVICES,
    KEEP_LAYOUTS,
    NUM_CLASSES,
    SAMPLES_LIMIT,
    SPLITS,
    check_samples,
    check_unused,
    choice,
    seed_in_range,
)
from .config import DataSettings, dataset_setting, setting
from .errors import ConfigError


@dataclass(frozen=True)
class SampleConfig:
    """Draw digits from a trained label CVAE, or carry a picture's style to every class."""

    digit: str | None = setting(None, "a digit 0..9, or 'all' for a 10-row grid")
    style_of: str | None = setting(
        None,
        "or: a picture (PNG, JPEG, ...; read as `complete` reads it): every class drawn "
        "in its style, the picture first",
    )
    interpolate: tuple[str, ...] | None = setting(
        None, "or: two pictures A B: ten steps from A's style to B's, drawn as --label"
    )
    label: int | None = setting(
        None,
        "the class of the pictures (0..9): needed by --interpolate; with --style-of it "
        "skips reading the class",
    )
    samples: int = setting(
        DEFAULT_SAMPLES,
        f"S, latent samples per label when --style-of reads the class ({SAMPLES_LIMIT})",
    )
    n: int = setting(16, "samples per digit (1..100) of --digit")
    out: str | None = setting(
        None,
        "image to write, format from its suffix (default digit_<d>.png, digits.png, "
        "styles.png or interpolation.png)",
    )
    out_dir: str = setting("runs", "the --out-dir used for training")
    checkpoint: str | None = setting(
        None, "checkpoint to load (default OUT_DIR/label/cvae.pt, OUT_DIR/fashion-mnist/label/...)"
    )
    seed: int = setting(0, "seed of the latent noise (and of the IS estimates of --style-of)")
    device: str = setting("auto", "cpu, cuda, or auto (cuda when available)", choices=DEVICES)
    dataset: str = dataset_setting()

    def __post_init__(self) -> None:
        choice("dataset", self.dataset, DATASET_NAMES)
        seed_in_range(self.seed)
        if self.interpolate is not None:
            object.__setattr__(self, "interpolate", tuple(self.interpolate))
        tasks = {"--digit": self.digit, "--style-of": self.style_of}
        tasks["--interpolate"] = self.interpolate
        given = [flag for flag, value in tasks.items() if value is not None]
        if len(given) != 1:
            both = f"; got {' and '.join(given)}" if given else ""
            raise ConfigError(f"give exactly one of --digit, --style-of and --interpolate{both}")
        if self.interpolate is not None and len(self.interpolate) != 2:
            raise ConfigError(f"--interpolate takes two pictures A B, got {len(self.interpolate)}")
        if self.label is not None:
            if self.digit is not None:
                raise ConfigError(
                    "--label goes with --style-of or --interpolate; --digit names its own"
                )
            if isinstance(self.label, bool) or not 0 <= self.label < NUM_CLASSES:
                raise ConfigError(f"--label must be a class 0..9, got {self.label}")
        elif self.interpolate is not None:
            raise ConfigError("--interpolate needs --label N, the class both pictures are drawn as")
        check_samples("--samples", self.samples)
        unused, why = SAMPLE_IGNORES[given[0] + (" --label" if self.label is not None else "")]
        check_unused(self, unused, why, only=True)


@dataclass(frozen=True)
class CompleteConfig(DataSettings):
    """Complete the hidden part of a picture with a trained mask CVAE (or a quadrant CVAE)."""

    image: str | None = setting(None, "a PNG or JPEG of any size: made into an MNIST-like image")
    index: int | None = setting(None, "or: the index of a dataset image in --split")
    split: str = setting("test", "split that --index reads", choices=("train", *SPLITS))
    keep: str | None = setting(
        None, "the region to keep: a quadrant layout", choices=tuple(KEEP_LAYOUTS)
    )
    mask: str | None = setting(None, "or: a 28x28 mask image, white = visible")
    hide: tuple[str, ...] | None = setting(
        None, "or: rectangles x0,y0,x1,y1 to hide (28x28 coordinates, x1 and y1 excluded)"
    )
    n: int = setting(8, "completions to draw (1..100)")
    out: str = setting("completions.png", "PNG to write")
    out_dir: str = setting("runs", "the --out-dir used for training")
    seed: int = setting(0, "seed of the latent noise")

    def __post_init__(self) -> None:
        super().__post_init__()
        seed_in_range(self.seed)
        if (self.image is None) == (self.index is None):
            raise ConfigError("give exactly one of --image PATH and --index N")
        if self.image is not None:
            check_unused(self, IMAGE_IGNORES, "--image reads no dataset", only=True)
        if self.index is not None and (isinstance(self.index, bool) or self.index < 0):
            raise ConfigError(f"--index must be 0 or more, got {self.index}")
        regions = [self.keep, self.mask, self.hide]
        if sum(r is not None for r in regions) != 1:
            raise ConfigError("give exactly one of --keep, --mask and --hide")
        if self.keep is not None:
            choice("keep", self.keep, tuple(KEEP_LAYOUTS))
        if not 1 <= self.n <= 100:
            raise ConfigError(f"--n must lie in 1..100, got {self.n}")


#: The settings ``complete --image`` does not read (they pick a dataset image).
IMAGE_IGNORES = ("split", "data_dir")
#: The settings each kind of ``sample`` does not read, and why: --n counts the samples of
#: --digit, --samples is the S of reading a class, --seed seeds either's noise.
SAMPLE_IGNORES = {
    "--digit": (("samples",), "--digit reads no class"),
    "--style-of": (("n",), "--style-of draws each class once"),
    "--style-of --label": (
        ("n", "samples", "seed"),
        "--style-of with --label reads no class and draws each class once, without noise",
    ),
    "--interpolate --label": (
        ("n", "samples", "seed"),
        "--interpolate draws its steps without noise",
    ),
}
