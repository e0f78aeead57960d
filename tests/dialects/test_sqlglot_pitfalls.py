"""One test per sqlglot behaviour fcompile works around (and the ones found while adding the five warehouse
dialects), each written against fcompile's OUTPUT so that a regression in a lowering, a flag or a
sqlglot upgrade fails here. Where an engine is at hand the SQL is also run: the ttl bound must mean the
same on DuckDB, PostgreSQL and Spark at the boundary (exactly ttl old is in, ttl + 1 s is out)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from sqlglot import exp
from sqlglot.errors import ParseError, UnsupportedError

from fcompile.artifacts.queries import join_notes
from fcompile.dialects import DIALECTS, compile_sql, compile_statements, get_dialect, session_statements
from fcompile.graph import DatasetOutput, DType
from fcompile.planner.plans import (
    BuildDataset, FeatureColumn, JoinStrategy, KeyColumn, PointInTimeJoin, Relation, SpinePlan, ViewJoin,
)
from fcompile.planner.datasets import plan_build_dataset
from fcompile.planner.point_in_time import plan_latest_values
from fcompile.sql_names import reserved_words

from dialects.projects import (
    DIALECT_NAMES, FEATURE_ROWS, SPINE_ROWS, STRATEGIES, T0, TTL_SECONDS, boundary_join, boundary_project,
    compiled, expected_boundary, service_join,
)

NATIVE_ASOF = {name for name, d in DIALECTS.items() if d.SUPPORTS_ASOF_LEFT_JOIN or d.SUPPORTS_ASOF_MATCH_CONDITION}
NO_QUALIFY = [name for name, d in DIALECTS.items() if not d.SUPPORTS_QUALIFY]


def every_plan(graph):
    """Each feature service under each strategy, and each view's latest values."""
    for service in ("driver_activity_v1", "driver_ranking_v2"):
        for strategy in STRATEGIES:
            yield f"{service}[{strategy.value}]", service_join(graph, service, strategy)
    for view in graph.feature_views:
        yield f"{view.name}[latest]", plan_latest_values(graph, view)


def lower_names(tree: exp.Expression, kind=exp.Identifier) -> list[str]:
    return [node.name.lower() for node in tree.find_all(kind)]


# -- ASOF joins are copied verbatim by sqlglot ----------------------------------------------------------

@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_asof_join_only_where_native_and_in_the_native_form(name, table_graph):
    plan = service_join(table_graph, "driver_ranking_v2", JoinStrategy.ASOF)
    [(text, tree)] = compiled(plan, name)
    asof_joins = [j for j in tree.find_all(exp.Join) if (j.method or "").upper() == "ASOF"]
    if name not in NATIVE_ASOF:
        assert "ASOF" not in text.upper() and "MATCH_CONDITION" not in text.upper()
        assert not asof_joins
        return
    assert len(asof_joins) == sum(isinstance(j, ViewJoin) for j in plan.joins)  # aggregations join on window ends
    for join in asof_joins:
        condition = join.args.get("match_condition")
        if name == "snowflake":
            # MATCH_CONDITION (left.ts >= right.ts), left table first; ON holds equalities only
            assert isinstance(condition, exp.GTE)
            assert condition.this.table.lower() == "s" and condition.expression.table.lower() == join.alias_or_name.lower()
            on = join.args["on"].unnest()
            assert all(isinstance(c.unnest(), exp.EQ) for c in (on.flatten() if isinstance(on, exp.And) else [on]))
        else:
            assert condition is None and "MATCH_CONDITION" not in text


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_every_join_onto_the_spine_keeps_every_spine_row(name, table_graph):
    """DuckDB's `ASOF JOIN` is an inner join: it must be `ASOF LEFT JOIN`. The other strategies join
    their per-row answers back by row id, which must be a LEFT join too."""
    for strategy in STRATEGIES:
        [(text, tree)] = compiled(service_join(table_graph, "driver_ranking_v2", strategy), name)
        for join in tree.args["joins"]:  # the outer select: spine joined to each view's answer
            if (join.method or "").upper() == "ASOF" and name == "snowflake":
                assert not join.side  # Snowflake's ASOF JOIN keeps unmatched left rows by itself
            else:
                assert (join.side or "").upper() == "LEFT", join.sql(DIALECTS[name].sqlglot_name)
        if name == "duckdb" and strategy is JoinStrategy.ASOF:
            assert "ASOF LEFT JOIN" in text and not re.search(r"(?<!LEFT )ASOF JOIN", text)


