"""The BigQuery runner: the bigquery dialect's SQL, run as query jobs through google-cloud-bigquery.

Target settings (`offline:` in fcompile_project.yml):

    offline:
      type: bigquery
      project: my-gcp-project        # the project jobs run (and are billed) in
      dataset: features              # table and query sources are found here; spines and dataset tables go here
      location: EU                   # where the jobs run (default: the dataset's)
      keyfile: "{{ env_var('GOOGLE_APPLICATION_CREDENTIALS') }}"  # a service account's JSON key; without
                                     # it, application-default credentials (gcloud auth application-default
                                     # login, a workload identity, the metadata server)
      maximum_bytes_billed: 10000000000  # a query that would scan more fails instead

Every job carries the labels `fcompile_project` (the project's name) and `fcompile_node` (what runs:
`dataset_training`, `feature_view_driver_stats`), so billing and audit logs say what fcompile ran.

| spine                         | how the engine reads it                                              |
| ----------------------------- | -------------------------------------------------------------------- |
| Arrow table / reader, pandas  | written as Parquet (batch by batch, with a row-number column) and    |
| Parquet / CSV file(s)         | loaded into a table of the dataset that expires after a day (a load  |
|                               | job; the table is dropped when the runner closes)                     |
| a table, a SELECT query       | in place; rows numbered by `ROW_NUMBER() OVER ()` as BigQuery reads   |

Naive spine timestamps are loaded as TIMESTAMP (read as UTC, DESIGN.md §3.5), so they compare with
TIMESTAMP sources, and come back naive. Results are read as Arrow a page at a time with the BigQuery
Storage API when google-cloud-bigquery-storage is installed (else over REST). Datasets are built inside
BigQuery (`CREATE OR REPLACE TABLE ... AS`, atomic); `write_parquet` streams the batches into a file.
The window of a materialization is bound as named query parameters (`@start`, `@end`, the dialect's
spelling). `dry_run(plan)` asks BigQuery what a plan would scan, in bytes, running nothing. A `path:`
source is refused (FC131): BigQuery reads tables.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import os
import re
import uuid
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from sqlglot import exp

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.graph import DatasetOutput, DType
from fcompile.planner.plans import BuildDataset, LatestValues, PointInTimeJoin, Relation
from fcompile.runners.base import RegisteredSpine, Runner, WindowStats, engine_error, first_line
from fcompile.runners.external import (
    CompiledShapes, rebatched, refuse_file_sources, stream_to_parquet, warehouse_spine, window_stats_of,
    window_stats_select,
)
from fcompile.runners.online.values import as_utc
from fcompile.runners.spines import ROW_NUMBER, SpineInput, check_spine_names, row_numbers

if TYPE_CHECKING:
    import pyarrow as pa

SPINE_TABLE_HOURS = 24  # an uploaded spine's table expires after this, should the runner not drop it
_SETTINGS_HINT = ("set the target's offline `project` and `dataset`; credentials come from `keyfile` (a service "
                  "account's JSON key) or application-default credentials (gcloud auth application-default login)")
_LABEL_TEXT = re.compile(r"[^a-z0-9_-]+")


class BigQueryRunner(Runner):
    dialect = "bigquery"
    project_name: str | None = None  # set by `connect_runner`: the `fcompile_project` label of every job

    def __init__(self, client: Any, dataset: str, location: str | None = None,
                 maximum_bytes_billed: int | None = None, read_client: Any = None) -> None:
        from fcompile.dialects.bigquery import BigQueryDialect

        self.client = client
        self.dataset = dataset  # project.dataset
        self.location = location
        self.maximum_bytes_billed = maximum_bytes_billed
        self.read_client = read_client  # the Storage API's client, where installed
        self.sql_dialect = BigQueryDialect()
        self._names = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self._spine_tables: list[str] = []
        self._naive: dict[str, set[str]] = {}  # uploaded spine table -> its columns that were naive timestamps
        self._compiled = CompiledShapes()
        self._closed = False

    @classmethod
    def connect(cls, settings: Mapping[str, Any], project_root: str) -> BigQueryRunner:
        bigquery = _import_client()
        from google.api_core import exceptions as api_errors
        from google.auth import exceptions as auth_errors

        project, dataset, location, credentials, maximum = connection_settings(settings, project_root)
        address = f"project '{project}'"
        try:
            client = bigquery.Client(project=project, credentials=credentials, location=location)
            found = client.get_dataset(f"{project}.{dataset}")
        except api_errors.NotFound:
            raise DiagnosticError([Diagnostic(Code.OFFLINE_SETTINGS, f"dataset '{dataset}' does not exist in BigQuery "
                                              f"{address}", None, f"create it (bq mk {project}:{dataset}), or fix "
                                              "the target's `dataset`")]) from None
        except (api_errors.GoogleAPIError, auth_errors.GoogleAuthError) as exc:
            raise DiagnosticError([Diagnostic(Code.OFFLINE_UNREACHABLE, f"cannot connect to BigQuery {address}: "
                                              f"{_reason(exc)}", None, _SETTINGS_HINT)]) from None
        return cls(client, f"{project}.{dataset}", location or found.location, maximum, _read_client(credentials))

    # -- spines ------------------------------------------------------------------------------------

    def register_spine(self, spine: SpineInput) -> RegisteredSpine:
        return warehouse_spine(spine, self.sql_dialect, lambda data, types: self._upload(data, spine, types),
                               self._in_place, "the target's project")

    def _upload(self, data: Any, spine: SpineInput, arrow_types: Mapping[str, str] | None) -> RegisteredSpine:
        """Parquet with a row-number column, loaded into a table of the dataset by a load job."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        from google.cloud import bigquery

        schema = data.schema
        check_spine_names(schema.names)
        fields, problems = [], []
        for f in schema:
            value_type = _loadable(f.type)
            if value_type is None:
                problems.append(Diagnostic(Code.SPINE_UPLOAD, f"{spine.description}: column '{f.name}' is Arrow "
                                           f"{f.type}, which fcompile cannot load into BigQuery", None,
                                           "convert the column to a number, text, boolean, date or timestamp, or "
                                           "leave it out of the spine"))
            fields.append(pa.field(f.name, value_type))
        if problems:
            raise DiagnosticError(problems)
        file_schema = pa.schema([*fields, pa.field(ROW_NUMBER, pa.int64())])
        buffer = io.BytesIO()
        batches = data.to_batches() if isinstance(data, pa.Table) else data
        start = 0
        try:
            with pq.ParquetWriter(buffer, file_schema, coerce_timestamps="us", allow_truncated_timestamps=True) as out:
                for batch in batches:
                    columns = [column.cast(f.type) if column.type != f.type else column
                               for column, f in zip(batch.columns, fields)]
                    out.write_batch(pa.RecordBatch.from_arrays([*columns, row_numbers(start, batch.num_rows)],
                                                               schema=file_schema))
                    start += batch.num_rows
        except pa.ArrowException as exc:
            raise DiagnosticError([Diagnostic(Code.ENGINE_ERROR, f"{spine.description} cannot be written for "
                                              f"BigQuery: {first_line(exc)}", None, "check the spine's values")]) \
                from None
        name = f"{self.dataset}.{self._new_name('spine')}"
        buffer.seek(0)
        config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET, labels=self._labels("spine"),
                                        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE)
        try:
            self.client.load_table_from_file(buffer, name, job_config=config, location=self.location).result()
            table = self.client.get_table(name)
            table.expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=SPINE_TABLE_HOURS)
            self.client.update_table(table, ["expires"])
        except _api_errors() as exc:
            raise DiagnosticError([Diagnostic(Code.ENGINE_ERROR, f"{spine.description} cannot be loaded into "
                                              f"BigQuery: {_reason(exc)}", None, "check the spine's values")]) \
                from None
        self._spine_tables.append(name)
        self._naive[name] = {f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.tz is None}
        types = {f.name: f.field_type for f in table.schema if f.name != ROW_NUMBER}
        return RegisteredSpine(Relation("placeholder", name), tuple(schema.names), types, ROW_NUMBER,
                               spine.description, arrow_types,
                               setup_sql=(f"-- load job: {spine.description} as Parquet into `{name}`",))

    def _in_place(self, query: exp.Select, relation: Relation, spine: SpineInput) -> RegisteredSpine:
        try:
            job = self._job(self.sql_dialect.generate(query.limit(0), pretty=False), "spine", dry_run=True)
        except _api_errors() as exc:
            code = Code.INVALID_QUERY if spine.kind == "query" else Code.ENGINE_ERROR
            what = "the spine query does not run" if spine.kind == "query" else f"{spine.description} cannot be read"
            raise DiagnosticError([Diagnostic(code, f"{what}: {_reason(exc)}", None,
                                              f"it is read in the target's dataset ({self.dataset})")]) from None
        columns = tuple(f.name for f in job.schema)
        check_spine_names(columns)
        return RegisteredSpine(relation, columns, {f.name: f.field_type for f in job.schema}, None,
                               spine.description)

    # -- running -----------------------------------------------------------------------------------

    def statements(self, plan: Any) -> list[str]:
        refuse_file_sources(plan, "BigQuery")
        return self._compiled.statements(plan, self.dialect)

    def dry_run(self, plan: Any, label: str = "dry run", location: Position | None = None) -> int:
        """The bytes BigQuery would scan to run the plan (PointInTimeJoin, LatestValues, BuildDataset),
        asked with a dry-run job: nothing runs and nothing is billed. A LatestValues plan's window is
        bound as its widest (the bytes do not depend on it)."""
        parameters = None
        if isinstance(plan, LatestValues):
            parameters = {plan.start_parameter: dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc),
                          plan.end_parameter: dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc)}
        total = 0
        try:
            for sql in self.statements(plan):
                total += int(self._job(sql, label, parameters, dry_run=True).total_bytes_processed or 0)
        except _api_errors() as exc:
            raise _engine_error(label, exc, location) from None
        return total

    def execute(self, plan: PointInTimeJoin, label: str, location: Position | None = None):
        naive = self._naive.get(plan.spine.relation.locator, set())
        return self._read(self._select(plan), None, label, location, naive)

    def to_arrow(self, plan: PointInTimeJoin, label: str, location: Position | None = None):
        return self.execute(plan, label, location).read_all()

    def write_parquet(self, plan: PointInTimeJoin, path: str, label: str, location: Position | None = None) -> int:
        return stream_to_parquet(self.execute(plan, label, location), path)

    def write_table(self, plan: PointInTimeJoin, table: str, label: str, location: Position | None = None) -> int:
        """`CREATE OR REPLACE TABLE ... AS`, atomic in BigQuery; the rows are the new table's."""
        build = BuildDataset(label, DatasetOutput("table", table), plan, location)
        target = exp.to_table(table, dialect="bigquery")
        name = ".".join(p.name for p in target.parts)
        if len(target.parts) == 1:
            name = f"{self.dataset}.{name}"
        try:
            for sql in self.statements(build):
                self._job(sql, label).result()
            return int(self.client.get_table(name).num_rows or 0)
        except _api_errors() as exc:
            raise _engine_error(label, exc, location) from None

    def latest_values(self, plan: LatestValues, start: dt.datetime, end: dt.datetime, label: str,
                      location: Position | None = None, batch_rows: int = 100_000):
        parameters = {plan.start_parameter: as_utc(start), plan.end_parameter: as_utc(end)}
        reader = self._read(self._select(plan), parameters, label, location, set())
        return rebatched(reader, batch_rows)

    def window_stats(self, plan: LatestValues, start: dt.datetime | None, end: dt.datetime, label: str,
                     location: Position | None = None) -> WindowStats:
        refuse_file_sources(plan, "BigQuery")
        parameters = {plan.end_parameter: as_utc(end)}
        if start is not None:
            parameters[plan.start_parameter] = as_utc(start)
        sql = self.sql_dialect.generate(window_stats_select(self.sql_dialect, plan, start is not None), pretty=False)
        try:
            (row,) = list(self._job(sql, label, parameters).result())
        except _api_errors() as exc:
            raise _engine_error(label, exc, location) from None
        return window_stats_of(rows=row["rows"], keys=row["keys"], earliest=row["earliest"])

    def is_timestamp_type(self, engine_type: str) -> bool:
        return engine_type.upper() in ("TIMESTAMP", "DATETIME")

    def key_type_fits(self, dtype: DType, engine_type: str) -> bool:
        return engine_type.upper() in _KEY_FAMILIES.get(dtype.name, ())

    def engine_type(self, dtype: DType) -> str:
        return _ENGINE_TYPES.get(dtype.name, dtype.name.upper())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for name in self._spine_tables:
                self.client.delete_table(name, not_found_ok=True)
        except _api_errors():
            pass  # the tables expire by themselves
        finally:
            self.client.close()

    # -- helpers -----------------------------------------------------------------------------------

    def _select(self, plan: PointInTimeJoin | LatestValues) -> str:
        (sql,) = self.statements(plan)
        return sql

    def _labels(self, label: str) -> dict[str, str]:
        return {"fcompile_project": _label_value(self.project_name or "fcompile"), "fcompile_node": _label_value(label)}

    def _job(self, sql: str, label: str, parameters: Mapping[str, dt.datetime] | None = None, dry_run: bool = False):
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            labels=self._labels(label), default_dataset=self.dataset, dry_run=dry_run, use_query_cache=not dry_run,
            query_parameters=[bigquery.ScalarQueryParameter(name, "TIMESTAMP", value)
                              for name, value in (parameters or {}).items()],
            maximum_bytes_billed=self.maximum_bytes_billed)
        return self.client.query(sql, job_config=config, location=self.location)

    def _read(self, sql: str, parameters: Mapping[str, dt.datetime] | None, label: str, location: Position | None,
              naive: set[str]):
        """The query's rows as a RecordBatchReader, a page (or Storage API stream) at a time."""
        import pyarrow as pa

        try:
            rows = self._job(sql, label, parameters).result()
            pages = rows.to_arrow_iterable(bqstorage_client=self.read_client)
            first = next(pages, None)
            if first is None:
                first = rows.to_arrow(bqstorage_client=self.read_client, create_bqstorage_client=False)
        except _api_errors() as exc:
            raise _engine_error(label, exc, location) from None
        fields = []
        for f in first.schema:
            arrow_type = f.type
            if pa.types.is_timestamp(arrow_type):
                arrow_type = pa.timestamp("us", None if f.name in naive else "UTC")
            fields.append(pa.field(f.name, arrow_type))
        schema = pa.schema(fields)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for page in itertools.chain([first], pages):
                    table = page if isinstance(page, pa.Table) else pa.Table.from_batches([page])
                    yield from table.cast(schema).to_batches()
            except _api_errors() as exc:
                raise _engine_error(label, exc, location) from None

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _new_name(self, kind: str) -> str:
        return f"__fc_{kind}_{self._prefix}_{next(self._names)}"


