"""The command-line options: generated from the config dataclasses, and documented."""

import dataclasses
import re
from pathlib import Path

import pytest

from cvae_pyro.cli import Parser, add_config_options, command_line
from cvae_pyro.config import EvaluateConfig, ReproduceConfig, SampleConfig, TrainConfig

README = Path(__file__).parents[1] / "README.md"


def flag(field: dataclasses.Field) -> str:
    name = field.name.replace("_", "-")
    return f"--no-{name}" if field.type == "bool" and field.default is True else f"--{name}"


@pytest.mark.parametrize("config", [TrainConfig, EvaluateConfig, ReproduceConfig, SampleConfig])
def test_every_field_is_an_option_with_its_default(config):
    parser = Parser(prog="test")
    add_config_options(parser, config)
    required = {"digit": "2"} if config is SampleConfig else {}
    argv = [x for k, v in required.items() for x in (f"--{k}", v)]
    args = vars(parser.parse_args(argv))
    for field in dataclasses.fields(config):
        default = field.default_factory() if callable(field.default_factory) else field.default
        if field.name not in required:
            assert args[field.name] == default, field.name
        assert field.metadata.get("help"), f"{config.__name__}.{field.name} has no help text"


def test_parsed_values_reach_the_config():
    parser = Parser(prog="test")
    add_config_options(parser, TrainConfig)
    args = parser.parse_args(
        ["--quadrants", "2", "--hidden", "8", "9", "--no-figures", "--no-guess"]
    )
    cfg = TrainConfig(**vars(args))
    assert (cfg.quadrants, cfg.hidden, cfg.figures, cfg.guess) == (2, (8, 9), False, False)


def test_readme_documents_every_train_option_with_its_default():
    text = README.read_text()
    table = text[text.index("`python -m cvae_pyro.train` (also") :]
    rows = {m[0]: m[1] for m in re.findall(r"^\| `(--[a-z-]+)[^|]*\| ([^|]+) \|", table, re.M)}
    for field in dataclasses.fields(TrainConfig):
        assert flag(field) in rows, flag(field)
        default = field.default_factory() if callable(field.default_factory) else field.default
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            assert str(default) in rows[flag(field)], (flag(field), rows[flag(field)])


def test_the_recorded_command_is_the_argument_list_given():
    assert command_line(
        "python -m cvae_pyro.reproduce", ["--seeds", "1", "2", "--results-dir", "a b"]
    ) == ("python -m cvae_pyro.reproduce --seeds 1 2 --results-dir 'a b'")