# -- ttl arithmetic: INTERVAL (col) SECOND, TIMESTAMP_SUB, DATEADD -> DATE_ADD ---------------------------

def ttl_bounds(tree: exp.Expression) -> list[exp.Expression]:
    """The right-hand sides of `event_ts >= <spine ts - ttl>`."""
    return [node.expression for node in tree.find_all(exp.GTE)
            if isinstance(node.this, exp.Column) and node.this.name.lower() == "__fc_event_ts"
            and not isinstance(node.expression, exp.Column)]


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_ttl_bound_keeps_the_timestamp_column_and_the_amount(name, table_graph):
    for strategy in STRATEGIES:
        plan = service_join(table_graph, "driver_ranking_v2", strategy)
        [(text, tree)] = compiled(plan, name)
        ttls = {j.ttl_seconds for j in plan.joins if isinstance(j, ViewJoin) and j.ttl_seconds is not None}
        bounds = ttl_bounds(tree)
        assert bounds, text
        assert "INTERVAL (" not in text.upper()
        for bound in bounds:
            columns = lower_names(bound, exp.Column)
            assert columns and set(columns) <= {"event_timestamp", "__fc_spine_ts"}, bound.sql()
            amounts = {abs(int(re.match(r"-?\d+", lit.this).group())) for lit in bound.find_all(exp.Literal)
                       if re.match(r"-?\d+", lit.this)}
            assert amounts & ttls, bound.sql()


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_ttl_bound_never_uses_a_function_the_warehouse_lacks(name, table_graph):
    """sqlglot prints TimestampSub as TIMESTAMP_SUB(...) for Postgres, Redshift and Trino, which have
    no such function, and DateAdd as Spark's DATE_ADD(ts, n), which adds n DAYS."""
    texts = [text for _, plan in every_plan(table_graph) for text in compile_statements(plan, name)]
    allowed = {"bigquery": {"TIMESTAMP_SUB"}, "snowflake": {"TIMESTAMPADD"}, "redshift": {"DATEADD"},
               "trino": {"DATE_ADD"}}.get(name, set())
    for text in texts:
        used = set(re.findall(r"\b(TIMESTAMP_?SUB|TIMESTAMP_?ADD|DATE_?ADD|DATE_?SUB)\s*\(", text.upper()))
        assert used <= allowed, (name, used)
    for text in texts:  # where a DATE_ADD is allowed (Trino), the unit is always spelled out
        assert text.count("DATE_ADD(") == len(re.findall(r"DATE_ADD\('SECOND', -\d+, ", text))


# -- QUALIFY rewritten to a subquery collapses duplicate names ---------------------------------------

@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_no_select_projects_a_name_twice(name, table_graph):
    """Where QUALIFY is missing, fcompile writes the ranked subquery itself (sqlglot's rewrite keeps
    one of two equal output names); every select, in every dialect, names each output once."""
    for label, plan in every_plan(table_graph):
        [(text, tree)] = compiled(plan, name)
        if name in NO_QUALIFY:
            assert "QUALIFY" not in text.upper(), label
            assert not {"_w", "_t"} & set(lower_names(tree)), label  # sqlglot's eliminate_qualify names
        for select in tree.find_all(exp.Select):
            outputs = [p.alias_or_name.lower() for p in select.selects if not isinstance(p, exp.Star)
                       and not (isinstance(p, exp.Column) and isinstance(p.this, exp.Star))]
            assert len(outputs) == len(set(outputs)), (label, select.sql(DIALECTS[name].sqlglot_name)[:300])


