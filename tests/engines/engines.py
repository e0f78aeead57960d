"""The offline engines the conformance suite runs on, behind one small interface.

Each engine can open a runner, say what a target's `offline:` settings for it are (for projects run
through `FeatureStore`), and put test data where a `table:` source finds it. A new engine joins the suite
as one more `EngineUnderTest` and a name in `ENGINE_NAMES`.

- duckdb: in process, a database file per project (or in memory).
- postgres: the server at FCOMPILE_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/test; the
  `postgres_url` fixture of tests/conftest.py), in a schema of its own that is dropped at the end.
- spark: pyspark in local mode, one session for the whole run (local[2], two shuffle partitions).
- snowflake: the fakesnow emulator's server (Snowflake on DuckDB, reached by the real connector over
  HTTP), in a schema of its own; `asof_join: false`, since fakesnow cannot parse `ASOF JOIN ...
  MATCH_CONDITION` (that form runs in test_snowflake_asof_rewrite.py).
- snowflake_live: a real account from SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_PASSWORD (or
  SNOWFLAKE_PRIVATE_KEY_PATH), SNOWFLAKE_DATABASE, SNOWFLAKE_WAREHOUSE and SNOWFLAKE_ROLE (optional), with
  native ASOF joins, in a schema of its own that is dropped at the end; skipped without them.
- bigquery: the bqemulator server (BigQuery's REST and Storage API on DuckDB, a process from the
  `.venv-bqemu` virtualenv `make test` builds; bigquery_emulator.py), reached by google-cloud-bigquery
  through `api_endpoint` without credentials, in a dataset of its own; results are read over REST
  (`read_api: rest`: the emulator's Storage API cannot read a query's result table). Skipped, saying
  so, where `.venv-bqemu` is missing.
- bigquery_live: a real project from BIGQUERY_PROJECT with GOOGLE_APPLICATION_CREDENTIALS (a service
  account's key) or application-default credentials, in a dataset of its own created in BIGQUERY_LOCATION
  (default US) and dropped at the end; results read with the Storage API; skipped without them.

Both BigQuery engines skip the one hand-written case BigQuery cannot hold (an array with a NULL element;
`cases_not_run`); test_bigquery_runner.py runs it as BigQuery has it. BigQuery and Snowflake skip the
full tie of differing arrays: they cannot order arrays, and give any one of the tied arrays (documented in
docs/concepts/point-in-time.md).
"""

from __future__ import annotations

import contextlib
import math
import uuid
from pathlib import Path
from typing import Any, Mapping

import pyarrow as pa

from compiler.harness import Table, arrow_table, load_duckdb, load_postgres

ARRAYS_UNORDERED = ("the warehouse cannot order arrays: a full tie of differing arrays gives any one of them "
                    "(docs/concepts/point-in-time.md)")
ENGINE_NAMES = ("duckdb", "postgres", "spark", "snowflake", "snowflake_live", "bigquery", "bigquery_live")



class EngineUnderTest:
    """One offline engine: runners on it, target settings for it, and test data in it."""

    name: str
    random_examples: int = 6     # hypothesis examples per shape in the randomized reference cases
    # Where every query is costly (Spark: a job of several stages, about a second even on tiny data), a
    # case runs with one of its distinct strategies, taken in turn from case to case, and every
    # `in_place_every`-th case also reads its spine from a table.
    one_strategy_per_case: bool = False
    in_place_every: int = 1
    # hand-written reference cases (test names in tests/compiler/test_point_in_time_semantics.py) the engine
    # cannot run as written -> why, and where it runs them as it can
    cases_not_run: Mapping[str, str] = {}

    def __init__(self) -> None:
        self.cases_run = 0

    def offline_settings(self, project_root: Path) -> dict[str, Any]:
        raise NotImplementedError

    def runner(self):
        """The suite's shared runner on this engine (kept open for the run)."""
        raise NotImplementedError

    def load(self, runner, table: Table) -> None:
        """Make `table: <table.name>` resolve to these rows for `runner`."""
        raise NotImplementedError

    def read_table(self, runner, name: str) -> pa.Table:
        """A table the runner wrote (a dataset), as Arrow."""
        raise NotImplementedError

    def output_prefix(self) -> str:
        """Where tests write tables (datasets): a schema or database of the run's own, as `name.`, or ""."""
        return ""

    @contextlib.contextmanager
    def several_partitions(self):
        """Within: the engine splits results into several parts where it can (Spark: shuffle partitions)."""
        yield

    def close(self) -> None:
        pass


