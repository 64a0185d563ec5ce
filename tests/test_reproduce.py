"""The reproduction pipeline: table layout, aggregation over seeds, the result files written as
one set, which finished results a results folder keeps, and what --combine checks before it
pools."""

import hashlib
import json
import shutil
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from cvae_pyro import reproduce
from cvae_pyro.cli import EXIT_INTERRUPTED, EXIT_USAGE
from cvae_pyro.cli import cll_table as reproduction
from cvae_pyro.cli.cll_table import CSV_COLUMNS, GAP, aggregate, markdown_table, rewrite_tables
from cvae_pyro.cli.config import OBJECTIVES, ReproduceConfig
from cvae_pyro.cli.errors import CheckpointError
from cvae_pyro.reproduce import main

from .helpers import call, one_error_line, popen_module
from .test_formatting import table_cells

RESULTS = Path(__file__).parents[1] / "results"


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
    assert list(table.columns) == [*CSV_COLUMNS, "first_seed"]
    cvae = table[(table.model == "cvae") & (table.estimator == "IS")].iloc[0]
    assert cvae.nll_mean == 71.0 and cvae.seeds == 2
    assert abs(cvae.nll_seed_std - 2**0.5) < 1e-9
    assert table_cells(markdown_table(table, [1])) == [
        ["", "1 quadrant"],
        ["NN (baseline)", "100.50 ± 0.50 (± 0.71 over 2 seeds)"],
        ["CVAE (IS)", "71.00 ± 0.50 (± 1.41 over 2 seeds)"],
        ["Performance gap (NN - CVAE (IS))", "29.50"],  # rows without numbers are left out
    ]


def test_a_pooled_table_names_the_seed_of_a_one_seed_row():
    rows = [_row("baseline", "NN", q, s, 100.0 + s) for s in (0, 1) for q in (1, 2)]
    rows += [_row("gsnn", "MC", 1, 1, 99.0), _row("cvae", "IS", 2, 0, 70.0)]
    assert table_cells(markdown_table(aggregate(rows))) == [
        ["", "1 quadrant", "2 quadrants"],
        ["NN (baseline)", *["100.50 ± 0.50 (± 0.71 over 2 seeds)"] * 2],
        ["GSNN (MC)", "99.00 ± 0.50 (seed 1 only)", "n/a"],
        ["CVAE (IS)", "n/a", "70.00 ± 0.50 (seed 0 only)"],
        ["Performance gap (NN - CVAE (IS))", "n/a", "30.50"],
    ]
    one_seed_each = [_row("gsnn", "MC", 1, 1, 99.0), _row("cvae", "IS", 1, 0, 70.0)]
    assert "(seed 1 only)" in markdown_table(aggregate(one_seed_each))
    assert "only" not in markdown_table(aggregate([_row("cvae", "IS", 1, 0, 70.0)]))


@pytest.mark.slow
def test_reproduce_smoke(tmp_path, data_dir, capsys):
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
    trained = run["epochs"]["seed0/q3/cvae"]["seconds"]  # as its checkpoint recorded it
    metrics = json.loads((tmp_path / "runs" / "seed0" / "q3" / "metrics.json").read_text())
    assert trained == round(metrics["cvae"]["seconds_total"], 1)
    assert 0 <= trained < run["seconds_total"]
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
    # other settings never replace these finished results, and train nothing
    finished = {p.name: p.read_bytes() for p in results.iterdir() if p.name != ".lock"}
    other = [*args[:1], "2", *args[3:]]  # --quadrants 2 instead of 1 3
    code, err = call(main, other, capsys)
    assert code == EXIT_USAGE
    one_error_line(
        err, "holds finished results of other settings", "quadrants=[1, 3] (this run: [2])"
    )
    assert {p.name: p.read_bytes() for p in results.iterdir() if p.name != ".lock"} == finished
    assert not (tmp_path / "runs" / "seed0" / "q2").exists()


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
    assert table_cells(capsys.readouterr().out)[-1] == [GAP, "32.00"]


