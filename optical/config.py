"""Dataclass configs shared by the library and the CLI.

A command's options are one dataclass. The CLI exposes every field as ``--field-name``, loads a
TOML or JSON file given with ``--config``, and applies flags on top: defaults < file < flags.
Library users build the same dataclass directly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

Config = TypeVar("Config")


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """Strip ``X | None`` to ``(X, True)``; anything else to ``(annotation, False)``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """Add ``--config`` and one flag per field of ``config_cls`` (help from field metadata)."""
    parser.add_argument("--config", type=Path, help="TOML or JSON file with any of the options below")
    hints = typing.get_type_hints(config_cls)
    for field in dataclasses.fields(config_cls):
        kind, optional = _base_type(hints[field.name])
        default = field.default if field.default is not dataclasses.MISSING else None
        help_text = field.metadata.get("help", "")
        help_text = f"{help_text} (default: {default})" if help_text else f"default: {default}"
        kwargs: dict[str, Any] = {"dest": field.name, "default": argparse.SUPPRESS, "help": help_text}
        if kind is bool:
            parser.add_argument(_flag(field.name), action=argparse.BooleanOptionalAction, **kwargs)
        elif typing.get_origin(kind) in (list, tuple):
            (item,) = set(typing.get_args(kind)) - {Ellipsis}
            parser.add_argument(_flag(field.name), nargs="+", type=item, **kwargs)
        elif kind in (int, float, str, Path):
            parser.add_argument(_flag(field.name), type=_optional(kind) if optional else kind, **kwargs)
        else:
            raise TypeError(f"{config_cls.__name__}.{field.name}: no CLI mapping for {hints[field.name]}")


def _optional(kind: type):
    def parse(text: str):
        return None if text.lower() in ("none", "null") else kind(text)

    parse.__name__ = kind.__name__
    return parse


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or JSON file of options."""
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"--config {path}: {error.strerror}") from None
    try:
        if str(path).endswith(".toml"):
            return tomllib.loads(text.decode("utf-8"))
        return json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        kind = "TOML" if str(path).endswith(".toml") else "JSON"
        raise ValueError(f"--config {path}: not valid {kind}: {error}") from None


def build_config(config_cls: type[Config], args: argparse.Namespace | None = None, **overrides: Any) -> Config:
    """Defaults, then ``args.config`` (a file), then explicit flags in ``args``, then ``overrides``."""
    values: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(config_cls)}
    if args is not None and getattr(args, "config", None) is not None:
        from_file = load_config_file(args.config)
        unknown = sorted(set(from_file) - names)
        if unknown:
            raise ValueError(f"--config {args.config}: unknown option(s) {unknown}; known: {sorted(names)}")
        values.update(from_file)
    if args is not None:
        values.update({k: v for k, v in vars(args).items() if k in names})
    values.update(overrides)
    hints = typing.get_type_hints(config_cls)
    for name, value in values.items():
        kind, _ = _base_type(hints[name])
        if typing.get_origin(kind) is tuple and isinstance(value, list):
            values[name] = tuple(value)
    return config_cls(**values)