class DuckDBUnderTest(EngineUnderTest):
    name = "duckdb"

    def __init__(self) -> None:
        super().__init__()
        self._runner = None

    def offline_settings(self, project_root: Path) -> dict[str, Any]:
        return {"type": "duckdb", "path": ".fcompile/offline.duckdb"}

    def runner(self):
        from fcompile.runners.duckdb import DuckDBRunner

        if self._runner is None:
            self._runner = DuckDBRunner()
        return self._runner

    def load(self, runner, table: Table) -> None:
        load_duckdb(runner.con, table)

    def read_table(self, runner, name: str) -> pa.Table:
        return runner.con.sql(f"SELECT * FROM {_quoted(name)}").to_arrow_table()

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()


class PostgresUnderTest(EngineUnderTest):
    name = "postgres"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.schema = f"fc_engines_{uuid.uuid4().hex[:12]}"
        import psycopg

        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{self.schema}"')
        self._runner = None

    def offline_settings(self, project_root: Path) -> dict[str, Any]:
        return {"type": "postgres", "url": self.url, "schema": self.schema}

    def runner(self):
        from fcompile.runners.postgres import PostgresRunner

        if self._runner is None:
            self._runner = PostgresRunner.connect(self.offline_settings(Path(".")), ".")
        return self._runner

    def load(self, runner, table: Table) -> None:
        load_postgres(runner.conn, table)

    def read_table(self, runner, name: str) -> pa.Table:
        with runner.conn.cursor(binary=True) as cur:  # binary: a REAL arrives as its exact value
            cur.execute(f"SELECT * FROM {_quoted(name)}")
            names = [d.name for d in cur.description]
            return pa.Table.from_pylist([dict(zip(names, row)) for row in cur.fetchall()])

    def close(self) -> None:
        import psycopg

        if self._runner is not None:
            self._runner.close()
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{self.schema}" CASCADE')


class SparkUnderTest(EngineUnderTest):
    name = "spark"
    random_examples = 2
    one_strategy_per_case = True
    in_place_every = 4

    def __init__(self, session, work: Path) -> None:
        super().__init__()
        self.session = session
        self.work = work
        self._runner = None
        # tables the tests write go to a database in the run's temporary folder, whatever the session's
        # warehouse is (a session started elsewhere may have the working folder's)
        self.database = f"fc_engines_{uuid.uuid4().hex[:12]}"
        session.sql(f"CREATE DATABASE `{self.database}` LOCATION '{work / 'database'}'")

    def output_prefix(self) -> str:
        return f"{self.database}."

    def offline_settings(self, project_root: Path) -> dict[str, Any]:
        # the test session is running: connect() uses it rather than starting another
        return {"type": "spark", "master": "local[2]"}

    def runner(self):
        from fcompile.runners.spark import SparkRunner, SparkSettings

        if self._runner is None:
            self._runner = SparkRunner(SparkSettings(master="local[2]"), session=self.session)
        return self._runner

    def load(self, runner, table: Table) -> None:
        import pyarrow.parquet as pq

        folder = self.work / f"{table.name}_{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        pq.write_table(arrow_table(table), folder / "part-0.parquet")  # naive timestamps: TIMESTAMP_NTZ
        self.session.read.parquet(str(folder)).createOrReplaceTempView(table.name)

    def read_table(self, runner, name: str) -> pa.Table:
        import pyarrow.parquet as pq

        folder = self.work / f"read_{uuid.uuid4().hex[:8]}"
        self.session.table(_ticked(name)).write.parquet(str(folder))
        return pq.read_table(folder)

    @contextlib.contextmanager
    def several_partitions(self):
        before = self.session.conf.get("spark.sql.shuffle.partitions")
        self.session.conf.set("spark.sql.shuffle.partitions", "4")
        try:
            yield
        finally:
            self.session.conf.set("spark.sql.shuffle.partitions", before)

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
        self.session.sql(f"DROP DATABASE IF EXISTS `{self.database}` CASCADE")


