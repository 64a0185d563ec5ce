"""The CLL table: rows of (model, estimator, quadrants, seed) pooled and written out.

:func:`aggregate` pools the per-seed rows (mean over seeds of each mean and standard
error, and the spread over seeds); :func:`write_table` writes ``cll_table.csv`` and the
paper's table as markdown (``cll_table.md``, :func:`markdown_table`): NN, GSNN (MC),
CVAE (MC), CVAE (IS), hybrid (IS), any CVAE trained beyond the paper (IS), the mask
model's rows, and the performance gap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .errors import ConfigError
from .files import save_text, write_atomic
from .settings import BASELINE, MASK_BASELINE, MASK_MODEL, MODEL_FILES, estimator_title

EXACT = "NN"  #: the estimator of the baseline's exact value (S = 0)
ESTIMATORS = (EXACT, "MC", "IS", "-ELBO")  #: the estimators a row may hold
MODELS = (*MODEL_FILES, MASK_MODEL, MASK_BASELINE)  #: the models a row may hold


#: Rows of the markdown table: (label, model, estimator).
TABLE_ROWS = [
    ("NN (baseline)", BASELINE, "NN"),
    ("GSNN (MC)", "gsnn", "MC"),
    ("CVAE (MC)", "cvae", "MC"),
    ("CVAE (IS)", "cvae", "IS"),
    ("hybrid (IS)", "hybrid", "IS"),
    ("mask NN (baseline, any mask)", "mask_baseline", "NN"),
    ("mask CVAE (MC, any mask)", "mask", "MC"),
    ("mask CVAE (IS, any mask)", "mask", "IS"),
]
MASK_NOTE = (
    " The mask rows are one model (and its baseline) trained on random masks of every "
    "kind, evaluated on each quadrant layout."
)
CSV_COLUMNS = [
    "model",
    "estimator",
    "quadrants",
    "nll_mean",
    "nll_stderr",
    "seeds",
    "samples",
    "nll_seed_std",
    "images",
]


def table_rows(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """:data:`TABLE_ROWS`, with an IS row after the hybrid's for each CVAE trained beyond
    the paper (another ``--elbo`` or a KL warm-up)."""
    beyond = [m for m in dict.fromkeys(table.model) if m not in MODELS]
    extra = [(f"CVAE, {estimator_title(m)} (IS)", m, "IS") for m in beyond]
    at = [row[1] for row in TABLE_ROWS].index("hybrid") + 1
    return TABLE_ROWS[:at] + extra + TABLE_ROWS[at:]


def aggregate(rows: list[dict]) -> pd.DataFrame:
    """Per (model, estimator, quadrants): mean over seeds of the mean, stderr and seed std."""
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["model", "estimator", "quadrants"], sort=False)
    table = grouped.agg(
        nll_mean=("nll_mean", "mean"),
        nll_stderr=("nll_stderr", "mean"),
        seeds=("seed", "nunique"),
        samples=("samples", "first"),
        nll_seed_std=("nll_mean", "std"),
        images=("images", "first"),
    )
    table = table.reset_index()[CSV_COLUMNS]
    check_pooled(table)
    return table


def check_pooled(table: pd.DataFrame) -> None:
    """ConfigError naming the first pooled number (or performance gap) that is not finite.

    Finite rows can still pool to infinity: the mean of 1.7e308 and 1.7e308 overflows.
    """
    for row in table.itertuples():
        values = {"nll_mean": row.nll_mean, "nll_stderr": row.nll_stderr}
        if row.seeds > 1:  # one seed has no spread (NaN, shown as nothing)
            values["nll_seed_std"] = row.nll_seed_std
        for field, value in values.items():
            if not math.isfinite(value):
                where = f"{row.model} {row.estimator} at {row.quadrants} quadrants"
                raise ConfigError(_overflow(f"{field} of {where}", value))
    lookup = {(r.model, r.estimator, r.quadrants): r.nll_mean for r in table.itertuples()}
    for (model, estimator, q), nn in lookup.items():
        cvae = lookup.get(("cvae", "IS", q))
        if (model, estimator) == (BASELINE, EXACT) and cvae is not None:
            if not math.isfinite(nn - cvae):
                raise ConfigError(_overflow(f"the performance gap at {q} quadrants", nn - cvae))


def _overflow(what: str, value: float) -> str:
    return (
        f"pooling the rows gives {value} for {what}: their numbers are too large to pool "
        "(no CLL in nats per image is near 1e308); check the rows of the run.json files"
    )


def _cell(row: pd.Series) -> str:
    text = format_pm(row.nll_mean, row.nll_stderr)
    if row.seeds > 1:
        text += f" (± {row.nll_seed_std:.2f} over {row.seeds} seeds)"
    return text


def markdown_table(table: pd.DataFrame, quadrants: Sequence[int]) -> str:
    """The paper's table as markdown: rows of models and estimators, columns of quadrants."""
    header = "| | " + " | ".join(f"{q} quadrant{'s' if q > 1 else ''}" for q in quadrants) + " |"
    lines = [header, "| --- |" + " --- |" * len(quadrants)]
    lookup = {(r.model, r.estimator, r.quadrants): r for r in table.itertuples()}
    for label, model, estimator in table_rows(table):
        cells = [lookup.get((model, estimator, q)) for q in quadrants]
        if any(c is not None for c in cells):
            lines.append(
                f"| {label} | "
                + " | ".join(_cell(c) if c is not None else "n/a" for c in cells)
                + " |"
            )
    gaps = []
    for q in quadrants:
        nn, cvae = lookup.get((BASELINE, "NN", q)), lookup.get(("cvae", "IS", q))
        gaps.append(f"{nn.nll_mean - cvae.nll_mean:.2f}" if nn and cvae else "n/a")
    if any(gap != "n/a" for gap in gaps):  # a table without the paper's CVAE has no gap
        lines.append("| Performance gap (NN - CVAE (IS)) | " + " | ".join(gaps) + " |")
    return "\n".join(lines)


