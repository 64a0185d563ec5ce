"""The S-curve study: estimates of one CVAE at several S, as the estimators give them."""

import json

import pytest
import torch
from PIL import Image

from cvae_pyro.cli.model_files import load_trained
from cvae_pyro.data import load_splits
from cvae_pyro.estimators import is_nll, mc_nll
from experiments import s_curve


def test_each_s_gives_the_estimators_numbers_and_is_stays_under_the_bound(
    q2_run, data_dir, tmp_path
):
    results = tmp_path / "results"
    args = [f"q2={q2_run / 'q2' / 'cvae.pt'}", "--samples", "20", "3", "--images", "40"]
    record = s_curve.main([*args, "--results-dir", str(results), "--data-dir", str(data_dir)])
    assert json.loads((results / "s_curve.json").read_text()) == json.loads(json.dumps(record))
    rows = record["models"]["q2"]
    assert [(r["samples"], r["estimator"]) for r in rows] == [
        (s, e) for s in (3, 20) for e in ("MC", "IS", "-ELBO")
    ]
    cvae = load_trained(q2_run / "q2" / "cvae.pt", "cpu", "cvae").module
    x, y = cvae.condition.evaluation_pairs(load_splits(data_dir, 40, torch.device("cpu")).test)
    by = {(r["samples"], r["estimator"]): r["nll_mean"] for r in rows}
    assert by[20, "IS"] == pytest.approx(is_nll(cvae, x, y, 20, seed=0).mean, abs=1e-4)
    assert by[3, "MC"] == pytest.approx(mc_nll(cvae, x, y, 3, seed=0).mean, abs=1e-4)
    for s in (3, 20):  # the same draws: log-mean-exp of the weights is above their mean
        assert by[s, "IS"] <= by[s, "-ELBO"]
    with Image.open(results / "s_curve.png") as figure:
        assert figure.format == "PNG" and figure.width > 300


@pytest.mark.parametrize(
    "args, needle",
    [(["runs/q1/cvae.pt"], "NAME=PATH"), (["q1=runs/q1/cvae.pt", "--samples", "0"], "at most")],
)
def test_a_bad_model_or_sample_count_is_refused_before_any_work(args, needle, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        s_curve.main([*args, "--results-dir", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
