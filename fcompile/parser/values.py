"""Typed values written as text in specs: dtypes, durations and identifiers.

Each parser returns the value or raises `ValueProblem` with a message and a hint. The JSON Schemas carry
matching patterns for editors; these functions are the source of truth and give the better messages.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re

from fcompile.control_characters import escape_controls
from fcompile.diagnostics import Code, clipped
from fcompile.graph import SCALAR_DTYPES, DType
from fcompile.sql_names import IDENTIFIER_RE, dialects_reserving


class ValueProblem(ValueError):
    def __init__(self, code: Code, message: str, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


_DTYPE_ALIASES = {
    "int": "int64", "integer": "int64", "bigint": "int64", "long": "int64", "smallint": "int32",
    "float": "float64", "double": "float64", "real": "float32", "str": "string", "text": "string",
    "varchar": "string", "boolean": "bool", "datetime": "timestamp", "timestamptz": "timestamp",
    "binary": "bytes", "blob": "bytes",
}
_ARRAY_RE = re.compile(r"^array\s*<\s*(.*?)\s*>$", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def parse_dtype(text: str) -> DType:
    raw = text.strip()
    match = _ARRAY_RE.match(raw)
    if match:
        element = parse_dtype(match.group(1))
        if element.is_array:
            raise ValueProblem(Code.BAD_DTYPE, f"nested arrays are not supported: '{clipped(text)}'",
                               "use array<T> with a scalar T")
        return DType("array", element)
    if raw in SCALAR_DTYPES:
        return DType(raw)
    known = ", ".join(SCALAR_DTYPES)
    suggestion = _DTYPE_ALIASES.get(raw.lower()) or next(iter(difflib.get_close_matches(
        raw.lower(), SCALAR_DTYPES, n=1, cutoff=0.6)), None)
    hint = f"did you mean '{suggestion}'?" if suggestion else f"use one of {known}, or array<T>"
    raise ValueProblem(Code.BAD_DTYPE, f"unknown dtype '{clipped(text)}'", hint)


_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SHORT_RE = re.compile(r"^(\d+)\s*([smhdw])$")
_ISO_RE = re.compile(
    r"^P(?!$)(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


MAX_DURATION = dt.timedelta(days=36525)  # 100 years: longer durations (ttl, lateness) are refused, so that
# `datetime - duration` stays within datetime's range for any timestamp a run sees
_MAX_DURATION_TEXT = "100 years (36525d)"


def parse_duration(text: str) -> dt.timedelta:
    raw = text.strip()
    match = _SHORT_RE.match(raw)
    if match:
        digits = match.group(1).lstrip("0") or "0"
        count = int(digits) if len(digits) <= 20 else float("inf")  # int() refuses thousands of digits
        return _bounded(text, count * _UNIT_SECONDS[match.group(2)])
    match = _ISO_RE.match(raw.upper())
    if match:
        weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
        return _bounded(text, weeks * 604800 + days * 86400 + hours * 3600 + minutes * 60 + seconds)
    raise ValueProblem(Code.BAD_DURATION, f"invalid duration '{clipped(text)}'",
                       "write a number and a unit (45s, 15m, 2h, 1d, 1w) or ISO 8601 (PT2H, P1D)")


def _bounded(text: str, seconds: float) -> dt.timedelta:
    """The duration of `seconds`, or FC051 (BAD_DURATION) beyond MAX_DURATION (checked before building the
    timedelta, which overflows on huge values)."""
    if not seconds <= MAX_DURATION.total_seconds():  # also refuses inf and nan
        raise ValueProblem(Code.BAD_DURATION, f"duration '{clipped(text)}' is longer than {_MAX_DURATION_TEXT}",
                           f"use at most {_MAX_DURATION_TEXT}; omit ttl for an unbounded look-back")
    return dt.timedelta(seconds=seconds)


@functools.lru_cache(maxsize=4096)
def identifier_problems(name: str) -> tuple[ValueProblem, ...]:
    """Why `name` is not a safe SQL identifier on every target (empty when it is)."""
    if not IDENTIFIER_RE.fullmatch(name):
        fixed = re.sub(r"[^A-Za-z0-9_]", "_", name)
        if not fixed or fixed[0].isdigit():
            fixed = "_" + fixed
        return (ValueProblem(
            Code.BAD_IDENTIFIER, f"'{clipped(escape_controls(name))}' is not a valid name",
            f"names use letters, digits and underscores and do not start with a digit, e.g. '{clipped(fixed)}'"),)
    problems = []
    if "__" in name:
        problems.append(ValueProblem(
            Code.DOUBLE_UNDERSCORE, f"'{name}' contains '__'",
            "'__' separates view and feature in full feature names; use a single underscore"))
    reserving = dialects_reserving(name)
    if reserving:
        problems.append(ValueProblem(
            Code.RESERVED_WORD, f"'{name}' is a reserved word in {', '.join(reserving)}",
            f"choose another name, e.g. '{name}_value' or '{name}_id'"))
    return tuple(problems)
