"""The SQLite online store: the embedded default, one file (the target's `online.path`, relative to the
project folder; default `.fcompile/online.db`).

Layout: one table per (project, view), `"fc_<project>__<view>"`, with `__fc_event_ts` and `__fc_created_ts`
(INTEGER, microseconds since the epoch, UTC) and `__fc_record`, a BLOB holding every feature value of the row
(`records.py`), keyed by the entity key: a view whose entity key is one int32 or int64 join key by that
integer, `__fc_int_key INTEGER PRIMARY KEY` (a rowid table, whose seeks compare integers rather than byte
strings: an `IN (...)` of 100 keys takes about half the time), and any other view by the encoded key
(`keys.py`), `__fc_key`, a BLOB, in a WITHOUT ROWID table (a view of large rows, `OnlineView.large_rows`:
a rowid table with a UNIQUE key). A table an earlier fcompile made for a view of one integer key (keyed by
the encoded key) is read and written as it is, row for row, until it is dropped (`drop_view`, or by hand)
and the next write makes it in the integer layout; which layout a table has is read from its columns. The
two key columns have different names, so a statement made for one layout fails on the other (and is made
again) rather than binding keys of the wrong kind. A table `"__fc_layouts"` holds the record layouts
written per (project, view), so a record written before a feature was added still reads (the new feature as
NULL); a table `"__fc_state"` a row per (project, view). One BLOB per row, rather than a column per feature,
makes a write bind four values per row and a read fetch four columns, whatever the number of features, and
keeps NaN (which SQLite stores as NULL in a REAL column).

A batch is one transaction (`BEGIN IMMEDIATE` ... `COMMIT`; the batches of several views, `write_batches`,
one transaction too) of `executemany` upserts, in key order (the B-tree takes them twice as fast as in
random order), whose `WHERE` compares row values, `(incoming event, created) >= (stored event, created)`
with a NULL created time lowest, so an older row never overwrites a newer one. The database runs in WAL mode with `synchronous=NORMAL`: readers never wait for a
writer, and a committed batch survives a crash of the process. A read of many keys is one `IN (...)`
statement per READ_CHUNK keys, whose records are decoded together (`records_decoder`); each connection keeps
up to CACHE_KIB of pages in memory.

The materialization lock is a `flock` of `<database>.materialize.lock`, beside the database file.

Statements are fixed per view and cached: only fcompile's own names (validated identifiers, quoted) are
put into them; every value is a bound parameter. (sqlglot 30.22 renders SQLite's `ON CONFLICT ... DO
UPDATE ... WHERE` wrongly - it drops the insert's column list - so they are written out here.)
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass, field
from operator import add
from typing import Any, Callable, Iterator, Mapping, Sequence

from fcompile.file_lock import exclusive_file_lock
from fcompile.online.base import (
    KEY_SCAN_CHUNK, OnlineView, RecordDecodingStore, StoredRow, ViewState, materialization_busy, store_failed,
    store_unreachable, unknown_features, views_text,
)
from fcompile.online.batches import prepare_batch
from fcompile.online.keys import (
    KeyMismatch, integer_key_bytes, integer_key_column, integer_keys, is_integer_key, key_encoder,
    key_mismatch,
)
from fcompile.online.records import RecordLayout, UnknownLayout, encode_records, record_decoder, records_decoder
from fcompile.online.values import as_utc, datetime_from_micros, micros

DEFAULT_PATH = ".fcompile/online.db"
LOCK_SUFFIX = ".materialize.lock"  # the materialization lock: a file next to the database
BUSY_TIMEOUT_SECONDS = 30.0   # how long a write waits for another process's write to finish
READ_CHUNK = 496              # keys per statement, a multiple of 8 (SQLite allows 32,766 parameters)
CACHE_KIB = 65_536            # page cache per connection, filled only as pages are read (SQLite's default: 2 MiB)
STATE_TABLE = "__fc_state"
LAYOUT_TABLE = "__fc_layouts"
KEY, EVENT, CREATED, RECORD = "__fc_key", "__fc_event_ts", "__fc_created_ts", "__fc_record"
INT_KEY = "__fc_int_key"      # the key column of a view keyed by one integer: its INTEGER PRIMARY KEY
_OLDEST = -(1 << 63)          # a NULL created time compares as this


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_name(project: str, view: str) -> str:
    return f"fc_{project}__{view}"


class OlderLayout(sqlite3.DatabaseError):
    """A view's table written by an earlier fcompile, with a column per feature."""