class SnowflakeUnderTest(EngineUnderTest):
    """Snowflake through the real connector: on the fakesnow emulator's server (`connection` has its host,
    port and protocol) or on a live account. Tables are made with upper-case names and columns, as
    unquoted names resolve in Snowflake, and filled by INSERT ... SELECT ... FROM VALUES with literals
    (not through the runner's own upload, which is under test)."""
    cases_not_run = {"test_full_ties_of_differing_arrays": ARRAYS_UNORDERED}

    def __init__(self, name: str, connection: dict[str, Any], asof_join: bool, random_examples: int,
                 on_close=lambda: None) -> None:
        super().__init__()
        self.on_close = on_close  # stops the emulator
        self.name = name
        self.random_examples = random_examples
        self.schema = f"FC_ENGINES_{uuid.uuid4().hex[:12].upper()}"
        self.settings = {"type": "snowflake", **connection, "schema": self.schema, "asof_join": asof_join}
        from fcompile.runners.snowflake import SnowflakeRunner

        without_schema = {k: v for k, v in self.settings.items() if k != "schema"}
        with SnowflakeRunner.connect(without_schema, ".") as admin, admin.conn.cursor() as cur:
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        self._runner = None

    def offline_settings(self, project_root: Path) -> dict[str, Any]:
        """The settings as a project file holds them: credentials through env_var() (FC082 otherwise), the
        variables set in this process."""
        import os

        from fcompile.parser.project_file import SECRET_KEYS

        settings = dict(self.settings)
        for key in SECRET_KEYS & settings.keys():
            variable = f"FC_TEST_{self.name.upper()}_{key.upper()}"
            os.environ[variable] = str(settings[key])
            settings[key] = f"{{{{ env_var('{variable}') }}}}"
        return settings

    def runner(self):
        from fcompile.runners.snowflake import SnowflakeRunner

        if self._runner is None:
            self._runner = SnowflakeRunner.connect(self.settings, ".")
        return self._runner

    def load(self, runner, table: Table) -> None:
        self._create(runner, table.name, [(c, SF_TYPES[t]) for c, t in table.columns],
                     [[row[c] for c in table.column_names] for row in table.rows])

    def _create(self, runner, name: str, columns: list[tuple[str, str]], rows: list[list[Any]]) -> None:
        table = _upper_quoted(name)
        quoted = [f'"{c.upper()}"' for c, _ in columns]
        names = ", ".join(quoted)
        with runner.conn.cursor() as cur:
            definitions = ", ".join(f"{q} {t}" for q, (_, t) in zip(quoted, columns))
            cur.execute(f"CREATE OR REPLACE TABLE {table} ({definitions})")
            for start in range(0, len(rows), 2000):
                values = ", ".join("(" + ", ".join(_snowflake_literal(v) for v in row) + ")"
                                   for row in rows[start:start + 2000])
                select = ", ".join(f"PARSE_JSON(column{i + 1})" if t == "ARRAY" else f"column{i + 1}"
                                   for i, (_, t) in enumerate(columns))
                cur.execute(f"INSERT INTO {table} ({names}) SELECT {select} FROM VALUES {values}")

    def read_table(self, runner, name: str) -> pa.Table:
        with runner.conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {_upper_quoted(name)}")
            found = cur.fetch_arrow_all(force_return_table=True, force_microsecond_precision=True)
        return found.rename_columns([c.lower() for c in found.column_names])

    def close(self) -> None:
        try:
            if self._runner is not None:
                with self._runner.conn.cursor() as cur:
                    cur.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
                self._runner.close()
        finally:
            self.on_close()


