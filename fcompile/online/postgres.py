"""The PostgreSQL online store: a PostgreSQL server through psycopg 3 (the target's online `url`, default
`postgresql://127.0.0.1:5432/test`).

Layout: a schema per project, `fc_<project>`, holding a table per view named like the view, keyed by
the encoded entity key (`keys.py`) as BYTEA, with `__fc_event_ts` and `__fc_created_ts` (TIMESTAMPTZ)
and a column per feature, and the table `__fc_state` (a row per view). Names longer than PostgreSQL's
63 bytes are cut and end in a hash of the whole name.

| dtype            | column                  |
| ---------------- | ----------------------- |
| int32, int64     | INTEGER, BIGINT         |
| float32, float64 | REAL, DOUBLE PRECISION  |
| string, bytes    | TEXT, BYTEA             |
| bool             | BOOLEAN                 |
| date, timestamp  | DATE, TIMESTAMPTZ       |
| array<T>         | JSONB (values.py)       |

A batch is one transaction: its rows (deduplicated first: the newest per key, so the upsert needs no
`DISTINCT ON`) go by `COPY ... (FORMAT binary)` - built column by column with numpy and Arrow - into a
temporary staging table (`ON COMMIT DELETE ROWS`), then `INSERT ... SELECT ... ON CONFLICT (key) DO
UPDATE ... WHERE (incoming event, created) >= (stored event, created)`, a NULL created time being
`-infinity`. Row locks make newer-wins hold whatever else writes. Rows are locked in one order - a batch's
by key (sorted, and `ORDER BY` key in the upsert), the views of a multi-view write (`write_batches`, a push)
by table name - so fcompile's writers wait for each other instead of deadlocking; a deadlock or
serialization failure all the same is retried WRITE_ATTEMPTS times with a jittered, doubling pause, then
FC114. Creating or completing a view's table runs under a transaction-level advisory lock, one session at
a time, and alters the table only for a column it lacks. `materialization_lock` is a session-level advisory
lock on a connection of its own. Tables have `fillfactor = 70`: a page
keeps room for a newer version of its rows, so most updates are HOT (no new index entry) - measured
about 1.4x faster for updates than full pages.

Reads are one prepared `SELECT ... WHERE key = %s` for one entity and `WHERE key = ANY(%s)` for more,
in binary. A feature added to a view becomes a new column on the next write; a changed dtype needs
`fcompile materialize --full-refresh`. Sessions run in UTC; a lost session (a restarted server, a killed
backend) is opened again and the call made once more. The role needs CREATE on the database (for the
schema) and TEMPORARY. Text cannot hold the character NUL here (PostgreSQL refuses it: FC114).

Statements are composed with `psycopg.sql` (identifiers quoted by the driver); values are parameters
or COPY data.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import struct
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

from fcompile.connection_text import describe_connection, driver_reason
from fcompile.graph import DType
from fcompile.online.base import (
    KEY_SCAN_CHUNK, OnlineStore, OnlineView, StoredRow, ViewState, materialization_busy, store_failed,
    store_unreachable, unknown_features, views_text,
)
from fcompile.online.batches import prepare_batch
from fcompile.online.keys import KeyMismatch, encode_keys, key_encoder, key_mismatch
from fcompile.online.records import fixed_values
from fcompile.online.values import (
    array_from_json, arrays_as_json, arrow_cast, arrow_compute, as_utc, filled, numpy_of, string_array, typed_scalar,
)

DEFAULT_URL = "postgresql://127.0.0.1:5432/test"
CONNECT_TIMEOUT_SECONDS = 5
STATE_TABLE = "__fc_state"
STAGE_PREFIX = "__fc_stage_"
KEY, EVENT, CREATED = "__fc_key", "__fc_event_ts", "__fc_created_ts"
MAX_IDENTIFIER_BYTES = 63
_SCHEMA_CHANGED = ("42P01", "42703")  # SQLSTATE undefined_table, undefined_column
_CONFLICTS = ("40P01", "40001")       # SQLSTATE deadlock_detected, serialization_failure: run it again
WRITE_ATTEMPTS = 5                    # tries of a write that deadlocks, the first included
RETRY_BACKOFF_SECONDS = 0.02          # the first pause before a retry; doubles each time, with jitter

_COLUMN_TYPES = {"int32": "INTEGER", "int64": "BIGINT", "float32": "REAL", "float64": "DOUBLE PRECISION",
                 "string": "TEXT", "bytes": "BYTEA", "bool": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMPTZ"}


def pg_name(name: str) -> str:
    """`name` as a PostgreSQL identifier: itself when it fits in 63 bytes, else cut and suffixed with a hash
    (PostgreSQL would cut it silently, and two long names could become one)."""
    data = name.encode()
    if len(data) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha256(data).hexdigest()[:12]
    return data[:MAX_IDENTIFIER_BYTES - 13].decode("utf-8", "ignore") + "_" + digest


class PostgresOnlineStore(OnlineStore):
    type_name = "postgres"
    default_location = f"{DEFAULT_URL} (the default)"

    def __init__(self, conn: Any, url: str, project: str, connect_timeout: int = CONNECT_TIMEOUT_SECONDS) -> None:
        self.conn = conn
        self.url = url
        self.project = project
        self.schema = pg_name(f"fc_{project}")
        self._connect_timeout = connect_timeout
        self._schema_ready = False
        self._views: dict[int, _Table] = {}
        self._cursor = conn.cursor(binary=True)

    @classmethod
    def connect(cls, settings: Mapping[str, Any], project: str, project_root: str) -> PostgresOnlineStore:
        url = str(settings.get("url") or DEFAULT_URL)
        timeout = int(settings.get("connect_timeout", CONNECT_TIMEOUT_SECONDS))
        return cls(_open(url, timeout), url, project, timeout)

    def _live(self) -> None:
        """Connects again when the session was lost (a server restart, a killed backend); its temporary
        tables and prepared statements went with it. Raises FC113 when the server does not answer."""
        if not self.conn.closed:
            return
        self.conn = _open(self.url, self._connect_timeout)
        self._cursor = self.conn.cursor(binary=True)
        self._schema_ready = False
        self._views.clear()

    # -- writes ------------------------------------------------------------------------------------

    def write_batch(self, view: OnlineView, batch: Any) -> int:
        return self.write_batches([(view, batch)])[0]

    def write_batches(self, writes: Sequence[tuple[OnlineView, Any]]) -> list[int]:
        """The batches of several views in one transaction: all or nothing. Each batch's rows go in key
        order, and the views in table-name order, so writers lock rows in one order and cannot deadlock
        each other; a deadlock or serialization failure that happens all the same (another program
        writing the tables) is retried up to WRITE_ATTEMPTS times, then FC114."""
        import psycopg

        prepared = [(view, prepare_batch(view, batch).ordered_by_key()) for view, batch in writes]
        rows = [p.rows for _, p in prepared]
        payloads = sorted(((view, copy_data(view, p)) for view, p in prepared if len(p)),
                          key=lambda item: pg_name(item[0].name))
        if not payloads:
            return rows
        doing = "writing " + views_text([view.name for view, _ in payloads])
        conflicts, reopened = 0, False
        while True:
            self._live()
            try:
                tables = [self._table(view, create=True) for view, _ in payloads]
                with self.conn.transaction():
                    for table, (_, data) in zip(tables, payloads):
                        with self._cursor.copy(table.copy) as copy:
                            copy.write(data)
                        self._cursor.execute(table.upsert)
                return rows
            except psycopg.Error as exc:
                sqlstate = getattr(exc, "sqlstate", None)
                if sqlstate in _CONFLICTS and not self.conn.closed:
                    conflicts += 1
                    if conflicts < WRITE_ATTEMPTS:
                        time.sleep(_backoff(conflicts))
                        continue
                    raise self._conflicted(doing, exc, conflicts) from None
                # another session dropped or changed a table, or the session was lost: once more (a batch
                # that did commit is written again, which newer-wins makes harmless)
                for view, _ in payloads:
                    self._views.pop(id(view), None)
                if reopened or not (self.conn.closed or sqlstate in _SCHEMA_CHANGED):
                    raise self._failed(doing, exc) from None
                reopened = True

    # -- reads -------------------------------------------------------------------------------------

    def read(self, view: OnlineView, keys: Sequence[tuple[Any, ...]],
             features: Sequence[str]) -> list[StoredRow | None]:
        import psycopg

        wanted = features if isinstance(features, tuple) else tuple(features)
        for attempt in (1, 2):
            if self.conn.closed:
                self._live()
            table = self._views.get(id(view))
            if table is None or table.view is not view:
                table = self._table(view, create=False)
            if attempt == 1:
                try:
                    encoded = [table.encode(key) for key in keys]
                except (KeyMismatch, TypeError) as exc:
                    raise key_mismatch(view.name, view.keys, str(exc)) from None
            try:
                reader = table.readers.get(wanted) or self._reader(table, wanted)
                return reader.read(self._cursor, encoded, attempt == 1)
            except psycopg.Error as exc:  # the table changed under a prepared statement, the session was lost
                table.readers.clear()
                if attempt == 2:
                    raise self._failed(f"reading feature view '{view.name}'", exc) from None
        raise AssertionError("unreachable")

    # -- key scans --------------------------------------------------------------------------------

    def stored_keys(self, view: OnlineView, chunk: int = KEY_SCAN_CHUNK) -> Iterator[list[bytes]]:
        """A keyset scan of the view's table along its primary key: one statement per chunk, each starting
        after the last key of the one before, so no cursor or transaction stays open between chunks."""
        import psycopg
        from psycopg import sql

        statement = sql.SQL("SELECT {key} FROM {table} WHERE {key} > %s ORDER BY {key} LIMIT %s").format(
            key=sql.Identifier(KEY), table=sql.Identifier(self.schema, pg_name(view.name)))
        after = b""  # every encoded key is longer, and so sorts after it
        while True:
            self._live()
            try:
                keys = [bytes(row[0]) for row in self.conn.execute(statement, (after, chunk)).fetchall()]
            except psycopg.errors.UndefinedTable:
                return  # nothing was ever written for this view
            except psycopg.Error as exc:
                raise self._failed(f"listing the keys of feature view '{view.name}'", exc) from None
            if keys:
                yield keys
            if len(keys) < chunk:
                return
            after = keys[-1]

    # -- deletes ----------------------------------------------------------------------------------

    def delete_keys(self, view: OnlineView, keys: Sequence[tuple[Any, ...]]) -> list[bool]:
        import psycopg
        from psycopg import sql

        self._live()
        table = self._views.get(id(view))
        if table is None or table.view is not view:
            table = self._table(view, create=False)
        encoded = encode_keys(table.encode, keys, view.name, view.keys)
        wanted = sorted({key for key in encoded if key is not None})  # rows locked in a stable order
        if not wanted:
            return [False] * len(encoded)
        statement = sql.SQL("DELETE FROM {} WHERE {} = ANY(%s) RETURNING {}").format(
            table.name, sql.Identifier(KEY), sql.Identifier(KEY))
        try:
            deleted = {bytes(row[0]) for row in self.conn.execute(statement, (wanted,)).fetchall()}
        except psycopg.errors.UndefinedTable:
            return [False] * len(encoded)  # nothing was ever written for this view
        except psycopg.Error as exc:
            raise self._failed(f"deleting keys of feature view '{view.name}'", exc) from None
        return [key is not None and key in deleted for key in encoded]

    # -- state -------------------------------------------------------------------------------------

    def get_state(self, view: str) -> ViewState | None:
        import psycopg
        from psycopg import sql

        self._live()
        query = sql.SQL("SELECT watermark, last_run_at, last_window_start, rows_read, keys_written FROM {} "
                        "WHERE view = %s").format(sql.Identifier(self.schema, STATE_TABLE))
        try:
            row = self.conn.execute(query, (view,)).fetchone()
        except psycopg.errors.UndefinedTable:
            return None  # nothing was ever written for this project
        except psycopg.Error as exc:
            raise self._failed(f"reading the state of feature view '{view}'", exc) from None
        if row is None:
            return None
        return ViewState(as_utc(row[0]), as_utc(row[1]), as_utc(row[2]), rows_read=row[3], keys_written=row[4])

    def put_state(self, view: str, state: ViewState) -> None:
        import psycopg
        from psycopg import sql

        self._live()
        query = sql.SQL(
            "INSERT INTO {} (view, watermark, last_run_at, last_window_start, rows_read, keys_written) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (view) DO UPDATE SET watermark = EXCLUDED.watermark, "
            "last_run_at = EXCLUDED.last_run_at, last_window_start = EXCLUDED.last_window_start, "
            "rows_read = EXCLUDED.rows_read, keys_written = EXCLUDED.keys_written",
        ).format(sql.Identifier(self.schema, STATE_TABLE))
        try:
            self._ensure_schema()
            self.conn.execute(query, (view, as_utc(state.watermark), as_utc(state.last_run_at),
                                      as_utc(state.last_window_start), state.rows_read, state.keys_written))
        except psycopg.Error as exc:
            raise self._failed(f"saving the state of feature view '{view}'", exc) from None

    def drop_view(self, view: str) -> None:
        import psycopg
        from psycopg import sql

        self._live()
        for key in [k for k, t in self._views.items() if t.view.name == view]:
            del self._views[key]
        try:
            self._ensure_schema()
            with self.conn.transaction():
                self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(self.schema, pg_name(view))))
                self.conn.execute(sql.SQL("DELETE FROM {} WHERE view = %s").format(
                    sql.Identifier(self.schema, STATE_TABLE)), (view,))
        except psycopg.Error as exc:
            raise self._failed(f"dropping feature view '{view}'", exc) from None

    @contextlib.contextmanager
    def materialization_lock(self):
        """A session-level advisory lock (`pg_try_advisory_lock`) on a key made of the project's name and
        schema, held by a connection of its own for the run: closing it - or the end of the process, which
        ends the session - releases it."""
        import psycopg

        shown = f"the PostgreSQL online store at {describe_connection(self.url)} (schema {self.schema})"
        holder = _open(self.url, self._connect_timeout)
        try:
            try:
                taken = holder.execute("SELECT pg_try_advisory_lock(%s)",
                                       (advisory_key("materialize", self.schema, self.project),)).fetchone()[0]
            except psycopg.Error as exc:
                raise self._failed("taking the materialization lock", exc) from None
            if not taken:
                raise materialization_busy(shown, self.project, "a run that was killed released it when its "
                                           "connection closed")
            yield
        finally:
            holder.close()  # ends the session, and the lock with it

    def close(self) -> None:
        self._views.clear()
        self.conn.close()

    # -- helpers -----------------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        """The project's schema and state table (once per session). One session at a time creates them: two
        `CREATE ... IF NOT EXISTS` at once fail in one of the sessions."""
        from psycopg import sql

        if self._schema_ready:
            return
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key("schema", self.schema),))
            self.conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            self.conn.execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (view TEXT PRIMARY KEY, watermark TIMESTAMPTZ, last_run_at TIMESTAMPTZ, "
                "last_window_start TIMESTAMPTZ, rows_read BIGINT NOT NULL, keys_written BIGINT NOT NULL)",
            ).format(sql.Identifier(self.schema, STATE_TABLE)))
        self._schema_ready = True

    def _table(self, view: OnlineView, create: bool) -> _Table:
        """The view's table; with `create`, made (or completed with new feature columns) and staged. Raises
        psycopg's errors."""
        from psycopg import sql

        table = self._views.get(id(view))
        if table is None or table.view is not view:
            table = _Table(view, sql.Identifier(self.schema, pg_name(view.name)), key_encoder([d for _, d in view.keys]))
            self._views[id(view)] = table
        if not create or table.ready:
            return table
        stage = sql.Identifier(pg_name(STAGE_PREFIX + view.name))
        features = [(sql.Identifier(f), sql.SQL(_column_type(d))) for f, d in view.features]
        names = [sql.Identifier(KEY), sql.Identifier(EVENT), sql.Identifier(CREATED)] + [n for n, _ in features]
        kinds = [sql.SQL("BYTEA"), sql.SQL("TIMESTAMPTZ"), sql.SQL("TIMESTAMPTZ")] + [t for _, t in features]
        columns = sql.SQL(", ").join(sql.SQL("{} {}").format(n, t) for n, t in zip(names, kinds))
        self._ensure_schema()
        with self.conn.transaction():
            # one session at a time changes a view's table: CREATE TABLE IF NOT EXISTS of two sessions at
            # once fails in one of them, and an ALTER TABLE (which waits for every open write of the table
            # and holds up every read meanwhile) runs only for a column the table lacks
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)",
                              (advisory_key("table", self.schema, table.view.name),))
            self.conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({} BYTEA PRIMARY KEY, {} TIMESTAMPTZ NOT NULL, "
                                      "{} TIMESTAMPTZ) WITH (fillfactor = 70)").format(table.name, *names[:3]))
            present = self._columns(table.view)
            for (name, kind), (feature, _) in zip(features, view.features):
                if feature not in present:
                    self.conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                        table.name, name, kind))
        self.conn.execute(sql.SQL("DROP TABLE IF EXISTS pg_temp.{}").format(stage))
        self.conn.execute(sql.SQL("CREATE TEMPORARY TABLE {} ({}) ON COMMIT DELETE ROWS").format(stage, columns))
        listed = sql.SQL(", ").join(names)
        updates = sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(n, n) for n in names[1:])
        table.copy = sql.SQL("COPY pg_temp.{} ({}) FROM STDIN (FORMAT binary)").format(stage, listed).as_string(self.conn)
        table.upsert = sql.SQL(
            "INSERT INTO {table} AS t ({columns}) SELECT {columns} FROM pg_temp.{stage} ORDER BY {key} "
            "ON CONFLICT ({key}) DO UPDATE SET {updates} "
            "WHERE (EXCLUDED.{event}, COALESCE(EXCLUDED.{created}, '-infinity')) >= "
            "(t.{event}, COALESCE(t.{created}, '-infinity'))"
        ).format(table=table.name, columns=listed, stage=stage, key=names[0], updates=updates, event=names[1],
                 created=names[2]).as_string(self.conn)
        table.ready = True
        table.readers.clear()
        return table

    def _reader(self, table: _Table, features: tuple[str, ...]) -> _Reader:
        """Statements reading `features` (NULL for a column the table lacks yet). Raises psycopg's errors."""
        from psycopg import sql

        problem = unknown_features(table.view, features)
        if problem is not None:
            raise problem
        present = self._columns(table.view)
        if not present:
            return _NOTHING_STORED  # nothing written yet; look again next time
        dtypes = dict(table.view.features)
        selected = sql.SQL(", ").join(
            [sql.Identifier(EVENT), sql.Identifier(CREATED)] +
            [sql.Identifier(f) if f in present else sql.SQL("NULL") for f in features])
        one = sql.SQL("SELECT {} FROM {} WHERE {} = %s").format(selected, table.name, sql.Identifier(KEY))
        many = sql.SQL("SELECT {}, {} FROM {} WHERE {} = ANY(%s)").format(
            sql.Identifier(KEY), selected, table.name, sql.Identifier(KEY))
        converters = tuple((f, _decoder(dtypes[f])) for f in features if _decoder(dtypes[f]) is not None)
        reader = _Reader(one.as_string(self.conn), many.as_string(self.conn), features, converters)
        if all(f in present for f in features):
            table.readers[features] = reader
        return reader

    def _columns(self, view: OnlineView) -> set[str]:
        """The columns of the view's table (none when it does not exist). Raises psycopg's errors."""
        return {row[0] for row in self.conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (self.schema, pg_name(view.name)))}

    def _failed(self, doing: str, error: Exception):
        return store_failed(f"PostgreSQL ({describe_connection(self.url)})", doing, error)

    def _conflicted(self, doing: str, error: Exception, attempts: int):
        """FC114 for a write that deadlocked (or failed to serialize) on every attempt."""
        from fcompile.runners.base import first_line

        return store_failed(
            f"PostgreSQL ({describe_connection(self.url)})", doing,
            RuntimeError(f"{first_line(error)} ({attempts} attempts, each rolled back)"),
            "other sessions kept writing the same rows in another order (fcompile's writers lock rows in key "
            "order: is another program writing these tables?); nothing of this write was kept, and running "
            "again is safe (newer rows always win)")


