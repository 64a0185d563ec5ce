"""The CLL table: rows of estimates pooled over seeds, as CSV and as the paper's markdown table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .build import BASELINE
from .checkpoints import write_atomic
from .formatting import format_pm

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
    return table.reset_index()[CSV_COLUMNS]


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
    for label, model, estimator in TABLE_ROWS:
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
        + (MASK_NOTE if any(r["model"] == "mask" for r in rows) else "")
        + "\n\n"
        + markdown_table(table, quadrants)
        + "\n"
    )
    write_atomic(results_dir / "cll_table.md", lambda tmp: tmp.write_text(text))
    return table
