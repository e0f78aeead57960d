"""The SQLite online store: the embedded default, one file (the target's `online.path`, relative to the
project folder; default `.fcompile/online.db`).

Layout: one table per (project, view), `"fc_<project>__<view>"`, WITHOUT ROWID, keyed by the encoded
entity key (`keys.py`) as a BLOB, with `__fc_event_ts` and `__fc_created_ts` (microseconds since the
epoch, UTC), `__fc_nan` (the float features whose value is NaN, comma-separated, or NULL: SQLite
stores a NaN as NULL) and one column per feature; and one table `"__fc_state"` with a row per
(project, view).

| dtype            | column  | value                                                      |
| ---------------- | ------- | ---------------------------------------------------------- |
| int32, int64     | INTEGER |                                                            |
| float32, float64 | REAL    | a NaN is NULL here and named in `__fc_nan` (below)         |
| string / bytes   | TEXT / BLOB |                                                        |
| bool             | INTEGER | 0 or 1                                                     |
| date             | INTEGER | days since 1970-01-01                                      |
| timestamp        | INTEGER | microseconds since the epoch, UTC                          |
| array<T>         | TEXT    | JSON (values.py)                                           |

A batch is one transaction (`BEGIN IMMEDIATE` ... `COMMIT`) of `executemany` upserts, in key order (the
B-tree takes them twice as fast as in random order), whose `WHERE` compares row values, `(incoming
event, created) >= (stored event, created)` with a NULL created time lowest, so an older row never
overwrites a newer one. The database runs in WAL mode with
`synchronous=NORMAL`: readers never wait for a writer, and a committed batch survives a crash of the
process. A feature added to a view becomes a new column on the next write; a changed dtype needs
`fcompile materialize --full-refresh`.

Statements are fixed per view and cached: only fcompile's own names (validated identifiers, quoted) are
put into them; every value is a bound parameter. (sqlglot 30.22 renders SQLite's `ON CONFLICT ... DO
UPDATE ... WHERE` wrongly - it drops the insert's column list - so they are written out here.)
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from fcompile.runners.online.base import (
    OnlineStore, OnlineView, StoredRow, ViewState, store_failed, store_unreachable, unknown_features,
)
from fcompile.runners.online.batches import prepare_batch
from fcompile.runners.online.keys import KeyMismatch, key_encoder, key_mismatch
from fcompile.runners.online.values import (
    array_from_json, arrays_as_json, as_utc, date_from_days, datetime_from_micros, micros, to_micros,
)

DEFAULT_PATH = ".fcompile/online.db"
BUSY_TIMEOUT_SECONDS = 30.0   # how long a write waits for another process's write to finish
READ_CHUNK = 500              # keys per `IN (...)` (SQLite allows 32,766 parameters)
STATE_TABLE = "__fc_state"
KEY, EVENT, CREATED, NAN = "__fc_key", "__fc_event_ts", "__fc_created_ts", "__fc_nan"
_OLDEST = -(1 << 63)          # a NULL created time compares as this

_COLUMN_TYPES = {"int32": "INTEGER", "int64": "INTEGER", "float32": "REAL", "float64": "REAL", "string": "TEXT",
                 "bytes": "BLOB", "bool": "INTEGER", "date": "INTEGER", "timestamp": "INTEGER"}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_name(project: str, view: str) -> str:
    return f"fc_{project}__{view}"


class SqliteOnlineStore(OnlineStore):
    type_name = "sqlite"

    def __init__(self, path: str, project: str) -> None:
        self.path = path
        self.project = project
        try:
            self.con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                                       check_same_thread=False, cached_statements=512)
        except sqlite3.Error as exc:
            raise _unreachable(path, exc) from None
        try:
            self.con.execute("PRAGMA journal_mode=WAL")
            self.con.execute("PRAGMA synchronous=NORMAL")
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {quote(STATE_TABLE)} (project TEXT NOT NULL, "
                             "view TEXT NOT NULL, watermark INTEGER, last_run_at INTEGER, last_window_start INTEGER, "
                             "rows_read INTEGER NOT NULL, keys_written INTEGER NOT NULL, PRIMARY KEY (project, view)) "
                             "WITHOUT ROWID")
        except sqlite3.Error as exc:
            self.con.close()
            raise _unreachable(path, exc) from None
        self._tables: dict[int, _Table] = {}

    @classmethod
    def connect(cls, settings: Mapping[str, Any], project: str, project_root: str) -> SqliteOnlineStore:
        path = str(settings.get("path") or DEFAULT_PATH)
        if path != ":memory:":
            path = os.path.join(project_root, os.path.expanduser(path))
            try:
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            except OSError as exc:
                raise _unreachable(path, exc) from None
        return cls(path, project)

    # -- writes ------------------------------------------------------------------------------------

    def write_batch(self, view: OnlineView, batch: Any) -> int:
        prepared = prepare_batch(view, batch).ordered_by_key()
        if not len(prepared):
            return prepared.rows
        columns: list[Any] = [prepared.keys.to_pylist(), prepared.event_us.to_pylist(),
                              prepared.created_us.to_pylist(), _nan_names(view, prepared)]
        for name, dtype in view.features:
            columns.append(_sqlite_values(prepared.features[name], dtype))
        for attempt in (1, 2):
            try:
                table = self._table(view, create=True)
                with self._transaction():
                    self.con.executemany(table.upsert, zip(*columns))
                return prepared.rows
            except sqlite3.OperationalError as exc:
                if attempt == 1 and _schema_changed(exc):  # another process dropped the table meanwhile
                    self._tables.pop(id(view), None)
                    continue
                raise self._failed(f"writing feature view '{view.name}'", exc) from None
            except sqlite3.Error as exc:
                raise self._failed(f"writing feature view '{view.name}'", exc) from None
        raise AssertionError("unreachable")

    # -- reads -------------------------------------------------------------------------------------

    def read(self, view: OnlineView, keys: Sequence[tuple[Any, ...]],
             features: Sequence[str]) -> list[StoredRow | None]:
        table = self._tables.get(id(view))
        if table is None or table.view is not view:
            table = self._table(view, create=False)
        wanted = features if isinstance(features, tuple) else tuple(features)
        reader = table.readers.get(wanted)
        if reader is None:
            reader = self._reader(table, wanted)
        try:
            encoded = [table.encode(key) for key in keys]
        except KeyMismatch as exc:
            raise key_mismatch(view.name, view.keys, str(exc)) from None
        except TypeError as exc:  # a key that is not a sequence
            raise key_mismatch(view.name, view.keys, str(exc)) from None
        try:
            return reader.read(self.con, encoded)
        except sqlite3.OperationalError:
            # the table or a column appeared or went away since the reader was made (another process)
            table.readers.clear()
            reader = self._reader(table, wanted)
            try:
                return reader.read(self.con, encoded)
            except sqlite3.Error as exc:
                raise self._failed(f"reading feature view '{view.name}'", exc) from None
        except sqlite3.Error as exc:
            raise self._failed(f"reading feature view '{view.name}'", exc) from None

    # -- state -------------------------------------------------------------------------------------

    def get_state(self, view: str) -> ViewState | None:
        try:
            row = self.con.execute(f"SELECT watermark, last_run_at, last_window_start, rows_read, keys_written "
                                   f"FROM {quote(STATE_TABLE)} WHERE project = ? AND view = ?",
                                   (self.project, view)).fetchone()
        except sqlite3.Error as exc:
            raise self._failed(f"reading the state of feature view '{view}'", exc) from None
        if row is None:
            return None
        stamps = [None if v is None else datetime_from_micros(v) for v in row[:3]]
        return ViewState(stamps[0], stamps[1], stamps[2], rows_read=row[3], keys_written=row[4])

    def put_state(self, view: str, state: ViewState) -> None:
        stamps = [None if v is None else micros(as_utc(v)) for v in
                  (state.watermark, state.last_run_at, state.last_window_start)]
        try:
            self.con.execute(f"INSERT OR REPLACE INTO {quote(STATE_TABLE)} (project, view, watermark, last_run_at, "
                             "last_window_start, rows_read, keys_written) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (self.project, view, *stamps, state.rows_read, state.keys_written))
        except sqlite3.Error as exc:
            raise self._failed(f"saving the state of feature view '{view}'", exc) from None

    def drop_view(self, view: str) -> None:
        for key in [k for k, t in self._tables.items() if t.view.name == view]:
            del self._tables[key]
        try:
            with self._transaction():
                self.con.execute(f"DROP TABLE IF EXISTS {quote(table_name(self.project, view))}")
                self.con.execute(f"DELETE FROM {quote(STATE_TABLE)} WHERE project = ? AND view = ?",
                                 (self.project, view))
        except sqlite3.Error as exc:
            raise self._failed(f"dropping feature view '{view}'", exc) from None

    def close(self) -> None:
        self._tables.clear()
        self.con.close()

    # -- helpers -----------------------------------------------------------------------------------

    def _table(self, view: OnlineView, create: bool) -> _Table:
        """The view's table (created, with any missing feature columns added, when `create`)."""
        name = quote(table_name(self.project, view.name))
        table = self._tables.get(id(view))
        if table is None or table.view is not view:
            table = _Table(view, name, key_encoder([d for _, d in view.keys]), _upsert_sql(name, view))
            self._tables[id(view)] = table
        if create and not table.ready:
            columns = "".join(f", {quote(f)} {_column_type(d)}" for f, d in view.features)
            with self._transaction():
                self.con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({KEY} BLOB NOT NULL PRIMARY KEY, "
                                 f"{EVENT} INTEGER NOT NULL, {CREATED} INTEGER, {NAN} TEXT{columns}) WITHOUT ROWID")
                present = self._columns(name)
                for feature, dtype in view.features:
                    if feature not in present:
                        self.con.execute(f"ALTER TABLE {name} ADD COLUMN {quote(feature)} {_column_type(dtype)}")
            table.ready = True
            table.readers.clear()
        return table

    @contextlib.contextmanager
    def _transaction(self):
        """One write transaction; it takes the write lock at once, waiting up to the busy timeout."""
        self.con.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.con.execute("COMMIT")
        except BaseException:
            if self.con.in_transaction:
                self.con.execute("ROLLBACK")
            raise

    def _columns(self, name: str) -> set[str]:
        return {row[1] for row in self.con.execute(f"PRAGMA table_info({name})")}

    def _reader(self, table: _Table, features: tuple[str, ...]) -> _Reader:
        problem = unknown_features(table.view, features)
        if problem is not None:
            raise problem
        try:
            present = self._columns(table.name)
        except sqlite3.Error as exc:
            raise self._failed(f"reading feature view '{table.view.name}'", exc) from None
        if not present:  # no table yet: nothing was written
            return _NOTHING_STORED
        dtypes = dict(table.view.features)
        selected = "".join(f", {quote(f) if f in present else 'NULL'}" for f in features)
        selected = f"{EVENT}, {CREATED}, {NAN}{selected}"
        converters = tuple((f, _decoder(dtypes[f])) for f in features if _decoder(dtypes[f]) is not None)
        reader = _Reader(f"SELECT {selected} FROM {table.name} WHERE {KEY} = ?",
                         f"SELECT {KEY}, {selected} FROM {table.name} WHERE {KEY} IN ", features, converters)
        if all(f in present for f in features):  # else: look again next time (a column may be added)
            table.readers[features] = reader
        return reader

    def _failed(self, doing: str, error: sqlite3.Error):
        hint = None
        if "locked" in str(error) or "busy" in str(error):
            hint = (f"another process held {self.path} for writing longer than {BUSY_TIMEOUT_SECONDS:.0f} s; "
                    "run again when it has finished")
        return store_failed(f"SQLite ({self.path})", doing, error, hint)


