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
      read_api: storage              # how results are read: storage (the Storage API, the default where
                                     # google-cloud-bigquery-storage is installed) or rest (pages of the REST API)
      api_endpoint: https://bigquery.example.internal  # a BigQuery-compatible REST endpoint instead of Google's
      storage_endpoint: https://bigquerystorage.example.internal:443  # the Storage API's endpoint with it
      connect_timeout: 30            # seconds to keep trying to reach BigQuery when connecting

Endpoints. `api_endpoint` (an http:// or https:// URL) sends every REST request (jobs, tables, result
pages) to a private endpoint or an emulator. An `http://` endpoint is taken for an emulator: fcompile
sends it no credentials (anonymous), never a token in plaintext, so `keyfile` cannot go with it. With
`api_endpoint` the Storage API is used only where `storage_endpoint` names its endpoint too (an
`http://host:port` one is a plaintext gRPC channel, for an emulator); else results are read over REST.

Every job carries the labels `fcompile_project` (the project's name) and `fcompile_node` (what runs:
`dataset_training`, `feature_view_driver_stats`), so billing and audit logs say what fcompile ran.

| spine                         | how the engine reads it                                              |
| ----------------------------- | -------------------------------------------------------------------- |
| Arrow table / reader, pandas  | written as Parquet (batch by batch, with a row-number column); a     |
| Parquet / CSV file(s)         | table of the dataset is created with the spine's schema and an       |
|                               | expiry a day ahead (one request: it never exists without one), and  |
|                               | a load job appends the file; the table is dropped when the runner    |
|                               | closes                                                               |
| a table, a SELECT query       | in place; rows numbered by `ROW_NUMBER() OVER ()` as BigQuery reads   |