@pytest.mark.parametrize("name", [n for n, d in DIALECTS.items() if d.SUPPORTS_QUALIFY])
def test_qualify_stands_where_the_warehouse_accepts_it(name, table_graph):
    """BigQuery refuses QUALIFY without a WHERE, GROUP BY or HAVING; Redshift misreads a QUALIFY right
    after an unaliased FROM relation (sqlglot adds nothing). Those selects rank in a subquery, and no
    select gets a `WHERE TRUE` to stand on."""
    needs_where = DIALECTS[name].QUALIFY_NEEDS_WHERE
    seen = 0
    for label, plan in every_plan(table_graph):
        [(_, tree)] = compiled(plan, name)
        for select in tree.find_all(exp.Select):
            if select.args.get("qualify"):
                seen += 1
                if needs_where:
                    assert any(select.args.get(k) for k in ("where", "group", "having")), label
            where = select.args.get("where")
            assert where is None or where.this != exp.true(), label
    assert seen
    assert needs_where == (name in ("bigquery", "redshift"))


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_star_except_only_where_the_warehouse_has_it(name, table_graph):
    """sqlglot prints `* EXCEPT (...)` for Postgres, Spark and Trino and `* EXCLUDE` for Redshift,
    without raising; fcompile reads a spine of unknown columns as `s.*` of the spine relation there."""
    plan = plan_build_dataset(table_graph, table_graph.datasets[0])
    text = next(text for text, tree in compiled(plan, name) if isinstance(tree, exp.Create))
    assert bool(re.search(r"\*\s+(EXCLUDE|EXCEPT) \(", text.upper())) == DIALECTS[name].STAR_EXCEPT


# -- identifiers: normalized for the warehouse, then quoted; reserved words quoted ----------------------

def one_view_plan(table: str, spine_table: str, key: tuple[str, str], event_ts: str, feature: tuple[str, str],
                  strategy: JoinStrategy = JoinStrategy.RANGE) -> PointInTimeJoin:
    """A point-in-time join built directly (no parser), so any name can be tried."""
    view = ViewJoin(view="stats", relation=Relation("table", table), keys=(KeyColumn(key[0], key[1], DType("int64")),),
                    event_timestamp=event_ts, created_timestamp=None, ttl_seconds=TTL_SECONDS,
                    features=(FeatureColumn(feature[0], feature[1], DType("float64")),), strategy=strategy)
    spine = SpinePlan(Relation("table", spine_table), "eventTs", columns=(key[0], "eventTs"))
    return PointInTimeJoin(spine, (view,), ((0, feature[1]),))


CAMEL = one_view_plan("Trip_Stats", "Spine_Rows", ("driverId", "driverId"), "eventTs", ("convRate", "convRate"))
SPELLED = {  # how `convRate` and `Trip_Stats` must reach each warehouse
    "duckdb": ("convRate", "Trip_Stats"),      # case-insensitive even quoted; output keeps the case
    "snowflake": ("CONVRATE", "TRIP_STATS"),   # unquoted names resolve upper-case; "convRate" is another column
    "bigquery": ("convRate", "Trip_Stats"),    # columns case-insensitive, tables case-sensitive: as written
    "postgres": ("convrate", "trip_stats"),    # unquoted names fold to lower case
    "spark": ("convRate", "Trip_Stats"),
    "redshift": ("convrate", "trip_stats"),
    "trino": ("convrate", "trip_stats"),
}


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_identifiers_are_normalized_for_the_warehouse_then_quoted(name):
    [(text, tree)] = compiled(CAMEL, name)
    identifiers = list(tree.find_all(exp.Identifier))
    assert identifiers and all(i.quoted for i in identifiers)
    feature, table = SPELLED[name]
    assert {i.name for i in identifiers if i.name.lower() == "convrate"} == {feature}
    assert {i.name for i in identifiers if i.name.lower() == "trip_stats"} == {table}


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_reserved_words_are_quoted(name):
    """Source tables and columns are the warehouse's, not fcompile's, and may be reserved words."""
    words = {"group", "select", "user", "order", "from", "timestamp"}
    assert words & reserved_words()[name]
    plan = one_view_plan("group", "select", ("user_id", "user"), "timestamp", ("order", "order_count"))
    plan = dataclasses.replace(plan, spine=dataclasses.replace(plan.spine, timestamp_column="from",
                                                              columns=("user_id", "from")))
    for strategy in STRATEGIES:
        plan = dataclasses.replace(plan, joins=(dataclasses.replace(plan.joins[0], strategy=strategy),))
        [(text, tree)] = compiled(plan, name)  # unquoted reserved words would not re-parse
        assert all(i.quoted for i in tree.find_all(exp.Identifier))
        quote = "`" if DIALECTS[name].sqlglot_name in ("bigquery", "spark") else '"'
        for word in words:
            spelled = word.upper() if name == "snowflake" else word
            assert f"{quote}{spelled}{quote}" in text