class BigQueryUnderTest(EngineUnderTest):
    """BigQuery through google-cloud-bigquery: on the bqemulator server (`settings` has its `api_endpoint`)
    or on a live project. The run's tables are in a dataset of its own, created here and dropped at the
    end. Tables are created with their BigQuery schema and filled by a Parquet load job of the client (not
    through the runner's own upload, which is under test); a test's naive timestamps are TIMESTAMP (UTC),
    as the runner loads a spine's."""
    cases_not_run = {"test_array_and_timestamp_features_in_full_ties": (
        "BigQuery arrays hold no NULL element (the case has [3, NULL]) and a NULL array reads as [] in results; "
        "test_bigquery_runner.py runs the case as BigQuery has it"),
        "test_full_ties_of_differing_arrays": ARRAYS_UNORDERED}

    def __init__(self, name: str, settings: dict[str, Any], random_examples: int, location: str = "US",
                 emulator: Any = None, on_close=lambda: None) -> None:
        super().__init__()
        self.emulator = emulator  # bigquery_emulator.Emulator, or None on a live project
        from google.cloud import bigquery

        from fcompile.runners.bigquery import connection_settings

        self.on_close = on_close  # stops the emulator
        self.name = name
        self.random_examples = random_examples
        self.dataset = f"fc_engines_{uuid.uuid4().hex[:12]}"
        self.settings = {"type": "bigquery", **settings, "dataset": self.dataset}
        found = connection_settings(self.settings, ".")
        self.project = found.project
        options = {"api_endpoint": found.api_endpoint} if found.api_endpoint else None
        self.client = bigquery.Client(project=found.project, credentials=found.credentials, client_options=options)
        dataset = bigquery.Dataset(f"{found.project}.{self.dataset}")
        dataset.location = location
        self.client.create_dataset(dataset)
        self._runner = None

    def offline_settings(self, project_root: Path) -> dict[str, Any]:
        return dict(self.settings)

    def runner(self):
        from fcompile.runners.bigquery import BigQueryRunner

        if self._runner is None:
            self._runner = BigQueryRunner.connect(self.settings, ".")
        return self._runner

    def load(self, runner, table: Table) -> None:
        data = arrow_table(table)
        self.create(table.name, [(c, BQ_TYPES[t]) for c, t in table.columns], data)

    def create(self, name: str, columns: list[tuple[str, str]], data: pa.Table) -> None:
        """A table of these columns (type, or `ARRAY<type>`) holding `data`, replacing any of that name."""
        import io

        import pyarrow.parquet as pq
        from google.cloud import bigquery

        table_id = self.table_id(name)
        schema = [bigquery.SchemaField(c, t.removeprefix("ARRAY<").removesuffix(">"),
                                       mode="REPEATED" if t.startswith("ARRAY<") else "NULLABLE") for c, t in columns]
        utc = [column.cast(pa.timestamp("us", "UTC")) if pa.types.is_timestamp(column.type) else column
               for column in data.columns]
        buffer = io.BytesIO()
        pq.write_table(pa.table(utc, names=data.column_names), buffer)
        buffer.seek(0)
        lists = bigquery.ParquetOptions()
        lists.enable_list_inference = True  # a list column is an ARRAY, not a STRUCT of one
        config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET, parquet_options=lists,
                                        write_disposition=bigquery.WriteDisposition.WRITE_APPEND)
        self.client.delete_table(table_id, not_found_ok=True)
        self.client.create_table(bigquery.Table(table_id, schema=schema))
        self.client.load_table_from_file(buffer, table_id, job_config=config).result()

    def read_table(self, runner, name: str) -> pa.Table:
        """Through the runner's Storage API client where it has one (else REST pages)."""
        rows = self.client.list_rows(self.table_id(name))
        return rows.to_arrow(bqstorage_client=runner.read_client, create_bqstorage_client=False)

    def table_id(self, name: str) -> str:
        """`name`, `dataset.name` or `project.dataset.name` as `project.dataset.name`."""
        parts = name.split(".")
        return ".".join([self.project, self.dataset][:3 - len(parts)] + parts)

    def close(self) -> None:
        try:
            if self._runner is not None:
                self._runner.close()
            self.client.delete_dataset(f"{self.project}.{self.dataset}", delete_contents=True, not_found_ok=True)
            self.client.close()
        finally:
            self.on_close()


