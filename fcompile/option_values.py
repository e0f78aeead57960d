"""Command-line values turned into their Python types without importing pydantic, for the common cases.

typer 0.29 coerces every option's value (its default included) through a pydantic `TypeAdapter`, built
the first time the option is used: importing pydantic and building the adapters of one command costs
about 40-60 ms, a good part of a warm `fcompile validate`. Our options are plain: strings, paths, enums,
lists of strings, flags and numbers. For the values where typer's own coercion is a plain function (a
string stays that string, a path goes through typer's `coerce_cli_path`, an enum member is looked up by
typer's `coerce_cli_choice`) or where pydantic returns the value unchanged (a default of the option's own
type within its bounds), `PlainCoercion` does the same without pydantic. Anything else - a number or a
flag typed on the command line, an unusual value, any error - goes to typer's own coercion, so every
result and every error message is typer's (tests/test_cli.py compares the two for each option).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer._coercion import RuntimeParam, TypeDescriptor, build_runtime_param
from typer._param_types import coerce_cli_choice, coerce_cli_path

_UNHANDLED = object()


@dataclass(frozen=True)
class PlainCoercion(RuntimeParam):
    """typer's coercion of one option, pydantic-free where the result is known to be the same."""

    descriptor: TypeDescriptor

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            result = self.plain(value, param, ctx)
        except Exception:  # typer's own coercion says what is wrong, in its words
            result = _UNHANDLED
        if result is _UNHANDLED:
            return build_runtime_param(self.descriptor)._coerce_value(value, param=param, ctx=ctx)
        return result

    def plain(self, value: Any, param: Any, ctx: Any) -> Any:
        annotation = getattr(self.annotation, "__origin__", None)
        if annotation is list:
            (item,) = self.annotation.__args__
            if item is str and isinstance(value, (list, tuple)) and all(type(v) is str for v in value):
                return list(value)
            return _UNHANDLED
        return _leaf(self.annotation, self.parameter_info, value, param, ctx)


def _leaf(annotation: Any, info: Any, value: Any, param: Any, ctx: Any) -> Any:
    if info.parser is not None:
        return _UNHANDLED
    if annotation is str:
        return value if type(value) is str else _UNHANDLED
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        if isinstance(value, (str, annotation)):
            return coerce_cli_choice(value, choices=list(annotation), case_sensitive=info.case_sensitive, ctx=ctx)
        return _UNHANDLED
    if annotation is Path and info.path_type is None and not info.allow_dash and not info.resolve_path:
        if isinstance(value, Path) or (type(value) is str and value and "\0" not in value):
            return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
        return _UNHANDLED
    if annotation in (int, float) and type(value) is annotation and not info.clamp:  # a default, as it is
        if (info.min is None or value >= info.min) and (info.max is None or value <= info.max):
            return value
    return _UNHANDLED


def plain_coercion(param: Any) -> PlainCoercion | None:
    """The coercion to give one typer parameter (None: leave it to typer, e.g. a file option)."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or descriptor.is_file:
        return None
    return PlainCoercion(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation,
                         descriptor=descriptor)


def use_plain_coercion(command: Any, ctx: Any) -> None:
    """Give each of a command's parameters (its --help included) the pydantic-free coercion (once; typer
    builds its own lazily, the first time a parameter is used, so setting it first replaces it)."""
    for param in command.get_params(ctx):
        if getattr(param, "_runtime_param", False) is None:
            coercion = plain_coercion(param)
            if coercion is not None:
                param._runtime_param = coercion