# -- generation is strict and re-parsed ---------------------------------------------------------------

def test_generation_raises_on_what_the_dialect_cannot_express():
    """`unsupported_level=RAISE`: BigQuery has no NULLS LAST in an aggregate window with a frame;
    sqlglot would otherwise drop the clause (and change the order) with a warning."""
    window = exp.Window(this=exp.Max(this=exp.column("x")), partition_by=[exp.column("k")],
                        order=exp.Order(expressions=[exp.Ordered(this=exp.column("t"), nulls_first=False)]),
                        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"))
    tree = exp.select(exp.alias_(window, "m")).from_("f")
    with pytest.raises(UnsupportedError):
        get_dialect("bigquery").generate(tree)
    # fcompile's own never-NULL keys carry no NULLS clause, so the same window is fine
    fixed = tree.copy()
    for ordered in fixed.find_all(exp.Ordered):
        ordered.replace(get_dialect("bigquery").ascending_never_null(ordered.this))
    assert "NULLS" not in get_dialect("bigquery").generate(fixed)


def test_generation_reparses_what_it_prints():
    """sqlglot prints a MATCH_CONDITION join for DuckDB, which DuckDB (and sqlglot's DuckDB parser)
    cannot read: the re-parse in `generate` catches it rather than shipping it."""
    join = exp.Join(this=exp.to_table("f"), on=exp.condition("s.k = f.k"), method="ASOF",
                    match_condition=exp.condition("s.ts >= f.ts"))
    tree = exp.select("*").from_("s")
    tree.append("joins", join)
    assert "MATCH_CONDITION" in tree.sql("duckdb")
    with pytest.raises(ParseError):
        get_dialect("duckdb").generate(tree)


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_newest_first_orders_put_nulls_last_as_the_warehouse_reads_them(name, table_graph):
    """Read back in the dialect (whose parser applies its own default NULL placement), every
    descending ranking key must still put NULLs last: a NULL event or created time never wins."""
    for label, plan in every_plan(table_graph):
        [(_, tree)] = compiled(plan, name)
        for window in tree.find_all(exp.Window):
            for ordered in window.find_all(exp.Ordered):
                if ordered.args.get("desc"):
                    assert ordered.args.get("nulls_first") is False, (label, window.sql())


# -- statements the warehouse does not have ----------------------------------------------------------

@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_create_or_replace_only_where_the_warehouse_has_it(name, table_graph):
    plan = plan_build_dataset(table_graph, table_graph.datasets[0],
                              spine_columns=("order_id", "driver_id", "customer_id", "event_timestamp",
                                             "order_amount", "order_hour"))
    texts = compile_statements(plan, name)
    assert compile_sql(plan, name) == ";\n\n".join(texts)
    texts = texts[len(session_statements(get_dialect(name))):]
    if DIALECTS[name].SUPPORTS_CREATE_OR_REPLACE_TABLE:
        assert len(texts) == 1 and texts[0].startswith("CREATE OR REPLACE TABLE")
    else:
        building = texts[1:-1] if DIALECTS[name].TRANSACTIONAL_DDL else texts
        assert len(building) == 4 and building[0].startswith("DROP TABLE IF EXISTS")
        assert building[1].startswith("CREATE TABLE") and building[3].startswith("ALTER TABLE")
        assert not any("OR REPLACE" in t for t in texts)


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_spine_numbering_has_the_order_by_the_warehouse_requires(name, table_graph):
    """Spark refuses `ROW_NUMBER() OVER ()` ("requires window to be ordered"; measured on 3.5) and
    Snowflake documents ROW_NUMBER's ORDER BY as mandatory."""
    text = compile_statements(service_join(table_graph, "driver_activity_v1"), name)[-1]
    spine = text.split("),")[0]
    assert EXPECTED_NUMBERING[name] in spine


EXPECTED_NUMBERING = {"snowflake": "ROW_NUMBER() OVER (ORDER BY NULL)", "spark": "MONOTONICALLY_INCREASING_ID()",
                      **{n: "ROW_NUMBER() OVER ()" for n in ("duckdb", "bigquery", "postgres", "redshift", "trino")}}


# -- executed: the ttl bound means the same thing on every engine at hand -------------------------------

BOTH = ("recent", "ever")  # the 2h view and the unbounded one, in one query
BOTH_OUT = ("row_no", "recent__trips", "ever__trips")


def boundary_rows(ts_type: str):
    return {
        "stats_src": (("driver_id", "BIGINT"), ("event_ts", ts_type), ("created_ts", ts_type), ("trips", "BIGINT")),
        "spine": (("row_no", "BIGINT"), ("driver_id", "BIGINT"), ("event_ts", ts_type)),
    }, {"stats_src": FEATURE_ROWS, "spine": [spine for spine, _, _ in SPINE_ROWS]}


def load_sql_tables(execute, ts_type: str, marker: str) -> None:
    columns, rows = boundary_rows(ts_type)
    for table, cols in columns.items():
        execute(f"DROP TABLE IF EXISTS {table}")
        execute(f"CREATE TABLE {table} ({', '.join(f'{c} {t}' for c, t in cols)})")
        marks = ", ".join([marker] * len(cols))
        for row in rows[table]:
            execute(f"INSERT INTO {table} VALUES ({marks})", row)


def picked(columns: list[str], rows, wanted: tuple[str, ...] = BOTH_OUT) -> list[tuple]:
    index = [columns.index(w) for w in wanted]
    return [tuple(row[i] for i in index) for row in rows]


def duckdb_query(con, sql: str, params=None) -> tuple[list[str], list[tuple]]:
    relation = con.sql(sql, params=params) if params else con.sql(sql)
    return relation.columns, [tuple(r.values()) for r in relation.to_arrow_table().to_pylist()]


def postgres_query(conn, sql: str, params=None) -> tuple[list[str], list[tuple]]:
    cursor = conn.execute(sql, params)
    return [d.name for d in cursor.description], cursor.fetchall()


def spark_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return f"{value}L"
    return f"TIMESTAMP'{value.isoformat(sep=' ')}'"


def load_spark_views(spark) -> None:
    """Temporary views over VALUES: no Python worker, so no Python round trip per Spark task."""
    columns, rows = boundary_rows("TIMESTAMP")
    for table, cols in columns.items():
        values = ", ".join("(" + ", ".join(spark_literal(v) for v in row) + ")" for row in rows[table])
        spark.sql(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM VALUES {values} "
                  f"AS t({', '.join(c for c, _ in cols)})")


@pytest.mark.parametrize("ts_type", ["TIMESTAMP", "TIMESTAMPTZ"])
@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.value)
def test_ttl_boundary_on_duckdb(duckdb_connection, boundary_graph, strategy, ts_type):
    load_sql_tables(lambda sql, params=(): duckdb_connection.execute(sql, params), ts_type, "?")
    sql = compile_sql(boundary_join(boundary_graph, BOTH, strategy), "duckdb")
    assert picked(*duckdb_query(duckdb_connection, sql)) == expected_boundary(BOTH)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.value)
