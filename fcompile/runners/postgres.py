"""The PostgreSQL runner: the postgres dialect's SQL, run through psycopg 3 on a PostgreSQL server.

Target settings (`offline:` in fcompile_project.yml):

    offline: {type: postgres, url: "{{ env_var('PG_URL') }}", schema: features}
    offline: {type: postgres, host: db.internal, port: 5432, dbname: ml, user: fcompile,
              password: "{{ env_var('PG_PASSWORD') }}", connect_timeout: 10}

`url` is a libpq URL or `key=value` text; the separate keys, where given, override its parts. `schema`
is searched first for table and query sources and receives dataset tables (it must exist). Sessions run
with `TimeZone = 'UTC'` (for the runner's own statements: the compiled SQL reads every time as a UTC instant
whatever the session's zone, docs/concepts/point-in-time.md).

| spine                         | how the engine reads it                                           |
| ----------------------------- | ----------------------------------------------------------------- |
| Arrow table / reader, pandas  | COPY ... FROM STDIN (CSV) into a temporary table, batch by batch,  |
| Parquet / CSV file(s)         | with a row-number column appended; files are read with pyarrow    |
| a table, a SELECT query       | in place; rows numbered by `ROW_NUMBER() OVER ()` as they are read |

Results are read through a server-side cursor in a transaction and converted to Arrow a batch at a time
(binary protocol: floats and timestamps arrive exact), so a result is never in memory whole. A reader
must be read to the end before the runner does anything else; one left unread is closed then, and
reading it further raises. `write_dataset_table` runs the dataset file's statements: they build the new
table and swap it in within one transaction, so readers see the old table or the new one, and a failure
leaves the old one and nothing else.
`write_parquet` streams the batches into a file beside the destination and renames it when complete.

The window of a materialization is bound as parameters (`%(start)s`, `%(end)s`, the postgres dialect's
spelling, which psycopg binds by name). PostgreSQL cannot read files: a `path:` source is refused
(FC131) rather than uploaded behind the user's back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import itertools
import json
import uuid
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from sqlglot import exp

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.dialects.base import staging_table, swap_in
from fcompile.graph import DType
from fcompile.planner.plans import BuildDataset, LatestValues, PointInTimeJoin, Relation
from fcompile.runners.base import (
    LoadedTable, RegisteredSpine, WindowStats, WrittenTable, engine_error, first_line, window_parameters,
    window_stats_of,
)
from fcompile.runners.spines import ROW_NUMBER, SpineInput, check_spine_names, row_numbers
from fcompile.runners.external import (
    CompiledShapes, StreamedResults, in_place_spine, positive_setting, refuse_file_sources, unreadable_spine,
    warehouse_spine, window_stats_query,
)

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_ROWS = 64 * 1024          # rows per Arrow batch read from a cursor
UPLOAD_BATCH_ROWS = 64 * 1024   # rows per CSV chunk sent to COPY
CONNECT_TIMEOUT_SECONDS = 10
_CONNECTION_KEYS = ("host", "port", "dbname", "user", "password")
_SETTINGS_HINT = ("set the target's offline `url` (postgresql://user@host:5432/db) or host/port/dbname/user, with "
                  "the password from {{ env_var('NAME') }}; check that the server is up and accepts the user")


def connection_info(settings: Mapping[str, Any]) -> tuple[str, str]:
    """The libpq connection string from a target's settings, and how messages name the server (never
    with its password). Raises FC132 for text libpq cannot read."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from fcompile.connection_text import describe_connection, driver_reason

    url = str(settings.get("url") or "")
    parts = {k: str(settings[k]) for k in _CONNECTION_KEYS if settings.get(k) not in (None, "")}
    try:
        conninfo = make_conninfo(url, **parts)
        found = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise DiagnosticError([Diagnostic(Code.OFFLINE_SETTINGS, f"the PostgreSQL connection settings cannot be "
                                          f"read ({describe_connection(url)}): {driver_reason(exc, url)}", None,
                                          _SETTINGS_HINT)]) from None
    user = f"{found['user']}@" if found.get("user") else ""
    host = found.get("host") or "localhost"
    port = f":{found['port']}" if found.get("port") else ""
    return conninfo, f"postgresql://{user}{host}{port}/{found.get('dbname') or ''}"