@dataclass(eq=False)
class _Table:
    view: OnlineView
    name: str                                   # quoted
    encode: Callable[[Sequence[Any]], bytes | None]
    upsert: str
    ready: bool = False                         # created and complete in this session
    readers: dict[tuple[str, ...], _Reader] = field(default_factory=dict)


class _Reader:
    """Reads of some features of one view: two cached statements and how rows become StoredRows."""

    def __init__(self, one: str, many: str, features: tuple[str, ...],
                 converters: tuple[tuple[str, Callable[[Any], Any]], ...]) -> None:
        self.one = one        # SELECT event, created, nan, features... WHERE key = ?
        self.many = many      # SELECT key, event, created, nan, features... WHERE key IN  (placeholders follow)
        self.features = features
        self.converters = converters  # only the features whose stored value is not already the Python value

    def read(self, con: sqlite3.Connection, encoded: list[bytes | None]) -> list[StoredRow | None]:
        if len(encoded) == 1:
            key = encoded[0]
            if key is None:
                return [None]
            row = con.execute(self.one, (key,)).fetchone()
            return [None if row is None else self.stored(row[0], row[1], row[2], row[3:])]
        wanted = list({k for k in encoded if k is not None})
        found: dict[bytes, StoredRow] = {}
        stored = self.stored
        for start in range(0, len(wanted), READ_CHUNK):
            chunk = wanted[start:start + READ_CHUNK]
            size = _placeholder_count(len(chunk))
            chunk += [chunk[-1]] * (size - len(chunk))  # a few fixed statement shapes, so they stay cached
            for row in con.execute(self.many + _placeholders(size), chunk):
                found[row[0]] = stored(row[1], row[2], row[3], row[4:])
        return [None if k is None else found.get(k) for k in encoded]

    def stored(self, event: int, created: int | None, nan: str | None, raw: tuple) -> StoredRow:
        values = dict(zip(self.features, raw))
        for name, convert in self.converters:
            value = values[name]
            if value is not None:
                values[name] = convert(value)
        if nan is not None:
            for name in nan.split(","):
                if name in values:
                    values[name] = math.nan
        return StoredRow(values, datetime_from_micros(event), None if created is None else datetime_from_micros(created))