def test_combine_counts_a_shared_model_once_and_refuses_a_seed_with_two_numbers(tmp_path, capsys):
    shared = _row("baseline", "NN", 1, 0, 100.0)  # one baseline, reused by two runs
    rows_a = [shared, _row("cvae", "IS", 1, 0, 70.0)]
    rows_b = [shared, _row("cvae-iwae5", "IS", 1, 0, 68.0)]
    files = [_run_json(tmp_path / "a.json", rows_a), _run_json(tmp_path / "b.json", rows_b)]
    out = tmp_path / "joined"
    assert main(["--combine", *files, "--results-dir", str(out)]) == 0
    table = pd.read_csv(out / "cll_table.csv")
    assert table[table.model == "baseline"].seeds.tolist() == [1]
    assert len(json.loads((out / "run.json").read_text())["rows"]) == 3
    labels = [row[0] for row in table_cells((out / "cll_table.md").read_text())]
    assert labels == ["", "NN (baseline)", "CVAE (IS)", "CVAE, IWAE bound, K = 5 (IS)", GAP]
    capsys.readouterr()
    rows = [_row("cvae", "IS", 1, 0, 70.0)]
    files = [_run_json(tmp_path / "a.json", rows)]
    files.append(_run_json(tmp_path / "b.json", [_row("cvae", "IS", 1, 0, 70.5)]))
    out = str(tmp_path / "pooled")
    with pytest.raises(SystemExit) as exit:
        main(["--combine", *files, "--results-dir", out])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "both hold seed 0 of cvae IS at 1 quadrants, with other numbers" in err
    assert "a.json" in err or "b.json" in err
    assert err.count("\n") == 1
    (tmp_path / "c.json").write_text("{}")
    with pytest.raises(SystemExit) as exit:
        main(["--combine", str(tmp_path / "c.json"), "--results-dir", out])
    assert exit.value.code == 2
    assert "c.json: not a run.json" in capsys.readouterr().err


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
    for key, value in (("patience", 10), ("samples", 10), ("limit", 500), ("precision", "bf16")):
        other = made_with(tmp_path / f"{key}.json", 2, **{key: value})
        for files in ([*same, other], [str(out / "run.json"), other]):
            with pytest.raises(SystemExit) as exit:
                main(["--combine", *files, "--results-dir", str(tmp_path / key)])
            assert exit.value.code == 2
            err = capsys.readouterr().err
            assert f"made with {key} {value} and" in err and err.count("\n") == 1
            assert not (tmp_path / key / "cll_table.csv").exists()


def pooled_rows(seeds=(0,), **changes) -> list[dict]:
    """Rows of a run.json: the NN and the CVAE (IS) at 1 quadrant, one per seed."""
    rows = []
    for seed in seeds:
        for model, estimator, samples in (("baseline", "NN", 0), ("cvae", "IS", 100)):
            row = {"model": model, "estimator": estimator, "quadrants": 1, "seed": seed}
            row.update(nll_mean=90.0 + seed, nll_stderr=0.4, samples=samples, images=10_000)
            rows.append(row)
    rows[-1].update(changes)
    return rows


def run_file(path: Path, rows: list[dict], **top) -> Path:
    path.write_text(json.dumps({**top, "rows": rows}))
    return path


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"nll_mean": float("nan")}, "nll_mean is nan"),
        ({"nll_mean": float("inf")}, "nll_mean is inf"),
        ({"nll_stderr": float("-inf")}, "nll_stderr is -inf"),
        ({"nll_mean": "70.1"}, "nll_mean is '70.1'"),
    ],
)
def test_combine_refuses_numbers_that_are_not_finite(change, named, tmp_path, capsys):
    good = run_file(tmp_path / "good.json", pooled_rows(seeds=(0,)))
    bad = run_file(tmp_path / "bad.json", pooled_rows(seeds=(1,), **change))
    results = tmp_path / "results"
    code, err = call(reproduce.main, ["--combine", good, bad, "--results-dir", results], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "bad.json", "row 1: ", named, "not a finite number")
    assert not (results / "cll_table.md").exists()


