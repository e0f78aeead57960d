"""What a caller may pass as a spine, sorted into the four kinds a runner registers.

| given                                        | kind    | read as                                        |
| -------------------------------------------- | ------- | ---------------------------------------------- |
| pandas DataFrame, pyarrow Table or reader    | `arrow` | Arrow, registered without copying the data      |
| an existing file, or `*.parquet` / `*.csv`   | `path`  | the file(s) (globs allowed), straight from disk |
| text starting with SELECT or WITH            | `query` | a query on the target's database                |
| any other text                               | `table` | a table (or view) in the target's database     |
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fcompile.control_characters import LINE_WHITESPACE, escape_controls, first_control
from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, clipped
from fcompile.user_paths import Origin, path_not_found, resolve_path

FILE_SUFFIXES = (".parquet", ".csv", ".csv.gz")
_QUERY_START = re.compile(r"\s*(\(\s*)*(select|with)\b", re.IGNORECASE)
_SPINE_HINT = ("give a Parquet/CSV path, a table name (table or schema.table, quoted as the target's SQL quotes "
               "names) or a query starting with SELECT or WITH")


@dataclass(frozen=True, eq=False)
class SpineInput:
    kind: Literal["arrow", "path", "table", "query"]
    value: Any  # a pyarrow Table or RecordBatchReader; an absolute path or glob; a table name; query text
    given: str | None = None  # a path as the user wrote it (value is where it was looked for)
    origin: Origin = "command line"  # where a relative `given` was written (fcompile/user_paths.py)

    @property
    def description(self) -> str:
        """How messages name the spine."""
        if self.kind == "arrow":
            return "the spine"
        if self.kind == "path":
            return f"the spine file {self.value}"
        if self.kind == "table":
            return f"the spine table '{self.value}'"
        return "the spine query"


def classify_spine_text(text: str, base: str | None = None) -> SpineInput:
    """A spine given as text (the command line, or a `str` in the SDK): a file when one exists at
    that path or the name ends in .parquet/.csv; a query when it starts with SELECT or WITH; else a table.
    Relative paths are taken from `base` (default: the current directory, as for every path given on the
    command line)."""
    stripped = text.strip()
    if not stripped:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "the spine is empty", None,
                                          "give a Parquet/CSV path, a table name or a SELECT query")])
    control = first_control(text, LINE_WHITESPACE)  # tab and line breaks are whitespace in queries
    if control is not None:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"the spine '{_shown(stripped)}' holds a control "
                                          f"character (U+{ord(text[control]):04X})", None, _SPINE_HINT)])
    if _QUERY_START.match(stripped):
        return SpineInput("query", stripped)
    path = resolve_path(stripped, base)
    if os.path.isfile(path) or stripped.lower().endswith(FILE_SUFFIXES):
        return SpineInput("path", path, stripped)
    return SpineInput("table", stripped)


def spine_table(spine: SpineInput, dialect: str):
    """The sqlglot table a `table` spine names in `dialect`, or FC090 when the text is no table name (it
    does not tokenize, or holds several statements)."""
    from fcompile.dialects.base import parse_table_name

    table = parse_table_name(spine.value, dialect)
    if table is None:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"the spine '{_shown(spine.value)}' is not a table name, "
                                          "a query or an existing file", None, _SPINE_HINT)])
    return table


def _shown(text: str) -> str:
    """`text` for a message: on one line, control characters as escapes, cut short."""
    return clipped(escape_controls(text))


def spine_files(spine: SpineInput) -> list[str]:
    """The files a `path` spine names (a glob, sorted), or FC062 naming the path as given and where it was
    looked for."""
    import glob

    path = spine.value
    files = sorted(glob.glob(path, recursive=True)) if glob.has_magic(path) else [path] if os.path.isfile(path) else []
    if not files:
        raise DiagnosticError([path_not_found("spine file", spine.given or path, path, spine.origin)])
    return files


def spine_input(spine: Any) -> SpineInput:
    """A spine as the SDK accepts it: a DataFrame, an Arrow table or reader, a path, a table or a query."""
    if isinstance(spine, SpineInput):
        return spine
    if isinstance(spine, Path):
        return SpineInput("path", resolve_path(str(spine)), str(spine))
    if isinstance(spine, str):
        return classify_spine_text(spine)
    import pyarrow as pa

    if isinstance(spine, (pa.Table, pa.RecordBatchReader)):
        return SpineInput("arrow", spine)
    if isinstance(spine, pa.RecordBatch):
        return SpineInput("arrow", pa.Table.from_batches([spine]))
    if _is_dataframe(spine):
        return SpineInput("arrow", _arrow_from_pandas(spine))
    raise DiagnosticError([Diagnostic(
        Code.BAD_ARGUMENT, f"a spine cannot be a {type(spine).__name__}", None,
        "pass a pandas DataFrame, a pyarrow Table, a Parquet/CSV path, a table name or a SELECT query")])


def _is_dataframe(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "pandas" and type(value).__name__ == "DataFrame"


def _arrow_from_pandas(frame: Any):
    import pyarrow as pa

    bad = [repr(c) for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"spine columns must be named by strings; "
                                          f"found {', '.join(bad)}", None, "rename the DataFrame's columns")])
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "the spine DataFrame cannot be read as Arrow: "
                                          f"{str(exc).splitlines()[0]}", None,
                                          "give each column one type (mixed object columns cannot be converted)")]) \
            from None


ROW_NUMBER = "__fc_spine_row"  # the column a runner numbers an uploaded spine's rows in


def check_spine_names(columns: tuple[str, ...] | list[str]) -> None:
    """FC090 for a spine column named like fcompile's own (`__fc_...`) or named twice (ignoring case)."""
    problems = []
    reserved = [c for c in columns if c.lower().startswith("__fc_")]
    if reserved:
        problems.append(Diagnostic(Code.BAD_ARGUMENT, f"spine column {reserved[0]!r} starts with '__fc_', which "
                                   "fcompile reserves for its own columns", None, "rename the column"))
    seen: set[str] = set()
    for column in columns:
        if column.lower() in seen:
            problems.append(Diagnostic(Code.BAD_ARGUMENT, f"the spine has two columns named {column!r}", None,
                                       "column names must be unique (ignoring case)"))
        seen.add(column.lower())
    if problems:
        raise DiagnosticError(problems)


def row_numbers(start: int, count: int):
    """`start, start + 1, ...` as an Arrow int64 array of `count` values: a spine's rows in order."""
    import pyarrow as pa

    try:
        import numpy as np
    except ImportError:  # pyarrow runs without numpy
        return pa.array(range(start, start + count), pa.int64())
    from fcompile.online.values import arrow_from_numpy

    return arrow_from_numpy(np.arange(start, start + count, dtype=np.int64))
