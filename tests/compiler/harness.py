"""Run a point-in-time case as fcompile SQL on DuckDB or PostgreSQL, and compute it with the reference.

A `Case` says everything once - entities, feature views over table sources, the rows of those tables,
the spine and the request - and is turned into a project on disk (YAML, parsed by `load_project`),
into tables in an engine, and into the reference's own terms. Nothing here reads the planner's or
the lowering's interpretation of the project.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from fcompile.dialects import DIALECTS, compile_sql
from fcompile.graph import FeatureGraph, Projection
from fcompile.parser import load_project
from fcompile.planner.plans import JoinStrategy, Relation, SpinePlan
from fcompile.planner.point_in_time import plan_latest_values, plan_point_in_time_join

from compiler import reference
from compiler.reference import RefFeature, RefView, Requested, utc

# column type -> (DuckDB type, PostgreSQL type)
SQL_TYPES = {
    "int64": ("BIGINT", "BIGINT"),
    "int32": ("INTEGER", "INTEGER"),
    "string": ("VARCHAR", "TEXT"),
    "float64": ("DOUBLE", "DOUBLE PRECISION"),
    "bool": ("BOOLEAN", "BOOLEAN"),
    "timestamp": ("TIMESTAMP", "TIMESTAMP"),
    "timestamptz": ("TIMESTAMPTZ", "TIMESTAMPTZ"),
    "array<int64>": ("BIGINT[]", "BIGINT[]"),
}

STRATEGIES = (JoinStrategy.RANGE, JoinStrategy.ASOF, JoinStrategy.WINDOW)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, type in SQL_TYPES)
    rows: Sequence[Mapping[str, Any]]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)


@dataclass(frozen=True)
class EntityDef:
    name: str
    keys: tuple[tuple[str, str], ...]  # (join key, dtype)


@dataclass(frozen=True)
class ViewDef:
    name: str
    entities: tuple[str, ...]
    table: str  # the source table
    features: tuple[tuple[str, str], ...]  # (feature, dtype) in declaration order
    ts: str = "event_ts"
    created: str | None = None
    ttl: dt.timedelta | None = None
    field_mapping: tuple[tuple[str, str], ...] = ()  # (column in the table, name in fcompile)
    query: str | None = None  # a `query:` source (over `table`) instead of `table:`
    tie_breaker: str | None = None  # the source's `tie_breaker:` column

    def column(self, name: str) -> str:
        return next((column for column, mapped in self.field_mapping if mapped == name), name)


@dataclass(frozen=True)
class Case:
    entities: tuple[EntityDef, ...]
    views: tuple[ViewDef, ...]
    tables: tuple[Table, ...]
    spine: Table
    projections: tuple[Projection, ...]
    spine_ts: str = "event_timestamp"
    full_feature_names: bool = False
    name: str = "case"
    extra_spec: Mapping[str, Any] = field(default_factory=dict)
    # the rows a view's source yields, where that is not its table as it stands (a query source)
    source_rows: Mapping[str, Sequence[Mapping[str, Any]]] = field(default_factory=dict)

    def view(self, name: str) -> ViewDef:
        return next(v for v in self.views if v.name == name)

    def table(self, name: str) -> Table:
        return next(t for t in self.tables if t.name == name)


# -- the project on disk ---------------------------------------------------------------------------

def duration_text(ttl: dt.timedelta) -> str:
    seconds = ttl.total_seconds()
    return f"{int(seconds)}s" if seconds == int(seconds) else f"PT{seconds}S"


def write_project(case: Case, root: Path) -> FeatureGraph:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fcompile_project.yml").write_text(yaml.safe_dump({
        "name": "pit_semantics", "default_target": "dev",
        "targets": {"dev": {"offline": {"type": "duckdb", "path": "x.duckdb"},
                            "online": {"type": "sqlite", "path": "x.db"}}},
    }))
    sources, views = [], []
    for view in case.views:
        source: dict[str, Any] = {"name": f"{view.name}_src", "timestamp_field": view.ts,
                                  **({"query": view.query} if view.query else {"table": view.table})}
        if view.created:
            source["created_timestamp_field"] = view.created
        if view.tie_breaker:
            source["tie_breaker"] = view.tie_breaker
        if view.field_mapping:
            source["field_mapping"] = dict(view.field_mapping)
        sources.append(source)
        spec: dict[str, Any] = {"name": view.name, "entities": list(view.entities), "source": f"{view.name}_src",
                                "features": [{"name": n, "dtype": d} for n, d in view.features]}
        if view.ttl is not None:
            spec["ttl"] = duration_text(view.ttl)
        views.append(spec)
    spec_file = {
        "entities": [{"name": e.name, "join_keys": [{"name": k, "dtype": d} for k, d in e.keys]}
                     for e in case.entities],
        "sources": sources, "feature_views": views, **case.extra_spec,
    }
    (root / "features.yml").write_text(yaml.safe_dump(spec_file, sort_keys=False))
    return load_project(root)


def spine_plan(case: Case, columns_known: bool = True) -> SpinePlan:
    return SpinePlan(Relation("table", case.spine.name), case.spine_ts,
                     columns=case.spine.column_names if columns_known else None)


def compile_case(graph: FeatureGraph, case: Case, dialect: str, strategy: Any,
                 columns_known: bool = True) -> str:
    plan = plan_point_in_time_join(graph, spine_plan(case, columns_known), case.projections,
                                   case.full_feature_names, strategy=strategy)
    return compile_sql(plan, dialect)


# -- the reference's view of the same case ----------------------------------------------------------

def ref_view(case: Case, view: ViewDef) -> RefView:
    keys = tuple((k, view.column(k)) for e in view.entities
                 for k, _ in next(ent for ent in case.entities if ent.name == e).keys)
    features = tuple(RefFeature(n, view.column(n), d.startswith("array")) for n, d in view.features)
    return RefView(view.name, keys, view.column(view.ts), view.created and view.column(view.created),
                   view.ttl, features, case.source_rows.get(view.name, case.table(view.table).rows),
                   view.tie_breaker and view.column(view.tie_breaker))


def expected(case: Case) -> tuple[list[str], list[dict[str, Any]]]:
    views = {}
    requested = []
    for projection in case.projections:
        views[projection.view] = ref_view(case, case.view(projection.view))
        for feature in projection.features:
            out = reference.output_name(projection.view, feature, projection.alias, case.full_feature_names)
            requested.append(Requested(projection.view, feature, out))
    rows = reference.point_in_time_join(case.spine.rows, case.spine.column_names, case.spine_ts, views, requested)
    return [*case.spine.column_names, *(r.output for r in requested)], rows


# -- engines -----------------------------------------------------------------------------------------

def arrow_table(table: Table):
    """The table's rows as a pyarrow Table with the columns' types (timestamptz as UTC)."""
    import pyarrow as pa

    arrow_types = {"int64": pa.int64(), "int32": pa.int32(), "string": pa.string(), "float64": pa.float64(),
                   "bool": pa.bool_(), "timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", tz="UTC"),
                   "array<int64>": pa.list_(pa.int64())}
    columns = {c: pa.array([row[c] for row in table.rows], arrow_types[t]) for c, t in table.columns}
    return pa.table(columns, schema=pa.schema([(c, arrow_types[t]) for c, t in table.columns]))


def load_duckdb(con, table: Table) -> None:
    data = arrow_table(table)
    ddl = ", ".join(f'"{c}" {SQL_TYPES[t][0]}' for c, t in table.columns)
    con.execute(f'DROP TABLE IF EXISTS "{table.name}"')
    con.execute(f'CREATE TABLE "{table.name}" ({ddl})')
    con.register("__fc_test_rows", data)
    con.execute(f'INSERT INTO "{table.name}" SELECT * FROM __fc_test_rows')
    con.unregister("__fc_test_rows")


def load_postgres(conn, table: Table) -> None:
    ddl = ", ".join(f'"{c}" {SQL_TYPES[t][1]}' for c, t in table.columns)
    names = ", ".join(f'"{c}"' for c in table.column_names)
    with conn.cursor() as cur:
        cur.execute(f'DROP TABLE IF EXISTS "{table.name}"')
        cur.execute(f'CREATE TABLE "{table.name}" ({ddl})')
        with cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in table.rows:
                copy.write_row([row[c] for c in table.column_names])


def query_duckdb(con, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], list[dict]]:
    result = con.sql(sql, params=params) if params else con.sql(sql)
    arrow = result.to_arrow_table()
    return arrow.column_names, arrow.to_pylist()


def query_postgres(conn, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], list[dict]]:
    with conn.cursor() as cur:
        cur.execute(sql, params, prepare=False)  # tables are re-created between runs with other types
        names = [d.name for d in cur.description]
        return names, [dict(zip(names, row)) for row in cur.fetchall()]


def duckdb_connection():
    """An in-memory DuckDB session reading naive timestamps as UTC (§3.5)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    return con