def test_a_declared_strategy_is_the_one_planned(duckdb_connection, tmp_path, strategy):
    """`strategy:` in the YAML overrides the choice by ttl (range for the 2h view, asof for the unbounded
    one), says so in the plan and the file header, and gives the same rows."""
    graph = boundary_project(tmp_path, strategy.value)
    plan = boundary_join(graph, BOTH, None)
    assert [(j.strategy, j.strategy_reason) for j in plan.joins] == [(strategy, "declared")] * 2
    notes = join_notes(plan, get_dialect("postgres"))
    used = JoinStrategy.WINDOW if strategy is JoinStrategy.ASOF else strategy
    lowered = "asof: declared; postgres has no ASOF join" if strategy is JoinStrategy.ASOF else "declared"
    assert notes == [f"join {view}: {used.value} ({lowered})" for view in BOTH]
    load_sql_tables(lambda sql, params=(): duckdb_connection.execute(sql, params), "TIMESTAMP", "?")
    sql = compile_sql(plan, "duckdb")
    assert picked(*duckdb_query(duckdb_connection, sql)) == expected_boundary(BOTH)


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.value)
def test_a_range_join_without_a_ttl_is_a_warning_at_the_strategy(tmp_path, strategy):
    """The unbounded view declaring `range` compiles (its rows are right) with FC016 placed at its
    `strategy:`; the other plans, and `range` on the view with a ttl, say nothing."""
    from fcompile.parser import parse_project

    boundary_project(tmp_path, strategy.value)
    result = parse_project(tmp_path)
    assert result.graph is not None
    warnings = [d for d in result.diagnostics if d.code.value == "FC016"]
    if strategy is not JoinStrategy.RANGE:
        assert warnings == []
        return
    [warning] = warnings
    assert warning.severity.value == "warning" and "feature view 'ever'" in warning.message
    lines = (tmp_path / "features.yml").read_text().splitlines()
    assert lines[warning.position.line - 1].strip() == "strategy: range"
    assert "ttl" in warning.hint and "asof" in warning.hint


