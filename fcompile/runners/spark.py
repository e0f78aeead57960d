"""The Spark runner: the spark dialect's SQL, run through pyspark (Spark SQL, 3.5).

Target settings (`offline:` in fcompile_project.yml):

    offline:
      type: spark
      master: "local[*]"                 # or spark://host:7077, yarn, ... (default local[*])
      app_name: fcompile                 # the application's name in the Spark UI
      warehouse: .fcompile/spark-warehouse   # spark.sql.warehouse.dir, relative to the project
      catalog: hive                      # a Derby metastore in <warehouse>/metastore_db (default in
                                         # local mode); in-memory: tables last as long as the session
      staging_dir: s3a://bucket/fcompile  # where spines and results pass between Python and Spark: a URI
                                         # (hdfs://, s3a://, gs://) or a folder every executor mounts
      conf: {spark.executor.memory: 4g}  # any other Spark settings

Spark starts on first use, not when the runner is made: starting the JVM takes seconds, and a command
that fails its checks should not pay for it (`notify` says when it starts, for progress output). Where
a Spark session already runs in the process (a notebook, the tests), the runner uses it and leaves it
running when closed; one it started, it stops. Every session runs with `spark.sql.session.timeZone=UTC`:
naive timestamps (TIMESTAMP_NTZ) compare as UTC and zoned ones are instants (docs/concepts/point-in-time.md);
the compiled statements, which the runner executes as they are, begin by setting it too.

| spine                             | registered as a temporary view of                                |
| --------------------------------- | ---------------------------------------------------------------- |
| Arrow table / reader, pandas, CSV | a Parquet file pyarrow writes into the staging folder, batch by   |
|                                   | batch, with a row-number column                                  |
| Parquet file(s)                   | the files; row number = file index * 2^40 + `_metadata.row_index` |
| a table, a SELECT query           | itself, in place; the dialect numbers its rows with               |
|                                   | `MONOTONICALLY_INCREASING_ID()` in the order Spark reads them     |

Results come back by partition as Arrow: the query's rows are written by the executors as Parquet into
the staging folder (one file per partition, in the order of the query's ORDER BY), and read back file by
file in batches of bounded size. `toLocalIterator` would turn every value into a Python object (and
naive timestamps into the driver's local time); collecting as Arrow (`toPandas`) holds the whole result
in the driver. Both ends of a materialization window are bound as named parameters (`:start`, `:end`,
`spark.sql(query, args=...)`). `write_parquet` merges the part files into one file beside the
destination and renames it; `write_dataset_table` runs the dataset file's statements as they are: the
rows built under a staging name, the old table dropped and the new one renamed in (Spark's catalog has no
transactions: a reader can find no table between the two; a failure while building leaves the old one).

In local mode the staging folder is a temporary folder on this machine; on a cluster, `staging_dir` is a
filesystem URI both sides reach (`hdfs://`, `s3a://`, `gs://`: Hadoop's filesystems in Spark, pyarrow's
here, `Staging`) or a folder mounted at the same path on the driver and every executor.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from sqlglot import exp

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.dialects.base import staging_table
from fcompile.graph import DType
from fcompile.planner.plans import BuildDataset, LatestValues, PointInTimeJoin, Relation
from fcompile.runners.base import (
    LoadedTable, RegisteredSpine, WindowStats, WrittenTable, engine_error, first_line, window_parameters,
    window_stats_of,
)
from fcompile.runners.spines import ROW_NUMBER, SpineInput, check_spine_names, row_numbers, spine_files, spine_table
from fcompile.runners.external import (
    CompiledShapes, StreamedResults, in_place_spine, read_spine_files, unreadable_spine, window_stats_query,
)
from fcompile.online.values import datetime_from_micros

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_ROWS = 128 * 1024  # rows per Arrow batch read back from a result file
_FILES_PER_INDEX = 1 << 40  # row numbers of one spine file stay below this
DEFAULT_MASTER = "local[*]"
DEFAULT_WAREHOUSE = ".fcompile/spark-warehouse"
# Set on every session the runner uses. Timestamps are written to Parquet as INT64 microseconds marked
# UTC (Spark's default, INT96, reads back as naive nanoseconds); CREATE TABLE without USING makes a
# table of the default source format rather than a Hive SerDe table (which needs Hive support).
SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.legacy.createHiveTableByDefault": "false",
}


@dataclass(frozen=True)
class SparkSettings:
    """A target's `offline:` settings for Spark, checked."""

    master: str = DEFAULT_MASTER
    app_name: str = "fcompile"
    warehouse: str | None = None      # absolute; None: Spark's (or the running session's) own
    catalog: str | None = None        # "in-memory" or "hive"; None: Spark's (or the cluster's) own
    staging_dir: str | None = None    # an absolute path or a filesystem URI; None: a temporary folder (local only)
    conf: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return _is_local(self.master)

    @classmethod
    def from_target(cls, settings: Mapping[str, Any], project_root: str) -> SparkSettings:
        def folder(key: str, default: str | None = None) -> str | None:
            value = settings.get(key) or default
            if value is None:
                return None
            if "://" in str(value):  # a filesystem URI (hdfs://, s3a://, gs://, file://): taken as it is
                return str(value).rstrip("/")
            return os.path.abspath(os.path.join(project_root, os.path.expanduser(str(value))))

        conf = settings.get("conf") or {}
        conf = dict(conf) if not isinstance(conf, Mapping) else conf  # frozen settings are pairs
        master = str(settings.get("master") or DEFAULT_MASTER)
        catalog = settings.get("catalog")
        if catalog not in (None, "in-memory", "hive"):
            raise DiagnosticError([Diagnostic(Code.OFFLINE_SETTINGS, f"the target's Spark `catalog` must be "
                                              f"'in-memory' or 'hive', not {catalog!r}", None,
                                              "catalog: hive keeps tables between runs (a Derby metastore in the "
                                              "warehouse folder)")])
        if catalog is None and _is_local(master):
            catalog = "hive"  # tables outlive the run, as in DuckDB's file; a cluster brings its own catalog
        found = cls(master, str(settings.get("app_name") or "fcompile"), folder("warehouse", DEFAULT_WAREHOUSE),
                    catalog, folder("staging_dir"), {str(k): _conf_text(v) for k, v in conf.items()})
        if not found.is_local and found.staging_dir is None:
            raise DiagnosticError([Diagnostic(Code.OFFLINE_SETTINGS, f"Spark master '{master}' is a cluster, and "
                                              "the target sets no `staging_dir`", None,
                                              "set staging_dir to a filesystem URI the driver and every executor "
                                              "reach (hdfs:///tmp/fcompile, s3a://bucket/fcompile), or a folder "
                                              "mounted at the same path everywhere (spines and results pass "
                                              "through it)")])
        return found


