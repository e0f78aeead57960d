"""What the runners share: the plans' SQL compiled by shape, the counting query behind
`Runner.window_stats` (its parameters spelled by the dialect: DuckDB `$end`, PostgreSQL `%(end)s`, Spark
`:end`, BigQuery `@end`), bound times, spine files read a batch at a time to be uploaded, results
re-batched and streamed into a Parquet file, and the refusal of file sources by warehouses that read
tables only. Mostly for the engines outside this process (PostgreSQL, Spark, Snowflake, BigQuery).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlglot import exp

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.dialects.base import SqlDialect
from fcompile.dialects.lowering import coarse_window
from fcompile.planner.online_tiles import LatestTiles
from fcompile.planner.on_demand import OnDemandJoin
from fcompile.planner.plans import BuildDataset, LatestValues, PointInTimeJoin, Relation
from fcompile.runners.base import Runner, first_line, window_parameters, writing_file


class CompiledShapes:
    """The dialects stage's SQL for a runner's plans, each shape generated once (`fcompile.dialects.shapes`):
    requests and materializations of one shape differ only in names, and generating costs tens of
    milliseconds. Forgotten every `KEEP_PLANS` plans, so a long session does not hoard them."""

    KEEP_PLANS = 512

    def __init__(self) -> None:
        self._templates = None
        self._plans = 0

    def statements(self, plan: Any, dialect: str) -> list[str]:
        from fcompile.dialects import compile_statements
        from fcompile.dialects.shapes import Templates

        if self._templates is None or self._plans >= self.KEEP_PLANS:
            self._templates, self._plans = Templates(), 0
        self._plans += 1
        return compile_statements(plan, dialect, templates=self._templates)


def window_stats_select(dialect: SqlDialect, plan: LatestValues, with_start: bool) -> exp.Select:
    """One grouped scan of the view's source: per entity key, the rows whose event time lies in the
    window, the earliest and the newest of them; then columns `keys`, `rows`, `earliest` and `latest`.
    Rows with a NULL key or event time belong to no entity and are not counted (as in `LatestValues`). The
    window's end is bound as `plan.end_parameter`, its start (only `with_start`) as `plan.start_parameter`."""
    source, stamp, keys, in_window = _window_rows(dialect, plan, with_start)
    per_key = (exp.select(exp.alias_(exp.Count(this=exp.Star()), "n"),
                          exp.alias_(exp.Min(this=stamp.copy()), "first"),
                          exp.alias_(exp.Max(this=stamp.copy()), "last"))
               .from_(source).where(in_window).group_by(*keys))
    return exp.select(
        exp.alias_(exp.Count(this=exp.Star()), "keys"),
        exp.alias_(exp.cast(exp.Coalesce(this=exp.Sum(this=exp.column("n")), expressions=[exp.Literal.number(0)]),
                            "BIGINT"), "rows"),
        exp.alias_(exp.Min(this=exp.column("first")), "earliest"),
        exp.alias_(exp.Max(this=exp.column("last")), "latest"),
    ).from_(per_key.subquery("per_key"))


def window_stats_query(dialect: SqlDialect, plan: LatestValues, start: dt.datetime | None,
                       end: dt.datetime) -> tuple[str, dict[str, dt.datetime]]:
    """`window_stats_select`'s SQL in the dialect, and its parameters."""
    return (dialect.generate(window_stats_select(dialect, plan, start is not None), pretty=False),
            window_parameters(plan, start, end))


def window_estimate_select(dialect: SqlDialect, plan: LatestValues, with_start: bool) -> exp.Select:
    """The window's `rows`, `earliest` and `latest` by one ungrouped scan (which an engine may answer partly
    from file statistics), without counting its keys: estimating them (APPROX_COUNT_DISTINCT) scanned and
    hashed every key, 20 times what the rest costs (DuckDB, 10M rows), for a progress bar's total."""
    source, stamp, _, in_window = _window_rows(dialect, plan, with_start)
    return exp.select(exp.alias_(exp.cast(exp.Count(this=exp.Star()), "BIGINT"), "rows"),
                      exp.alias_(exp.Min(this=stamp.copy()), "earliest"),
                      exp.alias_(exp.Max(this=stamp), "latest")).from_(source).where(in_window)


