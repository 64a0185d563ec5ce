"""The command line: options generated from the config dataclasses and shown by --help; bad
values, options that would be ignored and failed allocations as one line."""

import dataclasses
import signal
import time

import pytest

from cvae_pyro import complete, evaluate, reproduce, sample, train
from cvae_pyro.cli import EXIT_USAGE, commands, describe
from cvae_pyro.cli.config import (
    COMMANDS,
    MAX_ESTIMATE_SAMPLES,
    OBJECTIVES,
    CompleteConfig,
    EvaluateConfig,
    Parser,
    ReproduceConfig,
    SampleConfig,
    TrainConfig,
    add_config_options,
    build_parser,
    flag,
    help_texts,
)
from cvae_pyro.cli.errors import one_line

from .helpers import (
    QUICK,
    SMALL,
    call,
    copy_run,
    one_error_line,
    popen_module,
)


@pytest.mark.parametrize("config", [TrainConfig, EvaluateConfig, ReproduceConfig, SampleConfig])
def test_every_field_is_an_option_and_the_options_left_out_take_its_default(config):
    parser = Parser(prog="test")
    add_config_options(parser, config)
    required = {SampleConfig: {"digit": "2"}, ReproduceConfig: {}}.get(config, {"quadrants": "1"})
    argv = [x for k, v in required.items() for x in (f"--{k}", v)]
    args = parser.parse_args(argv)
    assert set(vars(args)) == set(required)  # only the options given
    cfg = config(**vars(args))
    texts = help_texts(config)
    for field in dataclasses.fields(config):
        if field.name not in required:
            assert getattr(cfg, field.name) == field.default, field.name
        assert texts.get(field.name), f"{config.__name__}.{field.name} has no help text"
        assert flag(field) in parser.format_help(), field.name


def test_parsed_values_reach_the_config():
    parser = Parser(prog="test")
    add_config_options(parser, TrainConfig)
    args = parser.parse_args(
        ["--quadrants", "2", "--hidden", "8", "9", "--no-figures", "--no-guess"]
    )
    cfg = TrainConfig(**vars(args))
    assert (cfg.quadrants, cfg.hidden, cfg.figures, cfg.guess) == (2, (8, 9), False, False)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_shows_every_option_with_its_default(name):
    """``--help`` (and so the docs' tables, made from it) lists every setting and its value."""
    text = " ".join(build_parser(name).format_help().split())
    for field in dataclasses.fields(COMMANDS[name]):
        assert flag(field) in text, flag(field)
        if isinstance(field.default, (int, float)) and not isinstance(field.default, bool):
            assert f"(default: {field.default})" in text, (flag(field), field.default)


def test_a_value_that_starts_with_a_dash_is_given_with_an_equals_sign(capsys):
    code, err = call(complete.main, ["--index", "0", "--hide=-1,0,10,10"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "--hide -1,0,10,10: need 0 <= x0 < x1 <= 28")
    code, err = call(complete.main, ["--index", "0", "--hide"], capsys)  # no value at all
    assert code == EXIT_USAGE
    one_error_line(err, "expected at least one argument")


def test_evaluate_limit_past_the_largest_split(q2_run, tmp_path, data_dir, capsys):
    args = ["--quadrants", "2", "--out-dir", copy_run(q2_run, tmp_path / "run")]
    code, err = call(evaluate.main, [*args, "--limit", "100000", "--data-dir", data_dir], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "limit 100000 is more than the 50000 images of the largest split")


@pytest.mark.parametrize(
    ("main", "args", "named"),
    [
        (reproduce.main, ["--combine", "a.json", "--mask-only"], "--mask-only does not apply"),
        (reproduce.main, ["--combine", "a.json", "--seeds", "1"], "--seeds does not apply"),
        (reproduce.main, ["--combine", "a.json", "--samples", "5"], "--samples does not apply"),
        (train.main, ["--quadrants", "1", "--alpha", "0.3"], "alpha weighs the hybrid"),
        (train.main, ["--quadrants", "1", "--mask-weights", "1", "0", "0", "0", "0"], "mask"),
    ],
)
def test_options_that_would_be_ignored(main, args, named, tmp_path, capsys):
    code, err = call(main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, named)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("main", "args"),
    [
        (train.main, ["--quadrants", "1", "--particles", "5", "--elbo", "trace"]),
        (train.main, ["--quadrants", "1", "--objective", "gsnn", "--elbo", "trace"]),
        (train.main, ["--quadrants", "1", "--alpha", "0.5"]),
        (reproduce.main, ["--combine", "a.json", "--epochs", "200"]),
        (reproduce.main, ["--mask-only", "--objectives", *OBJECTIVES]),
        (sample.main, ["--digit", "3", "--samples", "100", "--seed", "4"]),
        (complete.main, ["--image", "a.png", "--keep", "left", "--split", "train"]),
    ],
)
def test_options_at_their_default_or_that_a_command_does_not_read_are_accepted(
    main, args, monkeypatch
):
    ran = []
    for name in COMMANDS:
        monkeypatch.setattr(commands, f"{name}_command", lambda *a: ran.append(a))
    assert main(args) == 0 and len(ran) == 1


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("evaluate", ["--quadrants", "2"]),
        ("sample", ["--style-of", "seven.png"]),
        ("reproduce", ["--quadrants", "1"]),
    ],
)
def test_samples_are_bounded_before_any_work(name, args, tmp_path, capsys):
    command = {"evaluate": evaluate.main, "sample": sample.main, "reproduce": reproduce.main}[name]
    folders = ["--out-dir", tmp_path / "runs"]
    if name == "reproduce":
        folders = ["--runs-dir", tmp_path / "runs", "--results-dir", tmp_path / "results"]
    code, err = call(command, [*args, *folders, "--samples", "1000000000"], capsys)
    assert code == EXIT_USAGE
    one_error_line(err, f"samples must be in [1, {MAX_ESTIMATE_SAMPLES}]")
    assert list(tmp_path.iterdir()) == []
    assert "memory grows with S" in " ".join(build_parser(name).format_help().split())