@dataclass(eq=False)
class _Table:
    view: OnlineView
    name: Any                                        # psycopg.sql.Identifier (schema, table)
    encode: Callable[[Sequence[Any]], bytes | None]
    ready: bool = False                              # created, complete, staged in this session
    copy: str = ""
    upsert: str = ""
    readers: dict[tuple[str, ...], _Reader] = field(default_factory=dict)


class _Reader:
    def __init__(self, one: str, many: str, features: tuple[str, ...],
                 converters: tuple[tuple[str, Callable[[Any], Any]], ...]) -> None:
        self.one = one
        self.many = many
        self.features = features
        self.converters = converters

    def read(self, cursor: Any, encoded: list[bytes | None], prepare: bool) -> list[StoredRow | None]:
        if len(encoded) == 1:
            key = encoded[0]
            if key is None:
                return [None]
            row = cursor.execute(self.one, (key,), prepare=prepare).fetchone()
            return [None if row is None else self.stored(row[0], row[1], row[2:])]
        wanted = list({k for k in encoded if k is not None})
        if not wanted:
            return [None] * len(encoded)
        found = {row[0]: self.stored(row[1], row[2], row[3:])
                 for row in cursor.execute(self.many, (wanted,), prepare=prepare).fetchall()}
        return [None if k is None else found.get(k) for k in encoded]

    def stored(self, event: Any, created: Any, raw: tuple) -> StoredRow:
        values = dict(zip(self.features, raw))
        for name, convert in self.converters:
            value = values[name]
            if value is not None:
                values[name] = convert(value)
        return StoredRow(values, event, created)