@pytest.mark.parametrize("missing", ["nll_mean", "seed", "images"])
def test_combine_refuses_a_row_without_its_fields(missing, tmp_path, capsys):
    rows = pooled_rows(seeds=(0,))
    del rows[1][missing]
    bad = run_file(tmp_path / "bad.json", rows)
    results = tmp_path / "results"
    code, err = call(reproduce.main, ["--combine", bad, "--results-dir", results], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "bad.json", "row 1 lacks some of", missing)
    assert not (results / "cll_table.md").exists()


def test_combine_refuses_rows_of_two_datasets(tmp_path, capsys):
    mnist = run_file(tmp_path / "mnist.json", pooled_rows(seeds=(0,)))  # no dataset: MNIST
    fashion = run_file(
        tmp_path / "fashion.json", pooled_rows(seeds=(1,)), arguments={"dataset": "fashion-mnist"}
    )
    results = tmp_path / "results"
    code, err = call(
        reproduce.main, ["--combine", mnist, fashion, "--results-dir", results], capsys
    )
    assert code == EXIT_USAGE
    one_error_line(err, "fashion.json was made with dataset fashion-mnist and --dataset with mnist")
    args = ["--combine", fashion, "--dataset", "fashion-mnist", "--results-dir", results]
    code, err = call(reproduce.main, args, capsys)
    assert code == 0, err
    assert "Fashion-MNIST test set" in (results / "cll_table.md").read_text()
    pooled = json.loads((results / "run.json").read_text())
    assert pooled["dataset"] == "fashion-mnist"
    assert {r["dataset"] for r in pooled["rows"]} == {"fashion-mnist"}
    args = ["--combine", results / "run.json", mnist, "--results-dir", tmp_path / "again"]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_USAGE  # the pooled file records its dataset in turn
    one_error_line(err, "run.json was made with dataset fashion-mnist")


@pytest.mark.parametrize(
    ("pooled", "runs"),
    [
        ("seeds_0_1_2", ["seed0", "seed1_cvae", "seed2_cvae"]),
        (".", ["seed0", "tuned"]),  # the paper's table with the training chosen on validation
    ],
)
def test_the_committed_tables_are_their_runs_combined(pooled, runs, tmp_path, capsys):
    committed = Path(__file__).parents[1] / "results"
    files = [committed / run / "run.json" for run in runs]
    code, err = call(reproduce.main, ["--combine", *files, "--results-dir", tmp_path], capsys)
    assert code == 0, err
    assert (tmp_path / "cll_table.csv").read_bytes() == (
        committed / pooled / "cll_table.csv"
    ).read_bytes()
    made, kept = (
        (folder / "cll_table.md").read_text() for folder in (tmp_path, committed / pooled)
    )
    assert table_cells(made) == table_cells(kept)
    assert made.split("\n|")[0] == kept.split("\n|")[0]  # the title and the caption


@pytest.mark.parametrize(
    "folder", sorted(p.parent.name for p in RESULTS.glob("*/cll_table.md")) + ["."]
)
def test_every_committed_table_is_made_from_its_run_json(folder, tmp_path):
    committed = RESULTS / folder
    shutil.copyfile(committed / "run.json", tmp_path / "run.json")
    rewrite_tables(tmp_path)
    assert (tmp_path / "run.json").read_bytes() == (committed / "run.json").read_bytes()
    assert (tmp_path / "cll_table.csv").read_bytes() == (committed / "cll_table.csv").read_bytes()
    made, kept = ((f / "cll_table.md").read_text() for f in (tmp_path, committed))
    assert table_cells(made) == table_cells(kept)
    assert made.split("\n|")[0] == kept.split("\n|")[0]  # the title and the caption


def test_a_fashion_mnist_run_is_not_pooled_as_mnist(tmp_path, capsys):
    committed = Path(__file__).parents[1] / "results"
    args = ["--combine", committed / "fashion-mnist/run.json", "--results-dir", tmp_path]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "made with dataset fashion-mnist and --dataset with mnist")