def connection_settings(settings: Mapping[str, Any], project_root: str):
    """(project, dataset, location, credentials or None for application-default, maximum bytes billed) from a
    target's settings. Raises FC132 for settings that cannot work (a key file that cannot be read)."""
    problems = []

    def text(key: str) -> str | None:
        value = settings.get(key)
        return None if value in (None, "") else str(value)

    for key in ("project", "dataset"):
        if text(key) is None:
            problems.append(Diagnostic(Code.OFFLINE_SETTINGS, f"the BigQuery target sets no `{key}`", None,
                                       _SETTINGS_HINT))
    maximum = None
    if text("maximum_bytes_billed") is not None:
        try:
            maximum = int(str(text("maximum_bytes_billed")))
        except ValueError:
            maximum = 0
        if maximum <= 0:
            problems.append(Diagnostic(Code.OFFLINE_SETTINGS, "the BigQuery target's `maximum_bytes_billed` must be a "
                                       f"whole number above 0, not {settings['maximum_bytes_billed']!r}", None,
                                       "maximum_bytes_billed: 10000000000"))
    credentials = None
    keyfile = text("keyfile")
    if keyfile is not None:
        path = os.path.join(project_root, os.path.expanduser(keyfile))
        try:
            from google.oauth2 import service_account

            credentials = service_account.Credentials.from_service_account_file(
                path, scopes=["https://www.googleapis.com/auth/cloud-platform"])
        except (OSError, ValueError, KeyError) as exc:
            problems.append(Diagnostic(Code.OFFLINE_SETTINGS, f"cannot read the BigQuery key file {path}: "
                                       f"{_reason(exc)}", None, "keyfile names a service account's JSON key; leave "
                                       "it out to use application-default credentials"))
    if problems:
        raise DiagnosticError(problems)
    return text("project"), text("dataset"), text("location"), credentials, maximum