class Engine:
    """One engine to run compiled cases on: loads the tables, runs the SQL, returns named rows."""

    dialect: str

    def load(self, table: Table) -> None:
        raise NotImplementedError

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], list[dict]]:
        raise NotImplementedError

    def load_case(self, case: Case) -> None:
        for table in (*case.tables, case.spine):
            self.load(table)

    def spine_forms(self) -> tuple[bool, ...]:
        """Spine plans to try: with its columns known, and unknown (read in place as a compiled dataset
        reads a `table:` spine)."""
        return (True,)


class DuckDBEngine(Engine):
    dialect = "duckdb"

    def __init__(self, con) -> None:
        self.con = con

    def load(self, table: Table) -> None:
        load_duckdb(self.con, table)

    def query(self, sql, params=None):
        return query_duckdb(self.con, sql, params)

    def spine_forms(self) -> tuple[bool, ...]:
        return (True, False)


class PostgresEngine(Engine):
    dialect = "postgres"

    def __init__(self, conn) -> None:
        self.conn = conn

    def load(self, table: Table) -> None:
        load_postgres(self.conn, table)

    def query(self, sql, params=None):
        return query_postgres(self.conn, sql, params)

    def spine_forms(self) -> tuple[bool, ...]:
        return (True, False)


# -- comparison ----------------------------------------------------------------------------------------

