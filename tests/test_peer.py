"""The side-by-side benchmark with Pyro's CVAE example: its figures and their arithmetic."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).parents[1] / "benchmarks" / "peer.py"
PEER_DIR = Path(__file__).parents[2] / "shared" / "peers" / "pyro-examples-cvae"
LIMIT = 350  #: batches of 128, 128 and 94; the peer's clock sees the last two
BATCH = 128  #: the first batch, untimed on the peer's side
ROUNDS = 3  #: odd, so that a median is not a mean of two

# Pyro's example at its defaults: two encoders 784-500-500-(200, 200), a decoder
# 200-500-500-784 (it reads z only), and the frozen baseline 784-500-500-784.
PEER_ENCODER_MACS = 784 * 500 + 500 * 500 + 2 * 500 * 200
PEER_DECODER_MACS = 200 * 500 + 500 * 500 + 500 * 784
PEER_BASELINE_MACS = 784 * 500 + 500 * 500 + 500 * 784


pytestmark = pytest.mark.slow  # runs the benchmark: seconds per test


@pytest.fixture(scope="module")
def result(data_dir, tmp_path_factory) -> dict:
    if not (PEER_DIR / "cvae.py").is_file():
        pytest.skip(f"Pyro's CVAE example is not in {PEER_DIR}")
    out = tmp_path_factory.mktemp("peer") / "peer.json"
    args = ["--limit", str(LIMIT), "--rounds", str(ROUNDS), "--data-dir", str(data_dir)]
    args += ["--peer-dir", str(PEER_DIR), "--out", str(out)]
    run = subprocess.run(
        [sys.executable, str(BENCHMARK), *args], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert "ratio ours/peer" in run.stdout
    return json.loads(out.read_text())


def test_rounds_alternate_and_time_the_limit(result):
    rounds = result["rounds"]
    assert [r["order"] for r in rounds] == [["ours", "peer"], ["peer", "ours"], ["ours", "peer"]]
    for r in rounds:
        assert r["ours"]["images"] == LIMIT
        assert r["peer"]["images"] == LIMIT - BATCH  # its first batch is untimed


def test_peer_flops_follow_its_layers(result):
    trained = 2 * PEER_ENCODER_MACS + PEER_DECODER_MACS
    assert result["train_flops_per_image"]["peer"] == 2 * (3 * trained + PEER_BASELINE_MACS)


def test_each_round_holds_both_sides_of_the_same_peak(result):
    for r in result["rounds"]:
        assert r["matmul_peak_gflops"] > 0
        for side in ("ours", "peer"):
            assert 0 < r[side]["fraction_of_peak"] < 2  # the rates come from speed.rates
        assert r["ratio_images_per_second"] > 0


def test_summary_is_median_and_range_of_the_rounds(result):
    rounds, summary = result["rounds"], result["summary"]
    columns = {"matmul_peak_gflops": [r["matmul_peak_gflops"] for r in rounds]}
    columns["ratio_images_per_second"] = [r["ratio_images_per_second"] for r in rounds]
    for side in ("ours", "peer"):
        for key in ("images_per_second", "gflops", "fraction_of_peak"):
            columns[f"{side}_{key}"] = [r[side][key] for r in rounds]
    assert set(summary) == set(columns)
    for key, values in columns.items():
        expected = {"median": statistics.median(values), "min": min(values), "max": max(values)}
        assert summary[key] == pytest.approx(expected), key