def _window_rows(dialect: SqlDialect, plan: LatestValues, with_start: bool):
    """The source, its event time, its key columns and the condition for its rows in the window. Where the
    dialect converts times (`CONVERTS_TIMES_TO_UTC`), the event time and the bounds are UTC instants spelled as
    in the compiled files (`utc_instant`), so a naive time is read as UTC whatever the session's time zone, and
    the window widened by a day on the column as stored (`coarse_window`) keeps the filter where a Parquet
    scan or an index can use it; elsewhere the runner's session is UTC (`SESSION_TIME_ZONE`)."""
    source = dialect.relation(plan.relation, "src", plan.location)
    stored = exp.column(plan.event_timestamp, "src")
    keys = [exp.column(k.source_column, "src") for k in plan.keys]
    conditions: list[exp.Expression] = [exp.Is(this=c.copy(), expression=exp.Null(), negate=True)
                                        for c in (*keys, stored)]
    end, start = dialect.parameter(plan.end_parameter), dialect.parameter(plan.start_parameter)
    stamp = stored
    if dialect.CONVERTS_TIMES_TO_UTC:
        stamp = dialect.utc_instant(stored.copy(), plan.event_timestamp in plan.relation.zoned_times)
        end, start = dialect.utc_instant(end), dialect.utc_instant(start)
        conditions.append(coarse_window(dialect, plan, with_start))
    conditions.append(exp.LTE(this=stamp.copy(), expression=end))
    if with_start:
        conditions.append(exp.GTE(this=stamp.copy(), expression=start))
    return source, stamp, keys, exp.and_(*conditions)


def read_spine_files(files: list[str], description: str):
    """Parquet or CSV files (by the first one's name) as one RecordBatchReader, file after file in the
    order given and each a batch at a time, so the rows keep their order; later files are cast to the
    first one's schema."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    is_csv = files[0].lower().endswith((".csv", ".csv.gz"))
    kind = "CSV" if is_csv else "Parquet"

    def batches_of(name: str):
        if is_csv:
            return pa_csv.open_csv(name)
        return pq.ParquetFile(name).iter_batches(batch_size=64 * 1024)

    def unreadable(exc: Exception) -> DiagnosticError:
        return DiagnosticError([Diagnostic(Code.FILE_UNREADABLE, f"cannot read {description} as {kind}: "
                                           f"{first_line(exc)}", None, f"is it a valid {kind} file?")])

    try:
        schema = pa_csv.open_csv(files[0]).schema if is_csv else pq.read_schema(files[0])
    except (pa.ArrowException, OSError) as exc:
        raise unreadable(exc) from None

    def batches():
        for name in files:
            try:
                for batch in batches_of(name):
                    yield batch if batch.schema == schema else batch.cast(schema)
            except (pa.ArrowException, OSError) as exc:
                raise unreadable(exc) from None

    return pa.RecordBatchReader.from_batches(schema, batches())


def warehouse_spine(spine: Any, dialect: SqlDialect, upload: Any, in_place: Any, where: str) -> Any:
    """How a warehouse takes a spine: Arrow data and spine files are uploaded (`upload(data, arrow_types)`,
    the Arrow type of each column when the spine came as Arrow), a table or a SELECT is read in place
    (`in_place(select, relation, spine)`); `where` names what a spine query runs on, for its hint."""
    from fcompile.runners.spines import spine_files, spine_table

    if spine.kind == "arrow":
        return upload(spine.value, {f.name: str(f.type) for f in spine.value.schema})
    if spine.kind == "path":
        return upload(read_spine_files(spine_files(spine), spine.description), None)
    if spine.kind == "table":
        table = spine_table(spine, dialect.sqlglot_name)
        return in_place(exp.select("*").from_(table), Relation("table", spine.value), spine)
    try:
        query = dialect.parse_query(spine.value)
    except DiagnosticError as error:
        raise DiagnosticError([Diagnostic(d.code, f"the spine {d.message}", None, f"fix the query; it runs on {where}")
                               for d in error.diagnostics]) from None
    return in_place(exp.select("*").from_(query.subquery("spine_query")), Relation("query", spine.value), spine)


def positive_setting(settings: Any, key: str, engine: str, default: int | None, problems: list[Diagnostic],
                     example: int | None = None) -> int | None:
    """A target's offline setting that must be a whole number above 0: `default` when it is absent;
    otherwise FC132 added to `problems` for anything else (e.g. `{key}: {example or default}` in the hint)."""
    value = settings.get(key)
    if value is None or value == "":
        return default
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if number <= 0:
        problems.append(Diagnostic(Code.OFFLINE_SETTINGS, f"the {engine} target's `{key}` must be a whole number "
                                   f"above 0, not {value!r}", None, f"{key}: {example or default}"))
    return number


def in_place_spine(relation: Relation, spine: Any, described: Any) -> Any:
    """A table or query spine read where it is, from its described `(column, engine type)` pairs: the
    lowering numbers its rows as the engine reads them."""
    from fcompile.runners.base import RegisteredSpine
    from fcompile.runners.spines import check_spine_names

    described = list(described)
    columns = tuple(name for name, _ in described)
    check_spine_names(columns)
    return RegisteredSpine(relation, columns, dict(described), None, spine.description)


def unreadable_spine(spine: Any, reason: str, where: str) -> DiagnosticError:
    """A table or query spine the engine would not describe: FC101 for a query, FC110 for a table."""
    if spine.kind == "query":
        return DiagnosticError([Diagnostic(Code.INVALID_QUERY, f"the spine query does not run: {reason}", None,
                                           f"it is read {where}")])
    return DiagnosticError([Diagnostic(Code.ENGINE_ERROR, f"{spine.description} cannot be read: {reason}", None,
                                       f"it is read {where}")])


def rebatched(reader: Any, batch_rows: int) -> Any:
    """The reader's rows in batches of at most `batch_rows` (warehouses send chunks as large as they like)."""
    import pyarrow as pa

    def batches():
        for batch in reader:
            for offset in range(0, batch.num_rows, batch_rows):
                yield batch.slice(offset, batch_rows)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