class _NothingStored(_Reader):
    def read(self, con: sqlite3.Connection, encoded: list[bytes | None]) -> list[StoredRow | None]:
        return [None] * len(encoded)


_NOTHING_STORED = _NothingStored("", "", (), ())


def _placeholder_count(count: int) -> int:
    """The statement size for `count` keys (at most READ_CHUNK): the next power of two, capped."""
    return min(1 << (count - 1).bit_length(), READ_CHUNK)


def _schema_changed(error: sqlite3.OperationalError) -> bool:
    text = str(error)
    return "no such table" in text or "has no column" in text


_PLACEHOLDERS: dict[int, str] = {}


def _placeholders(count: int) -> str:
    text = _PLACEHOLDERS.get(count)
    if text is None:
        text = _PLACEHOLDERS[count] = "(" + ", ".join("?" * count) + ")"
    return text


def _upsert_sql(table: str, view: OnlineView) -> str:
    columns = [KEY, EVENT, CREATED, NAN] + [quote(f) for f, _ in view.features]
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({KEY}) DO UPDATE SET {updates} "
            f"WHERE (excluded.{EVENT}, coalesce(excluded.{CREATED}, {_OLDEST})) >= "
            f"({EVENT}, coalesce({CREATED}, {_OLDEST}))")


def _column_type(dtype) -> str:
    return "TEXT" if dtype.is_array else _COLUMN_TYPES[dtype.name]