class ChangedKey(sqlite3.DatabaseError):
    """A view's table keyed by one integer, while the view's entity key is no longer one integer."""


class SqliteOnlineStore(RecordDecodingStore):
    type_name = "sqlite"
    default_location = f"path {DEFAULT_PATH} (the default)"

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
            self.con.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {quote(STATE_TABLE)} (project TEXT NOT NULL, "
                             "view TEXT NOT NULL, watermark INTEGER, last_run_at INTEGER, last_window_start INTEGER, "
                             "rows_read INTEGER NOT NULL, keys_written INTEGER NOT NULL, PRIMARY KEY (project, view)) "
                             "WITHOUT ROWID")
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {quote(LAYOUT_TABLE)} (project TEXT NOT NULL, "
                             "view TEXT NOT NULL, layout BLOB NOT NULL, features TEXT NOT NULL, "
                             "PRIMARY KEY (project, view, layout)) WITHOUT ROWID")
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
        return self.write_batches([(view, batch)])[0]

    def write_batches(self, writes: Sequence[tuple[OnlineView, Any]]) -> list[int]:
        """The batches of several views in one transaction: all or nothing."""
        prepared = [(view, prepare_batch(view, batch).ordered_by_key()) for view, batch in writes]
        rows = [p.rows for _, p in prepared]
        todo = [(view, p) for view, p in prepared if len(p)]
        if not todo:
            return rows
        doing = "writing " + views_text([view.name for view, _ in todo])
        records: dict[int, list] = {}
        for attempt in (1, 2):
            try:
                tables = [self._table(view, create=True) for view, _ in todo]
                for index, (table, (_, batch)) in enumerate(zip(tables, todo)):
                    if index not in records:
                        encoded = encode_records(table.layout, batch.features, len(batch))
                        records[index] = list(zip(table.keys.from_batch(batch.keys), batch.event_us.to_pylist(),
                                                  batch.created_us.to_pylist(), encoded.to_pylist()))
                with self._transaction():
                    for index, (table, (view, _)) in enumerate(zip(tables, todo)):
                        self.con.execute(table.register, (self.project, view.name, table.layout.id, table.layout.json))
                        self.con.executemany(table.upsert, records[index])
                return rows
            except sqlite3.OperationalError as exc:
                if attempt == 1 and _schema_changed(exc):  # another process dropped a table meanwhile
                    for view, _ in todo:
                        self._tables.pop(id(view), None)
                    records.clear()  # made again: its table may key its rows otherwise now
                    continue
                raise self._failed(doing, exc) from None
            except sqlite3.Error as exc:
                raise self._failed(doing, exc) from None
        raise AssertionError("unreachable")

    # -- reads -------------------------------------------------------------------------------------

    def read_values_of_key(self, view: OnlineView, values: list, features: Sequence[str]) -> list[tuple | None]:
        return self._read(view, values, features, True, of_key=True)

    def _read(self, view: OnlineView, keys: Sequence[Any], features: Sequence[str], as_tuples: bool,
              of_key: bool = False) -> list:
        """`read`'s rows or (`as_tuples`) `read_values`' tuples of `keys`: key tuples, or (`of_key`) the checked
        values of the view's one key (`read_values_of_key`)."""
        table = self._tables.get(id(view))
        if table is None or table.view is not view:
            table = self._table(view, create=False)
        wanted = features if isinstance(features, tuple) else tuple(features)
        reader = table.readers.get(wanted)
        if reader is None:
            reader = self._reader(table, wanted)
        encoded = _bound(reader.keys, keys, view, of_key)
        try:
            return reader.read_values(self.con, encoded) if as_tuples else reader.read(self.con, encoded)
        except sqlite3.OperationalError:
            # the table appeared, went away or was made again since the reader was made (another process)
            table.readers.clear()
            try:
                reader = self._reader(table, wanted)
                encoded = _bound(reader.keys, keys, view, of_key)  # as the table keys its rows now
                return reader.read_values(self.con, encoded) if as_tuples else reader.read(self.con, encoded)
            except (sqlite3.Error, UnknownLayout) as exc:
                raise self._failed(f"reading feature view '{view.name}'", exc) from None
        except (sqlite3.Error, UnknownLayout) as exc:
            raise self._failed(f"reading feature view '{view.name}'", exc) from None

    # -- key scans --------------------------------------------------------------------------------

    def stored_keys(self, view: OnlineView, chunk: int = KEY_SCAN_CHUNK) -> Iterator[list[bytes]]:
        """A keyset scan of the view's table in key order: one statement per chunk, each starting after the
        last key of the one before, so no cursor stays open between chunks. A table keyed by one integer
        gives each integer's encoded bytes, which order as the integers do."""
        name = quote(table_name(self.project, view.name))
        doing = f"listing the keys of feature view '{view.name}'"
        try:
            present = self._columns(name)
            if not present:  # no table: nothing was ever written
                return
            keys = _key_column(view, present)
            column = keys.column
            first = f"SELECT {column} FROM {name} ORDER BY {column} LIMIT ?"
            after = f"SELECT {column} FROM {name} WHERE {column} > ? ORDER BY {column} LIMIT ?"
            found = [row[0] for row in self.con.execute(first, (chunk,))]
            while True:
                if found:
                    yield found if not keys.integer else [integer_key_bytes(value) for value in found]
                if len(found) < chunk:
                    return
                found = [row[0] for row in self.con.execute(after, (found[-1], chunk))]
        except sqlite3.Error as exc:
            raise self._failed(doing, exc) from None

    # -- deletes ----------------------------------------------------------------------------------

    def delete_keys(self, view: OnlineView, keys: Sequence[tuple[Any, ...]]) -> list[bool]:
        name = quote(table_name(self.project, view.name))
        wanted = _key_column(view, set())
        encoded = _encoded(wanted, keys, view)  # FC115 before anything is deleted
        try:
            with self._transaction():
                present = self._columns(name)
                if not present:  # no table: nothing was ever written
                    return [False] * len(encoded)
                found = _key_column(view, present)
                if found.integer != wanted.integer:  # a table an earlier fcompile keyed by the encoded bytes
                    encoded = _encoded(found, keys, view)
                statement = f"DELETE FROM {name} WHERE {found.column} = ?"
                return [key is not None and self.con.execute(statement, (key,)).rowcount > 0 for key in encoded]
        except sqlite3.Error as exc:
            raise self._failed(f"deleting keys of feature view '{view.name}'", exc) from None

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
                for table in (STATE_TABLE, LAYOUT_TABLE):
                    self.con.execute(f"DELETE FROM {quote(table)} WHERE project = ? AND view = ?", (self.project, view))
        except sqlite3.Error as exc:
            raise self._failed(f"dropping feature view '{view}'", exc) from None

    @contextlib.contextmanager
    def materialization_lock(self):
        """A `flock` of `<database>.materialize.lock`, next to the database file."""
        if self.path == ":memory:":  # no other process can see this store
            yield
            return
        busy = materialization_busy(f"the SQLite online store {self.path}", self.project,
                                    "a run that was killed released it with its process")
        with exclusive_file_lock(self.path + LOCK_SUFFIX, busy):
            yield

    def close(self) -> None:
        self._tables.clear()
        self.con.close()

    # -- helpers -----------------------------------------------------------------------------------

    def _table(self, view: OnlineView, create: bool) -> _Table:
        """The view's table (created when `create`). Raises OlderLayout for a table of an earlier
        fcompile, and sqlite3's errors."""
        name = quote(table_name(self.project, view.name))
        table = self._tables.get(id(view))
        if table is None or table.view is not view:
            table = _Table(view, name, RecordLayout(view.features),
                           register=f"INSERT OR IGNORE INTO {quote(LAYOUT_TABLE)} (project, view, layout, features) "
                                    "VALUES (?, ?, ?, ?)")
            self._tables[id(view)] = table
        if create and not table.ready:
            with self._transaction():
                self.con.execute(_create_table(name, view))
                present = self._columns(name)
                _check_layout(table, present)
                table.keys = _key_column(view, present)
                table.upsert = _upsert(name, table.keys.column)
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
            _check_layout(table, present)
            keys = _key_column(table.view, present)
        except sqlite3.Error as exc:
            raise self._failed(f"reading feature view '{table.view.name}'", exc) from None
        if not present:  # no table yet: nothing was written; look again next time
            return _NothingStored(keys)
        lookup = self._layout_lookup(table.view.name)
        reader = _Reader(keys, table.name, record_decoder(table.layout, features, lookup),
                         record_decoder(table.layout, features, lookup, as_tuple=True),
                         records_decoder(table.layout, features, lookup))
        table.readers[features] = reader
        return reader

    def _layout_lookup(self, view: str) -> Callable[[bytes], str | None]:
        def lookup(layout_id: bytes) -> str | None:
            row = self.con.execute(f"SELECT features FROM {quote(LAYOUT_TABLE)} WHERE project = ? AND view = ? "
                                   "AND layout = ?", (self.project, view, layout_id)).fetchone()
            return None if row is None else row[0]

        return lookup

    def _failed(self, doing: str, error: Exception):
        hint = None
        if "locked" in str(error) or "busy" in str(error):
            hint = (f"another process held {self.path} for writing longer than {BUSY_TIMEOUT_SECONDS:g} s; "
                    "run again when it has finished")
        elif isinstance(error, (OlderLayout, ChangedKey)):
            hint = (f"delete {self.path} (or that table) and run `fcompile materialize --full-refresh` to load "
                    "the view again")
        return store_failed(f"SQLite ({self.path})", doing, error, hint)


