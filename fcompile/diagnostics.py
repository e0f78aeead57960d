"""Diagnostics: every user error is one of these, with a position, a code and a hint.

A stage that finds problems collects them all and raises a single `DiagnosticError`, so the user sees
every mistake at once. Surfaces (CLI, SDK, server) render them; nothing else prints them.
"""

from __future__ import annotations

import difflib
import enum
import json
import os
from dataclasses import dataclass
from typing import Iterable, Sequence


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Code(str, enum.Enum):
    """Stable diagnostic codes. The number never changes meaning once released."""

    # files and YAML
    YAML_SYNTAX = "FC001"
    FILE_SHAPE = "FC002"
    PROJECT_FILE_MISSING = "FC003"
    FILE_UNREADABLE = "FC004"
    # structure (driven by the JSON Schemas)
    UNKNOWN_KEY = "FC010"
    WRONG_TYPE = "FC011"
    MISSING_FIELD = "FC012"
    INVALID_VALUE = "FC013"
    EXCLUSIVE_FIELDS = "FC014"
    EMPTY_LIST = "FC015"
    # names
    DUPLICATE_NAME = "FC020"
    DUPLICATE_MEMBER = "FC021"
    # references
    UNKNOWN_ENTITY = "FC030"
    UNKNOWN_SOURCE = "FC031"
    UNKNOWN_VIEW = "FC032"
    UNKNOWN_FEATURE = "FC033"
    UNKNOWN_SERVICE = "FC034"
    UNKNOWN_TARGET = "FC035"
    # identifiers
    BAD_IDENTIFIER = "FC040"
    DOUBLE_UNDERSCORE = "FC041"
    RESERVED_WORD = "FC042"
    # types and durations
    BAD_DTYPE = "FC050"
    BAD_DURATION = "FC051"
    NON_POSITIVE_TTL = "FC052"
    # source schemas
    JOIN_KEY_DTYPE_MISMATCH = "FC060"
    MISSING_COLUMN = "FC061"
    SOURCE_FILE_NOT_FOUND = "FC062"
    # services and datasets
    FEATURE_NAME_COLLISION = "FC070"
    # project file and targets
    ENV_VAR_UNSET = "FC080"
    BAD_TEMPLATE = "FC081"
    LITERAL_SECRET = "FC082"         # a password, passphrase, token or URL password written into the project file
    # command line
    BAD_ARGUMENT = "FC090"
    # compilation
    UNSUPPORTED_BY_DIALECT = "FC100"
    INVALID_QUERY = "FC101"
    # running on an offline engine
    ENGINE_ERROR = "FC110"
    NO_RUNNER = "FC111"
    SPINE_TIMESTAMP = "FC112"
    # online stores
    ONLINE_STORE_UNREACHABLE = "FC113"
    ONLINE_STORE_ERROR = "FC114"
    ONLINE_KEY_MISMATCH = "FC115"
    # materialization and online reads
    ONLINE_WRITE_FAILED = "FC116"
    ENTITY_VALUE = "FC117"
    VIEW_NOT_ONLINE = "FC118"
    MATERIALIZE_WINDOW = "FC119"
    # push sources and writes into the online store (SDK push / write_to_online_store, POST /push)
    PUSH_SOURCE_KIND = "FC120"       # a push source where an ordinary source is needed, or the reverse
    PUSH_COLUMNS = "FC121"           # pushed rows lack a needed column, or carry one the dataset does not have
    PUSH_VALUE_TYPE = "FC122"        # a pushed value does not fit its column's dtype (or is empty where it may not be)
    PUSH_REQUEST = "FC123"           # an unknown `to`, or rows that are not a table
    OFFLINE_PUSH_UNSUPPORTED = "FC124"  # the batch source cannot take appended rows (one file, a query, ...)
    # the feature server (fcompile serve)
    BAD_REQUEST = "FC125"
    REQUEST_TOO_LARGE = "FC126"
    UNAUTHENTICATED = "FC127"
    FORBIDDEN = "FC128"
    MATERIALIZE_BUSY = "FC129"
    # offline engines other than DuckDB (PostgreSQL, Spark)
    OFFLINE_UNREACHABLE = "FC130"    # the offline engine cannot be reached or started (refused, bad password, no Java)
    SOURCE_NOT_READABLE = "FC131"    # the engine cannot read a source where it is (a `path:` source on PostgreSQL)
    OFFLINE_SETTINGS = "FC132"       # the target's offline settings do not work for its engine (a bad value, no schema)
    DRIVER_MISSING = "FC133"         # the engine's Python driver is not installed (psycopg, pyspark)
    SPINE_UPLOAD = "FC134"           # a spine column the engine has no type for (an Arrow type it cannot hold)
    OUTPUT_UNWRITABLE = "FC135"      # a result file cannot be written where asked (a folder there, no space, no access)


