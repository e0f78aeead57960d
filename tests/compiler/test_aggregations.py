"""Windowed aggregations in training sets (issue 16): fcompile's SQL on DuckDB against the reference
(aggregation_reference.py), row by row, on the hand-written and randomized cases; every dialect compiles
them; the plan reads tiles, not events, per spine point. The same cases run on every engine in
tests/engines/test_aggregation_cases.py."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlglot import exp, parse_one

from fcompile.dialects import DIALECTS, compile_sql
from fcompile.graph import DType, Projection
from fcompile.planner.plans import AggregateJoin, Relation, SpinePlan, ViewJoin
from fcompile.planner.point_in_time import plan_point_in_time_join
from fcompile.planner.tiles import Partial, tile_layout

from compiler import aggregation_cases as cases
from compiler.aggregation_harness import (
    AggCase, assert_rows_match, expected, float_outputs, write_project,
)
from compiler.aggregation_reference import window_end
from compiler.harness import duckdb_connection, load_duckdb, query_duckdb


def spine_plan(case: AggCase) -> SpinePlan:
    return SpinePlan(Relation("table", case.spine.name), case.spine_ts, case.spine.column_names)


def run_on_duckdb(case: AggCase, tmp_path) -> None:
    graph = write_project(case, tmp_path / case.name)
    plan = plan_point_in_time_join(graph, spine_plan(case), case.projections, case.full_feature_names)
    con = duckdb_connection()
    for table in (*case.tables, case.spine):
        load_duckdb(con, table)
    sql = compile_sql(plan, "duckdb")
    assert_rows_match(query_duckdb(con, sql), expected(case), float_outputs(case), f"{case.name} on DuckDB\n{sql}")


@pytest.mark.parametrize("name", sorted(cases.HAND_WRITTEN))
def test_hand_written_case_on_duckdb(name, tmp_path):
    run_on_duckdb(cases.HAND_WRITTEN[name](), tmp_path)


@pytest.mark.parametrize("seed", range(8))
def test_random_case_on_duckdb(seed, tmp_path):
    run_on_duckdb(cases.random_case(seed), tmp_path)


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_every_dialect_compiles_every_case(dialect, tmp_path):
    """Each dialect's SQL is generated strictly (unsupported constructs raise) and re-parsed in the dialect."""
    for name, make in sorted(cases.HAND_WRITTEN.items()):
        case = make()
        graph = write_project(case, tmp_path / name)
        sql = compile_sql(plan_point_in_time_join(graph, spine_plan(case), case.projections, case.full_feature_names),
                          dialect)
        assert "_tiles" in sql.lower() and "_pairs" in sql.lower()


def test_the_plan_joins_spine_points_to_tiles_never_to_events(tmp_path):
    case = cases.case_window_bounds()
    graph = write_project(case, tmp_path)
    sql = compile_sql(plan_point_in_time_join(graph, spine_plan(case), case.projections), "duckdb")
    tree = parse_one(sql, read="duckdb")
    joins = list(tree.find_all(exp.Join))
    joined = {j.this.name for j in joins if j.args.get("kind") != "CROSS"}
    assert joined == {"fv0_trip_windows_tiles", "fv0_trip_windows"}, joined
    # the other joins give each point its buckets: a cross join to the two offsets 0 and 1, nothing else
    crossed = [j.this for j in joins if j.args.get("kind") == "CROSS"]
    assert crossed and all(isinstance(c, exp.Subquery) and c.alias == "o" for c in crossed), crossed
    assert all(sorted(s.sql("duckdb") for s in c.find_all(exp.Literal)) == ["0", "1"] for c in crossed)
    grouped = [s for s in tree.find_all(exp.Select) if s.args.get("group")]
    read = {(s.args.get("from_") or s.args.get("from")).this.name for s in grouped}
    assert "fv0_trip_windows_ranked" in read and "fv0_trip_windows_source" not in read  # tiles come from events


def test_plain_and_aggregated_features_of_a_view_make_two_joins(tmp_path):
    case = cases.case_mixed_with_plain_features()
    graph = write_project(case, tmp_path)
    plan = plan_point_in_time_join(graph, spine_plan(case), case.projections, True)
    kinds = [(type(j).__name__, j.view) for j in plan.joins]
    assert kinds == [("AggregateJoin", "trip_windows"), ("ViewJoin", "trip_windows"), ("ViewJoin", "ratings"),
                     ("AggregateJoin", "ratings")]
    assert plan.feature_names == ("trip_windows__fare_sum", "trip_windows__tier", "ratings__rating",
                                  "ratings__ratings_7d", "tw__n", "tw__fare")
    assert isinstance(plan.joins[0], AggregateJoin) and isinstance(plan.joins[1], ViewJoin)


