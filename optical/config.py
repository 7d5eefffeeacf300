"""Dataclass configs shared by the library and the CLI.

A command's options are one dataclass. The CLI exposes every field as ``--field-name``, loads a
TOML or JSON file given with ``--config``, and applies flags on top: defaults < file < flags.
Library users build the same dataclass directly.

Field metadata drives both sides:

- ``help``: the flag's help text;
- ``choices``: the allowed values (argparse ``choices=`` and :func:`check_choices` in the library);
- ``required``: the option has no usable default (marked in ``--help``, checked after the file
  and the flags are merged, so a ``--config`` file may supply it);
- ``group``: the ``--help`` section; fields without one fall in the section of the dataclass
  that declares them (titled by its docstring's first line).
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


class InputError(ValueError):
    """A bad input named by its value: ``what`` went wrong with ``value`` (a path, a model name).

    The CLI prints ``<what>, <flag> <value>``, adding the flag that gave the value.
    """

    def __init__(self, what: str, value: Any) -> None:
        super().__init__(f"{what}, {value}")
        self.what, self.value = what, value


def check_device(value: str, name: str = "--device") -> None:
    """Raise ``ValueError`` unless ``value`` is ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` and usable here."""
    import torch

    kind, _, index = value.partition(":")
    if kind not in ("auto", "cpu", "cuda") or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"{name} must be auto, cpu, cuda or cuda:N, got {value!r}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} {value}: CUDA is not available on this machine (use cpu or auto)")


def _base_type(annotation: Any) -> tuple[Any, bool]:
    """Strip ``X | None`` to ``(X, True)``; anything else to ``(annotation, False)``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def flag(name: str) -> str:
    """The command-line flag of field ``name``: ``ot_max_iter`` -> ``--ot-max-iter``."""
    return "--" + name.replace("_", "-")


def _show(value: Any) -> str:
    """A default as a user types it: ``AP nDCG@10``, not ``('AP', 'nDCG@10')``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple | list):
        return " ".join(str(v) for v in value)
    return "none" if value is None else str(value)


def _help(field: dataclasses.Field) -> str:
    text = field.metadata.get("help", "")
    if field.metadata.get("required"):
        return f"{text} (required)".strip()
    default = field.default if field.default is not dataclasses.MISSING else None
    # A help text that explains its own default (``default: the teacher``) is not given a second one.
    if "default" in text or default in (None, "", ()):
        return text
    return f"{text} (default: {_show(default)})".strip()


def _group_title(config_cls: type, field: dataclasses.Field) -> str | None:
    """The ``--help`` section of ``field``; ``None``: the command's own, untitled options."""
    if "group" in field.metadata:
        return field.metadata["group"]
    for klass in config_cls.__mro__[1:]:
        if field.name in vars(klass).get("__annotations__", {}):
            return (klass.__doc__ or klass.__name__).strip().splitlines()[0].rstrip(".").replace("``", "")
    return None


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """Add ``--config`` and one flag per field of ``config_cls`` (help, choices, groups from metadata)."""
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="TOML or JSON file with any of the options below (keys as fields or flags)")
    hints = typing.get_type_hints(config_cls)
    fields = dataclasses.fields(config_cls)
    titles = [t for t in dict.fromkeys(_group_title(config_cls, f) for f in fields) if t is not None]
    groups = {title: parser.add_argument_group(title) for title in titles}
    for field in fields:
        title = _group_title(config_cls, field)
        target = parser if title is None else groups[title]
        kind, optional = _base_type(hints[field.name])
        kwargs: dict[str, Any] = {"dest": field.name, "default": argparse.SUPPRESS, "help": _help(field)}
        choices = field.metadata.get("choices")
        if kind is bool:
            target.add_argument(flag(field.name), action=argparse.BooleanOptionalAction, **kwargs)
        elif typing.get_origin(kind) in (list, tuple):
            (item,) = set(typing.get_args(kind)) - {Ellipsis}
            target.add_argument(flag(field.name), nargs="+", type=item, choices=choices, **kwargs)
        elif kind in (int, float, str, Path):
            if optional and choices:
                # argparse checks choices after conversion, so "none" (-> None) is checked here instead.
                kwargs["metavar"] = "{" + ",".join(map(str, choices)) + ",none}"
                target.add_argument(flag(field.name), type=_optional(kind, choices), **kwargs)
            else:
                target.add_argument(flag(field.name), type=_optional(kind) if optional else kind,
                                    choices=choices, **kwargs)
        else:
            raise TypeError(f"{config_cls.__name__}.{field.name}: no CLI mapping for {hints[field.name]}")


def _optional(kind: type, choices: tuple | None = None):
    def parse(text: str):
        if text.lower() in ("none", "null"):
            return None
        value = kind(text)
        if choices is not None and value not in choices:
            raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(choices)}, none)")
        return value

    parse.__name__ = kind.__name__
    return parse


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or JSON file of options; keys may be field names or flag names."""
    suffix = Path(path).suffix.lower()
    if suffix in (".yaml", ".yml"):
        raise ValueError(f"YAML is not supported; write the options as TOML (.toml) or JSON (.json), --config {path}")
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{(error.strerror or str(error)).lower()}, --config {path}") from None
    kind = "TOML" if suffix == ".toml" else "JSON"
    try:
        values = tomllib.loads(text.decode("utf-8")) if kind == "TOML" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"not valid {kind} ({error}), --config {path}") from None
    if not isinstance(values, dict):
        raise ValueError(f"expected a table of options, --config {path}")
    return {key.lstrip("-").replace("-", "_"): value for key, value in values.items()}


def _type_name(annotation: Any) -> str:
    kind, optional = _base_type(annotation)
    if typing.get_origin(kind) in (list, tuple):
        (item,) = set(typing.get_args(kind)) - {Ellipsis}
        name = f"a list of {item.__name__}"
    else:
        name = {Path: "a path", str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
            kind, str(kind))
    return f"{name} or none" if optional else name


def convert_value(annotation: Any, value: Any, where: str) -> Any:
    """``value`` (from a TOML or JSON file) as the field type ``annotation``; ``where`` names it in errors."""
    kind, optional = _base_type(annotation)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
    elif typing.get_origin(kind) in (list, tuple):
        (item,) = set(typing.get_args(kind)) - {Ellipsis}
        items = [value] if isinstance(value, str) else value
        if isinstance(items, list | tuple):
            try:
                return tuple(convert_value(item, v, where) for v in items)
            except ValueError:
                pass
    elif kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif kind in (str, Path):
        if isinstance(value, str):
            return kind(value)
    else:
        return value
    raise ValueError(f"{where} must be {_type_name(annotation)}, got {value!r}")


def _check_choice(field: dataclasses.Field, value: Any) -> None:
    choices = field.metadata.get("choices")
    if choices is None or value is None:
        return
    for item in value if isinstance(value, tuple | list) else (value,):
        if item not in choices:
            raise ValueError(f"{flag(field.name)} must be one of {', '.join(map(str, choices))}, got {item!r}")


def check_choices(config: Any) -> None:
    """Raise ``ValueError`` naming the flag when a field's value is not one of its metadata ``choices``.

    Config classes call it from ``__post_init__``, so library users get the same check as the CLI.
    """
    for field in dataclasses.fields(config):
        _check_choice(field, getattr(config, field.name))


def build_config(config_cls: type[Config], args: argparse.Namespace | None = None, **overrides: Any) -> Config:
    """Defaults, then ``args.config`` (a file), then explicit flags in ``args``, then ``overrides``.

    File values are converted to the field types (a ``Path`` field gets a ``Path``); a value of
    the wrong type, an unknown key or a missing required option raises ``ValueError`` naming the
    flag.
    """
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(config_cls)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    if args is not None and getattr(args, "config", None) is not None:
        from_file = load_config_file(args.config)
        unknown = sorted(set(from_file) - set(fields))
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}, "
                             f"--config {args.config}")
        for name, value in from_file.items():
            values[name] = convert_value(hints[name], value, f"{name} in --config {args.config}")
    if args is not None:
        values.update({k: v for k, v in vars(args).items() if k in fields})
    values.update(overrides)
    for name, value in values.items():
        kind, _ = _base_type(hints[name])
        if typing.get_origin(kind) is tuple and isinstance(value, list):
            values[name] = tuple(value)
    missing = [flag(name) for name, f in fields.items() if f.metadata.get("required") and not values.get(name)]
    if len(missing) == 1:
        raise ValueError(f"{missing[0]} is required")
    if missing:
        raise ValueError(f"{', '.join(missing[:-1])} and {missing[-1]} are required")
    for name, value in values.items():
        _check_choice(fields[name], value)
        if name == "device" and isinstance(value, str):
            check_device(value, flag(name))  # every command's --device means the same thing
    return config_cls(**values)
