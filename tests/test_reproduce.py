"""The reproduction pipeline: table layout, aggregation over seeds, the result files written as
one set, and what --combine checks before it pools."""

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from cvae_pyro import publishing, reproduce, reproduction
from cvae_pyro.cli import EXIT_INTERRUPTED, EXIT_USAGE
from cvae_pyro.config import ReproduceConfig
from cvae_pyro.errors import (
    CheckpointError,
    ConfigError,
)
from cvae_pyro.files import TEMP_TAG
from cvae_pyro.publishing import STAGING, finish_publish
from cvae_pyro.reproduce import main
from cvae_pyro.settings import OBJECTIVES
from cvae_pyro.tables import CSV_COLUMNS, aggregate, markdown_table

from .helpers import (
    call,
    one_error_line,
    popen_module,
)


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
    md = (out / "cll_table.md").read_text()
    assert "| CVAE, IWAE bound, K = 5 (IS) | 68.00 ± 0.50 |" in md
    assert md.index("CVAE (IS)") < md.index("IWAE bound") < md.index("Performance gap")
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
    assert err.count("\n") == 1
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


def test_combine_keeps_the_users_own_tmp_files(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    mine = [results / ".notes.tmp", results / "draft.tmp", results / ".cvae.pt.k3j9x2.tmp"]
    for path in mine:
        path.write_text("the user's")
    ours = results / f".cll_table.md{TEMP_TAG}ab12cd_9.tmp"  # left by a killed writer
    ours.write_text("half a table")
    linked = results / f".run.json{TEMP_TAG}zz99yy88.tmp"  # our pattern, but a link
    linked.symlink_to(mine[1])
    files = [run_file(tmp_path / "a.json", pooled_rows())]
    code, err = call(reproduce.main, ["--combine", *files, "--results-dir", results], capsys)
    assert code == 0, err
    assert all(path.read_text() == "the user's" for path in mine)
    assert not ours.exists() and linked.is_symlink()
    assert (results / "cll_table.md").is_file()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"nll_mean": float("nan")}, "nll_mean is 'nan'"),
        ({"nll_mean": float("inf")}, "nll_mean is 'inf'"),
        ({"nll_mean": "70.1"}, "nll_mean is '70.1'"),
        ({"nll_mean": 10**400}, "nll_mean is"),
        ({"nll_mean": True}, "nll_mean is 'True'"),
        ({"nll_stderr": -0.3}, "nll_stderr is '-0.3'"),
        ({"nll_stderr": float("nan")}, "nll_stderr is 'nan'"),
        ({"quadrants": 9}, "quadrants is '9'"),
        ({"quadrants": True}, "quadrants is 'True'"),
        ({"quadrants": "1"}, "quadrants is '1'"),
        ({"seed": -1}, "seed is '-1'"),
        ({"seed": 1.5}, "seed is '1.5'"),
        ({"samples": 0}, "samples is '0'"),
        ({"samples": -100}, "samples is '-100'"),
        ({"images": 0}, "images is '0'"),
        ({"estimator": "XX"}, "estimator is 'XX'"),
        ({"model": ["cvae"]}, "model is"),
        ({"dataset": "cifar"}, "dataset is 'cifar'"),
    ],
)
def test_combine_refuses_impossible_values(change, named, tmp_path, capsys):
    good = run_file(tmp_path / "good.json", pooled_rows(seeds=(0,)))
    bad = run_file(tmp_path / "bad.json", pooled_rows(seeds=(1,), **change))
    results = tmp_path / "results"
    code, err = call(reproduce.main, ["--combine", good, bad, "--results-dir", results], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "bad.json", "row 1 (", named)
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
    one_error_line(err, "fashion.json holds fashion-mnist rows", "--dataset fashion-mnist")
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
    one_error_line(err, "run.json holds fashion-mnist rows")


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
    for name in ("cll_table.csv", "cll_table.md"):
        assert (tmp_path / name).read_bytes() == (committed / pooled / name).read_bytes(), name


def test_a_fashion_mnist_run_is_not_pooled_as_mnist(tmp_path, capsys):
    committed = Path(__file__).parents[1] / "results"
    args = ["--combine", committed / "fashion-mnist/run.json", "--results-dir", tmp_path]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "--dataset fashion-mnist")