_ENGINE_TYPES = {"int32": "INTEGER", "int64": "BIGINT", "float32": "REAL", "float64": "DOUBLE PRECISION",
                 "string": "TEXT", "bool": "BOOLEAN", "bytes": "BYTEA", "date": "DATE", "timestamp": "TIMESTAMPTZ"}


class PostgresRunner(StreamedResults):
    dialect = "postgres"
    supplies_named_spine = True
    engine_types = _ENGINE_TYPES

    def __init__(self, conn: Any, address: str, schema: str | None = None) -> None:
        from fcompile.dialects.postgres import PostgresDialect

        self.conn = conn
        self.address = address
        self.schema = schema
        self.sql_dialect = PostgresDialect()
        self._names = itertools.count(1)
        self._stream: _Stream | None = None
        self._compiled = CompiledShapes()
        self._closed = False

    @classmethod
    def connect(cls, settings: Mapping[str, Any], project_root: str) -> PostgresRunner:
        psycopg = _import_psycopg()
        conninfo, address = connection_info(settings)
        problems: list[Diagnostic] = []
        timeout = positive_setting(settings, "connect_timeout", "PostgreSQL", CONNECT_TIMEOUT_SECONDS, problems)
        if problems:
            raise DiagnosticError(problems)
        try:
            conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=timeout, application_name="fcompile")
        except psycopg.Error as exc:
            raise DiagnosticError([Diagnostic(Code.OFFLINE_UNREACHABLE, f"cannot connect to PostgreSQL at "
                                              f"{address}: {_reason(exc, conninfo)}", None, _SETTINGS_HINT)]) from None
        schema = settings.get("schema")
        try:
            return cls._session(conn, address, str(schema) if schema else None)
        except BaseException:
            conn.close()
            raise

    @classmethod
    def _session(cls, conn: Any, address: str, schema: str | None) -> PostgresRunner:
        from psycopg import sql

        # no server-side prepared statements: a table re-created with other column types would make a
        # statement prepared before fail ("cached plan must not change result type")
        conn.prepare_threshold = None
        conn.execute("SET TIME ZONE 'UTC'")
        if schema is not None:
            if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is None:
                raise DiagnosticError([Diagnostic(
                    Code.OFFLINE_SETTINGS, f"schema '{schema}' does not exist in the PostgreSQL database at {address}",
                    None, f"create it (CREATE SCHEMA {schema}), or fix the target's offline `schema`")])
            conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema)))
        return cls(conn, address, schema)

    # -- spines ------------------------------------------------------------------------------------

    def register_spine(self, spine: SpineInput) -> RegisteredSpine:
        self._finish_stream()
        return warehouse_spine(spine, self.sql_dialect, lambda data, types: self._upload(data, spine, types),
                               self._in_place,
                               "the target's database")

    def _upload(self, data: Any, spine: SpineInput, arrow_types: Mapping[str, str] | None) -> RegisteredSpine:
        """The spine copied into a temporary table with a row-number column, a batch at a time."""
        from psycopg import sql

        schema = data.schema
        check_spine_names(schema.names)
        definitions, casts = _column_definitions(schema, spine.description)
        definitions.append(exp.ColumnDef(this=exp.to_identifier(ROW_NUMBER), kind=exp.DataType.build("BIGINT")))
        name = self._new_name("spine")
        create = exp.Create(this=exp.Schema(this=exp.to_table(name), expressions=definitions), kind="TABLE",
                            properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
        create_sql = self.sql_dialect.generate(create, pretty=False)
        with self._copying(spine.description):
            with self.conn.transaction():
                self.conn.execute(create_sql)
                self._copy_rows(sql.Identifier(name), data, casts, numbered=True)
                # autovacuum never analyzes temporary tables: without statistics the joins are planned blind
                self.conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
        columns = tuple(schema.names)
        found = self._describe(exp.select("*").from_(exp.to_table(name)))
        types = dict(zip(columns, (type_name for _, type_name in found)))
        return RegisteredSpine(Relation("placeholder", name), columns, types, ROW_NUMBER, spine.description,
                               arrow_types, setup_sql=(create_sql, f'COPY "{name}" FROM STDIN (FORMAT csv)'))

    def load_table(self, data: Any, table: str, description: str) -> LoadedTable:
        """Copied into a new table of the target's schema, then the old table dropped and the new one
        renamed in its place, all in one transaction: PostgreSQL's DDL is transactional, so readers see the
        old table or the new one, and a failure leaves the old one and nothing else."""
        from psycopg import sql

        self._finish_stream()
        definitions, casts = _column_definitions(data.schema, description)
        # names as PostgreSQL folds them (`Orders` is the table orders), quoted, for every statement and COPY
        target = self.sql_dialect.finish(exp.Table(
            this=exp.to_identifier(table), db=exp.to_identifier(self.schema) if self.schema else None))
        building = staging_table(target)
        create = exp.Create(this=exp.Schema(this=building.copy(), expressions=definitions), kind="TABLE")
        with self._copying(description):
            with self.conn.transaction():  # so no staging table can be left behind to drop first
                self.conn.execute(self.sql_dialect.generate(create, pretty=False))
                rows = self._copy_rows(sql.SQL(building.sql(dialect="postgres")), data, casts, numbered=False)
                for statement in swap_in(building, target):
                    self.conn.execute(self.sql_dialect.generate(statement))
        return LoadedTable(".".join(part.name for part in target.parts), rows)

    def _copy_rows(self, table: Any, data: Any, casts: Mapping[str, Any], numbered: bool) -> int:
        """COPY the rows of an Arrow table or reader into `table` (a psycopg SQL name) as CSV, a batch at a
        time, with a row-number column after them when `numbered`. Returns the rows copied."""
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        from psycopg import sql

        target = pa.schema([pa.field(f.name, casts.get(f.name, f.type)) for f in data.schema])
        # "needed" quotes every text value, so an empty string ("") stays apart from NULL (nothing)
        options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
        batches = data.to_batches(max_chunksize=UPLOAD_BATCH_ROWS) if isinstance(data, pa.Table) else data
        start = 0
        with self.conn.cursor() as cur, cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(table)) as copy:
            for batch in batches:
                if casts:
                    batch = batch.cast(target)
                if numbered:
                    batch = batch.append_column(ROW_NUMBER, row_numbers(start, batch.num_rows))
                start += batch.num_rows
                chunk = io.BytesIO()
                pa_csv.write_csv(batch, chunk, options)
                copy.write(chunk.getvalue())
        return start

    @contextlib.contextmanager
    def _copying(self, description: str) -> Iterator[None]:
        """Within: the driver's and pyarrow's errors in copying `description` are FC110 naming it."""
        import pyarrow as pa

        try:
            yield
        except _driver_errors() as exc:
            raise DiagnosticError([Diagnostic(Code.ENGINE_ERROR, f"{description} cannot be copied into "
                                              f"PostgreSQL: {first_line(exc)}", None,
                                              "check its values (text cannot hold the NUL character here)")]) \
                from None
        except pa.ArrowException as exc:  # a value the upload cannot convert
            raise DiagnosticError([Diagnostic(Code.ENGINE_ERROR, f"{description} cannot be copied into "
                                              f"PostgreSQL: {first_line(exc)}", None, "check its values")]) from None

    def _in_place(self, query: exp.Select, relation: Relation, spine: SpineInput) -> RegisteredSpine:
        """A table or query read where it is; the lowering numbers its rows as PostgreSQL reads them."""
        psycopg = _import_psycopg()
        try:
            described = self._describe(query)
        except psycopg.Error as exc:
            raise unreadable_spine(spine, first_line(exc), f"on the target's database ({self.address})") from None
        return in_place_spine(relation, spine, described)

    def _describe(self, query: exp.Select) -> list[tuple[str, str]]:
        """Column names and type names of a query, planned but not run (raises psycopg.Error)."""
        with self.conn.cursor() as cur:
            cur.execute(self.sql_dialect.generate(query.limit(0), pretty=False))
            return [(d.name, d.type_display) for d in cur.description]

    # -- running -----------------------------------------------------------------------------------

    def statements(self, plan: Any) -> list[str]:
        """The postgres dialect's SQL, once every source the plan reads is one PostgreSQL can read."""
        refuse_file_sources(plan, "PostgreSQL")
        return self._compiled.statements(plan, self.dialect)

    def run_session_statement(self, statement: str) -> None:
        self._finish_stream()
        try:
            with self.conn.cursor() as cur:
                cur.execute(statement)
        except _driver_errors() as exc:
            raise engine_error("supplying the spine", "PostgreSQL", exc, None) from None

    def execute(self, plan: PointInTimeJoin, label: str, location: Position | None = None):
        return self._read(self.single_statement(plan), None, label, location, BATCH_ROWS)

    def write_dataset_table(self, build: BuildDataset, label: str, location: Position | None = None) -> WrittenTable:
        """The dataset file's statements as they are: BEGIN, the rows built under a staging name, the swap,
        COMMIT (`SqlDialect.replace_table`). On a failure the transaction is rolled back: the old table stays."""
        self._finish_stream()
        statements = self.statements(build)
        rows = 0
        try:
            with self.conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
                    rows = max(rows, cur.rowcount)  # CREATE TABLE AS reports its rows; the others none
        except _driver_errors() as exc:
            self.conn.rollback()  # the connection is in autocommit mode: this ends the file's own transaction
            raise engine_error(label, "PostgreSQL", exc, location) from None
        return WrittenTable(rows, tuple(statements))

    def latest_values(self, plan: LatestValues, start: dt.datetime, end: dt.datetime, label: str,
                      location: Position | None = None, batch_rows: int = 100_000):
        parameters = window_parameters(plan, start, end)
        return self._read(self.single_statement(plan), parameters, label, location, batch_rows)

    def window_stats(self, plan: LatestValues, start: dt.datetime | None, end: dt.datetime, label: str,
                     location: Position | None = None) -> WindowStats:
        self._finish_stream()
        refuse_file_sources(plan, "PostgreSQL")
        sql, parameters = window_stats_query(self.sql_dialect, plan, start, end)
        try:
            with self.conn.cursor() as cur:
                keys, rows, earliest, latest = cur.execute(sql, parameters).fetchone()
        except _driver_errors() as exc:
            raise engine_error(label, "PostgreSQL", exc, location) from None
        return window_stats_of(rows=rows, keys=keys, earliest=earliest, latest=latest)

    def key_type_fits(self, dtype: DType, engine_type: str) -> bool:
        family = _KEY_FAMILIES.get(dtype.name)
        head = engine_type.lower().split("(")[0].strip()
        return family is not None and head in family

    def query_rows(self, sql: str, label: str, location: Position | None = None) -> tuple[tuple[str, ...], list[tuple]]:
        self._finish_stream()
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
                if cur.description is None:
                    return (), []
                return tuple(d.name for d in cur.description), cur.fetchall()
        except _driver_errors() as exc:
            raise engine_error(label, "PostgreSQL", exc, location) from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._finish_stream()
        finally:
            self.conn.close()  # temporary spine tables go with the session

    # -- helpers -----------------------------------------------------------------------------------

    def _read(self, sql: str, parameters: Mapping[str, Any] | None, label: str, location: Position | None,
              batch_rows: int):
        """The query's rows as a RecordBatchReader over a server-side cursor. Errors in planning the
        query are raised here; errors while reading, from the reader."""
        import pyarrow as pa

        self._finish_stream()
        stream = _Stream(self, sql, parameters, label, location, batch_rows)
        schema = stream.open()
        self._stream = stream
        return pa.RecordBatchReader.from_batches(schema, stream.batches())

    def _finish_stream(self) -> None:
        """Close the reader handed out last, if it was not read to the end (its transaction ends)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abandon()

    def _new_name(self, kind: str) -> str:
        return f"__fc_{kind}_{uuid.uuid4().hex[:8]}_{next(self._names)}"


class _Stream:
    """One result read through a server-side cursor inside its own transaction."""

    def __init__(self, runner: PostgresRunner, sql: str, parameters: Mapping[str, Any] | None, label: str,
                 location: Position | None, batch_rows: int) -> None:
        self.runner, self.sql, self.parameters = runner, sql, parameters
        self.label, self.location, self.batch_rows = label, location, batch_rows
        self._transaction = self._cursor = None
        self._converters: list[Callable[[list], Any]] = []
        self._schema = None
        self.abandoned = False

    def open(self):
        import pyarrow as pa

        conn = self.runner.conn
        self._transaction = conn.transaction()
        self._transaction.__enter__()
        try:
            self._cursor = conn.cursor(name=f"fc_read_{uuid.uuid4().hex[:12]}", binary=True)
            self._cursor.execute(self.sql, self.parameters)
            fields = []
            for column in self._cursor.description:
                arrow_type, convert = _arrow_column(column.type_display)
                fields.append(pa.field(column.name, arrow_type))
                self._converters.append(convert)
            self._schema = pa.schema(fields)
        except BaseException as exc:
            self._end(exc)
            if isinstance(exc, _driver_errors()):
                raise engine_error(self.label, "PostgreSQL", exc, self.location) from None
            raise
        return self._schema

    def batches(self) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        try:
            while True:
                if self.abandoned:
                    raise DiagnosticError([Diagnostic(
                        Code.BAD_ARGUMENT, f"{self.label}: this reader was left unread while the runner ran something "
                        "else, which closed it", self.location, "read a reader to the end before the next call")])
                rows = self._cursor.fetchmany(self.batch_rows)
                if not rows:
                    break
                columns = list(zip(*rows))
                yield pa.RecordBatch.from_arrays(
                    [convert(list(values)) for convert, values in zip(self._converters, columns)], schema=self._schema)
        except _driver_errors() as exc:
            self._end(exc)
            raise engine_error(self.label, "PostgreSQL", exc, self.location) from None
        except BaseException as exc:
            self._end(exc)
            raise
        self._end(None)
        if self.runner._stream is self:
            self.runner._stream = None

    def abandon(self) -> None:
        self.abandoned = True
        self._end(None)

    def _end(self, error: BaseException | None) -> None:
        cursor, transaction = self._cursor, self._transaction
        self._cursor = self._transaction = None
        try:
            if cursor is not None and not cursor.closed:
                cursor.close()
        except _driver_errors():
            pass  # the transaction is failing anyway: rolling it back below closes the cursor
        if transaction is not None:
            transaction.__exit__(type(error) if error else None, error, None)


def _import_psycopg():
    try:
        import psycopg
    except ImportError:
        raise DiagnosticError([Diagnostic(Code.DRIVER_MISSING, "the PostgreSQL runner needs psycopg, which is not "
                                          "installed", None, "pip install 'fcompile[postgres]'")]) from None
    return psycopg


def _driver_errors() -> type[BaseException]:
    import psycopg

    return psycopg.Error


def _reason(error: BaseException, conninfo: str) -> str:
    """libpq's reason without its 'connection failed:' preamble, on one line, unless it quotes a piece of the
    connection text that may be a password (connection_text.driver_reason)."""
    from fcompile.connection_text import driver_reason

    text = " ".join(str(error).split())
    return driver_reason(text.removeprefix("connection failed: ") or type(error).__name__, conninfo)


def _column_definitions(schema: Any, description: str) -> tuple[list[exp.ColumnDef], dict[str, Any]]:
    """The PostgreSQL column of each Arrow field, and the fields to cast before copying (dictionaries to
    their values); FC134 for a field PostgreSQL has no type for."""
    import pyarrow as pa

    definitions, casts, problems = [], {}, []
    for field in schema:
        value_type = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
        pg_type = _pg_type(value_type)
        if pg_type is None:
            problems.append(Diagnostic(Code.SPINE_UPLOAD, f"{description}: column '{field.name}' is Arrow "
                                       f"{field.type}, which fcompile cannot copy into PostgreSQL", None,
                                       "convert the column to a number, text, boolean, date or timestamp, or "
                                       "leave it out"))
            continue
        if value_type != field.type:
            casts[field.name] = value_type
        definitions.append(exp.ColumnDef(this=exp.to_identifier(field.name), kind=exp.DataType.build(pg_type)))
    if problems:
        raise DiagnosticError(problems)
    return definitions, casts


def _pg_type(arrow_type) -> str | None:
    """The PostgreSQL type a spine column of this Arrow type is copied into; None: none fits."""
    import pyarrow as pa

    t = pa.types
    if t.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz is not None else "TIMESTAMP"
    if t.is_decimal(arrow_type):
        return f"NUMERIC({arrow_type.precision}, {arrow_type.scale})"
    for check, name in ((t.is_boolean, "BOOLEAN"), (t.is_int8, "SMALLINT"), (t.is_int16, "SMALLINT"),
                        (t.is_int32, "INT"), (t.is_int64, "BIGINT"), (t.is_uint8, "SMALLINT"),
                        (t.is_uint16, "INT"), (t.is_uint32, "BIGINT"), (t.is_uint64, "NUMERIC(20, 0)"),
                        (t.is_float16, "REAL"), (t.is_float32, "REAL"), (t.is_float64, "DOUBLE"),
                        (t.is_string, "TEXT"), (t.is_large_string, "TEXT"), (t.is_date, "DATE"),
                        (t.is_time, "TIME"), (t.is_null, "TEXT")):
        if check(arrow_type):
            return name
    return None


def _arrow_column(type_display: str) -> tuple[Any, Callable[[list], Any]]:
    """The Arrow type of a result column of this PostgreSQL type, and how its Python values become an
    Arrow array."""
    import pyarrow as pa

    name = type_display.lower()
    if name.endswith("[]"):
        item, _ = _arrow_column(name[:-2])
        return _plain(pa.list_(item))
    head = name.split("(")[0].strip()
    if head == "numeric":
        if "(" in name:
            precision, _, scale = name.split("(")[1].rstrip(")").partition(",")
            if int(precision) <= 38:
                return _plain(pa.decimal128(int(precision), int(scale or 0)))
        return pa.float64(), lambda values: pa.array([None if v is None else float(v) for v in values], pa.float64())
    if head in ("json", "jsonb"):
        return pa.string(), lambda values: pa.array([None if v is None else json.dumps(v) for v in values],
                                                    pa.string())
    found = _arrow_types().get(head)
    if found is not None:
        return _plain(found())
    return pa.string(), lambda values: pa.array([None if v is None else str(v) for v in values], pa.string())


def _plain(arrow_type) -> tuple[Any, Callable[[list], Any]]:
    import pyarrow as pa

    return arrow_type, lambda values: pa.array(values, arrow_type)


@functools.lru_cache(maxsize=1)
def _arrow_types() -> dict[str, Callable[[], Any]]:
    """PostgreSQL type (as psycopg displays it, without a length) -> its Arrow type."""
    import pyarrow as pa

    text = pa.string
    return {
        "int2": pa.int16, "smallint": pa.int16, "int4": pa.int32, "integer": pa.int32, "int8": pa.int64,
        "bigint": pa.int64, "oid": pa.int64, "float4": pa.float32, "real": pa.float32, "float8": pa.float64,
        "double precision": pa.float64, "bool": pa.bool_, "boolean": pa.bool_, "text": text, "varchar": text,
        "character varying": text, "bpchar": text, "character": text, "name": text, "citext": text,
        "bytea": pa.binary, "date": pa.date32, "time": lambda: pa.time64("us"),
        "timestamp": lambda: pa.timestamp("us"), "timestamp without time zone": lambda: pa.timestamp("us"),
        "timestamptz": lambda: pa.timestamp("us", "UTC"), "timestamp with time zone": lambda: pa.timestamp("us", "UTC"),
        "interval": lambda: pa.duration("us"),
    }


_INTEGERS = ("int2", "int4", "int8", "smallint", "integer", "bigint")
_TEXT = ("text", "varchar", "character varying", "bpchar", "character", "name", "citext")
_TIMESTAMPS = ("timestamp", "timestamptz", "timestamp without time zone", "timestamp with time zone")
# dtype -> the PostgreSQL types (as psycopg displays them, without a length) a spine's key column may have
_KEY_FAMILIES = {
    "int32": _INTEGERS, "int64": _INTEGERS, "float32": ("float4", "float8", "real", "double precision", "numeric"),
    "float64": ("float4", "float8", "real", "double precision", "numeric"), "string": _TEXT,
    "bool": ("bool", "boolean"), "bytes": ("bytea",), "date": ("date",), "timestamp": _TIMESTAMPS,
}