class _NothingStored(_Reader):
    def read(self, cursor: Any, encoded: list[bytes | None], prepare: bool) -> list[StoredRow | None]:
        return [None] * len(encoded)


_NOTHING_STORED = _NothingStored("", "", (), ())


def _column_type(dtype) -> str:
    return "JSONB" if dtype.is_array else _COLUMN_TYPES[dtype.name]


def _decoder(dtype) -> Callable[[Any], Any] | None:
    if dtype.is_array:
        return array_from_json(dtype.element)
    return None  # psycopg loads every scalar type as the Python value (timestamps in UTC: the session's zone)


_PG_EPOCH_MICROS = 946_684_800_000_000   # 2000-01-01, PostgreSQL's epoch, in microseconds since 1970
_PG_EPOCH_DAYS = 10_957
_FIXED = {"int32": ">i4", "int64": ">i8", "float32": ">f4", "float64": ">f8", "bool": "u1", "date": ">i4",
          "timestamp": ">i8"}
_NULL_FIELD = b"\xff\xff\xff\xff"


def copy_data(view: OnlineView, prepared) -> bytes:
    """The prepared batch in COPY's binary format: key, event, created, then the features. Built column by
    column with numpy and Arrow kernels (no Python code per row); PostgreSQL reads it without parsing text."""
    import numpy as np
    import pyarrow as pa

    pieces = [typed_scalar(struct.pack(">h", 3 + len(view.features)), pa.binary()),
              _variable_field(prepared.keys), _fixed_field(prepared.event_us, "timestamp"),
              _fixed_field(prepared.created_us, "timestamp")]
    for name, dtype in view.features:
        column = prepared.features[name]
        if dtype.is_array:  # JSONB: a version byte, then the JSON text
            texts = arrow_cast(string_array(arrays_as_json(column, dtype)), pa.binary())
            pieces.append(_variable_field(arrow_compute("binary_join_element_wise", typed_scalar(b"\x01", pa.binary()),
                                                        texts, typed_scalar(b"", pa.binary()))))
        elif dtype.name in _FIXED:
            pieces.append(_fixed_field(column, dtype.name))
        else:
            pieces.append(_variable_field(column))
    rows = arrow_compute("binary_join_element_wise", *pieces, typed_scalar(b"", pa.binary()))
    bounds = np.frombuffer(rows.buffers()[1], dtype=np.int32, count=len(rows) + 1, offset=rows.offset * 4)
    body = memoryview(rows.buffers()[2])[int(bounds[0]):int(bounds[-1])]
    return b"".join([b"PGCOPY\n\xff\r\n\x00", struct.pack(">ii", 0, 0), body, b"\xff\xff"])