def test_combine_files_that_break_json_readers(tmp_path, capsys):
    results = tmp_path / "results"
    nested = tmp_path / "nested.json"
    nested.write_text('{"rows": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, err = call(reproduce.main, ["--combine", nested, "--results-dir", results], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "nested.json is corrupt: not a run.json")


@pytest.mark.parametrize(
    "marker",
    ["{not json", '{"files": 3}', '{"files": ["../../escape.txt"]}', "[]", '{"files": [""]}'],
)
def test_a_corrupt_complete_marker_is_one_line(marker, tmp_path, capsys):
    results = tmp_path / "results"
    (results / STAGING).mkdir(parents=True)
    (results / STAGING / "COMPLETE").write_text(marker)
    (results / STAGING / "cll_table.md").write_text("staged")
    files = [run_file(tmp_path / "a.json", pooled_rows())]
    code, err = call(reproduce.main, ["--combine", *files, "--results-dir", results], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "COMPLETE is corrupt", "delete the folder")
    assert not (tmp_path / "escape.txt").exists() and not (results / "cll_table.md").exists()


def test_a_linked_staging_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("the user's")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / STAGING).symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="is not a folder"):
        finish_publish(tmp_path / "results")
    assert (elsewhere / "keep.txt").read_text() == "the user's"


def finished_results(tmp_path: Path, capsys) -> tuple[Path, dict[str, bytes]]:
    """A results folder holding a finished set (from --combine), and its files' bytes."""
    results = tmp_path / "results"
    files = [run_file(tmp_path / "a.json", pooled_rows())]
    code, err = call(reproduce.main, ["--combine", *files, "--results-dir", results], capsys)
    assert code == 0, err
    return results, {p.name: p.read_bytes() for p in results.iterdir() if p.is_file()}


def stage(staging: Path, damage: str, user_file: Path) -> None:
    """A complete-looking staged set whose run.json cvae_pyro did not write."""
    staging.mkdir()
    (staging / "cll_table.md").write_text("a staged table")
    digest = hashlib.sha256(user_file.read_bytes()).hexdigest()
    if damage == "link":
        (staging / "run.json").symlink_to(user_file)  # its target has the recorded hash
    elif damage == "folder":
        (staging / "run.json").mkdir()
    elif damage == "other bytes":
        (staging / "run.json").write_text('{"rows": []}')
    names = ["cll_table.md", "run.json"]
    hashes = {name: hashlib.sha256(b"a staged table").hexdigest() for name in names}
    marker = {"files": {**hashes, "run.json": digest}}
    (staging / "COMPLETE").write_text(json.dumps(marker))


@pytest.mark.parametrize("damage", ["link", "folder", "other bytes"])
def test_a_staged_set_cvae_pyro_did_not_write_never_replaces_finished_results(
    damage, tmp_path, capsys
):
    results, finished = finished_results(tmp_path, capsys)
    user_file = tmp_path / "notes.txt"
    user_file.write_text("the user's own notes\n")
    stage(results / STAGING, damage, user_file)
    files = [run_file(tmp_path / "b.json", pooled_rows(seeds=(1,)))]
    code, err = call(reproduce.main, ["--combine", *files, "--results-dir", results], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "run.json", "left as they are", "delete")
    assert not (results / "run.json").is_symlink()
    assert {p.name: p.read_bytes() for p in results.iterdir() if p.is_file()} == finished
    assert user_file.read_text() == "the user's own notes\n"


def test_an_interrupted_move_is_finished_only_with_the_recorded_files(tmp_path, monkeypatch):
    def write(tag: str):
        def files(staging: Path) -> dict:
            (staging / "cll_table.md").write_text(f"{tag} table")
            return {"tag": tag}

        return files

    publishing.publish(tmp_path, write("old"))
    monkeypatch.setattr(publishing, "finish_publish", lambda results_dir: None)
    publishing.publish(tmp_path, write("new"))  # staged and marked, never moved
    monkeypatch.undo()
    marker = json.loads((tmp_path / STAGING / "COMPLETE").read_text())
    assert list(marker["files"]) == ["cll_table.md", "run.json"]  # the manifest last
    publishing.finish_publish(tmp_path)
    assert json.loads((tmp_path / "run.json").read_text())["tag"] == "new"
    assert (tmp_path / "cll_table.md").read_text() == "new table"
    assert not (tmp_path / STAGING).exists()