NAN = "NaN"  # what a NaN compares as: NaN is not equal to itself


def normalized(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return NAN
    return utc(value)


def in_spine_order(dialect: str, columns_known: bool) -> bool:
    """Whether compiled SQL returns the rows in spine order: where it can drop its ordering number (the
    spine's columns known, or `* EXCLUDE`); else it selects `s.*` of the spine relation, in no order."""
    return columns_known or DIALECTS[dialect].STAR_EXCEPT


def _in_any_order(rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    return sorted(rows, key=lambda row: [str(normalized(v)) for v in row.values()])


def assert_same_rows(actual: tuple[list[str], list[dict]], wanted: tuple[list[str], list[dict]],
                     context: str, ordered: bool = True, close: frozenset[str] | set[str] = frozenset()) -> None:
    """Row by row, in spine order; as a multiset where the SQL promises no order (`ordered` False). The
    columns in `close` (float sums, means and deviations of windowed aggregations, whose last bits depend
    on the order an engine adds in) are compared within 1e-9 relative; everything else exactly."""
    names, rows = actual
    wanted_names, wanted_rows = wanted
    if not ordered:
        rows, wanted_rows = _in_any_order(rows), _in_any_order(wanted_rows)
    assert list(names) == list(wanted_names), f"{context}: columns {names} != {wanted_names}"
    assert len(rows) == len(wanted_rows), f"{context}: {len(rows)} rows, expected {len(wanted_rows)}"
    for i, (got, want) in enumerate(zip(rows, wanted_rows)):
        got_n = {k: normalized(v) for k, v in got.items()}
        want_n = {k: normalized(v) for k, v in want.items()}
        for name in close:
            g, w = got_n.get(name), want_n.get(name)
            if isinstance(g, float) and isinstance(w, float) and math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12):
                got_n[name] = w
        assert got_n == want_n, f"{context}: row {i} differs\n  got      {got_n}\n  expected {want_n}"


def check_case(engine: Engine, case: Case, graph: FeatureGraph,
               strategies: Sequence[Any] = STRATEGIES) -> None:
    """Every strategy (and spine form) on `engine` gives exactly the reference's rows."""
    engine.load_case(case)
    wanted = expected(case)
    for strategy in strategies:
        for columns_known in engine.spine_forms():
            sql = compile_case(graph, case, engine.dialect, strategy, columns_known)
            context = f"{case.name} on {engine.dialect}, strategy {strategy}, spine columns " \
                      f"{'known' if columns_known else 'unknown'}"
            try:
                actual = engine.query(sql)
            except Exception as exc:  # show the SQL that failed
                raise AssertionError(f"{context}: {exc}\n{sql}") from exc
            assert_same_rows(actual, wanted, f"{context}\n{sql}", in_spine_order(engine.dialect, columns_known))


# -- latest values -------------------------------------------------------------------------------------

def expected_latest(case: Case, view_name: str, start, end) -> list[dict[str, Any]]:
    view = case.view(view_name)
    entity_keys = [k for e in view.entities for k, _ in next(x for x in case.entities if x.name == e).keys]
    rows = []
    for key, values in reference.latest_values(ref_view(case, view), start, end).items():
        row = dict(zip(entity_keys, key))
        row["__fc_event_ts"] = values["event_ts"]
        if view.created:
            row["__fc_created_ts"] = values["created_ts"]
        row.update({n: values[n] for n, _ in view.features})
        rows.append(row)
    return rows


def _sortable(row: Mapping[str, Any]) -> tuple:
    return tuple((v is None, str(normalized(v))) for v in row.values())


def check_latest(engine: Engine, case: Case, graph: FeatureGraph, view_name: str, start, end) -> None:
    engine.load_case(case)
    sql = compile_sql(plan_latest_values(graph, graph.feature_view(view_name)), engine.dialect)
    names, rows = engine.query(sql, {"start": start, "end": end})
    wanted = expected_latest(case, view_name, start, end)
    key_count = sum(len(x.keys) for x in case.entities if x.name in case.view(view_name).entities)
    wanted_names = list(wanted[0]) if wanted else names
    assert names == wanted_names, f"{engine.dialect}: columns {names} != {wanted_names}"
    got = sorted(({k: normalized(v) for k, v in r.items()} for r in rows), key=_sortable)
    want = sorted(({k: normalized(v) for k, v in r.items()} for r in wanted), key=_sortable)
    assert len({tuple(r[n] for n in names[:key_count]) for r in got}) == len(got), "one row per entity key"
    assert got == want, f"{engine.dialect} latest values [{start}, {end}] differ\n{sql}\n  got      {got}\n  " \
                        f"expected {want}"