def write_table(
    rows: list[dict],
    quadrants: Sequence[int],
    results_dir: Path,
    samples: int,
    dataset_title: str = "MNIST",
) -> pd.DataFrame:
    """Write ``cll_table.csv`` and ``cll_table.md`` into ``results_dir``; return the table."""
    table = aggregate(rows)
    write_atomic(
        results_dir / "cll_table.csv",
        lambda tmp: table.to_csv(tmp, index=False, float_format="%.4f"),
    )
    seeds = sorted({r["seed"] for r in rows})
    text = (
        f"# Negative conditional log-likelihood on the {dataset_title} test set "
        "(nats per image)\n\n"
        f"Lower is better. Mean ± standard error over the {rows[0]['images']} test images; "
        f"S = {samples} latent samples per image for MC and IS; seeds {seeds}. Likelihood: "
        "Bernoulli over the output pixels, evaluated on grey levels (binary cross-entropy). "
        "NN: exact. MC: z from the prior network. IS: z from the recognition network."
        + (MASK_NOTE if any(r["model"] == MASK_MODEL for r in rows) else "")
        + "\n\n"
        + markdown_table(table, quadrants)
        + "\n"
    )
    save_text(text, results_dir / "cll_table.md")
    return table


def format_pm(mean: float, stderr: float, digits: int = 2) -> str:
    """A mean and its standard error as ``"66.49 ± 0.21"``.

    Args:
        mean: the estimate, for example a negative CLL in nats per image.
        stderr: its standard error, in the same unit.
        digits: decimals of both numbers.

    Returns:
        Both numbers rounded to ``digits`` decimals, joined by `` ± ``. Give the
        unrounded values: rounding an already rounded number (say ``0.1150`` read back
        from a CSV written with four decimals) can move the last digit.
    """
    return f"{mean:.{digits}f} ± {stderr:.{digits}f}"