Naive spine timestamps are loaded as TIMESTAMP (read as UTC, docs/concepts/point-in-time.md), so they compare with
TIMESTAMP sources, and come back naive. Results are read as Arrow a page (or Storage API stream) at a
time. Datasets are built inside BigQuery (`CREATE OR REPLACE TABLE ... AS`, atomic); `write_parquet`
streams the batches into a file. The window of a materialization is bound as named TIMESTAMP query
parameters (`@start`, `@end`, the dialect's spelling). `dry_run(plan)` asks BigQuery what a plan would
scan, in bytes, running nothing. A `path:` source is refused (FC131): BigQuery reads tables.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Mapping
from urllib.parse import urlsplit

from sqlglot import exp

from fcompile.control_characters import comment_line
from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.graph import DType
from fcompile.planner.plans import BuildDataset, LatestValues, PointInTimeJoin, Relation
from fcompile.runners.base import (
    LoadedTable, RegisteredSpine, WindowStats, WrittenTable, engine_error, first_line, window_parameters,
    window_stats_of,
)
from fcompile.runners.external import (
    CompiledShapes, StreamedResults, in_place_spine, positive_setting, rebatched, refuse_file_sources,
    unreadable_spine, warehouse_spine, window_stats_query,
)
from fcompile.runners.spines import ROW_NUMBER, SpineInput, check_spine_names, row_numbers

if TYPE_CHECKING:
    import pyarrow as pa

SPINE_TABLE_HOURS = 24  # an uploaded spine's table expires after this, should the runner not drop it
CONNECT_TIMEOUT_SECONDS = 30  # how long connecting keeps retrying an endpoint that does not answer
READ_APIS = ("storage", "rest")
_SETTINGS_HINT = ("set the target's offline `project` and `dataset`; credentials come from `keyfile` (a service "
                  "account's JSON key) or application-default credentials (gcloud auth application-default login)")
_LABEL_TEXT = re.compile(r"[^a-z0-9_-]+")


_ENGINE_TYPES = {"int32": "INT64", "int64": "INT64", "float32": "FLOAT64", "float64": "FLOAT64", "string": "STRING",
                 "bool": "BOOL", "bytes": "BYTES", "date": "DATE", "timestamp": "TIMESTAMP"}


class BigQueryRunner(StreamedResults):
    dialect = "bigquery"
    engine_types = _ENGINE_TYPES
    prices_queries = True

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
        from google.api_core.client_options import ClientOptions

        found = connection_settings(settings, project_root)
        address = f"project '{found.project}'" + (f" at {found.api_endpoint}" if found.api_endpoint else "")
        options = ClientOptions(api_endpoint=found.api_endpoint) if found.api_endpoint else None
        try:
            client = bigquery.Client(project=found.project, credentials=found.credentials, location=found.location,
                                     client_options=options)
            dataset = client.get_dataset(f"{found.project}.{found.dataset}",
                                         retry=bigquery.DEFAULT_RETRY.with_timeout(found.connect_timeout),
                                         timeout=found.connect_timeout)
            read_client = _read_client(found)
        except api_errors.NotFound:
            raise DiagnosticError([Diagnostic(Code.OFFLINE_SETTINGS, f"dataset '{found.dataset}' does not exist in "
                                              f"BigQuery {address}", None, f"create it (bq mk {found.project}:"
                                              f"{found.dataset}), or fix the target's `dataset`")]) from None
        except _api_errors() as exc:
            hint = (f"is the endpoint up? check the target's `api_endpoint` ({found.api_endpoint})"
                    if found.api_endpoint else _SETTINGS_HINT)
            raise DiagnosticError([Diagnostic(Code.OFFLINE_UNREACHABLE, f"cannot connect to BigQuery {address}: "
                                              f"{_reason(exc)}", None, hint)]) from None
        return cls(client, f"{found.project}.{found.dataset}", found.location or dataset.location,
                   found.maximum_bytes_billed, read_client)

    # -- spines ------------------------------------------------------------------------------------

    def register_spine(self, spine: SpineInput) -> RegisteredSpine:
        return warehouse_spine(spine, self.sql_dialect, lambda data, types: self._upload(data, spine, types),
                               self._in_place, "the target's project")

    def _upload(self, data: Any, spine: SpineInput, arrow_types: Mapping[str, str] | None) -> RegisteredSpine:
        """Parquet with a row-number column, appended by a load job to a table created first with the
        spine's schema and its expiry."""
        import pyarrow as pa
        from google.cloud import bigquery

        schema = data.schema
        check_spine_names(schema.names)
        name = f"{self.dataset}.{self._new_name('spine')}"
        config = bigquery.LoadJobConfig(write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
                                        create_disposition=bigquery.CreateDisposition.CREATE_NEVER)

        def create(columns: list[Any]) -> None:
            table = bigquery.Table(name, schema=[*columns, bigquery.SchemaField(ROW_NUMBER, "INT64")])
            table.expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=SPINE_TABLE_HOURS)
            self.client.create_table(table)
            self._spine_tables.append(name)

        columns = self._load(data, name, spine.description, config, "spine", numbered=True, before=create)
        self._naive[name] = {f.name for f in schema if pa.types.is_timestamp(f.type) and f.type.tz is None}
        types = {c.name: c.field_type for c in columns}
        return RegisteredSpine(Relation("placeholder", name), tuple(schema.names), types, ROW_NUMBER,
                               spine.description, arrow_types,
                               setup_sql=(comment_line(f"a table `{name}` with the spine's schema, expiring in "
                                                       f"{SPINE_TABLE_HOURS} h; a load job appends "
                                                       f"{spine.description} as Parquet"),))

    def load_table(self, data: Any, table: str, description: str) -> LoadedTable:
        """Loaded by a load job into a new table of the target's dataset (expiring a day ahead, should it be
        left behind), then `CREATE OR REPLACE TABLE ... AS SELECT` from it, which BigQuery runs atomically
        (a failure leaves the old table, data and schema), and the new one dropped."""
        from google.cloud import bigquery

        name = f"{self.dataset}.{table}"
        building = f"{self.dataset}.{self._new_name('building')}"  # this run's: two loads at once do not meet
        config = bigquery.LoadJobConfig(write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
                                        create_disposition=bigquery.CreateDisposition.CREATE_NEVER)

        def create(columns: list[Any]) -> None:
            staged = bigquery.Table(building, schema=columns)
            staged.expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=SPINE_TABLE_HOURS)
            self.client.create_table(staged)

        label = f"loading {description}"
        try:
            self._load(data, building, description, config, "seed", numbered=False, before=create)
            replace_target = exp.Create(this=exp.to_table(name, dialect="bigquery"), kind="TABLE", replace=True,
                                        expression=exp.select("*").from_(exp.to_table(building, dialect="bigquery")))
            self._job(self.sql_dialect.generate(replace_target, pretty=False), label).result()
            return LoadedTable(name, int(self.client.get_table(name).num_rows or 0))
        except _api_errors() as exc:
            raise _engine_error(label, exc, None) from None
        finally:
            try:
                self.client.delete_table(building, not_found_ok=True)
            except _api_errors():
                pass  # it expires: the original error says what went wrong

    def _load(self, data: Any, name: str, description: str, config: Any, kind: str, numbered: bool,
              before: Any = None) -> list[Any]:
        """An Arrow table or reader written as Parquet (with a row-number column after its own when
        `numbered`) into a temporary file, then loaded into the table `name` by a load job of `config`
        (given the columns' schema and labels here); `before(columns)` runs first. Returns the columns."""
        import pyarrow as pa
        import pyarrow.parquet as pq
        from google.cloud import bigquery

        fields, columns, problems = [], [], []
        for f in data.schema:
            found = _loadable(f.type)
            if found is None:
                problems.append(Diagnostic(Code.SPINE_UPLOAD, f"{description}: column '{f.name}' is Arrow "
                                           f"{f.type}, which fcompile cannot load into BigQuery", None,
                                           "convert the column to a number, text, boolean, date or timestamp, or "
                                           "leave it out"))
                continue
            fields.append(pa.field(f.name, found[0]))
            columns.append(bigquery.SchemaField(f.name, found[1]))
        if problems:
            raise DiagnosticError(problems)
        extra = [pa.field(ROW_NUMBER, pa.int64())] if numbered else []
        file_schema = pa.schema([*fields, *extra])
        # written to a temporary file, not memory: the data's size is the caller's
        with tempfile.TemporaryFile() as buffer:
            batches = data.to_batches() if isinstance(data, pa.Table) else data
            start = 0
            try:
                with pq.ParquetWriter(buffer, file_schema, coerce_timestamps="us",
                                      allow_truncated_timestamps=True) as out:
                    for batch in batches:
                        values = [column.cast(f.type) if column.type != f.type else column
                                  for column, f in zip(batch.columns, fields)]
                        numbers = [row_numbers(start, batch.num_rows)] if numbered else []
                        out.write_batch(pa.RecordBatch.from_arrays([*values, *numbers], schema=file_schema))
                        start += batch.num_rows
            except pa.ArrowException as exc:
                raise DiagnosticError([Diagnostic(Code.ENGINE_ERROR, f"{description} cannot be written for "
                                                  f"BigQuery: {first_line(exc)}", None, "check its values")]) \
                    from None
            buffer.seek(0)
            config.source_format = bigquery.SourceFormat.PARQUET
            config.labels = self._labels(kind)
            try:
                if before is not None:
                    before(columns)
                self.client.load_table_from_file(buffer, name, job_config=config, location=self.location).result()
            except _api_errors() as exc:
                raise DiagnosticError([Diagnostic(Code.ENGINE_ERROR, f"{description} cannot be loaded into "
                                                  f"BigQuery: {_reason(exc)}", None, "check its values")]) \
                    from None
        return columns

    def _in_place(self, query: exp.Select, relation: Relation, spine: SpineInput) -> RegisteredSpine:
        try:
            job = self._job(self.sql_dialect.generate(query.limit(0), pretty=False), "spine", dry_run=True)
        except _api_errors() as exc:
            raise unreadable_spine(spine, _reason(exc), f"in the target's dataset ({self.dataset})") from None
        return in_place_spine(relation, spine, ((f.name, f.field_type) for f in job.schema))

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
        return self._read(self.single_statement(plan), None, label, location, naive)

    def write_dataset_table(self, build: BuildDataset, label: str, location: Position | None = None) -> WrittenTable:
        """`CREATE OR REPLACE TABLE ... AS`, atomic in BigQuery; the rows are the new table's."""
        statements = self.statements(build)
        target = exp.to_table(build.output.locator, dialect="bigquery")
        name = ".".join(p.name for p in target.parts)
        if len(target.parts) == 1:
            name = f"{self.dataset}.{name}"
        try:
            for sql in statements:
                self._job(sql, label).result()
            return WrittenTable(int(self.client.get_table(name).num_rows or 0), tuple(statements))
        except _api_errors() as exc:
            raise _engine_error(label, exc, location) from None

    def latest_values(self, plan: LatestValues, start: dt.datetime, end: dt.datetime, label: str,
                      location: Position | None = None, batch_rows: int = 100_000):
        parameters = window_parameters(plan, start, end)
        reader = self._read(self.single_statement(plan), parameters, label, location, set())
        return rebatched(reader, batch_rows)

    def window_stats(self, plan: LatestValues, start: dt.datetime | None, end: dt.datetime, label: str,
                     location: Position | None = None) -> WindowStats:
        refuse_file_sources(plan, "BigQuery")
        sql, parameters = window_stats_query(self.sql_dialect, plan, start, end)
        try:
            (row,) = list(self._job(sql, label, parameters).result())
        except _api_errors() as exc:
            raise _engine_error(label, exc, location) from None
        return window_stats_of(rows=row["rows"], keys=row["keys"], earliest=row["earliest"], latest=row["latest"])

    def is_timestamp_type(self, engine_type: str) -> bool:
        return engine_type.upper() in ("TIMESTAMP", "DATETIME")

    def key_type_fits(self, dtype: DType, engine_type: str) -> bool:
        return engine_type.upper() in _KEY_FAMILIES.get(dtype.name, ())

    def query_rows(self, sql: str, label: str, location: Position | None = None) -> tuple[tuple[str, ...], list[tuple]]:
        try:
            rows = self._job(sql, label).result()
            names = tuple(f.name for f in rows.schema or ())
            return names, [tuple(row.values()) for row in rows]
        except _api_errors() as exc:
            raise _engine_error(label, exc, location) from None

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
            if self.read_client is not None:
                self.read_client.transport.close()

    # -- helpers -----------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class BigQuerySettings:
    """A BigQuery target's settings, checked."""

    project: str
    dataset: str
    location: str | None
    credentials: Any  # a service account's; AnonymousCredentials for an http:// endpoint; None: application-default
    maximum_bytes_billed: int | None
    read_api: str  # "storage" or "rest"
    api_endpoint: str | None = None
    storage_endpoint: str | None = None  # http(s)://host:port
    connect_timeout: int = CONNECT_TIMEOUT_SECONDS