def test_tiles_keep_each_partial_once():
    f64, i64 = DType("float64"), DType("int64")
    aggregates = [("avg", "fare", f64), ("sum", "fare", f64), ("stddev", "fare", f64), ("variance", "fare", f64),
                  ("count", None, i64), ("count", "km", i64), ("last", "km", i64)]
    layout = tile_layout(aggregates)
    assert [(i.source_column, i.dtype) for i in layout.inputs] == [("fare", f64), ("km", i64)]
    assert layout.partials == (Partial("rows", None), Partial("count", 0), Partial("sum", 0), Partial("mean", 0),
                               Partial("mean_lo", 0), Partial("m2", 0), Partial("count", 1), Partial("last", 1))


def test_serving_tiles_add_counts_and_the_order_of_last():
    """The online form of the same layout: rows always, a count per input, and where rows are pushed each last's
    event time, created time and tie_breaker."""
    aggregates = [("max", "fare", DType("float64")), ("last", "km", DType("int64"))]
    assert tile_layout(aggregates, serving=True, pushed=True).partials == (
        Partial("rows", None), Partial("count", 0), Partial("max", 0), Partial("count", 1), Partial("last", 1),
        Partial("last_event", 1), Partial("last_created", 1), Partial("last_tie", 1))
    assert tile_layout(aggregates, serving=True).partials == (
        Partial("rows", None), Partial("count", 0), Partial("max", 0), Partial("count", 1), Partial("last", 1))
    assert tile_layout(aggregates).partials == (Partial("max", 0), Partial("last", 1))


def test_the_reference_floors_window_ends_from_the_epoch():
    assert window_end(dt.datetime(2024, 3, 10, 12, 59, 59, 999999), dt.timedelta(hours=1)) == \
        dt.datetime(2024, 3, 10, 12, tzinfo=dt.timezone.utc)
    assert window_end(dt.datetime(2024, 3, 11, 5), dt.timedelta(days=2)) == \
        dt.datetime(2024, 3, 10, tzinfo=dt.timezone.utc)  # 2024-03-10 is 19792 days, an even number, after the epoch
    assert window_end(dt.datetime(1969, 12, 31, 23), dt.timedelta(days=2)) == \
        dt.datetime(1969, 12, 30, tzinfo=dt.timezone.utc)


def test_the_worked_example_of_the_docs(tmp_path):
    """docs/concepts/aggregations.md, "A worked example": the SQL gives the table the page shows."""
    from compiler.aggregation_harness import Agg, AggViewDef
    from compiler.aggregation_cases import DRIVER, table

    day = dt.datetime(2024, 3, 10)
    hour = dt.timedelta(hours=1)
    trips = table("trips_t", (("driver_id", "int64"), ("event_ts", "timestamp"), ("fare", "float64")),
                  (1001, day.replace(hour=9, minute=10), 10.0), (1001, day.replace(hour=10, minute=20), 20.0),
                  (1001, day.replace(hour=10, minute=50), None), (1001, day.replace(hour=11, minute=5), 30.0),
                  (1001, day.replace(hour=11, minute=59, second=59, microsecond=999999), 5.0))
    view = AggViewDef("v", ("driver",), trips, hour, (
        Agg("trips_1h", "count", None, hour), Agg("fare_sum_2h", "sum", "fare", 2 * hour),
        Agg("fare_avg_2h", "avg", "fare", 2 * hour), Agg("last_fare_2h", "last", "fare", 2 * hour)))
    spine = table("spine_t", (("driver_id", "int64"), ("event_timestamp", "timestamp")),
                  (1001, day.replace(hour=11, minute=30)), (1001, day.replace(hour=11, minute=59, second=59)),
                  (1001, day.replace(hour=12)), (1002, day.replace(hour=12)))
    case = AggCase("worked_example", (DRIVER,), (view,), spine,
                   (Projection("v", ("trips_1h", "fare_sum_2h", "fare_avg_2h", "last_fare_2h")),))
    graph = write_project(case, tmp_path)
    con = duckdb_connection()
    for t in (trips, spine):
        load_duckdb(con, t)
    _, rows = query_duckdb(con, compile_sql(plan_point_in_time_join(graph, spine_plan(case), case.projections),
                                            "duckdb"))
    got = [(r["trips_1h"], r["fare_sum_2h"], r["fare_avg_2h"], r["last_fare_2h"]) for r in rows]
    assert got == [(2, 30.0, 15.0, 20.0), (2, 30.0, 15.0, 20.0), (2, 55.0, pytest.approx(55 / 3), 5.0),
                   (0, None, None, None)]