_ENGINE_TYPES = {"int32": "INT", "int64": "BIGINT", "float32": "FLOAT", "float64": "DOUBLE", "string": "STRING",
                 "bool": "BOOLEAN", "bytes": "BINARY", "date": "DATE", "timestamp": "TIMESTAMP"}


class SparkRunner(StreamedResults):
    dialect = "spark"
    supplies_named_spine = True
    engine_types = _ENGINE_TYPES

    def __init__(self, settings: SparkSettings | None = None, session: Any = None) -> None:
        from fcompile.dialects.spark import SparkDialect

        self.settings = settings or SparkSettings()
        self.sql_dialect = SparkDialect()
        self._session = session
        self._owns_session = False
        if session is not None:
            _configure(session)
        self._names = itertools.count(1)
        self._prefix = uuid.uuid4().hex[:8]
        self._views: list[str] = []
        self._staging: Staging | None = None
        self._compiled = CompiledShapes()
        self._closed = False

    @classmethod
    def connect(cls, settings: Mapping[str, Any], project_root: str) -> SparkRunner:
        _import_pyspark()
        return cls(SparkSettings.from_target(settings, project_root))

    @property
    def spark(self):
        """The Spark session, started on first use."""
        if self._session is None:
            self._session, self._owns_session = self._start()
        return self._session

    def ping(self) -> None:
        self.spark  # starts the session: Java, the master URL and the settings are checked here

    def _start(self) -> tuple[Any, bool]:
        _import_pyspark()
        from pyspark.sql import SparkSession

        running = SparkSession.getActiveSession()
        if running is not None:
            _configure(running)
            return running, False
        settings = self.settings
        self.notify(f"starting Spark (master {settings.master}); this takes a few seconds")
        started = time.perf_counter()
        builder = SparkSession.builder.master(settings.master).appName(settings.app_name)
        # Spark's own log is for its operators: fcompile reports what matters as progress and diagnostics
        builder = builder.config("spark.ui.showConsoleProgress", "false").config("spark.log.level", "ERROR")
        if settings.warehouse is not None:
            builder = builder.config("spark.sql.warehouse.dir", settings.warehouse)
        if settings.catalog == "hive":
            metastore = os.path.join(settings.warehouse or os.getcwd(), "metastore_db")
            builder = builder.enableHiveSupport().config(
                "spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={metastore};create=true"
            ).config("spark.driver.extraJavaOptions", f"-Dderby.system.home={os.path.dirname(metastore)}")
        elif settings.catalog == "in-memory":
            builder = builder.config("spark.sql.catalogImplementation", "in-memory")
        for key, value in {**SESSION_CONF, **settings.conf}.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # Java missing, a bad master URL, a bad setting: pyspark's errors vary
            target = f"target '{self.target_name}': " if self.target_name else ""
            raise DiagnosticError([Diagnostic(Code.OFFLINE_UNREACHABLE, f"{target}cannot start Spark (master "
                                              f"{settings.master}): {first_line(exc)}", None,
                                              "Spark needs Java 17 (JAVA_HOME or java on the PATH); check the "
                                              "target's master and conf")]) from None
        _configure(session)
        self.notify(f"Spark started in {time.perf_counter() - started:.1f} s")
        return session, True

    # -- spines ------------------------------------------------------------------------------------

    def register_spine(self, spine: SpineInput) -> RegisteredSpine:
        if spine.kind == "arrow":
            return self._upload(spine.value, spine, {f.name: str(f.type) for f in spine.value.schema})
        if spine.kind == "path":
            return self._register_files(spine)
        if spine.kind == "table":
            table = spine_table(spine, "spark")
            return self._in_place(lambda: self.spark.table(table.sql("spark")), Relation("table", spine.value), spine)
        try:
            self.sql_dialect.parse_query(spine.value)
        except DiagnosticError as error:
            raise DiagnosticError([Diagnostic(d.code, f"the spine {d.message}", None,
                                              "fix the query; it runs on the target's Spark session")
                                   for d in error.diagnostics]) from None
        return self._in_place(lambda: self.spark.sql(spine.value), Relation("query", spine.value), spine)

    def _upload(self, data: Any, spine: SpineInput, arrow_types: Mapping[str, str] | None) -> RegisteredSpine:
        """The spine written as Parquet into the staging folder with a row-number column, batch by batch."""
        check_spine_names(data.schema.names)
        uri = self._stage(data, spine.description, "spine", numbered=True)
        return self._view(lambda: self.spark.read.parquet(uri), spine, tuple(data.schema.names), arrow_types)

    def _stage(self, data: Any, description: str, kind: str, numbered: bool) -> str:
        """An Arrow table or reader written as one Parquet file into a new folder of the staging folder,
        batch by batch (with a row-number column after its own when `numbered`); the folder's URI."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        target, problems = [], []
        for f in data.schema:
            value_type = f.type.value_type if pa.types.is_dictionary(f.type) else f.type
            if pa.types.is_null(value_type):
                value_type = pa.string()  # a column of NULLs only
            if not _spark_reads(value_type):
                problems.append(Diagnostic(Code.SPINE_UPLOAD, f"{description}: column '{f.name}' is Arrow "
                                           f"{f.type}, which Spark cannot read", None,
                                           "convert the column to a number, text, boolean, date or timestamp, or "
                                           "leave it out"))
            target.append(pa.field(f.name, value_type))
        if problems:
            raise DiagnosticError(problems)
        target_schema = pa.schema(target)
        written = target_schema.append(pa.field(ROW_NUMBER, pa.int64(), nullable=False)) if numbered else target_schema
        staging = self.staging()
        folder, uri = staging.folder(self._new_name(kind))
        batches = data.to_batches() if isinstance(data, pa.Table) else data
        start = 0
        try:
            # Spark reads timestamps in microseconds at most: finer ones are cut to microseconds
            with pq.ParquetWriter(f"{folder}/part-00000.parquet", written, filesystem=staging.fs,
                                  coerce_timestamps="us", allow_truncated_timestamps=True) as writer:
                for batch in batches:
                    if batch.schema != target_schema:
                        batch = batch.cast(target_schema)
                    numbers = [row_numbers(start, batch.num_rows)] if numbered else []
                    writer.write_batch(pa.RecordBatch.from_arrays([*batch.columns, *numbers], schema=written))
                    start += batch.num_rows
        except pa.ArrowException as exc:  # a value the upload cannot convert
            raise DiagnosticError([Diagnostic(Code.ENGINE_ERROR, f"{description} cannot be staged for "
                                              f"Spark: {first_line(exc)}", None, "check its values")]) \
                from None
        return uri

    def load_table(self, data: Any, table: str, description: str) -> LoadedTable:
        """Staged as Parquet, saved as a new table of the session's current database, then swapped in by
        renames: Spark's catalog has no transactions, so a reader can find no table for the moment between
        the two renames, and a failure puts the old table back."""
        from pyspark.errors import PySparkException

        uri = self._stage(data, description, "load", numbered=False)
        target = exp.Table(this=exp.to_identifier(table))
        building = staging_table(target)
        try:
            self._run(exp.Drop(tables=[building.copy()], kind="TABLE", exists=True))
            self.spark.read.parquet(uri).write.saveAsTable(building.sql("spark", identify=True))
            rows = self.spark.table(building.sql("spark", identify=True)).count()
            self._swap_in(building, target)
            database = self.spark.catalog.currentDatabase()
        except PySparkException as exc:
            try:
                self._run(exp.Drop(tables=[building.copy()], kind="TABLE", exists=True))
            except PySparkException:
                pass  # the original error says what went wrong
            raise engine_error(f"loading {description}", "Spark", exc) from None
        return LoadedTable(f"{database}.{table}", rows)

    def _register_files(self, spine: SpineInput) -> RegisteredSpine:
        files = spine_files(spine)
        if files[0].lower().endswith((".csv", ".csv.gz")) or _has_nanoseconds(files):
            # Spark 3.5 cannot read Parquet timestamps in nanoseconds ("Illegal Parquet type: INT64
            # (TIMESTAMP(NANOS,...))"): such a spine is uploaded, in microseconds
            return self._upload(read_spine_files(files, spine.description), spine, None)

        def numbered_files():
            from pyspark.sql import functions as F

            frames = []
            for index, name in enumerate(files):
                frame = self.spark.read.parquet(_local_uri(name))
                if "_metadata" in {c.lower() for c in frame.columns}:  # hides the file's row index
                    raise _NoRowIndex()
                number = F.lit(index * _FILES_PER_INDEX) + F.col("_metadata.row_index")
                frames.append(frame.select("*", number.alias(ROW_NUMBER)))
            return functools.reduce(lambda union, frame: union.unionByName(frame), frames)

        try:
            return self._view(numbered_files, spine, None, None)
        except _NoRowIndex:
            return self._upload(read_spine_files(files, spine.description), spine, None)

    def _view(self, frame: Callable[[], Any], spine: SpineInput, columns: tuple[str, ...] | None,
              arrow_types: Mapping[str, str] | None) -> RegisteredSpine:
        """A temporary view of a numbered spine."""
        from pyspark.errors import PySparkException

        name = self._new_name("spine")
        try:
            found = frame()
            found.createOrReplaceTempView(name)
        except PySparkException as exc:
            raise DiagnosticError([Diagnostic(Code.FILE_UNREADABLE, f"{spine.description} cannot be read by Spark: "
                                              f"{first_line(exc)}", None, "is it a valid Parquet file?")]) from None
        self._views.append(name)
        types = {c: t for c, t in found.dtypes if c != ROW_NUMBER}
        described = tuple(types)
        check_spine_names(described)
        return RegisteredSpine(Relation("placeholder", name), columns or described,
                               dict(zip(columns, types.values())) if columns else types, ROW_NUMBER,
                               spine.description, arrow_types)

    def _in_place(self, frame: Callable[[], Any], relation: Relation, spine: SpineInput) -> RegisteredSpine:
        from pyspark.errors import PySparkException

        try:
            described = frame().dtypes  # analysed, not run
        except PySparkException as exc:
            raise unreadable_spine(spine, first_line(exc), "by the target's Spark session") from None
        return in_place_spine(relation, spine, described)

    # -- running -----------------------------------------------------------------------------------

    def statements(self, plan: Any) -> list[str]:
        return self._compiled.statements(plan, self.dialect)

    def run_session_statement(self, statement: str) -> None:
        # the compiled file's `SET spark.sql.session.timeZone = UTC`: the session has it already (SESSION_CONF)
        self.spark.sql(statement)

    def execute(self, plan: PointInTimeJoin, label: str, location: Position | None = None):
        return self._read(self.single_statement(plan), None, label, location, BATCH_ROWS)

    def write_dataset_table(self, build: BuildDataset, label: str, location: Position | None = None) -> WrittenTable:
        """The dataset file's statements as they are: the session's time zone set, the rows built under a
        staging name (`SqlDialect.replace_table`), the old table dropped and the staging one renamed. A failure
        while the rows are built leaves the old table; the staging table is left for the next run's DROP."""
        from pyspark.errors import PySparkException

        statements = self.statements(build)
        try:
            for sql in statements:
                self.spark.sql(sql)
            rows = self.spark.table(self.sql_dialect.table(build.output.locator).sql("spark")).count()
        except PySparkException as exc:
            raise engine_error(label, "Spark", exc, location) from None
        return WrittenTable(rows, tuple(statements))

    def _swap_in(self, building: exp.Table, target: exp.Table) -> None:
        """The table `building` renamed to `target`: the old `target` renamed aside first and dropped after,
        or renamed back when the swap fails (raises PySparkException)."""
        from pyspark.errors import PySparkException

        aside = target.copy()
        aside.set("this", exp.to_identifier(f"__fc_old_{target.name}"))

        def rename(old: exp.Table, new: exp.Table) -> None:
            self._run(exp.Alter(this=old.copy(), kind="TABLE", actions=[exp.AlterRename(this=new.copy())]))

        self._run(exp.Drop(tables=[aside.copy()], kind="TABLE", exists=True))
        had_old = self.spark.catalog.tableExists(target.sql("spark"))
        if had_old:
            rename(target, aside)
        try:
            rename(building, target)
        except PySparkException:
            if had_old:
                rename(aside, target)
            raise
        self._run(exp.Drop(tables=[aside.copy()], kind="TABLE", exists=True))

    def latest_values(self, plan: LatestValues, start: dt.datetime, end: dt.datetime, label: str,
                      location: Position | None = None, batch_rows: int = 100_000):
        parameters = window_parameters(plan, start, end)
        return self._read(self.single_statement(plan), parameters, label, location, batch_rows)

    def window_stats(self, plan: LatestValues, start: dt.datetime | None, end: dt.datetime, label: str,
                     location: Position | None = None) -> WindowStats:
        from pyspark.errors import PySparkException
        from pyspark.sql import functions as F

        sql, parameters = window_stats_query(self.sql_dialect, plan, start, end)
        try:
            counts = self.spark.sql(sql, args=parameters)
            # the earliest time as microseconds since the epoch: a collected timestamp would be in the
            # driver's local time zone
            (row,) = counts.select("keys", "rows", *(F.unix_micros(F.col(name).cast("timestamp")).alias(name)
                                                     for name in ("earliest", "latest"))).collect()
        except PySparkException as exc:
            raise engine_error(label, "Spark", exc, location) from None
        earliest, latest = (None if row[name] is None else datetime_from_micros(row[name])
                            for name in ("earliest", "latest"))
        return window_stats_of(rows=row["rows"], keys=row["keys"], earliest=earliest, latest=latest)

    def key_type_fits(self, dtype: DType, engine_type: str) -> bool:
        family = _KEY_FAMILIES.get(dtype.name)
        return family is not None and engine_type.lower().split("(")[0] in family

    def staging(self) -> Staging:
        """This runner's folder for spines and results (made on first use, removed on close)."""
        if self._staging is None:
            self._staging = Staging.make(self.settings.staging_dir, self._prefix)
        return self._staging

    def query_rows(self, sql: str, label: str, location: Position | None = None) -> tuple[tuple[str, ...], list[tuple]]:
        """Times are read as microseconds since the epoch and returned as UTC datetimes: a collected timestamp
        would be in the driver's local time zone."""
        from pyspark.errors import PySparkException
        from pyspark.sql import functions as F
        from pyspark.sql.types import TimestampNTZType, TimestampType

        try:
            frame = self.spark.sql(sql)
            if not frame.columns:
                return (), []
            times = {f.name for f in frame.schema.fields if isinstance(f.dataType, (TimestampType, TimestampNTZType))}
            picked = frame.select(*[F.unix_micros(F.col(f"`{name}`").cast("timestamp")).alias(name) if name in times
                                    else F.col(f"`{name}`") for name in frame.columns])
            rows = [tuple(datetime_from_micros(v) if name in times and v is not None else v
                          for name, v in zip(frame.columns, row)) for row in picked.collect()]
        except PySparkException as exc:
            raise engine_error(label, "Spark", exc, location) from None
        return tuple(frame.columns), rows

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._session is not None:
                for name in self._views:
                    self._session.catalog.dropTempView(name)
                if self._owns_session:
                    self._session.stop()
        finally:
            if self._staging is not None:
                self._staging.remove()

    # -- helpers -----------------------------------------------------------------------------------

    def _run(self, statement: exp.Expression) -> None:
        self.spark.sql(self.sql_dialect.generate(statement, pretty=False))

    def _read(self, sql: str, parameters: Mapping[str, Any] | None, label: str, location: Position | None,
              batch_rows: int):
        """The query's rows, written by the executors as Parquet into the staging folder (a file per
        partition, in order) and read back file by file in batches of at most `batch_rows` rows."""
        import pyarrow as pa
        from pyspark.errors import PySparkException
        from pyspark.sql.pandas.types import to_arrow_schema

        staging = self.staging()
        folder, uri = staging.folder(self._new_name("result"), create=False)  # Spark makes it
        try:
            frame = self.spark.sql(sql, args=parameters) if parameters else self.spark.sql(sql)
            schema = to_arrow_schema(frame.schema)
            frame.write.parquet(uri)
        except PySparkException as exc:
            staging.remove(folder)
            raise engine_error(label, "Spark", exc, location) from None
        schema = pa.schema([f.with_nullable(True) for f in schema])
        return pa.RecordBatchReader.from_batches(schema, _read_parts(staging, folder, schema, batch_rows))

    def _new_name(self, kind: str) -> str:
        return f"__fc_{kind}_{self._prefix}_{next(self._names)}"


