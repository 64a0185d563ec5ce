"""The reproduction pipeline: table layout, aggregation over seeds, files written."""

import hashlib
import json

import pandas as pd
import pytest

from cvae_pyro.reproduce import main
from cvae_pyro.reproduction import CSV_COLUMNS, aggregate, markdown_table


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


@pytest.mark.slow
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
    assert {"command", "seeds", "epochs", "phases", "machine"} <= set(run)
    assert {k: run["epochs"]["seed0/q3/cvae"][k] for k in ("run", "best")} == {"run": 1, "best": 1}
    trained = run["epochs"]["seed0/q3/cvae"]["seconds"]
    assert 0 < trained < run["seconds_total"]
    assert run["seconds_training_recorded"] == pytest.approx(
        sum(e["seconds"] for e in run["epochs"].values()), abs=0.1
    )
    assert run["command"] == "python -m cvae_pyro.reproduce " + " ".join(args)  # not sys.argv
    assert (results / "q1_samples.png").stat().st_size > 10_000
    # a second call trains nothing (no checkpoint changes) and gives the same table
    checkpoints = sorted((tmp_path / "runs").rglob("*.pt"))
    assert len(checkpoints) == 2 * 3 * 2  # q1, q3 x baseline, cvae, gsnn x best, last
    before = {
        p: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) for p in checkpoints
    }
    main(args)
    after = {
        p: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) for p in checkpoints
    }
    assert after == before
    assert pd.read_csv(results / "cll_table.csv").equals(table)
    again = json.loads((results / "run.json").read_text())
    assert again["epochs"] == run["epochs"]  # reused models report their training time


def _run_json(path, rows):
    path.write_text(json.dumps({"rows": rows}))
    return str(path)


def test_combine_pools_seeds_from_several_runs(tmp_path, capsys):
    first = [_row("baseline", "NN", 1, 0, 100.0), _row("cvae", "IS", 1, 0, 70.0)]
    first += [_row("gsnn", "MC", 1, 0, 99.0)]
    later = [_row("baseline", "NN", 1, s, 100.0 + 3 * s) for s in (1, 2)]
    later += [_row("cvae", "IS", 1, s, 70.0 + s) for s in (1, 2)]
    files = [_run_json(tmp_path / "a.json", first), _run_json(tmp_path / "b.json", later)]
    out = tmp_path / "pooled"
    assert main(["--combine", *files, "--results-dir", str(out)]) == 0
    table = pd.read_csv(out / "cll_table.csv")
    cvae = table[(table.model == "cvae") & (table.estimator == "IS")].iloc[0]
    assert cvae.nll_mean == 71.0 and cvae.seeds == 3 and abs(cvae.nll_seed_std - 1.0) < 1e-9
    nn = table[table.model == "baseline"].iloc[0]
    assert nn.nll_mean == 103.0 and abs(nn.nll_seed_std - 3.0) < 1e-9
    assert table[table.model == "gsnn"].iloc[0].seeds == 1  # only in the first run
    assert "seeds [0, 1, 2]" in (out / "cll_table.md").read_text()
    assert json.loads((out / "run.json").read_text())["seeds"] == [0, 1, 2]
    assert "| Performance gap (NN - CVAE (IS)) | 32.00 |" in capsys.readouterr().out


def test_combine_refuses_a_seed_twice_and_foreign_files(tmp_path, capsys):
    rows = [_row("cvae", "IS", 1, 0, 70.0)]
    files = [_run_json(tmp_path / "a.json", rows), _run_json(tmp_path / "b.json", rows)]
    out = str(tmp_path / "pooled")
    with pytest.raises(SystemExit) as exit:
        main(["--combine", *files, "--results-dir", out])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "both hold seed 0 of cvae IS at 1 quadrants" in err and err.count("\n") == 1
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(SystemExit) as exit:
        main(["--combine", str(tmp_path / "c.json"), "--results-dir", out])
    assert exit.value.code == 2
    assert "c.json: not a run.json" in capsys.readouterr().err
    other = [_row("cvae", "IS", 1, 1, 70.0) | {"samples": 10}]
    files = [files[0], _run_json(tmp_path / "d.json", other)]
    with pytest.raises(SystemExit) as exit:
        main(["--combine", *files, "--results-dir", out])
    assert exit.value.code == 2
    assert "differ in samples ([10, 100])" in capsys.readouterr().err


def test_combine_refuses_runs_made_with_other_settings(tmp_path, capsys):
    def made_with(path, seed, **changed):
        arguments = {"epochs": 200, "patience": 5, "samples": 100, "limit": None} | changed
        rows = [_row("cvae", "IS", 1, seed, 70.0 + seed)]
        path.write_text(json.dumps({"arguments": arguments, "rows": rows}))
        return str(path)

    same = [made_with(tmp_path / "a.json", 0), made_with(tmp_path / "b.json", 1)]
    out = tmp_path / "pooled"
    assert main(["--combine", *same, "--results-dir", str(out)]) == 0
    pooled = json.loads((out / "run.json").read_text())
    assert pooled["settings"] == {
        "epochs": 200,
        "patience": 5,
        "samples": 100,
        "limit": None,
        "precision": "fp32",  # not recorded by either run: fp32, the only precision before bf16
    }
    for key, value in (("patience", 10), ("limit", 500), ("precision", "bf16")):
        other = made_with(tmp_path / f"{key}.json", 2, **{key: value})
        for files in ([*same, other], [str(out / "run.json"), other]):
            with pytest.raises(SystemExit) as exit:
                main(["--combine", *files, "--results-dir", str(tmp_path / key)])
            assert exit.value.code == 2
            err = capsys.readouterr().err
            assert f"made with --{key} {value} and" in err and err.count("\n") == 1
            assert not (tmp_path / key / "cll_table.csv").exists()