@dataclass(frozen=True, eq=False)
class _Keys:
    """How a view's table keys its rows: by the integer of a one-integer entity key (`INT_KEY`, the rowid), or
    by the encoded key (`KEY`, a BLOB: every other key, and tables written before the integer layout)."""

    column: str
    integer: bool
    encode_all: Callable[[Sequence[Sequence[Any]]], list]  # key tuples -> bound values (None: a NULL key)
    from_batch: Callable[[Any], list]                       # a prepared batch's encoded keys -> bound values


def _key_column(view: OnlineView, present: set[str]) -> _Keys:
    """How the view's table keys its rows, from its columns (`present`; empty: no table yet, so as a new
    table will). Raises ChangedKey for an integer-keyed table of a view whose key is no longer one integer."""
    integer = is_integer_key([d for _, d in view.keys])
    if INT_KEY in present and not integer:
        raise ChangedKey(f"the table of feature view '{view.name}' is keyed by one integer, as the view's entity key "
                         "was when it was written, but the key is now " + ", ".join(str(d) for _, d in view.keys))
    if INT_KEY in present or (integer and KEY not in present):
        return _INTEGER_KEYS
    encode = key_encoder([d for _, d in view.keys])
    return _Keys(KEY, False, lambda keys: [encode(key) for key in keys], _pylist)