def _fixed_field(column, kind: str):
    """A fixed-width column as COPY fields: the 4-byte length, then the big-endian value; NULL: length -1."""
    import numpy as np
    import pyarrow as pa

    width = np.dtype(_FIXED[kind]).itemsize
    values = fixed_values(column, DType(kind))  # PostgreSQL counts from 2000, not 1970
    if kind == "timestamp":
        values = values - _PG_EPOCH_MICROS
    elif kind == "date":
        values = values.astype(np.int64) - _PG_EPOCH_DAYS
    rows = len(column)
    matrix = np.empty((rows, 4 + width), dtype=np.uint8)
    matrix[:, :4] = np.frombuffer(struct.pack(">i", width), dtype=np.uint8)
    matrix[:, 4:] = values.astype(_FIXED[kind]).view(np.uint8).reshape(rows, width)
    fields = pa.FixedSizeBinaryArray.from_buffers(pa.binary(4 + width), rows, [None, pa.py_buffer(matrix)])
    fields = arrow_cast(fields, pa.binary())
    if column.null_count:
        fields = arrow_compute("if_else", arrow_compute("is_valid", column), fields,
                               typed_scalar(_NULL_FIELD, pa.binary()))
    return fields


def _variable_field(column):
    """Text, bytes or JSONB values as COPY fields: the 4-byte length, then the bytes; NULL: length -1."""
    import pyarrow as pa

    data = arrow_cast(column, pa.binary())
    lengths = numpy_of(filled(arrow_compute("binary_length", data), 0)).astype(">i4")
    prefix = pa.FixedSizeBinaryArray.from_buffers(pa.binary(4), len(data), [None, pa.py_buffer(lengths)])
    fields = arrow_compute("binary_join_element_wise", arrow_cast(prefix, pa.binary()), data,
                           typed_scalar(b"", pa.binary()))
    if data.null_count:
        fields = arrow_compute("if_else", arrow_compute("is_valid", data), fields,
                               typed_scalar(_NULL_FIELD, pa.binary()))
    return fields