@contextlib.contextmanager
def fakesnow_server():
    """The fakesnow emulator's server on a free port of this machine: Snowflake's REST protocol in front of
    DuckDB, so the real connector (login, bindings, PUT, Arrow results) does the talking. Yields its
    connection settings as a target gives them.

    One emulator bug is mended while it runs, not worked around in fcompile: fakesnow 0.12.1 encodes a
    timestamp result as a struct without a validity bitmap, so a NULL timestamp reaches the client as
    the epoch (1970-01-01). The mended encoder marks those values NULL, as Snowflake's own results do."""
    import logging

    import fakesnow
    import fakesnow.arrow

    encode = fakesnow.arrow.timestamp_to_sf_struct

    def encode_with_nulls(values):
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        found = encode(values)
        return pa.StructArray.from_arrays(found.flatten(), fields=list(found.type), mask=values.is_null())

    fakesnow.arrow.timestamp_to_sf_struct = encode_with_nulls
    try:
        with fakesnow.server() as found:
            for name in ("fakesnow.server", "uvicorn", "uvicorn.error", "uvicorn.access"):  # a line per request
                logging.getLogger(name).setLevel(logging.WARNING)
            yield {"account": "fakesnow", "user": found["user"], "password": found["password"],
                   "host": found["host"], "port": found["port"], "protocol": found["protocol"],
                   "database": "FC_TESTS", "network_timeout": 30, "login_timeout": 10}
    finally:
        fakesnow.arrow.timestamp_to_sf_struct = encode


# column type of the harness -> Snowflake type
SF_TYPES = {"int64": "NUMBER(38, 0)", "int32": "NUMBER(38, 0)", "string": "VARCHAR", "float64": "FLOAT",
            "bool": "BOOLEAN", "timestamp": "TIMESTAMP_NTZ", "timestamptz": "TIMESTAMP_TZ", "array<int64>": "ARRAY"}


# column type of the harness -> BigQuery type
BQ_TYPES = {"int64": "INT64", "int32": "INT64", "string": "STRING", "float64": "FLOAT64", "bool": "BOOL",
            "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMP", "array<int64>": "ARRAY<INT64>"}


def _snowflake_literal(value: Any) -> str:
    """A value as a constant of a VALUES list (timestamps as text the column's type converts)."""
    import datetime as dt
    import json

    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and not math.isfinite(value):  # NaN, inf, -inf: Snowflake's texts for them
        return f"CAST('{'NaN' if math.isnan(value) else value}' AS FLOAT)"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return f"'{value.isoformat(sep=' ') if isinstance(value, dt.datetime) else value.isoformat()}'"
    if isinstance(value, list):
        return "'" + json.dumps(value) + "'"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "''") + "'"


def _upper_quoted(name: str) -> str:
    return ".".join(f'"{part.upper()}"' for part in name.split("."))


def _quoted(name: str) -> str:
    return ".".join(f'"{part}"' for part in name.split("."))


def _ticked(name: str) -> str:
    return ".".join(f"`{part}`" for part in name.split("."))


# -- what the runner tests of the warehouses share ----------------------------------------------------------

def runner_stats_rows(tier: str) -> Table:
    """The stats rows the runner tests read (ties, a NULL created time); row 4's tier is `tier`, so an
    engine's quoting of `'` and `%` in a query source gets a value to find."""
    from compiler.test_point_in_time_semantics import HOUR, SEC, T, stats_table

    return stats_table((1, T - SEC, T, 0.1, 1, "a"), (1, T, T, 0.2, 2, "ab"), (2, T - HOUR, T, 0.3, 3, "b"),
                       (2, T - 2 * SEC, T + SEC, 0.4, 4, tier), (3, T - SEC, None, 0.5, 5, "c"))


def runner_spine() -> Table:
    """A spine of repeated keys, a NULL key, a key never seen, out of time order."""
    from compiler.test_point_in_time_semantics import HOUR, SEC, T, spine

    return spine((2, T, 1), (1, T, 2), (3, T - SEC, 3), (1, T - HOUR, 4), (2, T, 5), (None, T, 6), (9, T, 7))


def write_table(runner, plan, table: str, label: str) -> int:
    """The plan's rows written into `table` as `fcompile run` writes a dataset's (`write_dataset_table`): the
    rows the table holds afterwards."""
    from fcompile.graph import DatasetOutput
    from fcompile.planner.plans import BuildDataset

    return runner.write_dataset_table(BuildDataset(label, DatasetOutput("table", table), plan), label).rows