def test_combine_files_that_break_json_readers(tmp_path, capsys):
    results = tmp_path / "results"
    nested = tmp_path / "nested.json"
    nested.write_text('{"rows": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, err = call(reproduce.main, ["--combine", nested, "--results-dir", results], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "nested.json is corrupt: not a run.json")


def test_mask_only_refuses_objectives_it_would_ignore(tmp_path, capsys):
    args = ["--mask-only", "--objectives", "gsnn", "--limit", "300"]
    args += ["--results-dir", tmp_path / "results", "--runs-dir", tmp_path / "runs"]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "--mask-only", "--objectives does not apply")
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()
    assert ReproduceConfig(mask_only=True).objectives == OBJECTIVES  # the default is fine


def test_combine_refuses_a_file_that_is_not_json(tmp_path, capsys):
    bad = tmp_path / "run.json"
    bad.write_text("[1, 2")
    code, err = call(reproduce.main, ["--combine", bad, "--results-dir", tmp_path / "r"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "not a run.json")


def test_combine_refuses_a_results_folder_holding_one_of_its_runs(tmp_path, capsys):
    res, other = tmp_path / "res", tmp_path / "other"
    first = run_file(tmp_path / "a.json", pooled_rows())
    code, err = call(reproduce.main, ["--combine", first, "--results-dir", res], capsys)
    assert code == 0, err
    other.mkdir()
    run_file(other / "run.json", pooled_rows(seeds=(1,)))
    before = {p.name: p.read_bytes() for p in res.iterdir()}
    for runs in ([res / "run.json", other / "run.json"], [other, res]):
        code, err = call(reproduce.main, ["--combine", *runs, "--results-dir", res], capsys)
        assert code == EXIT_USAGE
        one_error_line(err, f"--results-dir {res} holds {res / 'run.json'}", "choose another")
        assert {p.name: p.read_bytes() for p in res.iterdir()} == before


def test_combine_reads_a_results_folder(tmp_path, capsys):
    seeds = []
    for seed in (0, 1):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        run_file(folder / "run.json", pooled_rows(seeds=(seed,)))
        seeds.append(folder)
    out = tmp_path / "pooled"
    code, err = call(reproduce.main, ["--combine", *seeds, "--results-dir", out], capsys)
    assert code == 0, err
    pooled = json.loads((out / "run.json").read_text())
    assert pooled["seeds"] == [0, 1] and pooled["combined"] == [str(f) for f in seeds]


def test_combine_replaces_only_a_pooled_table_of_the_same_runs(tmp_path, capsys):
    a = run_file(tmp_path / "a.json", pooled_rows(seeds=(0,)))
    b = run_file(tmp_path / "b.json", pooled_rows(seeds=(1,)))
    results = tmp_path / "results"
    for runs in ([a], [a]):  # the same command again writes the same set again
        code, err = call(reproduce.main, ["--combine", *runs, "--results-dir", results], capsys)
        assert code == 0, err
    finished = {p.name: p.read_bytes() for p in results.iterdir()}
    code, err = call(reproduce.main, ["--combine", a, b, "--results-dir", results], capsys)
    assert code == EXIT_USAGE
    one_error_line(
        err, "holds finished results of other settings", f"delete {results / 'run.json'}"
    )
    assert {p.name: p.read_bytes() for p in results.iterdir()} == finished


@pytest.mark.parametrize(
    ("committed", "args", "named"),
    [
        ("seed0", ["--quadrants", "2", "--mask-model"], "quadrants=[1, 2, 3] (this run: [2])"),
        ("seed0", ["--mask-model", "--seeds", "1"], "seeds=[0] (this run: [1])"),
        (".", [], "combine=['results/seed0/run.json', 'results/tuned/run.json'] (this run: None)"),
    ],
)
def test_reproduce_refuses_finished_results_of_other_settings(
    committed, args, named, tmp_path, data_dir, monkeypatch, capsys
):
    def train(cfg):
        raise AssertionError("refused before anything is trained")

    monkeypatch.setattr(reproduction, "run", train)
    results, runs = tmp_path / "results", tmp_path / "runs"
    results.mkdir()
    shutil.copyfile(RESULTS / committed / "run.json", results / "run.json")
    args = [*args, "--limit", "300", "--data-dir", data_dir, "--quiet"]
    code, err = call(reproduce.main, [*args, "--results-dir", results, "--runs-dir", runs], capsys)
    assert code == EXIT_USAGE
    line = one_error_line(err, f"{results} holds finished results of other settings", named)
    assert "limit=None (this run: 300)" in line
    assert (results / "run.json").read_bytes() == (RESULTS / committed / "run.json").read_bytes()
    assert [p.name for p in results.iterdir() if p.name != ".lock"] == ["run.json"]


def _publish(folder: Path, tag: str, figures=("q1_samples.png",)) -> None:
    """A result set of one row (70 nats for "old", 71 for "new") and ``figures`` holding ``tag``."""
    sources = {name: folder.parent / f"{tag}_{name}" for name in figures}
    for name, source in sources.items():
        source.write_text(f"{tag} {name}")
    rows = [_row("cvae", "IS", 1, 0, 70.0 if tag == "old" else 71.0)]
    reproduction.publish(folder, {"tag": tag, "rows": rows}, sources)


def test_a_new_result_set_leaves_no_file_of_the_old(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    _publish(results, "old", ("q1_samples.png", "q3_samples.png"))
    (results / "notes.txt").write_text("the user's")
    _publish(results, "new")
    found = {p.name: p.read_text() for p in results.iterdir()}
    assert sorted(found) == [  # no q3 figure of the old set is left
        "cll_table.csv", "cll_table.md", "notes.txt", "q1_samples.png", "run.json"
    ]  # fmt: skip
    assert found["q1_samples.png"] == "new q1_samples.png" and "71.00" in found["cll_table.md"]
    assert json.loads(found["run.json"])["tag"] == "new" and found["notes.txt"] == "the user's"


def test_a_result_set_killed_while_written_is_not_finished(tmp_path, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    _publish(results, "old")
    real_write, written = reproduction.write_atomic, []

    def write_then_die(path, write):
        if written:
            raise KeyboardInterrupt
        written.append(path)
        return real_write(path, write)

    monkeypatch.setattr(reproduction, "write_atomic", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        _publish(results, "new")
    monkeypatch.undo()
    found = {p.name: p.read_text() for p in results.iterdir()}
    assert list(found) == ["cll_table.csv"]  # no run.json: nothing finished
    assert "71.0000" in found["cll_table.csv"]


def test_reproduce_errors_get_their_own_line(tmp_path, data_dir, monkeypatch, capsys):
    def mismatch(cfg):
        raise CheckpointError(f"{cfg.run_dir}/baseline.pt was trained with other settings")

    monkeypatch.setattr(reproduction, "run", mismatch)
    args = ["--quadrants", "1", "--objectives", "cvae", "--quiet", "--data-dir", data_dir]
    args += ["--runs-dir", tmp_path / "runs", "--results-dir", tmp_path / "results"]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_USAGE
    assert any(line.startswith("python -m cvae_pyro.reproduce: error:") for line in err.split("\n"))


def test_reproduce_ctrl_c_says_to_run_again_not_resume(tmp_path, data_dir, monkeypatch, capsys):
    def interrupted(cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(reproduction, "run", interrupted)
    args = ["--quadrants", "1", "--objectives", "cvae", "--data-dir", data_dir]
    args += ["--runs-dir", tmp_path / "runs", "--results-dir", tmp_path / "results"]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_INTERRUPTED
    line = one_error_line(err, "interrupted", "run the same command again")
    assert "--resume" not in line


@pytest.mark.slow
def test_reproduce_sigint_mid_run_gives_one_line(tmp_path, data_dir):
    runs = tmp_path / "runs"
    args = ["--quadrants", "1", "--objectives", "cvae", "--epochs", "50", "--limit", "2000"]
    args += ["--samples", "2", "--runs-dir", str(runs), "--results-dir", str(tmp_path / "res")]
    proc = popen_module("cvae_pyro.reproduce", [*args, "--data-dir", str(data_dir)], data_dir)
    start = time.time()
    while not (runs / "seed0/q1/baseline_last.pt").exists():
        assert proc.poll() is None and time.time() - start < 300
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_INTERRUPTED
    line = one_error_line(err, "interrupted")
    assert "--resume" not in line and "AttributeError" not in err