def _pylist(array: Any) -> list:
    return array.to_pylist()


_INTEGER_KEYS = _Keys(INT_KEY, True, integer_keys, integer_key_column)


def _encoded(keys: _Keys, given: Sequence[Any], view: OnlineView) -> list:
    """The keys as `keys` binds them, or FC115 for the first that does not fit."""
    try:
        return keys.encode_all(given)
    except (KeyMismatch, TypeError) as exc:  # TypeError: a key that is not a sequence
        raise key_mismatch(view.name, view.keys, str(exc)) from None


def _bound(keys: _Keys, given: Sequence[Any], view: OnlineView, of_key: bool) -> list:
    """The keys as the table binds them: from key tuples, or (`of_key`) from the checked values of the view's
    one key, which a table keyed by the integer binds as they are."""
    if of_key:
        if keys.integer:
            return given if type(given) is list else list(given)
        given = list(zip(given))
    return _encoded(keys, given, view)


def _create_table(name: str, view: OnlineView) -> str:
    """The view's table: keyed by the integer (a rowid table) when its entity key is one integer; else by the
    encoded key, WITHOUT ROWID - or, for rows of kilobytes, a rowid table found through the key's unique index
    (a WITHOUT ROWID table's lookups walk its rows' overflow pages)."""
    rest = f"{EVENT} INTEGER NOT NULL, {CREATED} INTEGER, {RECORD} BLOB NOT NULL"
    if is_integer_key([d for _, d in view.keys]):
        return f"CREATE TABLE IF NOT EXISTS {name} ({INT_KEY} INTEGER PRIMARY KEY, {rest})"
    if view.large_rows:
        return f"CREATE TABLE IF NOT EXISTS {name} ({KEY} BLOB NOT NULL UNIQUE, {rest})"
    return f"CREATE TABLE IF NOT EXISTS {name} ({KEY} BLOB NOT NULL PRIMARY KEY, {rest}) WITHOUT ROWID"