def _has_nanoseconds(files: list[str]) -> bool:
    """Whether a Parquet file's footer declares a timestamp column in nanoseconds."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return any(pa.types.is_timestamp(t) and t.unit == "ns" for name in files for t in pq.read_schema(name).types)


class _NoRowIndex(Exception):
    """A spine file has a column named `_metadata`, which hides Spark's row index."""


def _read_parts(staging: Staging, folder: str, schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The part files of a Spark result, in partition order, a batch at a time; the folder goes at the end."""
    import pyarrow.parquet as pq

    try:
        for part in staging.parts(folder):
            with staging.fs.open_input_file(part) as file:
                for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_rows):
                    yield batch if batch.schema == schema else batch.cast(schema)
    finally:
        staging.remove(folder)


@dataclass
class Staging:
    """Where spines and results pass between Python and Spark: a folder of this machine (local mode, or
    one mounted at the same path on every executor), or a folder on a filesystem both sides reach by URI
    - pyarrow's filesystems on this side, Hadoop's on Spark's (`s3a://` is pyarrow's `s3://`)."""

    fs: Any         # a pyarrow FileSystem
    root: str       # this run's folder, as `fs` names it
    uri: str        # the same folder, as Spark is told it

    @classmethod
    def make(cls, base: str | None, prefix: str) -> Staging:
        import pyarrow.fs as pafs

        if base is None:
            root = tempfile.mkdtemp(prefix="fcompile-spark-")
            return cls(pafs.LocalFileSystem(), root, _local_uri(root))
        if "://" not in base:
            os.makedirs(base, exist_ok=True)
            root = tempfile.mkdtemp(prefix="fcompile-", dir=base)
            return cls(pafs.LocalFileSystem(), root, _local_uri(root))
        try:
            fs, path = pafs.FileSystem.from_uri(arrow_uri(base))
            name = f"fcompile-{prefix}-{uuid.uuid4().hex[:8]}"
            fs.create_dir(f"{path.rstrip('/')}/{name}")
        except (OSError, ValueError) as exc:  # pyarrow's errors are both
            raise DiagnosticError([Diagnostic(Code.OFFLINE_SETTINGS, f"cannot use the Spark staging_dir {base}: "
                                              f"{first_line(exc)}", None, "staging_dir takes a folder or a URI "
                                              "pyarrow can write to (hdfs://, s3a://, gs://, file://)")]) from None
        return cls(fs, f"{path.rstrip('/')}/{name}", f"{base}/{name}")

    def folder(self, name: str, create: bool = True) -> tuple[str, str]:
        """A folder of this run's: its path for `fs` and its URI for Spark."""
        path = f"{self.root}/{name}"
        if create:
            self.fs.create_dir(path)
        return path, f"{self.uri}/{name}"

    def parts(self, folder: str) -> list[str]:
        """A Spark result's part files, in partition order."""
        import pyarrow.fs as pafs

        found = self.fs.get_file_info(pafs.FileSelector(folder))
        return sorted(f.path for f in found if f.base_name.startswith("part-") and f.base_name.endswith(".parquet"))

    def remove(self, folder: str | None = None) -> None:
        try:
            self.fs.delete_dir(folder or self.root)
        except OSError:
            pass  # gone already, or the filesystem is: a staging folder is scratch


