"""The reproduction pipeline: table layout, aggregation over seeds, files written."""

import json

import pandas as pd

from cvae_pyro.reproduce import CSV_COLUMNS, aggregate, main, markdown_table


def _row(model, estimator, q, seed, mean):
    return {
        "model": model,
        "estimator": estimator,
        "quadrants": q,
        "seed": seed,
        "nll_mean": mean,
        "nll_stderr": 0.5,
        "samples": 100,
        "images": 10_000,
    }


def test_aggregate_over_seeds_and_gap():
    rows = [_row("baseline", "NN", 1, s, 100.0 + s) for s in (0, 1)]
    rows += [_row("cvae", "IS", 1, s, 70.0 + 2 * s) for s in (0, 1)]
    table = aggregate(rows)
    assert list(table.columns) == CSV_COLUMNS
    cvae = table[(table.model == "cvae") & (table.estimator == "IS")].iloc[0]
    assert cvae.nll_mean == 71.0 and cvae.seeds == 2
    assert abs(cvae.nll_seed_std - 2**0.5) < 1e-9
    text = markdown_table(table, [1])
    assert "| NN (baseline) | 100.50 ± 0.50 (± 0.71 over 2 seeds) |" in text
    assert "| Performance gap (NN - CVAE (IS)) | 29.50 |" in text
    assert "GSNN" not in text  # rows without numbers are left out


def test_reproduce_smoke(tmp_path, data_dir):
    results = tmp_path / "results"
    args = [
        "--quadrants",
        "1",
        "3",
        "--objectives",
        "cvae",
        "gsnn",
        "--epochs",
        "1",
        "--limit",
        "200",
        "--samples",
        "3",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--results-dir",
        str(results),
        "--data-dir",
        str(data_dir),
        "--quiet",
    ]
    assert main(args) == 0
    table = pd.read_csv(results / "cll_table.csv")
    assert list(table.columns) == CSV_COLUMNS
    assert set(table.quadrants) == {1, 3}
    assert set(zip(table.model, table.estimator, strict=True)) == {
        ("baseline", "NN"),
        ("cvae", "MC"),
        ("cvae", "IS"),
        ("cvae", "-ELBO"),
        ("gsnn", "MC"),
        ("gsnn", "-ELBO"),  # no IS: a GSNN's recognition network is never trained
    }
    assert (table.images == 200).all() and (table[table.model != "baseline"].samples == 3).all()
    md = (results / "cll_table.md").read_text()
    for label in ("NN (baseline)", "GSNN (MC)", "CVAE (MC)", "CVAE (IS)", "Performance gap"):
        assert label in md
    assert "hybrid" not in md
    run = json.loads((results / "run.json").read_text())
    assert {"command", "seeds", "epochs_reached", "phases", "machine"} <= set(run)
    assert run["epochs_reached"]["seed0/q3/cvae"] == 1
    assert (results / "q1_samples.png").stat().st_size > 10_000
    # a second call trains nothing and gives the same table
    main(args)
    again = pd.read_csv(results / "cll_table.csv")
    nn_rows = again[again.model == "baseline"].nll_mean.tolist()
    assert nn_rows == table[table.model == "baseline"].nll_mean.tolist()
