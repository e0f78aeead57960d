"""The Snowflake runner: the snowflake dialect's SQL, run through snowflake-connector-python (< 5).

Target settings (`offline:` in fcompile_project.yml); credentials only ever as `{{ env_var() }}`:

    offline:
      type: snowflake
      account: "{{ env_var('SNOWFLAKE_ACCOUNT') }}"    # orgname-accountname, or xy12345.eu-central-1
      user: "{{ env_var('SNOWFLAKE_USER') }}"
      password: "{{ env_var('SNOWFLAKE_PASSWORD') }}"  # or one of:
      # private_key_path: keys/fcompile.p8               #   key-pair (relative to the project), with
      # private_key_passphrase: "{{ env_var('SNOWFLAKE_KEY_PASSPHRASE') }}"  # when the key is encrypted
      # authenticator: externalbrowser                   #   single sign-on in a browser (not in CI)
      database: ML
      schema: FEATURES           # table and query sources are found here; dataset tables go here
      warehouse: WH
      role: FCOMPILE             # optional: the user's default role otherwise
      asof_join: true            # false: views joined by the window plan instead of ASOF JOIN ... MATCH_CONDITION
      # host, port, protocol: a private-link endpoint or an emulator; login_timeout, network_timeout: seconds

Sessions run with `TIMEZONE = 'UTC'`: TIMESTAMP_NTZ values read as UTC and TIMESTAMP_TZ/LTZ ones are
instants (docs/concepts/point-in-time.md). Unquoted names resolve upper-case in Snowflake, and the dialect upper-cases
every name it writes (`driver_id` is "DRIVER_ID"): results come back under the names the request used,
tables fcompile writes have upper-case columns (read them unquoted), and a spine read in place must
have such columns too (an upper-case column is reported as its lower-case spelling).

| spine                         | how the engine reads it                                              |
| ----------------------------- | -------------------------------------------------------------------- |
| Arrow table / reader, pandas  | written as one Parquet file (batch by batch, with a row-number        |
| Parquet / CSV file(s)         | column), PUT to a temporary stage and COPY'd into a temporary table   |
| a table, a SELECT query       | in place; rows numbered by `ROW_NUMBER()` as Snowflake reads them     |

The spine goes through Parquet, PUT and COPY INTO - the connector's bulk path, which `write_pandas`
also takes - written from Arrow by pyarrow: no pandas, and no whole spine in memory. The COPY names
each column (`$1:"c0"::NUMBER(38, 0)`) rather than matching by name, which loads into a temporary
table on Snowflake and on the fakesnow emulator alike.

Results are fetched as Arrow, a result chunk at a time (`fetch_arrow_batches`), timestamps in
microseconds. Datasets are built inside Snowflake (`CREATE OR REPLACE TABLE ... AS`, atomic: a failure
leaves the old table); `write_parquet` streams the Arrow batches into a file beside the destination.
The window of a materialization is bound server-side: the dialect spells the parameters `:start` and
`:end`, which the connector cannot bind by name, so they are renumbered `:1` and `:2` (its `numeric`
paramstyle) before the statement is sent. A `path:` source is refused (FC131): Snowflake reads tables.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from sqlglot import exp

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.graph import DType
from fcompile.planner.online_tiles import LatestTiles
from fcompile.planner.on_demand import OnDemandJoin, OnDemandOutput
from fcompile.planner.plans import BuildDataset, JoinStrategy, LatestValues, PointInTimeJoin, Relation
from fcompile.runners.base import (
    LoadedTable, RegisteredSpine, WindowStats, WrittenTable, engine_error, window_parameters, window_stats_of,
)
from fcompile.runners.external import (
    CompiledShapes, StreamedResults, in_place_spine, positive_setting, rebatched, refuse_file_sources,
    unreadable_spine, warehouse_spine, window_stats_query,
)
from fcompile.runners.spines import ROW_NUMBER, SpineInput, check_spine_names, row_numbers

if TYPE_CHECKING:
    import pyarrow as pa

LOGIN_TIMEOUT_SECONDS = 60
_SETTINGS_HINT = ("set the target's offline account and user, and one of password, private_key_path or "
                  "authenticator: externalbrowser, with secrets from {{ env_var('NAME') }}")
_AUTHENTICATORS = ("snowflake", "externalbrowser")
_ERROR_CODE = re.compile(r"^\d{6}( \(\w+\))?: ")  # "002003 (42S02): " before Snowflake's message
_PLAIN_NAME = re.compile(r"^[A-Z_][A-Z0-9_$]*$")  # what an unquoted name resolves to


_ENGINE_TYPES = {"int32": "NUMBER(38, 0)", "int64": "NUMBER(38, 0)", "float32": "FLOAT", "float64": "FLOAT",
                 "string": "VARCHAR", "bool": "BOOLEAN", "bytes": "BINARY", "date": "DATE",
                 "timestamp": "TIMESTAMP_NTZ"}


class SnowflakeRunner(StreamedResults):
    dialect = "snowflake"
    engine_types = _ENGINE_TYPES

    def __init__(self, conn: Any, account: str, asof_join: bool = True) -> None:
        from fcompile.dialects.snowflake import SnowflakeDialect

        self.conn = conn
        self.account = account
        self.asof_join = asof_join
        if not asof_join:
            self.compiled_file_difference = (
                "the target sets asof_join: false: views the compiled file joins by ASOF JOIN are joined by the "
                "window plan instead")
        self.sql_dialect = SnowflakeDialect()
        self._names = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self._compiled = CompiledShapes()
        self._closed = False

    @classmethod
    def connect(cls, settings: Mapping[str, Any], project_root: str) -> SnowflakeRunner:
        connector = _import_connector()
        arguments, address = connection_arguments(settings, project_root)
        try:
            conn = connector.connect(**arguments)
        except connector.Error as exc:
            raise DiagnosticError([Diagnostic(Code.OFFLINE_UNREACHABLE, f"cannot connect to Snowflake {address}: "
                                              f"{_reason(exc)}", None, _SETTINGS_HINT)]) from None
        try:
            _check_session(conn, settings, address)
        except BaseException:
            conn.close()
            raise
        return cls(conn, str(settings.get("account") or ""), _flag(settings, "asof_join", True))

    # -- spines ------------------------------------------------------------------------------------

    def register_spine(self, spine: SpineInput) -> RegisteredSpine:
        return warehouse_spine(spine, self.sql_dialect, lambda data, types: self._upload(data, spine, types),
                               self._in_place, "the target's database")

    def _upload(self, data: Any, spine: SpineInput, arrow_types: Mapping[str, str] | None) -> RegisteredSpine:
        """Parquet (columns c0, c1, ... and the row number), PUT to a temporary stage, COPY'd into a
        temporary table with the spine's column names."""
        check_spine_names(data.schema.names)
        table = self._new_name("spine")
        setup_sql = self._load(data, table, spine.description, temporary=True, numbered=True)
        columns = tuple(data.schema.names)
        found = self._describe(exp.select("*").from_(exp.to_table(table)))
        types = dict(zip(columns, (type_name for _, type_name in found)))
        return RegisteredSpine(Relation("placeholder", table), columns, types, ROW_NUMBER, spine.description,
                               arrow_types, setup_sql=setup_sql)

    def load_table(self, data: Any, table: str, description: str) -> LoadedTable:
        """Loaded into a temporary table of this session (named for this run: two loads at once do not meet,
        and a killed run leaves nothing), then `CREATE OR REPLACE TABLE ... AS SELECT` from it, which
        Snowflake runs atomically (a failure leaves the old table). Column names are written unquoted, so
        they resolve upper-case as the dialect's SQL reads them."""
        building = self._new_name("building")
        target = exp.Table(this=exp.to_identifier(table))
        drop = exp.Drop(tables=[exp.to_table(building)], kind="TABLE", exists=True)
        replace_target = exp.Create(this=target.copy(), kind="TABLE", replace=True,
                                    expression=exp.select("*").from_(exp.to_table(building)))
        count = exp.select(exp.Count(this=exp.Star())).from_(target.copy())
        try:
            self._load(data, building, description, temporary=True, numbered=False)
            with self.conn.cursor() as cur:
                cur.execute(self.sql_dialect.generate(replace_target, pretty=False))
                (rows,) = cur.execute(self.sql_dialect.generate(count, pretty=False)).fetchone()
        except _driver_errors() as exc:
            raise _engine_error(f"loading {description}", exc, None) from None
        finally:
            try:
                with self.conn.cursor() as cur:
                    cur.execute(self.sql_dialect.generate(drop, pretty=False))
            except _driver_errors():
                pass  # the session is gone: the original error says why
        schema = self.conn.schema  # the session's, where the table was made (None when the target names none)
        return LoadedTable(f"{schema}.{table.upper()}" if schema else table.upper(), int(rows))

    def _load(self, data: Any, table: str, description: str, temporary: bool, numbered: bool) -> tuple[str, ...]:
        """An Arrow table or reader into a new table `table` of its columns (and a row number after them
        when `numbered`): written as one Parquet file (columns c0, c1, ...), PUT to a temporary stage and
        COPY'd in. Returns the statements that ran."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = data.schema
        fields, definitions, problems = [], [], []
        for index, f in enumerate(schema):
            value_type = _loadable(f.type)
            sf_type = _snowflake_type(value_type)
            if sf_type is None:
                problems.append(Diagnostic(Code.SPINE_UPLOAD, f"{description}: column '{f.name}' is Arrow "
                                           f"{f.type}, which fcompile cannot load into Snowflake", None,
                                           "convert the column to a number, text, boolean, date or timestamp, or "
                                           "leave it out"))
                continue
            fields.append(pa.field(f"c{index}", value_type))
            definitions.append((f.name, sf_type))
        if problems:
            raise DiagnosticError(problems)
        if numbered:
            definitions.append((ROW_NUMBER, "NUMBER(38, 0)"))
            fields.append(pa.field(f"c{len(schema)}", pa.int64()))
        file_schema = pa.schema(fields)
        stage = self._new_name("stage")
        create = exp.Create(this=exp.Schema(this=exp.to_table(table), expressions=[
            exp.ColumnDef(this=exp.to_identifier(name), kind=exp.DataType.build(sf_type, dialect="snowflake"))
            for name, sf_type in definitions]), kind="TABLE",
            properties=exp.Properties(expressions=[exp.TemporaryProperty()]) if temporary else None)
        statements = [self.sql_dialect.generate(create, pretty=False),
                      self.sql_dialect.generate(exp.Create(this=exp.to_table(stage), kind="STAGE", properties=exp.
                                                           Properties(expressions=[exp.TemporaryProperty()])))]
        folder = tempfile.mkdtemp(prefix="fcompile-snowflake-")
        path = os.path.join(folder, "data.parquet")
        batches = data.to_batches() if isinstance(data, pa.Table) else data
        start = 0
        try:
            with pq.ParquetWriter(path, file_schema, coerce_timestamps="us", allow_truncated_timestamps=True) as out:
                for batch in batches:
                    columns = [column.cast(f.type) if column.type != f.type else column
                               for column, f in zip(batch.columns, file_schema)]
                    numbers = [row_numbers(start, batch.num_rows)] if numbered else []
                    out.write_batch(pa.RecordBatch.from_arrays([*columns, *numbers], schema=file_schema))
                    start += batch.num_rows
            load = [exp.Put(this=exp.Literal.string(_file_uri(path)), target=exp.Var(this=f'@"{stage.upper()}"'),
                            properties=exp.Properties(expressions=[exp.Property(this=exp.var("AUTO_COMPRESS"),
                                                                                value=exp.false())])),
                    _copy_into(table, stage, definitions)]
            load_sql = [self.sql_dialect.generate(s, pretty=False) for s in load]
            with self.conn.cursor() as cur:
                for sql in [*statements, *load_sql]:
                    cur.execute(sql)  # the stage, temporary and emptied by PURGE, goes with the session
        except pa.ArrowException as exc:  # a value the upload cannot convert
            raise DiagnosticError([Diagnostic(Code.ENGINE_ERROR, f"{description} cannot be written for "
                                              f"Snowflake: {_reason(exc)}", None, "check its values")]) \
                from None
        except _driver_errors() as exc:
            raise DiagnosticError([Diagnostic(Code.ENGINE_ERROR, f"{description} cannot be loaded into "
                                              f"Snowflake: {_reason(exc)}", None, "check its values")]) \
                from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return (*statements, *load_sql)

    def _in_place(self, query: exp.Select, relation: Relation, spine: SpineInput) -> RegisteredSpine:
        """A table or query read where it is; the lowering numbers its rows as Snowflake reads them."""
        try:
            described = self._describe(query)
        except _driver_errors() as exc:
            raise unreadable_spine(spine, _reason(exc), f"on the target's Snowflake account ({self.account})") \
                from None
        return in_place_spine(relation, spine, ((_unquoted(name), t) for name, t in described))

    def _describe(self, query: exp.Select) -> list[tuple[str, str]]:
        """Column names and type names of a query, described but not run (raises the driver's error)."""
        with self.conn.cursor() as cur:
            return [(column.name, _type_name(column)) for column in
                    cur.describe(self.sql_dialect.generate(query.limit(0), pretty=False))]

    # -- running -----------------------------------------------------------------------------------

    def statements(self, plan: Any) -> list[str]:
        """The snowflake dialect's SQL for the plan as this target runs it (with `asof_join: false`,
        views planned for an ASOF join are joined by the window plan), once every source it reads is
        one Snowflake can read."""
        refuse_file_sources(plan, "Snowflake")
        return self._compiled.statements(self._for_target(plan), self.dialect)

    def _for_target(self, plan: Any) -> Any:
        if self.asof_join:
            return plan
        if isinstance(plan, (BuildDataset, OnDemandJoin)):
            return replace(plan, query=self._for_target(plan.query))
        if isinstance(plan, PointInTimeJoin) and any(getattr(j, "strategy", None) is JoinStrategy.ASOF
                                                     for j in plan.joins):
            return replace(plan, joins=tuple(replace(j, strategy=JoinStrategy.WINDOW)
                                             if getattr(j, "strategy", None) is JoinStrategy.ASOF else j
                                             for j in plan.joins))
        return plan

    def execute(self, plan: PointInTimeJoin, label: str, location: Position | None = None):
        return self._read(self.single_statement(plan), (), label, location, _output_names(plan, self.sql_dialect),
                          _array_types(plan))

    def write_dataset_table(self, build: BuildDataset, label: str, location: Position | None = None) -> WrittenTable:
        """`CREATE OR REPLACE TABLE ... AS`: Snowflake swaps the new table in atomically, and a failed
        statement leaves the old one. The rows are counted afterwards (the statement does not say)."""
        statements = self.statements(build)
        table = build.output.locator
        count = exp.select(exp.Count(this=exp.Star())).from_(exp.to_table(table, dialect="snowflake"))
        try:
            with self.conn.cursor() as cur:
                for sql in statements:
                    cur.execute(sql)
                (rows,) = cur.execute(self.sql_dialect.generate(count, pretty=False)).fetchone()
        except _driver_errors() as exc:
            raise _engine_error(label, exc, location) from None
        return WrittenTable(int(rows), tuple(statements))

    def latest_values(self, plan: LatestValues, start: dt.datetime, end: dt.datetime, label: str,
                      location: Position | None = None, batch_rows: int = 100_000):
        parameters = window_parameters(plan, start, end)
        sql, values = bind_by_number(self.single_statement(plan), parameters)
        reader = self._read(sql, values, label, location, _output_names(plan, self.sql_dialect), {})
        return rebatched(reader, batch_rows)

    def window_stats(self, plan: LatestValues, start: dt.datetime | None, end: dt.datetime, label: str,
                     location: Position | None = None) -> WindowStats:
        refuse_file_sources(plan, "Snowflake")
        sql, values = bind_by_number(*window_stats_query(self.sql_dialect, plan, start, end))
        try:
            with self.conn.cursor() as cur:
                keys, rows, earliest, latest = cur.execute(sql, values).fetchone()
        except _driver_errors() as exc:
            raise _engine_error(label, exc, location) from None
        return window_stats_of(rows=rows, keys=keys, earliest=earliest, latest=latest)

    def key_type_fits(self, dtype: DType, engine_type: str) -> bool:
        found = engine_type.upper().replace(" ", "")
        if dtype.name in ("int32", "int64"):
            return found.startswith("NUMBER(") and found.endswith(",0)")
        if dtype.name in ("float32", "float64"):
            return found == "FLOAT" or found.startswith("NUMBER(")
        if dtype.name == "timestamp":
            return found.startswith("TIMESTAMP")
        wanted = {"string": "VARCHAR", "bool": "BOOLEAN", "bytes": "BINARY", "date": "DATE"}.get(dtype.name)
        return wanted is not None and found == wanted

    def query_rows(self, sql: str, label: str, location: Position | None = None) -> tuple[tuple[str, ...], list[tuple]]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
                if cur.description is None:
                    return (), []
                return tuple(_unquoted(d.name) for d in cur.description), cur.fetchall()
        except _driver_errors() as exc:
            raise _engine_error(label, exc, location) from None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.conn.close()  # temporary spine tables and stages go with the session

    # -- helpers -----------------------------------------------------------------------------------

    def _read(self, sql: str, values: tuple, label: str, location: Position | None, names: list[str] | None,
              arrays: Mapping[str, Any]):
        """The query's rows as a RecordBatchReader over the result's chunks, columns renamed to the
        request's names, timestamps in microseconds and zoned ones in UTC."""
        import pyarrow as pa

        cur = self.conn.cursor()
        try:
            cur.execute(sql, list(values) or None)
            described = cur.description
            chunks = cur.fetch_arrow_batches(force_microsecond_precision=True)
            first = next(chunks, None)
            if first is None:
                first = cur.fetch_arrow_all(force_return_table=True, force_microsecond_precision=True)
        except _driver_errors() as exc:
            cur.close()
            raise _engine_error(label, exc, location) from None
        if names is None or len(names) != len(described):
            names = [_unquoted(column.name) for column in described]
        array_columns = {i: arrays[name] for i, name in enumerate(names) if name in arrays}
        schema = _result_schema(first.schema, names, array_columns)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for chunk in itertools.chain([first], chunks):
                    for batch in _conformed(chunk, schema, array_columns).to_batches():
                        yield batch
            except _driver_errors() as exc:
                raise _engine_error(label, exc, location) from None
            finally:
                cur.close()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _new_name(self, kind: str) -> str:
        return f"__fc_{kind}_{self._prefix}_{next(self._names)}"


# -- connecting ----------------------------------------------------------------------------------------------

def connection_arguments(settings: Mapping[str, Any], project_root: str) -> tuple[dict[str, Any], str]:
    """The connector's arguments from a target's settings, and how messages name the account (never with
    a secret). Raises FC132 for settings that cannot work."""
    problems = []

    def text(key: str) -> str | None:
        value = settings.get(key)
        return None if value in (None, "") else str(value)

    account, user = text("account"), text("user")
    for key, value in (("account", account), ("user", user)):
        if value is None:
            problems.append(Diagnostic(Code.OFFLINE_SETTINGS, f"the Snowflake target sets no `{key}`", None,
                                       _SETTINGS_HINT))
    authenticator = (text("authenticator") or "snowflake").lower()
    if authenticator not in _AUTHENTICATORS:
        problems.append(Diagnostic(Code.OFFLINE_SETTINGS, f"the Snowflake target's `authenticator` must be one of "
                                   f"{', '.join(_AUTHENTICATORS)}, not {authenticator!r}", None,
                                   "authenticator: externalbrowser for single sign-on; leave it out for a password "
                                   "or a private key"))
    given = [key for key in ("password", "private_key_path") if text(key) is not None]
    if authenticator == "externalbrowser":
        given.append("authenticator: externalbrowser")
    if len(given) != 1:
        problems.append(Diagnostic(Code.OFFLINE_SETTINGS, "the Snowflake target must set exactly one of password, "
                                   "private_key_path and authenticator: externalbrowser" +
                                   (f", not {' and '.join(given)}" if given else ""), None, _SETTINGS_HINT))
    arguments: dict[str, Any] = {
        "account": account, "user": user, "application": "fcompile", "paramstyle": "numeric",
        "session_parameters": {"TIMEZONE": "UTC", "QUERY_TAG": text("query_tag") or "fcompile"},
        "login_timeout": positive_setting(settings, "login_timeout", "Snowflake", LOGIN_TIMEOUT_SECONDS, problems),
    }
    for key in ("database", "schema", "warehouse", "role", "host", "protocol"):
        if text(key) is not None:
            arguments[key] = text(key)
    if text("port") is not None:
        arguments["port"] = positive_setting(settings, "port", "Snowflake", 443, problems)
    if text("network_timeout") is not None:
        arguments["network_timeout"] = positive_setting(settings, "network_timeout", "Snowflake", 300, problems)
    if authenticator == "externalbrowser":
        arguments["authenticator"] = "externalbrowser"
    elif text("password") is not None:
        arguments["password"] = text("password")
    elif text("private_key_path") is not None and not problems:
        arguments["private_key"] = _private_key(os.path.join(project_root, os.path.expanduser(
            str(text("private_key_path")))), text("private_key_passphrase"))
    if problems:
        raise DiagnosticError(problems)
    return arguments, f"account '{account}' as user '{user}'"


def _private_key(path: str, passphrase: str | None) -> bytes:
    """The key-pair authentication key, read from a PEM (PKCS#8) file, as the DER bytes the connector takes."""
    from cryptography.hazmat.primitives import serialization

    try:
        with open(path, "rb") as file:
            key = serialization.load_pem_private_key(file.read(), passphrase.encode() if passphrase else None)
    except (OSError, ValueError, TypeError) as exc:
        raise DiagnosticError([Diagnostic(Code.OFFLINE_SETTINGS, f"cannot read the Snowflake private key at {path}: "
                                          f"{_reason(exc)}", None,
                                          "private_key_path names a PEM file (PKCS#8); an encrypted key needs "
                                          "private_key_passphrase from {{ env_var('NAME') }}")]) from None
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _check_session(conn: Any, settings: Mapping[str, Any], address: str) -> None:
    """The database and schema the target names exist and the role may use them: else Snowflake leaves
    the session without them and fails later, on every name."""
    with conn.cursor() as cur:
        database, schema = cur.execute("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()").fetchone()
    for key, found in (("database", database), ("schema", schema)):
        if settings.get(key) and found is None:
            raise DiagnosticError([Diagnostic(
                Code.OFFLINE_SETTINGS, f"{key} '{settings[key]}' does not exist for Snowflake {address}, or its "
                "role may not use it", None, f"create it, grant USAGE on it to the role, or fix the target's `{key}`")])


def _flag(settings: Mapping[str, Any], key: str, default: bool) -> bool:
    value = settings.get(key, default)
    if isinstance(value, str):  # rendered from env_var()
        if value.strip().lower() not in ("true", "false"):
            raise DiagnosticError([Diagnostic(Code.OFFLINE_SETTINGS, f"the Snowflake target's `{key}` must be true "
                                              f"or false, not {value!r}", None, f"{key}: {str(default).lower()}")])
        return value.strip().lower() == "true"
    return bool(value)


# -- parameters, names and types -----------------------------------------------------------------------------

def bind_by_number(sql: str, parameters: Mapping[str, Any]) -> tuple[str, tuple]:
    """The statement with its named parameters (`:start`) renumbered (`:1`) for the connector's
    `numeric` paramstyle, and the values in that order. The statement is re-generated from its parse,
    so only the placeholders change."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read="snowflake")
    order = list(parameters)
    for placeholder in list(tree.find_all(exp.Placeholder)):
        if placeholder.name not in parameters:
            raise ValueError(f"no value for the parameter :{placeholder.name}")
        placeholder.set("this", str(order.index(placeholder.name) + 1))
    return tree.sql(dialect="snowflake"), tuple(parameters.values())


def _output_names(plan: PointInTimeJoin | LatestValues, dialect: Any) -> list[str] | None:
    """The result's column names as the request spells them (Snowflake returns them upper-case)."""
    from fcompile.dialects.lowering import source_select

    if isinstance(plan, LatestValues):
        return source_select(dialect, plan, "src")[1]
    if isinstance(plan, LatestTiles):  # a view's tiles (fcompile/planner/online_tiles.py)
        return plan.output_names
    if plan.spine.columns is None:
        return None
    return [c for c in plan.spine.columns if c != plan.spine.row_id_column] + list(plan.feature_names)


def _array_types(plan: PointInTimeJoin) -> dict[str, Any]:
    """Output name -> Arrow type of every array feature: Snowflake returns ARRAY values as JSON text."""
    from fcompile.online.values import arrow_type

    dtypes = {f.output_name: f.dtype for j in plan.joins for f in j.features}
    if isinstance(plan, OnDemandJoin):  # joined features under their request names (computed ones are scalars)
        dtypes = {name: dtypes[source[1]] for name, source in plan.outputs if not isinstance(source, OnDemandOutput)}
    return {name: arrow_type(dtype) for name, dtype in dtypes.items() if dtype.is_array}


def _unquoted(name: str) -> str:
    """A column name as a spec would write it: one Snowflake upper-cased (`DRIVER_ID`) in lower case."""
    return name.lower() if _PLAIN_NAME.match(name) else name


def _type_name(column: Any) -> str:
    """A result column's Snowflake type, as messages and `key_type_fits` read it."""
    from snowflake.connector.constants import FIELD_ID_TO_NAME

    name = FIELD_ID_TO_NAME.get(column.type_code, str(column.type_code))
    if name == "FIXED":
        return f"NUMBER({column.precision}, {column.scale})"
    return {"REAL": "FLOAT", "TEXT": "VARCHAR"}.get(name, name)


def _loadable(arrow_type):
    """The Arrow type a spine column is written to Parquet as (dictionaries decoded, NULL-only as text)."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_null(arrow_type) or pa.types.is_large_string(arrow_type):
        return pa.string()
    if pa.types.is_float16(arrow_type):
        return pa.float32()
    if pa.types.is_date64(arrow_type):
        return pa.date32()
    return arrow_type


def _snowflake_type(arrow_type) -> str | None:
    """The Snowflake type a spine column of this Arrow type is loaded into; None: none fits."""
    import pyarrow as pa

    t = pa.types
    if t.is_timestamp(arrow_type):
        return "TIMESTAMP_TZ" if arrow_type.tz is not None else "TIMESTAMP_NTZ"
    if t.is_decimal(arrow_type) and arrow_type.precision <= 38:
        return f"NUMBER({arrow_type.precision}, {arrow_type.scale})"
    if t.is_uint64(arrow_type):
        return "NUMBER(20, 0)"
    for check, name in ((t.is_boolean, "BOOLEAN"), (t.is_integer, "NUMBER(38, 0)"), (t.is_floating, "FLOAT"),
                        (t.is_string, "VARCHAR"), (t.is_date32, "DATE"), (t.is_time, "TIME")):
        if check(arrow_type):
            return name
    return None


def _copy_into(table: str, stage: str, definitions: list[tuple[str, str]]) -> exp.Copy:
    """COPY INTO the table from the stage's Parquet file, column i from the file's `c<i>`, cast to its type."""
    import sqlglot

    columns = [exp.cast(sqlglot.parse_one(f'$1:"c{index}"', read="snowflake"),
                        exp.DataType.build(sf_type, dialect="snowflake"))
               for index, (_, sf_type) in enumerate(definitions)]
    source = exp.select(*columns).from_(exp.Table(this=exp.Var(this=f'@"{stage.upper()}"')))
    copy = sqlglot.parse_one("COPY INTO t FROM @s FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE) PURGE = TRUE",
                             read="snowflake")
    copy.set("this", exp.Schema(this=exp.to_table(table), expressions=[exp.to_identifier(n) for n, _ in definitions]))
    copy.set("files", [source.subquery()])
    return copy


def _file_uri(path: str) -> str:
    """A local file as PUT names it (forward slashes, also on Windows)."""
    return "file://" + os.path.abspath(path).replace("\\", "/")


def _result_schema(found, names: list[str], array_columns: Mapping[int, Any]):
    """The reader's schema: the chunk's types under the request's names, timestamps in microseconds and
    zoned ones in UTC."""
    import pyarrow as pa

    fields = []
    for index, (f, name) in enumerate(zip(found, names)):
        arrow_type = array_columns.get(index, f.type)
        if pa.types.is_timestamp(arrow_type):  # an empty result's are in nanoseconds
            arrow_type = pa.timestamp("us", "UTC" if arrow_type.tz is not None else None)
        fields.append(pa.field(name, arrow_type))
    return pa.schema(fields)


def _conformed(chunk, schema, array_columns: Mapping[int, Any]):
    """A result chunk (a pyarrow Table) in the reader's schema: arrays parsed from their JSON text."""
    import pyarrow as pa

    columns = []
    for index, (column, f) in enumerate(zip(chunk.columns, schema)):
        if index in array_columns and pa.types.is_string(column.type):
            column = pa.array([None if v is None else json.loads(v) for v in column.to_pylist()], f.type)
        elif column.type != f.type:
            column = column.cast(f.type)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


# -- errors --------------------------------------------------------------------------------------------------

def _engine_error(label: str, exc: BaseException, location: Position | None) -> DiagnosticError:
    return engine_error(label, "Snowflake", _reason(exc), location)


def _reason(exc: BaseException) -> str:
    """Snowflake's message on one line, without the error number in front ("SQL compilation error:
    Object 'X' does not exist or not authorized."): its detail is on the lines after the first."""
    text = str(getattr(exc, "msg", None) or exc)
    text = _ERROR_CODE.sub("", " ".join(text.split()))
    return text or type(exc).__name__


def _driver_errors() -> type[BaseException]:
    import snowflake.connector

    return snowflake.connector.Error


def _import_connector():
    try:
        import snowflake.connector
    except ImportError:
        raise DiagnosticError([Diagnostic(Code.DRIVER_MISSING, "the Snowflake runner needs snowflake-connector-"
                                          "python, which is not installed", None,
                                          "pip install 'fcompile[snowflake]'")]) from None
    return snowflake.connector