def _read_client(credentials: Any):
    """The Storage API's client where google-cloud-bigquery-storage is installed, else None (REST pages)."""
    try:
        from google.cloud import bigquery_storage
    except ImportError:
        return None
    return bigquery_storage.BigQueryReadClient(credentials=credentials)


def _label_value(text: str) -> str:
    """A job label's value: lower-case letters, digits, `_` and `-`, at most 63 characters."""
    return _LABEL_TEXT.sub("_", text.lower()).strip("_")[:63] or "fcompile"


def _loadable(arrow_type):
    """The Arrow type a spine column is loaded as (naive timestamps as UTC instants); None: no BigQuery type."""
    import pyarrow as pa

    t = pa.types
    if t.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if t.is_timestamp(arrow_type):
        return pa.timestamp("us", "UTC")
    if t.is_null(arrow_type) or t.is_large_string(arrow_type):
        return pa.string()
    if t.is_float16(arrow_type):
        return pa.float32()
    if t.is_uint64(arrow_type):
        return None
    if any(check(arrow_type) for check in (t.is_boolean, t.is_integer, t.is_floating, t.is_string, t.is_date32,
                                           t.is_decimal, t.is_binary)):
        return arrow_type
    return None


class _BigQueryFailure(Exception):
    """An error as BigQuery words it, on one line."""