def _upsert(name: str, key: str) -> str:
    """The write of one row, which keeps the newer of stored and incoming (module doc)."""
    return (f"INSERT INTO {name} ({key}, {EVENT}, {CREATED}, {RECORD}) VALUES (?, ?, ?, ?) "
            f"ON CONFLICT ({key}) DO UPDATE SET {EVENT} = excluded.{EVENT}, {CREATED} = excluded.{CREATED}, "
            f"{RECORD} = excluded.{RECORD} WHERE (excluded.{EVENT}, coalesce(excluded.{CREATED}, {_OLDEST})) >= "
            f"({EVENT}, coalesce({CREATED}, {_OLDEST}))")


def _check_layout(table: _Table, present: set[str]) -> None:
    if present and RECORD not in present:
        raise OlderLayout(f"the table {table.name} holds feature view '{table.view.name}' as written by an "
                          "earlier fcompile (a column per feature), which this version does not read")


@dataclass(eq=False)
class _Table:
    view: OnlineView
    name: str                                   # quoted
    layout: RecordLayout                        # how this session writes the view's records
    register: str                               # records the layout (once per batch: cheap, and survives a drop)
    keys: _Keys = _INTEGER_KEYS                 # how the table keys its rows (known once `ready`)
    upsert: str = ""                            # the write of a row (known once `ready`)
    ready: bool = False                         # created in this session
    readers: dict[tuple[str, ...], _Reader] = field(default_factory=dict)