def problems(call) -> list:
    """The diagnostics `call()` raises (it must raise a DiagnosticError)."""
    import pytest

    from fcompile.diagnostics import DiagnosticError

    with pytest.raises(DiagnosticError) as raised:
        call()
    return raised.value.diagnostics


def rows_of(table: pa.Table) -> list[dict]:
    """A result's rows with their values normalized for comparison (the reference's forms)."""
    from compiler.harness import normalized

    return [{k: normalized(v) for k, v in r.items()} for r in table.to_pylist()]


def stats_project_on(engine: EngineUnderTest, root: Path, target: str, rows: Table, spine_rows: Table) -> tuple:
    """The stats case as a project in `root` whose target `target` is `engine`, its table loaded there:
    (root, case, graph)."""
    from compiler.harness import write_project
    from compiler.test_point_in_time_semantics import stats_case

    case = stats_case("stats", rows, spine_rows)
    graph = write_project(case, root)
    add_target(root, target, engine.offline_settings(root))
    engine.load(engine.runner(), rows)
    return root, case, graph


def spine_forms(engine: EngineUnderTest, runner, spine: Table, folder: Path, query: str = "SELECT * FROM spine_t",
                pandas: bool = False) -> dict[str, Any]:
    """`spine` in every form a runner registers, by name: an Arrow table and a reader of small batches,
    (a pandas frame's Arrow,) two Parquet files, a CSV file, the engine's table `spine_t`, and `query`."""
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    from fcompile.runners.spines import SpineInput

    data = arrow_table(spine)
    half = data.num_rows // 2
    pq.write_table(data.slice(0, half), folder / "spine-0.parquet")
    pq.write_table(data.slice(half), folder / "spine-1.parquet")
    pa_csv.write_csv(data, folder / "spine.csv")
    engine.load(runner, spine)
    forms = {"table": SpineInput("arrow", data),
             "reader": SpineInput("arrow", pa.RecordBatchReader.from_batches(data.schema,
                                                                              data.to_batches(max_chunksize=2)))}
    if pandas:
        import pandas as pd

        forms["pandas"] = SpineInput("arrow", pa.Table.from_pandas(data.to_pandas(types_mapper=pd.ArrowDtype),
                                                                    preserve_index=False))
    forms.update({"parquet files": SpineInput("path", str(folder / "spine-*.parquet")),
                  "csv": SpineInput("path", str(folder / "spine.csv")),
                  "a table": SpineInput("table", "spine_t"), "a query": SpineInput("query", query)})
    return forms


def add_target(project_root: Path, name: str, offline: dict[str, Any], online: dict[str, Any] | None = None) -> None:
    """Add a target to a project's fcompile_project.yml (an SQLite online store in the project by default)."""
    import yaml

    path = project_root / "fcompile_project.yml"
    document = yaml.safe_load(path.read_text())
    document["targets"][name] = {"offline": offline, "online": online or {"type": "sqlite", "path": f"{name}.db"}}
    path.write_text(yaml.safe_dump(document, sort_keys=False))


# -- the sample project on an engine ------------------------------------------------------------------------

_SEEDED: dict[str, Path] = {}  # engine -> the generated sample whose seeds its tables hold now


def sample_on(engine: EngineUnderTest, sample: Path, dest: Path) -> Path:
    """The sample project (generated in `sample/project`) as `engine` runs it, in `dest`, with the target
    `engine`: its seeds loaded into the engine's tables as `fcompile seed --target engine` loads them - on
    DuckDB into the project's own database file, elsewhere once per engine and sample into the run's schema,
    dataset or database (the tables outlive a test). Dataset tables go where the engine's tests write."""
    import shutil

    from seeded_sample import seed_project

    shutil.copytree(sample / "project", dest)
    if engine.output_prefix():
        spec = dest / "datasets" / "training.yml"
        spec.write_text(spec.read_text().replace("output: {table: ", f"output: {{table: {engine.output_prefix()}"))
    add_target(dest, "engine", engine.offline_settings(dest))
    if engine.name == "duckdb" or _SEEDED.get(engine.name) != sample:
        seed_project(dest, "engine")
        _SEEDED[engine.name] = sample
    return dest