def _open(url: str, connect_timeout: int) -> Any:
    """A session in UTC, autocommitting (batches open their own transactions); FC113 when it fails."""
    shown = describe_connection(url)
    try:
        import psycopg
    except ImportError:
        raise store_unreachable("PostgreSQL", shown, "the Python package 'psycopg' is not installed",
                                "pip install 'fcompile[postgres]'") from None
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=connect_timeout)
    except psycopg.ProgrammingError as exc:  # a malformed conninfo
        raise store_unreachable("PostgreSQL", shown, f"the URL is not valid: {driver_reason(exc, url)}",
                                "write it as postgresql://[user[:password]@]host[:port]/database, percent-encoding "
                                "'/', '?', '#', '@', '%' and spaces in a password (%2F, %3F, %23, %40, %25, %20), or "
                                "as key=value text with the password quoted: password = 'a b'") from None
    except psycopg.Error as exc:
        raise store_unreachable("PostgreSQL", shown, driver_reason(exc, url),
                                "is the PostgreSQL server running, and are the target's online url, user and "
                                "password right? (e.g. postgresql://127.0.0.1:5432/features)") from None
    try:
        conn.execute("SET TIME ZONE 'UTC'")
    except psycopg.Error as exc:
        conn.close()
        raise store_unreachable("PostgreSQL", shown, driver_reason(exc, url), "check the server's logs") from None
    return conn


def advisory_key(kind: str, schema: str, name: str = "") -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit number) for `kind` ("table", "materialize") of a
    project's schema: the first 8 bytes of a SHA-256 of the three, so fcompile's keys do not meet another
    program's small numbers."""
    digest = hashlib.sha256(f"fcompile\0{kind}\0{schema}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _backoff(conflicts: int) -> float:
    """The pause before retry number `conflicts`: RETRY_BACKOFF_SECONDS doubled each time, times a random
    factor in [0.5, 1.5) so that writers which collided do not collide again at the same moment."""
    return RETRY_BACKOFF_SECONDS * 2 ** (conflicts - 1) * (0.5 + random.random())