def test_the_choice_by_ttl_says_why(boundary_graph):
    plan = boundary_join(boundary_graph, BOTH, None)
    assert [(j.strategy, j.strategy_reason) for j in plan.joins] == [
        (JoinStrategy.RANGE, "ttl 2h <= 6h, the range-join limit"), (JoinStrategy.ASOF, "no ttl: unbounded look-back")]
    assert join_notes(plan, get_dialect("duckdb")) == [
        "join recent: range (ttl 2h <= 6h, the range-join limit)", "join ever: asof (no ttl: unbounded look-back)"]


@pytest.mark.parametrize("ts_type", ["TIMESTAMP", "TIMESTAMPTZ"])
@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.value)
def test_ttl_boundary_on_postgres(postgres_connection, boundary_graph, strategy, ts_type):
    load_sql_tables(lambda sql, params=None: postgres_connection.execute(sql, params), ts_type, "%s")
    sql = compile_sql(boundary_join(boundary_graph, BOTH, strategy), "postgres")
    assert picked(*postgres_query(postgres_connection, sql)) == expected_boundary(BOTH)


def run_on_spark(session, plan, args=None):
    """The plan's compiled statements run in order on Spark (the first sets the session's time zone): the
    last one's rows."""
    *leading, query = compile_statements(plan, "spark")
    for statement in leading:
        session.sql(statement)
    return session.sql(query, args=args) if args else session.sql(query)


def test_ttl_boundary_on_spark(spark_session, boundary_graph):
    """One query per strategy (Spark in local mode takes seconds per query); ASOF is lowered to the
    window plan on Spark, so RANGE and WINDOW are the two plans that really differ."""
    load_spark_views(spark_session)
    for strategy in STRATEGIES:
        frame = run_on_spark(spark_session, boundary_join(boundary_graph, BOTH, strategy))
        result = [tuple(r) for r in frame.select(*BOTH_OUT).collect()]
        assert result == expected_boundary(BOTH), strategy


LATEST_WINDOWS = [  # [start, end], both inclusive -> {(driver_id, trips)}
    ((T0, T0), {(1, 10)}),
    ((T0 - dt.timedelta(days=3), T0 - dt.timedelta(seconds=1)), {(1, 7)}),
    ((T0 + dt.timedelta(seconds=1), T0 + dt.timedelta(seconds=1)), {(2, 20)}),
    ((T0 - dt.timedelta(days=3), T0 + dt.timedelta(seconds=1)), {(1, 10), (2, 20)}),
]