class StreamedResults(Runner):
    """A runner whose `execute` streams a query's result from the engine: the whole table and a Parquet
    file are made from that stream (the warehouse runners; DuckDB writes its files itself)."""

    def to_arrow(self, plan: PointInTimeJoin, label: str, location: Position | None = None):
        return self.execute(plan, label, location).read_all()

    def write_parquet(self, plan: PointInTimeJoin, path: str, label: str, location: Position | None = None) -> int:
        return stream_to_parquet(self.execute(plan, label, location), path)


def stream_to_parquet(reader: Any, path: str) -> int:
    """A result's batches written into a Parquet file beside `path` as they arrive, then renamed over it
    (a failure leaves no file and the old one as it was). Returns the rows written. The reader's errors
    pass through; the file's own (no access, no space, a folder at `path`) are FC135."""
    import os
    import uuid

    import pyarrow.parquet as pq

    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex[:12]}.tmp")
    rows, writer = 0, None
    try:
        with writing_file(path):
            os.makedirs(folder, exist_ok=True)
            writer = pq.ParquetWriter(temporary, reader.schema)
        for batch in reader:
            with writing_file(path):
                writer.write_batch(batch)
            rows += batch.num_rows
        with writing_file(path):
            writer.close()
            os.replace(temporary, path)
    finally:
        if writer is not None:
            writer.close()
        reader.close()
        if os.path.exists(temporary):
            os.remove(temporary)
    return rows


def refuse_file_sources(plan: Any, engine: str) -> None:
    """FC131 for every source of a plan (PointInTimeJoin, LatestValues, LatestTiles, BuildDataset) that is files, on an
    engine that reads tables and queries only. Needs no connection."""
    if isinstance(plan, BuildDataset):
        plan = plan.query
    if isinstance(plan, (PointInTimeJoin, OnDemandJoin)):
        sources = [(j.view, j.relation, j.location) for j in plan.joins]
    elif isinstance(plan, (LatestValues, LatestTiles)):
        sources = [(plan.view, plan.relation, plan.location)]
    else:
        sources = []
    problems = [_file_source(view, relation, location, engine) for view, relation, location in sources
                if relation.kind == "path"]
    if problems:
        raise DiagnosticError(problems)


def _file_source(view: str, relation: Relation, location: Position | None, engine: str) -> Diagnostic:
    return Diagnostic(Code.SOURCE_NOT_READABLE, f"feature view '{view}': its source is files "
                      f"({relation.locator}), which {engine} cannot read", location,
                      "load the data into a table of the target's database and point the source at it "
                      "(`table: schema.name`); fcompile does not upload source files")