def connection_settings(settings: Mapping[str, Any], project_root: str) -> BigQuerySettings:
    """A target's settings, checked; FC132 for settings that cannot work (a key file that cannot be read, a
    malformed endpoint, a key file sent to a plaintext endpoint), FC133 for `read_api: storage` without
    google-cloud-bigquery-storage."""
    problems = []

    def text(key: str) -> str | None:
        value = settings.get(key)
        return None if value in (None, "") else str(value)

    for key in ("project", "dataset"):
        if text(key) is None:
            problems.append(Diagnostic(Code.OFFLINE_SETTINGS, f"the BigQuery target sets no `{key}`", None,
                                       _SETTINGS_HINT))
    maximum = positive_setting(settings, "maximum_bytes_billed", "BigQuery", None, problems, example=10_000_000_000)
    timeout = positive_setting(settings, "connect_timeout", "BigQuery", CONNECT_TIMEOUT_SECONDS, problems)
    api_endpoint = _endpoint(settings, "api_endpoint", "https://bigquery.example.internal", problems)
    storage_endpoint = _endpoint(settings, "storage_endpoint", "https://bigquerystorage.example.internal:443",
                                 problems)
    plaintext = api_endpoint is not None and api_endpoint.startswith("http://")
    credentials = None
    keyfile = text("keyfile")
    if keyfile is not None and plaintext:
        problems.append(Diagnostic(Code.OFFLINE_SETTINGS, f"the BigQuery target's `keyfile` cannot go with the "
                                   f"plaintext endpoint {api_endpoint}: its tokens would travel unencrypted", None,
                                   "use an https:// api_endpoint, or leave keyfile out for an emulator (it is sent "
                                   "no credentials)"))
    elif keyfile is not None:
        path = os.path.join(project_root, os.path.expanduser(keyfile))
        try:
            from google.oauth2 import service_account

            credentials = service_account.Credentials.from_service_account_file(
                path, scopes=["https://www.googleapis.com/auth/cloud-platform"])
        except (OSError, ValueError, KeyError) as exc:
            problems.append(Diagnostic(Code.OFFLINE_SETTINGS, f"cannot read the BigQuery key file {path}: "
                                       f"{_reason(exc)}", None, "keyfile names a service account's JSON key; leave "
                                       "it out to use application-default credentials"))
    elif plaintext:
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    read_api = _read_api(text("read_api"), api_endpoint, storage_endpoint, problems)
    if problems:
        raise DiagnosticError(problems)
    return BigQuerySettings(str(text("project")), str(text("dataset")), text("location"), credentials, maximum,
                            read_api, api_endpoint, storage_endpoint, timeout)