def _engine_error(label: str, exc: BaseException, location: Position | None) -> DiagnosticError:
    return engine_error(label, "BigQuery", _BigQueryFailure(_reason(exc)), location)


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return " ".join(text.split()) or type(exc).__name__


def _api_errors() -> tuple[type[BaseException], ...]:
    from google.api_core import exceptions as api_errors
    from google.auth import exceptions as auth_errors

    return api_errors.GoogleAPIError, auth_errors.GoogleAuthError


def _import_client():
    try:
        from google.cloud import bigquery
    except ImportError:
        raise DiagnosticError([Diagnostic(Code.DRIVER_MISSING, "the BigQuery runner needs google-cloud-bigquery, "
                                          "which is not installed", None, "pip install 'fcompile[bigquery]'")]) \
            from None
    return bigquery


_INTEGERS = ("INTEGER", "INT64")
_KEY_FAMILIES = {
    "int32": _INTEGERS, "int64": _INTEGERS, "float32": ("FLOAT", "FLOAT64", "NUMERIC", "BIGNUMERIC"),
    "float64": ("FLOAT", "FLOAT64", "NUMERIC", "BIGNUMERIC"), "string": ("STRING",), "bool": ("BOOLEAN", "BOOL"),
    "bytes": ("BYTES",), "date": ("DATE",), "timestamp": ("TIMESTAMP", "DATETIME"),
}
_ENGINE_TYPES = {"int32": "INT64", "int64": "INT64", "float32": "FLOAT64", "float64": "FLOAT64", "string": "STRING",
                 "bool": "BOOL", "bytes": "BYTES", "date": "DATE", "timestamp": "TIMESTAMP"}
