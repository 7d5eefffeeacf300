"""Dataclass configs: defaults < --config file < flags, with clear errors."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from optical.config import add_config_arguments, build_config, check_choices


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
    with pytest.raises(ValueError, match=r"stepz.*--config .*run\.toml"):
        build_config(Options, _parse(["--config", str(path)]))


def test_broken_file_is_named(tmp_path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("steps = \n")
    with pytest.raises(ValueError, match=r"not valid TOML.*, --config .*broken\.toml"):
        build_config(Options, _parse(["--config", str(path)]))


def test_bad_flag_value_exits() -> None:
    with pytest.raises(SystemExit):
        _parse(["--steps", "many"])


@dataclass
class Typed:
    """Typed options."""

    out: Path | None = field(default=None, metadata={"help": "output folder", "group": "files"})
    model: str = field(default="", metadata={"help": "model folder", "required": True, "group": "files"})
    mode: str = field(default="mono", metadata={"help": "batch mode", "choices": ("mono", "cross")})
    pooling: str | None = field(default=None, metadata={"help": "pooling", "choices": ("mean", "cls")})
    metrics: tuple[str, ...] = field(default=("AP", "nDCG@10"), metadata={"help": "measures"})
    cache: str = field(default="", metadata={"help": "cache root (default: $OPTICAL_CACHE/x)"})
    steps: int = 3


def _typed_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="typed")
    add_config_arguments(parser, Typed)
    return parser


def test_file_values_get_the_field_type_and_kebab_keys(tmp_path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('out = "runs/x"\nmodel = "m"\n"--steps" = 4\nmetrics = ["AP"]\n')
    (tmp_path / "kebab.toml").write_text('model = "m"\npooling = "none"\n')
    config = build_config(Typed, _typed_parser().parse_args(["--config", str(path)]))
    assert config.out == Path("runs/x") and isinstance(config.out, Path)
    assert config.metrics == ("AP",) and config.steps == 4
    path.write_text('model = "m"\nout-dir = 1\n')
    with pytest.raises(ValueError, match=r"unknown option\(s\) out_dir"):
        build_config(Typed, _typed_parser().parse_args(["--config", str(path)]))
    assert build_config(Typed, _typed_parser().parse_args(["--config", str(tmp_path / "kebab.toml")])).pooling is None


def test_kebab_case_keys_like_the_flags(tmp_path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('max-queries = 5\n')

    @dataclass
    class WithDash:
        max_queries: int = 1

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, WithDash)
    assert build_config(WithDash, parser.parse_args(["--config", str(path)])).max_queries == 5


def test_wrong_type_in_file_names_the_option(tmp_path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('model = "m"\nsteps = "many"\n')
    with pytest.raises(ValueError, match=r"steps in --config .*run\.toml must be an integer, got 'many'"):
        build_config(Typed, _typed_parser().parse_args(["--config", str(path)]))


def test_yaml_is_named_as_unsupported(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("steps: 3\n")
    with pytest.raises(ValueError, match=r"YAML is not supported.*JSON \(\.json\), --config .*run\.yaml"):
        build_config(Typed, _typed_parser().parse_args(["--config", str(path)]))


def test_required_option_may_come_from_the_file_or_a_flag(tmp_path) -> None:
    with pytest.raises(ValueError, match="--model is required"):
        build_config(Typed, _typed_parser().parse_args([]))
    assert build_config(Typed, _typed_parser().parse_args(["--model", "m"])).model == "m"


def test_choices_come_from_field_metadata(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit):
        _typed_parser().parse_args(["--mode", "hybrid"])
    assert "invalid choice: 'hybrid'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _typed_parser().parse_args(["--pooling", "max"])
    assert build_config(Typed, _typed_parser().parse_args(["--model", "m", "--pooling", "none"])).pooling is None
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"model": "m", "mode": "hybrid"}))
    with pytest.raises(ValueError, match="--mode must be one of mono, cross, got 'hybrid'"):
        build_config(Typed, _typed_parser().parse_args(["--config", str(path)]))
    with pytest.raises(ValueError, match="--mode must be one of mono, cross"):
        check_choices(Typed(model="m", mode="hybrid"))


def test_help_prints_each_default_once_as_typed() -> None:
    text = " ".join(_typed_parser().format_help().split())
    assert "(default: AP nDCG@10)" in text and "('AP'" not in text
    assert "(default: $OPTICAL_CACHE/x)" in text and "(default: )" not in text
    assert text.count("default:") == 4  # metrics, cache, mode, steps
    assert "model folder (required)" in text
    assert "{mono,cross}" in text and "{mean,cls,none}" in text
    # Grouped fields get their section; the class's own ungrouped fields stay among the plain options.
    options = text[text.index("options:"):text.index("files:")]
    assert "--mode {mono,cross}" in options and "--out" not in options
    assert "--out OUT" in text[text.index("files:"):]
