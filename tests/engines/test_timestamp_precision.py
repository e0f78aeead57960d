"""Every timestamp precision works, as a spine and as a source (docs/concepts/point-in-time.md): seconds,
milliseconds, microseconds and nanoseconds, naive (read as UTC) and zoned, from a pandas DataFrame, an Arrow
table, a Parquet file and a query, give the reference's rows; on DuckDB, a source query yielding zoned
nanoseconds (TIMESTAMPTZ_NS) is a diagnostic that gives the cast to write. Before, DuckDB stopped at a nanosecond spine
with "Cannot compare values of type TIMESTAMP WITH TIME ZONE and type TIMESTAMP_NS", after `validate` passed.

The spine matrix runs on DuckDB and PostgreSQL (PostgreSQL keeps microseconds: a finer spine is uploaded in
microseconds, and a query cannot ask for nanoseconds there); Spark runs the nanosecond Parquet spine, which it
cannot read in place (it is uploaded in microseconds). Sources in other precisions run on DuckDB, which
reads Parquet files and has a type per precision; PostgreSQL's tables and queries have only microseconds."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from fcompile.diagnostics import Code, DiagnosticError
from fcompile.graph import Projection
from fcompile.parser import load_project
from fcompile.planner.point_in_time import plan_latest_values
from fcompile.runners.spines import SpineInput, spine_input
from fcompile.tasks.training import plan_training_query

from compiler.harness import Case, EntityDef, Table, ViewDef, assert_same_rows, expected, write_project

UNITS = ("s", "ms", "us", "ns")
FORMS = ("pandas", "arrow", "parquet", "query")
ENGINES = ("duckdb", "postgres")
UTC = dt.timezone.utc
T = dt.datetime(2024, 3, 10, 12, 0, 0)
SEC = dt.timedelta(seconds=1)
HOUR = dt.timedelta(hours=1)
DRIVER = EntityDef("driver", (("driver_id", "int64"),))

# a precision as each engine's SQL spells it, naive and zoned (None: the engine has no such type)
QUERY_TYPES = {
    "duckdb": {"s": ("TIMESTAMP_S", None), "ms": ("TIMESTAMP_MS", None), "us": ("TIMESTAMP", "TIMESTAMPTZ"),
               "ns": ("TIMESTAMP_NS", "TIMESTAMPTZ_NS")},
    "postgres": {"s": ("TIMESTAMP(0)", "TIMESTAMPTZ(0)"), "ms": ("TIMESTAMP(3)", "TIMESTAMPTZ(3)"),
                 "us": ("TIMESTAMP", "TIMESTAMPTZ"), "ns": (None, None)},
}


def precision_case(zoned: bool) -> Case:
    """Rows on whole seconds (every precision holds them exactly) around the spine times: at the spine time
    (visible), a second after (not), at the 1h ttl bound (visible) and a second before it (not)."""
    kind = "timestamptz" if zoned else "timestamp"
    at = (lambda d: (T + d).replace(tzinfo=UTC)) if zoned else (lambda d: T + d)
    columns = (("driver_id", "int64"), ("event_ts", kind), ("conv", "float64"))
    table = Table("stats_t", columns, [{"driver_id": k, "event_ts": at(d), "conv": v} for k, d, v in (
        (1, -30 * 60 * SEC, 0.1), (1, 0 * SEC, 0.2), (1, SEC, 0.9),
        (2, -HOUR, 0.3), (2, -HOUR - SEC, 0.4), (3, SEC, 0.5))])
    spine = Table("spine_t", (("driver_id", "int64"), ("event_timestamp", kind)), [
        {"driver_id": k, "event_timestamp": at(d)} for k, d in ((1, 0 * SEC), (2, 0 * SEC), (3, 0 * SEC),
                                                                 (1, 2 * HOUR), (2, -HOUR))])
    view = ViewDef("stats", ("driver",), "stats_t", (("conv", "float64"),), ttl=HOUR)
    return Case((DRIVER,), (view,), (table,), spine, (Projection("stats", ("conv",)),),
                name=f"precision_{'zoned' if zoned else 'naive'}")


def arrow_in(table: Table, unit: str, zoned: bool) -> pa.Table:
    ts_type = pa.timestamp(unit, "UTC" if zoned else None)
    data = {c: [row[c] for row in table.rows] for c in table.column_names}
    fields = [(c, ts_type if t.startswith("timestamp") else pa.int64() if t == "int64" else pa.float64())
              for c, t in table.columns]
    return pa.table({c: pa.array(data[c], t) for c, t in fields}, schema=pa.schema(fields))


def query_type(engine: str, unit: str, zoned: bool) -> str:
    spelled = QUERY_TYPES[engine][unit][1 if zoned else 0]
    if spelled is None:
        pytest.skip(f"{engine} has no {'zoned ' if zoned else ''}timestamp type in {unit}")
    return spelled


@pytest.fixture
def on_engine(engine):
    if engine.name not in (*ENGINES, "spark"):
        pytest.skip(f"the precision matrix runs on {', '.join(ENGINES)}")
    return engine


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("zoned", [False, True], ids=["naive", "zoned"])
@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("source", ["other", pytest.param("same", marks=pytest.mark.slow)],
                         ids=["source-other-kind", "source-same-kind"])
def test_a_spine_in_any_precision_gives_the_reference_rows(on_engine, unit, zoned, form, source, tmp_path):
    """Against a source whose times are of the other kind (zoned against a naive spine, naive against a zoned
    one), the case that failed; against the same kind in the slow run."""
    engine, spine_case = on_engine, precision_case(zoned)
    if engine.name == "spark" and (unit, form) != ("ns", "parquet"):
        pytest.skip("on Spark (a query is a job of about a second) only the spine it could not read: a "
                    "nanosecond Parquet file")
    source_case = precision_case(zoned if source == "same" else not zoned)
    case = Case(source_case.entities, source_case.views, source_case.tables, spine_case.spine,
                source_case.projections, name=spine_case.name)
    runner = engine.runner()
    graph = write_project(case, tmp_path / "project")
    for table in case.tables:
        engine.load(runner, table)
    spine = arrow_in(case.spine, unit, zoned)
    if form == "pandas":
        frame = spine.to_pandas()
        frame["event_timestamp"] = frame["event_timestamp"].astype(
            f"datetime64[{unit}, UTC]" if zoned else f"datetime64[{unit}]")
        given = spine_input(frame)
    elif form == "arrow":
        given = SpineInput("arrow", spine)
    elif form == "parquet":
        path = tmp_path / "spine.parquet"
        pq.write_table(spine, path)  # Parquet has no seconds: a file in seconds holds milliseconds
        given = SpineInput("path", str(path))
    else:
        engine.load(runner, case.spine)
        given = SpineInput("query", f"SELECT driver_id, CAST(event_timestamp AS {query_type(engine.name, unit, zoned)})"
                                    f" AS event_timestamp FROM {engine.output_prefix()}spine_t")
    query = plan_training_query(graph, runner, given, case.projections, label=case.name)
    got = runner.to_arrow(query.plan, case.name)
    assert_same_rows((got.column_names, got.to_pylist()), expected(case),
                     f"{unit} {'zoned' if zoned else 'naive'} {form} spine on {engine.name}\n{query.sql}")


@pytest.mark.parametrize("form", ["parquet", "query"])
@pytest.mark.parametrize("zoned", [False, True], ids=["naive", "zoned"])
@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("spine", ["other", pytest.param("same", marks=pytest.mark.slow)],
                         ids=["spine-other-kind", "spine-same-kind"])
def test_a_source_in_any_precision_gives_the_reference_rows(on_engine, unit, zoned, form, spine, tmp_path):
    engine, case = on_engine, precision_case(zoned)
    spine_zoned = zoned if spine == "same" else not zoned
    if engine.name != "duckdb":
        pytest.skip(f"{engine.name}: the source matrix runs on DuckDB (PostgreSQL tables and queries hold "
                    "microseconds only)")
    runner = engine.runner()
    root = tmp_path / "project"
    write_project(case, root)
    for table in case.tables:
        engine.load(runner, table)
    spec = yaml.safe_load((root / "features.yml").read_text())
    source = spec["sources"][0]
    del source["table"]
    if form == "parquet":
        pq.write_table(arrow_in(case.table("stats_t"), unit, zoned), root / "stats.parquet")
        source["path"] = "stats.parquet"
    else:
        source["query"] = (f"SELECT driver_id, CAST(event_ts AS {query_type(engine.name, unit, zoned)}) AS event_ts, "
                           "conv FROM stats_t")
    (root / "features.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    graph = load_project(root)
    spine = precision_case(spine_zoned).spine
    given = SpineInput("arrow", arrow_in(spine, "us", spine_zoned))
    query = plan_training_query(graph, runner, given, case.projections, label=case.name)
    if engine.name == "duckdb" and form == "query" and (unit, zoned) == ("ns", True):
        # the compiled SQL cannot convert TIMESTAMPTZ_NS cheaply (docs/concepts/point-in-time.md): said before
        # it runs, with the cast that reads it
        with pytest.raises(DiagnosticError) as raised:
            runner.to_arrow(query.plan, case.name)
        (problem,) = raised.value.diagnostics
        assert problem.code is Code.INVALID_QUERY, problem
        assert "'event_ts'" in problem.message and "TIMESTAMPTZ_NS" in problem.message, problem
        assert "CAST(event_ts AS TIMESTAMPTZ)" in problem.hint, problem
        return
    got = runner.to_arrow(query.plan, case.name)
    wanted = expected(Case(case.entities, case.views, case.tables, spine, case.projections, name=case.name))
    assert_same_rows((got.column_names, got.to_pylist()), wanted,
                     f"{unit} {'zoned' if zoned else 'naive'} {form} source on {engine.name}\n{query.sql}")


@pytest.mark.parametrize("zoned", [False, True], ids=["naive", "zoned"])
@pytest.mark.parametrize("unit", UNITS)
def test_a_parquet_source_in_any_precision_materializes_its_window(on_engine, unit, zoned, tmp_path):
    """The materialization's window (naive bounds, read as UTC) over a Parquet source in each precision: the
    compiled SQL casts a zoned column, whose footer the build reads, and reads a naive one as UTC."""
    engine, case = on_engine, precision_case(zoned)
    if engine.name != "duckdb":
        pytest.skip(f"{engine.name}: Parquet sources are read in place on DuckDB")
    root = tmp_path / "project"
    write_project(case, root)
    spec = yaml.safe_load((root / "features.yml").read_text())
    source = spec["sources"][0]
    del source["table"]
    pq.write_table(arrow_in(case.table("stats_t"), unit, zoned), root / "stats.parquet")
    source["path"] = "stats.parquet"
    (root / "features.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    graph = load_project(root)
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    assert plan.relation.zoned_times == (("event_ts",) if zoned else ()), plan.relation
    reader = engine.runner().latest_values(plan, (T - HOUR).replace(tzinfo=UTC), T.replace(tzinfo=UTC), case.name)
    got = sorted((row["driver_id"], row["conv"]) for row in reader.read_all().to_pylist())
    assert got == [(1, 0.2), (2, 0.3)], f"{unit} {'zoned' if zoned else 'naive'} Parquet source"


# -- Spark and nanosecond Parquet sources -----------------------------------------------------------------------

def nanosecond_source_project(root, zoned: bool):
    """A project whose view reads a Parquet file with its times in nanoseconds (pandas' and pyarrow's default)."""
    root.mkdir(parents=True)
    unit = pa.timestamp("ns", tz="UTC" if zoned else None)
    pq.write_table(pa.table({"driver_id": pa.array([1], pa.int64()), "event_ts": pa.array([T], unit),
                             "conv": pa.array([0.5])}), root / "stats.parquet")
    (root / "fcompile_project.yml").write_text(yaml.safe_dump({
        "name": "ns_source", "targets": {"dev": {"offline": {"type": "duckdb"}, "online": {"type": "sqlite"}}}}))
    (root / "features.yml").write_text(yaml.safe_dump({
        "entities": [{"name": "driver", "join_keys": [{"name": "driver_id", "dtype": "int64"}]}],
        "sources": [{"name": "stats_src", "path": "stats.parquet", "timestamp_field": "event_ts"}],
        "feature_views": [{"name": "stats", "entities": ["driver"], "source": "stats_src",
                           "features": [{"name": "conv", "dtype": "float64"}]}],
        "feature_services": [{"name": "svc", "features": ["stats:conv"]}]}))
    return load_project(root)


@pytest.mark.parametrize("zoned", [False, True], ids=["naive", "zoned"])
def test_a_nanosecond_parquet_source_is_a_build_diagnostic_on_spark(spark_session, zoned, tmp_path):
    """Spark 3.5 cannot read a Parquet file with a nanosecond timestamp column (executed below: if a Spark
    version reads it, READS_NANOSECOND_PARQUET can go). Its compiled files would fail when run, so `build`
    says so (FC100, naming the file and the column, with the write to fix it); DuckDB reads the file."""
    from fcompile.artifacts.queries import compile_node
    from fcompile.artifacts.selection import NodeRef
    from fcompile.dialects import get_dialect

    graph = nanosecond_source_project(tmp_path / "project", zoned)
    with pytest.raises(Exception, match=r"Illegal Parquet type: INT64 \(TIMESTAMP\(NANOS"):  # a Py4JJavaError
        spark_session.read.parquet(str(tmp_path / "project" / "stats.parquet")).collect()
    for kind, name in (("feature_view", "stats"), ("feature_service", "svc")):
        compile_node(graph, NodeRef(kind, name), get_dialect("duckdb"))
        with pytest.raises(DiagnosticError) as excinfo:
            compile_node(graph, NodeRef(kind, name), get_dialect("spark"))
        [diagnostic] = excinfo.value.diagnostics
        assert diagnostic.code is Code.UNSUPPORTED_BY_DIALECT
        assert "times in nanoseconds ('stats.parquet': event_ts)" in diagnostic.message, diagnostic.message
        assert "coerce_timestamps='us'" in diagnostic.hint