def test_combine_refuses_numbers_that_pool_to_infinity(tmp_path, capsys):
    huge = [
        run_file(tmp_path / f"{seed}.json", pooled_rows(seeds=(seed,), nll_mean=1.7e308))
        for seed in (0, 1)
    ]
    gap = pooled_rows(seeds=(0,), nll_mean=-1.7e308)
    gap[0]["nll_mean"] = 1.7e308  # the NN's: finite, but the gap to the CVAE is not
    results = tmp_path / "results"
    for files, named in (
        (huge, "nll_mean of cvae IS at 1 quadrants"),
        ([run_file(tmp_path / "gap.json", gap)], "the performance gap at 1 quadrants"),
    ):
        code, err = call(reproduce.main, ["--combine", *files, "--results-dir", results], capsys)
        assert code == EXIT_USAGE
        one_error_line(err, named, "too large to pool")
        assert not (results / "cll_table.md").exists() and not (results / STAGING).exists()


def test_mask_only_refuses_objectives_it_would_ignore(tmp_path, capsys):
    args = ["--mask-only", "--objectives", "gsnn", "--limit", "300"]
    args += ["--results-dir", tmp_path / "results", "--runs-dir", tmp_path / "runs"]
    code, err = call(reproduce.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "--mask-only", "--objectives does not apply")
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()
    assert ReproduceConfig(mask_only=True).objectives == OBJECTIVES  # the default is fine


@pytest.mark.parametrize("name", [".lock", "notes.txt", "cvae.pt"])
def test_a_staged_set_moves_only_result_files(name, tmp_path, capsys):
    results, finished = finished_results(tmp_path, capsys)
    staging = results / STAGING
    staging.mkdir()
    (staging / name).write_text("not a result\n")
    digest = hashlib.sha256(b"not a result\n").hexdigest()
    (staging / "COMPLETE").write_text(json.dumps({"files": {name: digest}}))
    files = [run_file(tmp_path / "b.json", pooled_rows(seeds=(1,)))]
    code, err = call(reproduce.main, ["--combine", *files, "--results-dir", results], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "COMPLETE is corrupt", "not result files")
    assert (staging / name).exists()
    moved = results / name
    assert not moved.exists() or moved.read_text() != "not a result\n"
    assert {
        p.name: p.read_bytes() for p in results.iterdir() if p.is_file() and p.name != ".lock"
    } == {k: v for k, v in finished.items() if k != ".lock"}


def _write_set(tag: str):
    def write(staging: Path) -> dict:
        for name in ("cll_table.csv", "cll_table.md", "q1_samples.png"):
            (staging / name).write_text(f"{tag} {name}")
        return {"tag": tag}

    return write


def test_result_set_killed_while_moving_is_finished_next_time(tmp_path, monkeypatch):
    publishing.publish(tmp_path, _write_set("old"))
    real_replace, moves = os.replace, []

    def replace_then_die(src, dst):
        if Path(dst).parent == tmp_path:  # a move out of the staging folder
            if len(moves) == 1:
                raise KeyboardInterrupt
            moves.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(publishing.os, "replace", replace_then_die)
    with pytest.raises(KeyboardInterrupt):
        publishing.publish(tmp_path, _write_set("new"))
    monkeypatch.undo()
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["tag"] == "old"  # the manifest, moved last, still describes the old set
    publishing.finish_publish(tmp_path)  # what the next reproduce or --combine does first
    manifest = json.loads((tmp_path / "run.json").read_text())
    assert manifest["tag"] == "new"
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest
        assert (tmp_path / name).read_text() == f"new {name}"
    assert not (tmp_path / publishing.STAGING).exists()


def test_an_incomplete_staged_set_is_dropped(tmp_path):
    publishing.publish(tmp_path, _write_set("old"))
    (tmp_path / publishing.STAGING).mkdir()
    (tmp_path / publishing.STAGING / "cll_table.md").write_text("half")
    publishing.finish_publish(tmp_path)
    assert (tmp_path / "cll_table.md").read_text() == "old cll_table.md"
    assert not (tmp_path / publishing.STAGING).exists()


def test_combine_rows_missing_keys(tmp_path, capsys):
    bad = tmp_path / "run.json"
    bad.write_text(json.dumps({"rows": [{"model": "cvae", "estimator": "IS"}]}))
    code, err = call(reproduce.main, ["--combine", bad, "--results-dir", tmp_path / "r"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "run.json", "row 0 lacks quadrants")
    bad.write_text("[1, 2")
    code, err = call(reproduce.main, ["--combine", bad, "--results-dir", tmp_path / "r"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "not a run.json")


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