def test_latest_values_bound_parameters_on_duckdb_and_postgres(duckdb_connection, postgres_connection,
                                                               boundary_graph):
    """The [start, end] window is two bound parameters in each dialect's own style ($start,
    %(start)s), both ends inclusive."""
    plan = plan_latest_values(boundary_graph, boundary_graph.feature_view("recent"))
    load_sql_tables(lambda sql, params=(): duckdb_connection.execute(sql, params), "TIMESTAMP", "?")
    load_sql_tables(lambda sql, params=None: postgres_connection.execute(sql, params), "TIMESTAMP", "%s")
    for (start, end), wanted in LATEST_WINDOWS:
        params = {"start": start, "end": end}
        got = duckdb_query(duckdb_connection, compile_sql(plan, "duckdb"), params)
        assert set(picked(*got, ("driver_id", "trips"))) == wanted
        got = postgres_query(postgres_connection, compile_sql(plan, "postgres"), params)
        assert set(picked(*got, ("driver_id", "trips"))) == wanted


def test_latest_values_bound_parameters_on_spark(spark_session, boundary_graph):
    """`:start`/`:end` named parameter markers (Spark 3.4+); one window, as Spark takes seconds a query."""
    plan = plan_latest_values(boundary_graph, boundary_graph.feature_view("recent"))
    load_spark_views(spark_session)
    (start, end), wanted = LATEST_WINDOWS[-1]
    frame = run_on_spark(spark_session, plan, {"start": start, "end": end})
    assert {tuple(r) for r in frame.select("driver_id", "trips").collect()} == wanted


def test_dataset_build_runs_twice_on_postgres(postgres_connection, boundary_graph):
    """DROP TABLE IF EXISTS + CREATE TABLE AS (Postgres has no CREATE OR REPLACE TABLE): re-runnable."""
    conn = postgres_connection
    load_sql_tables(lambda sql, params=None: conn.execute(sql, params), "TIMESTAMPTZ", "%s")
    plan = BuildDataset("boundary", DatasetOutput("table", "boundary_training"),
                        boundary_join(boundary_graph, BOTH, JoinStrategy.WINDOW))
    for _ in range(2):
        for statement in compile_statements(plan, "postgres"):
            conn.execute(statement)
    rows = conn.execute("SELECT row_no, recent__trips, ever__trips FROM boundary_training ORDER BY row_no")
    assert rows.fetchall() == expected_boundary(BOTH)


def test_normalized_names_resolve_on_postgres(postgres_connection):
    """A table created with unquoted camelCase names stores them lower-case; fcompile's quoted,
    normalized names find them (quoting "convRate" as written would not)."""
    conn = postgres_connection
    conn.execute("DROP TABLE IF EXISTS Trip_Stats")
    conn.execute("DROP TABLE IF EXISTS Spine_Rows")
    conn.execute("CREATE TABLE Trip_Stats (driverId BIGINT, eventTs TIMESTAMP, convRate DOUBLE PRECISION)")
    conn.execute("CREATE TABLE Spine_Rows (driverId BIGINT, eventTs TIMESTAMP)")
    conn.execute("INSERT INTO Trip_Stats VALUES (1, %s, 0.5)", (T0,))
    conn.execute("INSERT INTO Spine_Rows VALUES (1, %s), (2, %s)", (T0, T0))
    for strategy in STRATEGIES:
        plan = dataclasses.replace(CAMEL, joins=(dataclasses.replace(CAMEL.joins[0], strategy=strategy),))
        names, rows = postgres_query(conn, compile_sql(plan, "postgres"))
        assert names == ["driverid", "eventts", "convrate"]
        assert picked(names, rows, ("driverid", "convrate")) == [(1, 0.5), (2, None)]


