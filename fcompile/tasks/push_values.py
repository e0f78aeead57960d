"""Pushed rows as Arrow columns of the dtypes the graph declares (SDK `push` and `write_to_online_store`).

Rows arrive as a pandas DataFrame, a pyarrow Table or RecordBatch, or a mapping of column name -> list of
values (the JSON body of a `POST /push`). A column is converted only to a dtype it plainly holds:

| dtype              | a pushed column may hold                                                        |
| ------------------ | ------------------------------------------------------------------------------- |
| int32, int64       | integers, or floats without a fraction (pandas turns an int column with gaps into floats) |
| float32, float64   | numbers                                                          |
| string             | text                                                             |
| bytes              | bytes, or text (stored as UTF-8)                                  |
| bool               | booleans                                                          |
| date               | dates, or ISO 8601 text (2025-01-01)                              |
| timestamp          | timestamps, dates, or ISO 8601 text; naive ones are UTC, zoned ones are converted |
| array<T>           | lists whose elements convert to T                                 |

Anything else - text for a number, a number for a timestamp, a value too large - is a diagnostic (FC122)
naming the column, the first row (counted from 0) that holds such a value, and the dtype expected.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.graph import DType
from fcompile.online.values import UTC, arrow_type, as_utc
from fcompile.runners.base import first_line

if TYPE_CHECKING:
    import pyarrow as pa

TIMESTAMP = DType("timestamp")

# dtype -> the Arrow type families a pushed column of that dtype may have (see the module docstring)
ACCEPTED_FAMILIES = {
    "int32": ("int", "float"), "int64": ("int", "float"), "float32": ("int", "float"), "float64": ("int", "float"),
    "string": ("string",), "bytes": ("binary", "string"), "bool": ("bool",), "date": ("date", "string"),
    "timestamp": ("timestamp", "date", "string"),
}

FAMILY_WORDS = {
    "bool": "a boolean", "int": "an integer", "float": "a number", "string": "text", "binary": "bytes",
    "date": "a date", "timestamp": "a timestamp", "list": "a list",
}

HINTS = {
    "int32": "send whole numbers that fit in 32 bits", "int64": "send whole numbers",
    "float32": "send numbers", "float64": "send numbers", "string": "send text", "bytes": "send bytes or text",
    "bool": "send true or false", "date": "send dates or ISO 8601 text such as 2025-01-01",
    "timestamp": "send ISO 8601 text such as 2025-01-01T00:00:00Z (without a zone it is UTC) or datetimes",
}


@dataclass(frozen=True)
class ColumnNeed:
    """A source column that pushed rows must (or may) hold, and the dtype it must convert to."""

    column: str
    dtype: DType
    role: str              # for messages: "join key 'driver_id'", "feature 'conv_rate' of view 'x'", ...
    required: bool = True  # False: an absent column is all NULL (the created timestamp)
    non_null: bool = False  # join keys and the event time: a row without one could never be read
    event_time: bool = False  # a time no later than now plus MAX_END_AHEAD (event and created times): a later row
    # would win over every real one


@dataclass(frozen=True, eq=False)
class PushedRows:
    """The rows as given, column by column: an Arrow array, or a list of Python values (from a mapping,
    or a DataFrame column Arrow cannot convert as a whole, such as one mixing types)."""

    columns: Mapping[str, Any]
    count: int


class BadValue(Exception):
    """A column value that does not convert: its row (from 0), the value and what is wrong with it."""

    def __init__(self, row: int, value: Any, problem: str) -> None:
        super().__init__(problem)
        self.row, self.value, self.problem = row, value, problem


def read_rows(rows: Any, label: str) -> PushedRows:
    """Rows as the SDK takes them; FC123 for anything else, for columns not named by text, for a mapping
    whose values are not lists, and for columns of different lengths."""
    import pyarrow as pa

    from fcompile.runners.spines import _is_dataframe

    if isinstance(rows, pa.RecordBatch):
        rows = pa.Table.from_batches([rows])
    if isinstance(rows, pa.Table):
        _check_names(list(rows.column_names), label)
        return PushedRows({name: rows.column(name).combine_chunks() for name in rows.column_names}, rows.num_rows)
    if _is_dataframe(rows):
        _check_names(list(rows.columns), label)
        return PushedRows({name: _from_pandas(rows[name]) for name in rows.columns}, len(rows))
    if isinstance(rows, Mapping):
        _check_names(list(rows), label)
        lengths: dict[str, int] = {}
        for name, values in rows.items():
            if not isinstance(values, (list, tuple)):
                raise _request_error(f"{label}: column '{name}' must be a list of values, one per row, "
                                     f"not {type(values).__name__}", 'write {"driver_id": [1001, 1002], ...}')
            lengths[name] = len(values)
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"'{name}' {count}" for name, count in lengths.items())
            raise _request_error(f"{label}: the columns have different numbers of values ({shown})",
                                 "give every column one value per row")
        return PushedRows({name: list(values) for name, values in rows.items()}, next(iter(lengths.values()), 0))
    raise _request_error(f"{label}: rows cannot be given as a {type(rows).__name__}",
                         "pass a pandas DataFrame, a pyarrow Table or RecordBatch, or a mapping of column name "
                         "to a list of values")


def convert_column(values: Any, dtype: DType) -> pa.Array:
    """A pushed column as `values.arrow_type(dtype)` (timestamps: microseconds, UTC). Raises `BadValue`."""
    import pyarrow as pa

    target = arrow_type(dtype)
    if isinstance(values, list):
        if dtype.name in ("timestamp", "date"):
            values = [_time_value(row, value, dtype) for row, value in enumerate(values)]
        array = infer_array(values)
    else:
        array = values
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    family = arrow_family(array.type)
    if family == "null":
        return pa.nulls(len(array), target)
    if dtype.is_array:
        if family != "list":
            raise _wrong_family(array, family)
        return cast_checked(array, target)
    if family not in ACCEPTED_FAMILIES[dtype.name]:
        raise _wrong_family(array, family)
    if family == "string" and dtype.name in ("timestamp", "date"):
        parsed = [_time_value(row, value, dtype) for row, value in enumerate(array.to_pylist())]
        array = pa.array(parsed, type=target)
    elif family == "timestamp" and array.type.tz is None:
        array = array.cast(pa.timestamp(array.type.unit, "UTC"))  # naive is UTC: the same instants, labelled
    if dtype.name == "timestamp" and array.type != target:
        return cast_checked(array, target, truncate=True)  # finer than microseconds: truncated, as stores do
    return cast_checked(array, target)


def infer_array(values: list) -> pa.Array:
    """Python values as an Arrow array of the type they share; `BadValue` at the first row whose type
    differs from the rows before it."""
    import pyarrow as pa

    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        pass
    first = next((row for row, value in enumerate(values) if value is not None), 0)
    for row in range(first + 1, len(values) + 1):
        try:
            pa.array(values[first:row], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            kind = type(values[first]).__name__
            raise BadValue(row - 1, values[row - 1], f"does not have the type of the rows before it ({kind})") \
                from None
    raise BadValue(first, values[first], "cannot be converted")


def cast_checked(array: pa.Array, target: pa.DataType, truncate: bool = False) -> pa.Array:
    """`array` cast to `target` without losing a value (or, with `truncate`, only time finer than the
    target keeps); `BadValue` at the first row that does not fit."""
    import pyarrow as pa

    errors = (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError)
    try:
        return array.cast(target, safe=not truncate)
    except errors:
        pass
    for row in range(len(array)):
        try:  # `take`, not `slice`: a sliced list array casts every element of its parent
            array.take([row]).cast(target, safe=not truncate)
        except errors:
            raise BadValue(row, array[row].as_py(), f"does not fit {target}") from None
    raise BadValue(0, array[0].as_py() if len(array) else None, f"does not fit {target}")


def arrow_family(arrow: pa.DataType) -> str:
    import pyarrow.types as t

    checks = (("null", t.is_null), ("bool", t.is_boolean), ("int", t.is_integer), ("float", t.is_floating),
              ("float", t.is_decimal), ("string", t.is_string), ("string", t.is_large_string),
              ("string", getattr(t, "is_string_view", lambda _: False)), ("binary", t.is_binary),
              ("binary", t.is_large_binary), ("binary", t.is_fixed_size_binary), ("date", t.is_date),
              ("timestamp", t.is_timestamp), ("list", t.is_list), ("list", t.is_large_list),
              ("list", t.is_fixed_size_list))
    return next((family for family, check in checks if check(arrow)), str(arrow))


def first_null_row(array: pa.Array) -> int | None:
    import pyarrow.compute as pc

    if not array.null_count:
        return None
    return pc.index(pc.is_null(array), True).as_py()


def show_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def hint_for(dtype: DType) -> str:
    if dtype.is_array:
        return f"send a list of {dtype.element} values per row ({HINTS[dtype.element.name]})"  # type: ignore[union-attr]
    return HINTS[dtype.name]


def _time_value(row: int, value: Any, dtype: DType) -> Any:
    """A timestamp or date given as a Python value, ready for Arrow: ISO 8601 text parsed, datetimes in UTC
    (naive ones are UTC). Other values are left for the type check to refuse."""
    if isinstance(value, str):
        text = value.strip()
        try:
            if dtype.name == "date":
                return dt.date.fromisoformat(text)
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            kind = "ISO 8601 date" if dtype.name == "date" else "ISO 8601 timestamp"
            raise BadValue(row, value, f"is not an {kind}") from None
    if dtype.name == "timestamp" and isinstance(value, dt.datetime):
        return as_utc(value)
    if dtype.name == "timestamp" and isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), UTC)
    return value


def _wrong_family(array: pa.Array, family: str) -> BadValue:
    """The first value of a column whose values are of the wrong kind altogether."""
    import pyarrow.compute as pc

    row = 0 if not array.null_count else pc.index(pc.is_valid(array), True).as_py()
    return BadValue(row, array[row].as_py(), f"is {FAMILY_WORDS.get(family, family)}")


def _from_pandas(series: Any) -> Any:
    """A DataFrame column as Arrow, or as a list of Python values when Arrow cannot take it whole."""
    import pyarrow as pa

    try:
        return pa.Array.from_pandas(series)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return [None if _is_missing(v) else v for v in series.tolist()]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or type(value).__name__ == "NaTType"


def _check_names(names: list, label: str) -> None:
    bad = [repr(n) for n in names if not isinstance(n, str)]
    if bad:
        raise _request_error(f"{label}: columns must be named by text; found {', '.join(bad)}",
                             "rename the columns")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _request_error(f"{label}: two columns are named '{name}'", "give every column its own name")
        seen.add(name)


def _request_error(message: str, hint: str) -> DiagnosticError:
    return DiagnosticError([Diagnostic(Code.PUSH_REQUEST, message, None, hint)])


def read_rows_file(path: str) -> pa.Table:
    """Rows to push from a Parquet or CSV file (`fcompile push --file`); CSV columns take the types Arrow
    infers (ISO 8601 text becomes timestamps). FC004 when the file cannot be read, FC090 for another kind."""
    import pyarrow as pa

    from fcompile.user_paths import path_not_found, resolve_path

    given, path = path, resolve_path(path)  # relative to the current directory, as on any command line
    lowered = path.lower()
    if not lowered.endswith((".parquet", ".csv", ".csv.gz")):
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"cannot tell the format of {given}", None,
                                          "give a .parquet or .csv file")])
    if not os.path.exists(path):
        raise DiagnosticError([path_not_found("rows file", given, path, "command line", None, Code.FILE_UNREADABLE)])
    try:
        if lowered.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        import pyarrow.csv as pv

        return pv.read_csv(path)
    except (OSError, pa.ArrowException) as exc:
        raise DiagnosticError([Diagnostic(Code.FILE_UNREADABLE, f"cannot read {path}: {first_line(exc)}", None,
                                          "check the path, and that the file is valid Parquet or CSV")]) from None