def _sqlite_values(column, dtype) -> list:
    """A feature column as the Python values SQLite stores (see the module's table)."""
    import pyarrow as pa

    if dtype.is_array:
        return arrays_as_json(column, dtype)
    name = dtype.name
    if name == "timestamp":
        return to_micros(column).to_pylist()
    if name == "date":
        return column.cast(pa.int32()).to_pylist()
    return column.to_pylist()  # a NaN is bound as NULL by SQLite; `__fc_nan` names it


def _nan_names(view: OnlineView, prepared) -> Any:
    """Per row, the names of the float features whose value is NaN, comma-separated; None for none."""
    import itertools

    import pyarrow as pa
    import pyarrow.compute as pc

    marks = []
    for name, dtype in view.features:
        if dtype.name in ("float32", "float64") and not dtype.is_array:
            nan = pc.fill_null(pc.is_nan(prepared.features[name]), False)
            if pc.any(nan).as_py():
                marks.append(pc.if_else(nan, pa.scalar(name), pa.scalar(None, pa.string())))
    if not marks:
        return itertools.repeat(None)
    if len(marks) == 1:
        return marks[0].to_pylist()
    joined = pc.binary_join_element_wise(*marks, ",", null_handling="skip")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined).to_pylist()


_DECODERS: dict[str, Callable[[Any], Any] | None] = {
    "int32": None, "int64": None, "string": None, "bytes": None, "float32": None, "float64": None,
    "bool": bool, "date": date_from_days, "timestamp": datetime_from_micros,
}


def _decoder(dtype) -> Callable[[Any], Any] | None:
    if dtype.is_array:
        return array_from_json(dtype.element)
    return _DECODERS[dtype.name]


def _unreachable(path: str, error: BaseException):
    return store_unreachable("SQLite", path, str(error).strip() or type(error).__name__,
                             "the target's online `path` must name a SQLite file fcompile can create or open "
                             "(relative to the project folder); is it a folder, or another kind of file?")
