"""The CLL table: rows of (model, estimator, quadrants, seed) pooled and written out.

:func:`aggregate` pools the per-seed rows with pandas (mean over seeds of each mean and
standard error, and the spread over seeds); :func:`table_files` makes ``cll_table.csv``
and the paper's table as markdown (``cll_table.md``, :func:`markdown_table`): NN, GSNN
(MC), CVAE (MC), CVAE (IS), hybrid (IS), any CVAE trained beyond the paper (IS), the
mask model's rows, and the performance gap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from .config import BASELINE, MASK_BASELINE, MASK_MODEL, MODEL_FILES

EXACT = "NN"  #: the estimator of the baseline's exact value (S = 0)
#: Rows of the markdown table: (label, model, estimator).
TABLE_ROWS = [
    ("NN (baseline)", BASELINE, "NN"),
    ("GSNN (MC)", "gsnn", "MC"),
    ("CVAE (MC)", "cvae", "MC"),
    ("CVAE (IS)", "cvae", "IS"),
    ("hybrid (IS)", "hybrid", "IS"),
    ("mask NN (baseline, any mask)", MASK_BASELINE, "NN"),
    ("mask CVAE (MC, any mask)", MASK_MODEL, "MC"),
    ("mask CVAE (IS, any mask)", MASK_MODEL, "IS"),
]
GAP = "Performance gap (NN - CVAE (IS))"  #: the last row: NN minus CVAE (IS)
MASK_NOTE = (
    " The mask rows are one model (and its baseline) trained on random masks of every "
    "kind, evaluated on each quadrant layout."
)
#: The columns of ``cll_table.csv``.
CSV_COLUMNS = (
    "model estimator quadrants nll_mean nll_stderr seeds samples nll_seed_std images".split()
)
#: How a CVAE's name beyond the paper's training reads in the table, part by part
#: (``cvae-iwae5-warmup10``: "IWAE bound, K = 5, KL warm-up 10 epochs").
NAME_PARTS = {
    "meanfield": "TraceMeanField_ELBO",
    "iwae": "IWAE bound, K = {}",
    "warmup": "KL warm-up {} epochs",
}


def estimator_title(name: str) -> str:
    """How the table describes the training of the CVAE ``name`` (``model_name``'s parts)."""
    parts = (re.fullmatch(r"(\D*)(\d*)", part).groups() for part in name.split("-")[1:])
    return ", ".join(NAME_PARTS.get(w, w).format(n) for w, n in parts) or "Trace_ELBO"


def table_rows(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """:data:`TABLE_ROWS`, with an IS row after the hybrid's for each CVAE trained beyond
    the paper (another ``--elbo`` or a KL warm-up)."""
    known = (*MODEL_FILES, MASK_MODEL, MASK_BASELINE)
    extra = [(f"CVAE, {estimator_title(m)} (IS)", m, "IS") for m in table.model.unique()]
    at = [row[1] for row in TABLE_ROWS].index("hybrid") + 1
    return TABLE_ROWS[:at] + [row for row in extra if row[1] not in known] + TABLE_ROWS[at:]


def aggregate(rows: list[dict]) -> pd.DataFrame:
    """Per (model, estimator, quadrants): mean over seeds of the mean, stderr and seed std.

    Returns:
        The columns of :data:`CSV_COLUMNS`, and ``first_seed``: the seed of a row that
        holds one seed (the lowest of several).
    """
    grouped = pd.DataFrame(rows).groupby(["model", "estimator", "quadrants"], sort=False)
    table = grouped.agg(
        nll_mean=("nll_mean", "mean"),
        nll_stderr=("nll_stderr", "mean"),
        seeds=("seed", "nunique"),
        samples=("samples", "first"),
        nll_seed_std=("nll_mean", "std"),
        images=("images", "first"),
        first_seed=("seed", "min"),
    )
    return table.reset_index()


def _cell(row: pd.Series, pooled: bool) -> str:
    text = format_pm(row.nll_mean, row.nll_stderr)
    if row.seeds > 1:
        return text + f" (± {row.nll_seed_std:.2f} over {row.seeds} seeds)"
    return text + (f" (seed {row.first_seed} only)" if pooled else "")


def markdown_table(table: pd.DataFrame, quadrants: Sequence[int] | None = None) -> str:
    """The paper's table as markdown: rows of models and estimators, columns of quadrants.

    In a table of several seeds, a row of one seed names it ("(seed 0 only)").
    """
    quadrants = sorted(table.quadrants.unique()) if quadrants is None else list(quadrants)
    pooled = table.seeds.max() > 1 or table.first_seed.nunique() > 1
    cells = table.assign(cell=[_cell(row, pooled) for row in table.itertuples()])
    by_row = ["model", "estimator"]
    wide = cells.pivot(index=by_row, columns="quadrants", values="cell")
    shown = [(label, (m, e)) for label, m, e in table_rows(table) if (m, e) in wide.index]
    body = wide.reindex(index=[key for _, key in shown], columns=quadrants)
    body.index = [label for label, _ in shown]
    means = table.pivot(index=by_row, columns="quadrants", values="nll_mean")
    if {(BASELINE, EXACT), ("cvae", "IS")} <= set(means.index):
        gap = means.loc[(BASELINE, EXACT)] - means.loc[("cvae", "IS")]
        body.loc[GAP] = gap.reindex(quadrants).map(lambda g: f"{g:.2f}", na_action="ignore")
    body = body.dropna(how="all").fillna("n/a")
    body.columns = [f"{q} quadrant{'s' if q > 1 else ''}" for q in quadrants]
    return body.to_markdown(disable_numparse=True)  # numbers stay as formatted


def table_files(
    rows: list[dict], dataset_title: str = "MNIST"
) -> tuple[pd.DataFrame, dict[str, Callable[[Path], None]]]:
    """The pooled table of ``rows`` and the writers of ``cll_table.csv`` and ``cll_table.md``.

    Each writer takes the file to write (:func:`~cvae_pyro.cli.files.write_atomic` gives it).
    """
    table = aggregate(rows)
    samples = max((r["samples"] for r in rows if r["estimator"] != EXACT), default=0)
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
        + markdown_table(table)
        + "\n"
    )
    return table, {
        "cll_table.csv": lambda tmp: table.to_csv(
            tmp, columns=CSV_COLUMNS, index=False, float_format="%.4f"
        ),
        "cll_table.md": lambda tmp: tmp.write_text(text, encoding="utf-8"),
    }


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