class _Reader:
    """Reads of some features of one view: cached statements and the records' decoders (to a mapping, and
    to the serving path's tuple, of one record or of many)."""

    def __init__(self, keys: _Keys, table: str, decode: Callable[[bytes], dict[str, Any]],
                 decode_values: Callable[[bytes], tuple], decode_all: Callable[[Sequence[bytes]], list[tuple]]) -> None:
        self.keys = keys
        key = keys.column
        self.one = f"SELECT {EVENT}, {CREATED}, {RECORD} FROM {table} WHERE {key} = ?"
        # for a list of keys, `... IN (` then `?, ?, ...)`: the rows (key, event, created, record), and the
        # rows without their created time (what `read_values` needs)
        self.rows_head = f"SELECT {key}, {EVENT}, {CREATED}, {RECORD} FROM {table} WHERE {key} IN ("
        self.values_head = f"SELECT {key}, {EVENT}, {RECORD} FROM {table} WHERE {key} IN ("
        self.statements: dict[tuple[str, int], str] = {}
        self.decode = decode
        self.decode_values = decode_values
        self.decode_all = decode_all

    def read(self, con: sqlite3.Connection, encoded: list) -> list[StoredRow | None]:
        decode, moment = self.decode, datetime_from_micros
        if len(encoded) == 1:
            key = encoded[0]
            if key is None:
                return [None]
            row = con.execute(self.one, (key,)).fetchone()
            if row is None:
                return [None]
            event, created, record = row
            return [StoredRow(decode(record), moment(event), None if created is None else moment(created))]
        found: dict[Any, StoredRow] = {}
        for key, event, created, record in self._rows(con, encoded, self.rows_head):
            found[key] = StoredRow(decode(record), moment(event), None if created is None else moment(created))
        return self._in_order(found, encoded)

    def read_values(self, con: sqlite3.Connection, encoded: list) -> list[tuple | None]:
        """`OnlineStore.read_values`: (event time in microseconds, values...) per key, None where not found."""
        if len(encoded) == 1:
            key = encoded[0]
            if key is None:
                return [None]
            row = con.execute(self.one, (key,)).fetchone()
            return [None] if row is None else [(row[0], *self.decode_values(row[2]))]
        rows = self._rows(con, encoded, self.values_head)
        if not rows:
            return [None] * len(encoded)
        keys, events, records = zip(*rows)
        # each row's (event,) + (values...): C loops, no Python code per row
        return self._in_order(dict(zip(keys, map(add, zip(events), self.decode_all(records)))), encoded)

    def _rows(self, con: sqlite3.Connection, encoded: list, head: str) -> list[tuple]:
        """The stored rows of the keys (None skipped), one statement (`head`, then the keys) per chunk."""
        wanted = encoded if None not in encoded else [k for k in encoded if k is not None]
        rows: list[tuple] = []
        for start in range(0, len(wanted), READ_CHUNK):
            chunk = wanted[start:start + READ_CHUNK]
            size = _rounded(len(chunk))
            if size > len(chunk):  # a few statement shapes, so they stay cached; a repeated key reads once more
                chunk = chunk + [chunk[-1]] * (size - len(chunk))
            statement = self.statements.get((head, size)) or self._statement(head, size)
            found = con.execute(statement, chunk).fetchall()
            if not rows:
                rows = found
            else:
                rows += found
        return rows

    @staticmethod
    def _in_order(found: dict, encoded: list) -> list:
        if None not in encoded:
            return list(map(found.get, encoded))
        get = found.get
        return [None if k is None else get(k) for k in encoded]

    def _statement(self, head: str, size: int) -> str:
        statement = self.statements[(head, size)] = head + ", ".join("?" * size) + ")"
        return statement


class _NothingStored(_Reader):
    def __init__(self, keys: _Keys) -> None:
        self.keys = keys

    def read(self, con: sqlite3.Connection, encoded: list[bytes | None]) -> list[StoredRow | None]:
        return [None] * len(encoded)

    def read_values(self, con: sqlite3.Connection, encoded: list[bytes | None]) -> list[tuple | None]:
        return [None] * len(encoded)


def _rounded(count: int) -> int:
    """The statement size for `count` keys (at most READ_CHUNK): the next multiple of 8, capped."""
    return min((count + 7) // 8 * 8, READ_CHUNK)


def _schema_changed(error: sqlite3.OperationalError) -> bool:
    text = str(error)
    return "no such table" in text or "has no column" in text


def _unreachable(path: str, error: BaseException):
    return store_unreachable("SQLite", path, str(error).strip() or type(error).__name__,
                             "the target's online `path` must name a SQLite file fcompile can create or open "
                             "(relative to the project folder); is it a folder, or another kind of file?")