def _endpoint(settings: Mapping[str, Any], key: str, example: str, problems: list[Diagnostic]) -> str | None:
    """An endpoint setting: an http:// or https:// URL with a host (a trailing slash dropped), or FC132."""
    value = settings.get(key)
    if value in (None, ""):
        return None
    parts = urlsplit(str(value))
    try:
        parts.port  # noqa: B018  (raises for a port that is not a number)
        well_formed = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.path in ("", "/")
    except ValueError:
        well_formed = False
    if not well_formed:
        problems.append(Diagnostic(Code.OFFLINE_SETTINGS, f"the BigQuery target's `{key}` must be an http:// or "
                                   f"https:// URL of a host (and port), not {value!r}", None,
                                   f"{key}: {example} (http:// only for an emulator)"))
        return None
    return str(value).rstrip("/")


def _read_api(given: str | None, api_endpoint: str | None, storage_endpoint: str | None,
              problems: list[Diagnostic]) -> str:
    """How results are read. Default: the Storage API where its client is installed and its endpoint is
    known (Google's, or `storage_endpoint` beside an `api_endpoint`), else REST."""
    installed = _storage_installed()
    known = api_endpoint is None or storage_endpoint is not None
    if given is None:
        return "storage" if installed and known else "rest"
    if given not in READ_APIS:
        problems.append(Diagnostic(Code.OFFLINE_SETTINGS, f"the BigQuery target's `read_api` must be one of "
                                   f"{', '.join(READ_APIS)}, not {given!r}", None,
                                   "read_api: rest reads results over the REST API (no Storage API permission "
                                   "needed, slower for large results)"))
    elif given == "storage" and not known:
        problems.append(Diagnostic(Code.OFFLINE_SETTINGS, "the BigQuery target sets `read_api: storage` and an "
                                   "`api_endpoint` but no `storage_endpoint`: where the Storage API is is not known",
                                   None, "set storage_endpoint (http://host:port for an emulator's gRPC port), or "
                                   "read_api: rest"))
    elif given == "storage" and not installed:
        problems.append(Diagnostic(Code.DRIVER_MISSING, "`read_api: storage` needs google-cloud-bigquery-storage, "
                                   "which is not installed", None, "pip install 'fcompile[bigquery]', or "
                                   "read_api: rest"))
    return given