def test_complete_offers_no_precision_it_would_ignore(seven, tmp_path, capsys):
    out = tmp_path / "out.png"
    args = ["--image", seven, "--keep", "left", "--precision", "bf16", "--out", out]
    code, err = call(complete.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "unrecognized arguments: --precision bf16")
    assert not out.exists()
    assert "precision" not in {f.name for f in dataclasses.fields(CompleteConfig)}


def test_networks_too_big_for_the_memory_are_refused_before_any_work(tmp_path, capsys):
    args = ["--quadrants", "1", "--hidden", "8192", "8192", "8192", "--out-dir", tmp_path / "r"]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "(3 layers, up to 8192 wide)", "more than 50,000,000")
    assert not (tmp_path / "r").exists()
    assert TrainConfig(quadrants=1, hidden=(4096,) * 3, z_dim=8).hidden == (4096,) * 3


def test_a_failed_allocation_is_one_line():
    for err in (
        MemoryError(),
        RuntimeError(
            "[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried to allocate 17179869184 bytes."
        ),
    ):
        line, code = describe(err, "run it again")
        assert code == 1 and line.startswith("not enough memory") and "--hidden" in line
    assert describe(RuntimeError("a bug"), "again") == ("", None)  # a traceback, as a bug is


def test_one_line_keeps_the_line_that_names_a_weight():
    text = "Error(s) in loading:\n\tsize mismatch for w: copying [2] into [3].\n"
    assert one_line(text) == "size mismatch for w: copying [2] into [3]."
    assert one_line("x" * 500, 50).endswith("...") and len(one_line("x" * 500, 50)) == 50


@pytest.mark.parametrize(
    "argv",
    [
        ["--seed", "-1"],
        ["--seed", "4294967296"],
        ["--seed", "1e23"],
        ["--lr", "inf"],
        ["--lr", "1e999"],
        ["--lr", "nan"],
        ["--limit", "100000"],
    ],
)
def test_bad_numbers_exit_2(tmp_path, data_dir, capsys, argv):
    args = ["--quadrants", "1", *QUICK, "--data-dir", data_dir, "--out-dir", tmp_path, *argv]
    code, err = call(train.main, args, capsys)
    assert code == EXIT_USAGE
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_evaluate_refuses_a_label_model_asked_for_quadrants(label_run, tmp_path, capsys):
    args = ["--condition", "label", "--quadrants", "2", "--out-dir", label_run]
    code, err = call(evaluate.main, args, capsys)
    assert code == EXIT_USAGE
    one_error_line(err, "trained with other settings", "quadrants=None (this run: 2)")


@pytest.mark.parametrize(
    ("option", "values"),
    [
        ("--seeds", [0, 0]),
        ("--quadrants", [2, 2]),
        ("--objectives", ["cvae", "gsnn", "cvae"]),
    ],
)
def test_reproduce_counts_a_value_given_twice_once(option, values):
    cfg = ReproduceConfig(**{option[2:]: values})
    assert getattr(cfg, option[2:]) == tuple(dict.fromkeys(values))


def test_ctrl_c_pressed_again_and_again_still_gives_one_line_and_130(tmp_path, data_dir):
    out = tmp_path / "out"
    args = ["--quadrants", "1", *SMALL, "--epochs", "50", "--limit", "2000", "--quiet"]
    proc = popen_module("cvae_pyro.train", [*args, "--no-figures", "--out-dir", str(out)], data_dir)
    start = time.time()
    while not (out / "q1/baseline_last.pt").exists():
        assert proc.poll() is None and time.time() - start < 300
        time.sleep(0.02)
    while proc.poll() is None:  # Ctrl-C every 10 ms until the process has ended
        proc.send_signal(signal.SIGINT)
        time.sleep(0.01)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert len(err.strip().splitlines()) == 1, err
    one_error_line(err, "interrupted during epoch", "--resume")


@pytest.mark.parametrize("hidden", [(500.7,), [500.7], (16, 0), ("500",), (True,), (9000,)])
def test_hidden_widths_must_be_integers_in_range(hidden):
    with pytest.raises(ValueError, match=r"--hidden must be in \[1, 8192\]"):
        TrainConfig(quadrants=1, hidden=hidden)
