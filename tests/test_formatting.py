"""One way to write a value ± its standard error, in results/ and the README."""

import json
from pathlib import Path

from cvae_pyro.cli.cll_table import aggregate, format_pm, markdown_table

ROOT = Path(__file__).parents[1]


def table_cells(markdown: str) -> list[list[str]]:
    """The cells of the markdown table in ``markdown``, row by row, without the spacing.

    The header is the first row; the rule under it is left out.
    """
    lines = [line.strip() for line in markdown.splitlines() if line.strip().startswith("|")]
    rows = [[" ".join(c.split()) for c in line.strip("|").split("|")] for line in lines]
    return [row for row in rows if not all(set(c) <= set(":-") and c for c in row)]


def test_table_cells():
    text = "caption\n\n|   | 1 quadrant |\n|:--|:---|\n| NN  (baseline) |  96.90 ± 0.39 |\n"
    assert table_cells(text) == [["", "1 quadrant"], ["NN (baseline)", "96.90 ± 0.39"]]


def test_format_pm():
    assert format_pm(66.48767852783203, 0.21470099687576294) == "66.49 ± 0.21"
    assert format_pm(22.91, 0.11496, digits=1) == "22.9 ± 0.1"
    assert format_pm(-1.0, 0.0, digits=0) == "-1 ± 0"


def test_committed_table_is_formatted_from_the_unrounded_rows():
    """results/cll_table.md and the README format the rows of the run.json files.

    The CSV keeps four decimals, and formatting those again can move the last digit
    (hybrid IS, 3 quadrants: stderr 0.11496 is 0.1150 in the CSV, which prints 0.12).
    """
    rows = json.loads((ROOT / "results" / "run.json").read_text())["rows"]
    table = aggregate(rows)
    committed = (ROOT / "results" / "cll_table.md").read_text()
    assert table_cells(markdown_table(table, [1, 2, 3])) == table_cells(committed)
    pooled = json.loads((ROOT / "results" / "seeds_0_1_2" / "run.json").read_text())["rows"]
    readme = (ROOT / "README.md").read_text()
    shown = 0
    for row in aggregate(pooled).itertuples():
        if row.seeds > 1:  # the README's table: the mean ± the spread over the seeds
            assert format_pm(row.nll_mean, row.nll_seed_std) in readme, row
            shown += 1
    assert shown == 12  # NN, CVAE MC, IS and -ELBO at 1, 2 and 3 quadrants