def _storage_installed() -> bool:
    try:
        from google.cloud import bigquery_storage  # noqa: F401
    except ImportError:
        return False
    return True


def _read_client(settings: BigQuerySettings):
    """The Storage API's client (`read_api: storage`), else None (REST pages). An http:// storage_endpoint
    is a plaintext gRPC channel with no credentials; an https:// one is Google's TLS with the target's."""
    if settings.read_api != "storage":
        return None
    from google.cloud import bigquery_storage

    if settings.storage_endpoint is None:
        return bigquery_storage.BigQueryReadClient(credentials=settings.credentials)
    parts = urlsplit(settings.storage_endpoint)
    host = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    if parts.scheme == "http":
        import grpc
        from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport

        return bigquery_storage.BigQueryReadClient(transport=BigQueryReadGrpcTransport(
            channel=grpc.insecure_channel(host)))
    from google.api_core.client_options import ClientOptions

    return bigquery_storage.BigQueryReadClient(credentials=settings.credentials,
                                               client_options=ClientOptions(api_endpoint=host))


def _label_value(text: str) -> str:
    """A job label's value: lower-case letters, digits, `_` and `-`, at most 63 characters."""
    return _LABEL_TEXT.sub("_", text.lower()).strip("_")[:63] or "fcompile"


def _loadable(arrow_type) -> tuple[Any, str] | None:
    """(the Arrow type a spine column is written as, its BigQuery column type): naive timestamps as UTC
    instants, every integer as INT64. None: BigQuery has no type for it."""
    import pyarrow as pa

    t = pa.types
    if t.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if t.is_timestamp(arrow_type):
        return pa.timestamp("us", "UTC"), "TIMESTAMP"
    if t.is_null(arrow_type) or t.is_string(arrow_type) or t.is_large_string(arrow_type):
        return pa.string(), "STRING"
    if t.is_uint64(arrow_type):
        return None  # above INT64's range
    if t.is_integer(arrow_type):
        return pa.int64(), "INT64"
    if t.is_float16(arrow_type):
        return pa.float32(), "FLOAT64"
    if t.is_floating(arrow_type):
        return arrow_type, "FLOAT64"
    if t.is_boolean(arrow_type):
        return arrow_type, "BOOL"
    if t.is_date32(arrow_type):
        return arrow_type, "DATE"
    if t.is_binary(arrow_type):
        return arrow_type, "BYTES"
    if t.is_decimal(arrow_type):
        whole, scale = arrow_type.precision - arrow_type.scale, arrow_type.scale
        if scale <= 9 and whole <= 29:
            return arrow_type, "NUMERIC"
        if scale <= 38 and whole <= 38:
            return arrow_type, "BIGNUMERIC"
    return None


def _engine_error(label: str, exc: BaseException, location: Position | None) -> DiagnosticError:
    return engine_error(label, "BigQuery", _reason(exc), location)


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc)
    return " ".join(text.split()) or type(exc).__name__


def _api_errors() -> tuple[type[BaseException], ...]:
    """What the clients raise for BigQuery's refusals and for endpoints that cannot be reached."""
    import requests
    from google.api_core import exceptions as api_errors
    from google.auth import exceptions as auth_errors

    return api_errors.GoogleAPIError, auth_errors.GoogleAuthError, requests.RequestException


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