def test_names_keep_their_case_on_duckdb(duckdb_connection):
    con = duckdb_connection
    con.execute("CREATE TABLE Trip_Stats (driverId BIGINT, eventTs TIMESTAMP, convRate DOUBLE)")
    con.execute("CREATE TABLE Spine_Rows (driverId BIGINT, eventTs TIMESTAMP)")
    con.execute("INSERT INTO Trip_Stats VALUES (1, ?, 0.5)", (T0,))
    con.execute("INSERT INTO Spine_Rows VALUES (1, ?), (2, ?)", (T0, T0))
    for strategy in STRATEGIES:
        plan = dataclasses.replace(CAMEL, joins=(dataclasses.replace(CAMEL.joins[0], strategy=strategy),))
        names, rows = duckdb_query(con, compile_sql(plan, "duckdb"))
        assert names == ["driverId", "eventTs", "convRate"]
        assert picked(names, rows, ("driverId", "convRate")) == [(1, 0.5), (2, None)]


def test_reserved_words_run_on_postgres(postgres_connection):
    conn = postgres_connection
    conn.execute('DROP TABLE IF EXISTS "group"')
    conn.execute('DROP TABLE IF EXISTS "select"')
    conn.execute('CREATE TABLE "group" ("user" BIGINT, "timestamp" TIMESTAMP, "order" DOUBLE PRECISION)')
    conn.execute('CREATE TABLE "select" (user_id BIGINT, "from" TIMESTAMP)')
    conn.execute('INSERT INTO "group" VALUES (1, %s, 2.0)', (T0,))
    conn.execute('INSERT INTO "select" VALUES (1, %s)', (T0,))
    plan = one_view_plan("group", "select", ("user_id", "user"), "timestamp", ("order", "order_count"))
    plan = dataclasses.replace(plan, spine=dataclasses.replace(plan.spine, timestamp_column="from",
                                                              columns=("user_id", "from")))
    for strategy in STRATEGIES:
        plan = dataclasses.replace(plan, joins=(dataclasses.replace(plan.joins[0], strategy=strategy),))
        names, rows = postgres_query(conn, compile_sql(plan, "postgres"))
        assert picked(names, rows, ("user_id", "order_count")) == [(1, 2.0)]


def write_boundary_parquet(directory) -> dict[str, str]:
    """The boundary tables as Parquet files (UTC timestamps) in a folder whose name needs quoting."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_types = {"BIGINT": pa.int64(), "TIMESTAMP": pa.timestamp("us", tz="UTC")}
    columns, rows = boundary_rows("TIMESTAMP")
    folder = directory / "Feature Data `v1`"
    folder.mkdir()
    paths = {}
    for table, cols in columns.items():
        schema = pa.schema([(c, arrow_types[t]) for c, t in cols])
        paths[table] = str(folder / f"{table.title()}.parquet")
        pq.write_table(pa.Table.from_pylist([dict(zip(schema.names, r)) for r in rows[table]], schema), paths[table])
    return paths


def path_boundary_join(boundary_graph, paths: dict[str, str], strategy: JoinStrategy) -> PointInTimeJoin:
    plan = boundary_join(boundary_graph, BOTH, strategy)
    return dataclasses.replace(
        plan, spine=dataclasses.replace(plan.spine, relation=Relation("path", paths["spine"])),
        joins=tuple(dataclasses.replace(j, relation=Relation("path", paths["stats_src"])) for j in plan.joins))


def test_file_sources_run_on_duckdb_and_spark(tmp_path, duckdb_connection, spark_session, boundary_graph):
    """READS_FILES: DuckDB's read_parquet('...') and Spark's parquet.`...` (quoted: the path keeps its
    case, spaces and backticks) read the same files to the same answer."""
    paths = write_boundary_parquet(tmp_path)
    plan = path_boundary_join(boundary_graph, paths, JoinStrategy.WINDOW)
    assert picked(*duckdb_query(duckdb_connection, compile_sql(plan, "duckdb"))) == expected_boundary(BOTH)
    assert "/Feature Data ``v1``/Spine.parquet`" in compile_sql(plan, "spark")
    result = [tuple(r) for r in run_on_spark(spark_session, plan).select(*BOTH_OUT).collect()]
    assert result == expected_boundary(BOTH)
