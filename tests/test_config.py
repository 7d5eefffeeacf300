"""Dataclass configs: defaults < --config file < flags, with clear errors."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field

import pytest

from optical.config import add_config_arguments, build_config


@dataclass
class Options:
    steps: int = field(default=10, metadata={"help": "training steps"})
    eps: float = 0.05
    name: str = "run"
    tau: float | None = None
    langs: tuple[str, ...] = ("sw", "tl")
    verbose: bool = False


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, Options)
    return parser.parse_args(argv)


def test_defaults_when_nothing_given() -> None:
    assert build_config(Options, _parse([])) == Options()


def test_flags_override_defaults() -> None:
    config = build_config(Options, _parse(["--steps", "3", "--tau", "0.5", "--langs", "fr", "de", "--verbose"]))
    assert config == Options(steps=3, tau=0.5, langs=("fr", "de"), verbose=True)


def test_none_spelled_on_the_command_line() -> None:
    assert build_config(Options, _parse(["--tau", "none"])).tau is None


def test_file_then_flags(tmp_path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('steps = 7\nname = "from-file"\nlangs = ["bn"]\n')
    config = build_config(Options, _parse(["--config", str(path), "--name", "from-flag"]))
    assert config == Options(steps=7, name="from-flag", langs=("bn",))


def test_json_file(tmp_path) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"eps": 0.01}))
    assert build_config(Options, _parse(["--config", str(path)])).eps == 0.01


def test_unknown_option_in_file_is_named(tmp_path) -> None:
    path = tmp_path / "run.toml"
    path.write_text("stepz = 7\n")
    with pytest.raises(ValueError, match=r"run\.toml.*stepz"):
        build_config(Options, _parse(["--config", str(path)]))


def test_broken_file_is_named(tmp_path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("steps = \n")
    with pytest.raises(ValueError, match=r"broken\.toml: not valid TOML"):
        build_config(Options, _parse(["--config", str(path)]))


def test_bad_flag_value_exits() -> None:
    with pytest.raises(SystemExit):
        _parse(["--steps", "many"])