def arrow_uri(uri: str) -> str:
    """A Hadoop filesystem URI as pyarrow names the same place (`s3a://` and `s3n://` are `s3://`)."""
    scheme, sep, rest = uri.partition("://")
    return f"s3://{rest}" if scheme in ("s3a", "s3n") else uri


def _local_uri(path: str) -> str:
    """A path of this machine (or of a folder mounted at the same path everywhere) as Spark must be told
    it: a bare path means the cluster's default filesystem (HDFS on YARN)."""
    return "file://" + os.path.abspath(path)


def _is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def _configure(session: Any) -> None:
    for key, value in SESSION_CONF.items():
        session.conf.set(key, value)


def _conf_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _spark_reads(arrow_type) -> bool:
    """Whether Spark 3.5 reads a Parquet column of this Arrow type."""
    import pyarrow as pa

    t = pa.types
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        return _spark_reads(arrow_type.value_type)
    return any(check(arrow_type) for check in (
        t.is_boolean, t.is_integer, t.is_floating, t.is_string, t.is_large_string, t.is_binary, t.is_large_binary,
        t.is_date, t.is_timestamp, t.is_decimal))


def _import_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise DiagnosticError([Diagnostic(Code.DRIVER_MISSING, "the Spark runner needs pyspark, which is not "
                                          "installed", None, "pip install 'fcompile[spark]' (and Java 17)")]) \
            from None


_INTEGERS = ("tinyint", "smallint", "int", "bigint")
# dtype -> the Spark types (as DataFrame.dtypes names them, without parameters) a spine's key column may have
_KEY_FAMILIES = {
    "int32": _INTEGERS, "int64": _INTEGERS, "float32": ("float", "double", "decimal"),
    "float64": ("float", "double", "decimal"), "string": ("string", "varchar", "char"), "bool": ("boolean",),
    "bytes": ("binary",), "date": ("date",), "timestamp": ("timestamp", "timestamp_ntz"),
}