def reference_views(graph, data: Path) -> dict[str, Any]:
    """Every feature view of the sample as the reference implementation sees it, over the rows of its seed
    files in `data` (`<table>.parquet`, or a path source's file of that name)."""
    import pyarrow.parquet as pq

    from compiler.reference import RefFeature, RefView

    views, rows = {}, {}
    for view in graph.feature_views:
        if view.has_aggregations:  # windowed aggregations: reference_aggregate_views
            continue
        source = graph.source(view.source)
        renamed = {name: column for column, name in source.field_mapping}
        column = lambda name: renamed.get(name, name)  # noqa: E731
        path = data / (f"{source.locator}.parquet" if source.kind == "table" else Path(source.locator).name)
        if path not in rows:
            rows[path] = pq.read_table(path).to_pylist()
        views[view.name] = RefView(
            view.name, tuple((k.name, column(k.name)) for k in graph.join_keys(view)), column(source.timestamp_field),
            column(source.created_timestamp_field) if source.created_timestamp_field else None, view.ttl,
            tuple(RefFeature(f.name, column(f.name), f.dtype.is_array) for f in view.features), rows[path],
            column(source.tie_breaker) if source.tie_breaker else None)
    return views


def reference_aggregate_views(graph, data: Path) -> dict[str, Any]:
    """Every feature view of the sample with windowed aggregations, as the aggregation reference
    (tests/compiler/aggregation_reference.py) sees it, over the rows of its seed file in `data`."""
    import pyarrow.parquet as pq

    from compiler.aggregation_reference import RefAggregate, RefAggregateView

    views = {}
    for view in graph.feature_views:
        if not view.has_aggregations:
            continue
        source = graph.source(view.source)
        renamed = {name: column for column, name in source.field_mapping}
        column = lambda name: renamed.get(name, name)  # noqa: E731
        path = data / (f"{source.locator}.parquet" if source.kind == "table" else Path(source.locator).name)
        views[view.name] = RefAggregateView(
            view.name, tuple((k.name, column(k.name)) for k in graph.join_keys(view)),
            column(source.timestamp_field),
            column(source.created_timestamp_field) if source.created_timestamp_field else None,
            column(source.tie_breaker) if source.tie_breaker else None, view.aggregation_step,
            tuple(RefAggregate(f.name, f.aggregation.function,
                               column(f.aggregation.column) if f.aggregation.column else None, f.aggregation.window)
                  for f in view.aggregated_features),
            pq.read_table(path).to_pylist())
    return views


def reference_service_rows(graph, data: Path, spine: pa.Table, spine_ts: str, service: str,
                           full_feature_names: bool) -> tuple[list[str], list[dict], set[str]]:
    """The references' training set of `service` over `spine`'s rows, in order: looked-up features by the
    point-in-time reference, aggregated ones by the aggregation reference; and the output columns to
    compare within 1e-9 relative (float sums, means and deviations: their last bits depend on the order
    an engine adds in)."""
    from compiler import reference
    from compiler.aggregation_reference import aggregate_join

    views, aggregated = reference_views(graph, data), reference_aggregate_views(graph, data)
    projections = graph.get("feature_service", service).projections
    requested = [reference.Requested(p.view, feature, output) for p in projections
                 for feature, output in zip(p.features, p.output_names(full_feature_names))]
    spine_rows = spine.to_pylist()
    plain = [r for r in requested if r.view not in aggregated]
    rows = reference.point_in_time_join(spine_rows, spine.column_names, spine_ts,
                                        {r.view: views[r.view] for r in plain}, plain)
    windows = [(aggregated[r.view], r.feature, r.output) for r in requested if r.view in aggregated]
    for row, found in zip(rows, aggregate_join(spine_rows, [], spine_ts, windows)):
        row.update(found)
    names = [*spine.column_names, *(r.output for r in requested)]
    close = set()
    for r in requested:
        if r.view in aggregated:
            feature = graph.feature_view(r.view).feature(r.feature)
            if feature.aggregation.function in ("avg", "stddev", "variance") or (
                    feature.aggregation.function == "sum" and feature.dtype.name == "float64"):
                close.add(r.output)
    return names, [{n: row[n] for n in names} for row in rows], close