@dataclass(frozen=True, order=True)
class Position:
    """A place in a file: 1-based line and column, as editors show them."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    code: Code
    message: str
    position: Position | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR

    def sort_key(self) -> tuple:
        p = self.position
        return (p is None, p.path if p else "", p.line if p else 0, p.column if p else 0,
                self.code.value, self.message)

    def render(self, relative_to: str | None = None) -> str:
        where = ""
        if self.position is not None:
            path = display_path(self.position.path, relative_to)
            where = str(Position(path, self.position.line, self.position.column)) + ": "
        text = f"{where}{self.severity.value}[{self.code.value}]: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_json(self, relative_to: str | None = None) -> dict:
        p = self.position
        return {
            "severity": self.severity.value,
            "code": self.code.value,
            "message": self.message,
            "hint": self.hint,
            "path": display_path(p.path, relative_to) if p else None,
            "line": p.line if p else None,
            "column": p.column if p else None,
        }


class DiagnosticError(Exception):
    """Raised by a stage with every problem it found; the surfaces render it."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sort_diagnostics(diagnostics)
        super().__init__("\n".join(d.render() for d in self.diagnostics))

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]


class DiagnosticSink:
    """Collects diagnostics while a stage runs; `raise_if_errors` ends the stage."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(self, code: Code, message: str, position: Position | None = None,
              hint: str | None = None) -> None:
        self.items.append(Diagnostic(code, message, position, hint))

    def warning(self, code: Code, message: str, position: Position | None = None,
                hint: str | None = None) -> None:
        self.items.append(Diagnostic(code, message, position, hint, Severity.WARNING))

    def extend(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.items.extend(diagnostics)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise DiagnosticError(self.items)

    @property
    def warnings(self) -> list[Diagnostic]:
        return sort_diagnostics(d for d in self.items if d.severity is Severity.WARNING)


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    unique = {(d.code, d.message, d.position, d.hint, d.severity): d for d in diagnostics}
    return sorted(unique.values(), key=Diagnostic.sort_key)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close."""
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    return f"did you mean '{close[0]}'?" if close else None


def known_names_hint(kind: str, candidates: Sequence[str], limit: int = 8) -> str:
    pool = sorted(set(candidates))
    if not pool:
        return f"no {kind} is defined in this project"
    shown = ", ".join(f"'{c}'" for c in pool[:limit])
    more = f" and {len(pool) - limit} more" if len(pool) > limit else ""
    return f"known {kind}s: {shown}{more}"


def reference_hint(name: str, kind: str, candidates: Sequence[str]) -> str:
    return did_you_mean(name, candidates) or known_names_hint(kind, candidates)


def render_json(diagnostics: Sequence[Diagnostic], relative_to: str | None = None) -> str:
    return json.dumps([d.to_json(relative_to) for d in diagnostics], indent=2)


def display_path(path: str, relative_to: str | None) -> str:
    """`path` relative to `relative_to` (default: the working directory), unless it lies outside."""
    base = relative_to if relative_to is not None else os.getcwd()
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
