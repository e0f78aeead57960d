"""The SQL fcompile emits for BigQuery, executed: a documented test-only transpile to DuckDB.

The bigquery dialect's statements for the reference cases - the point-in-time join with each strategy
whose SQL differs (the range join, and the window plan that ASOF lowers to: BigQuery has no ASOF join),
the latest values of a materialization window with `@start`/`@end` bound as named parameters, and the
window's counting query - are parsed as BigQuery SQL by sqlglot (our pinned version), generated for
DuckDB unchanged in meaning, run there and compared with the reference. What this proves: the plans'
BigQuery spelling (QUALIFY after a WHERE, ranked subqueries, `* EXCEPT`, TIMESTAMP_SUB for the ttl,
backquoted names) means what the reference computes, as sqlglot reads it, in well under a second a case and with no
server. The same SQL also runs through the runner's client path on the BigQuery emulator (the `bigquery`
engine of the conformance suite, test_bigquery_runner.py) - which is DuckDB underneath too, behind its
own translation - and on a live project when BIGQUERY_PROJECT names one (`bigquery_live`): only the
live project is BigQuery itself.
"""

from __future__ import annotations

import inspect

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcompile.dialects import compile_sql, get_dialect
from fcompile.planner.plans import JoinStrategy
from fcompile.planner.point_in_time import plan_latest_values
from fcompile.runners.external import window_stats_select

from compiler import test_point_in_time_random as randomized
from compiler import test_point_in_time_semantics as semantics
from compiler.harness import (
    Case, assert_same_rows, compile_case, duckdb_connection, expected, expected_latest, load_duckdb, normalized,
    query_duckdb, write_project,
)
from compiler.reference import utc
from engines.engines import ARRAYS_UNORDERED

HAND_WRITTEN = sorted(name for name, test in vars(semantics).items()
                      if name.startswith("test_") and callable(test)
                      and list(inspect.signature(test).parameters) == ["check"])


def bigquery_on_duckdb(sql: str) -> str:
    return sqlglot.parse_one(sql, read="bigquery").sql(dialect="duckdb")


def loaded(case: Case):
    con = duckdb_connection()
    for table in (*case.tables, case.spine):
        load_duckdb(con, table)
    return con


def check_joins(case: Case, graph) -> None:
    con = loaded(case)
    wanted = expected(case)
    for strategy in (JoinStrategy.RANGE, JoinStrategy.WINDOW, JoinStrategy.ASOF):
        sql = compile_case(graph, case, "bigquery", strategy)
        assert "ASOF" not in sql  # and ranked subqueries: these selects have no WHERE for a QUALIFY
        got = query_duckdb(con, bigquery_on_duckdb(sql))
        assert_same_rows(got, wanted, f"{case.name}, BigQuery {strategy} on DuckDB\n{sql}")


def check_window(case: Case, graph, view: str, start, end) -> None:
    """Latest values in [start, end] and the window's counts, the bounds bound as @start/@end."""
    con = loaded(case)
    plan = plan_latest_values(graph, graph.feature_view(view))
    parameters = {plan.start_parameter: utc(start).replace(tzinfo=None),
                  plan.end_parameter: utc(end).replace(tzinfo=None)}
    sql = compile_sql(plan, "bigquery")
    assert "@start" in sql and "@end" in sql and "QUALIFY" in sql
    names, rows = query_duckdb(con, bigquery_on_duckdb(sql), parameters)
    want = expected_latest(case, view, start, end)
    key = lambda row: str(sorted(row.items()))  # noqa: E731
    assert sorted(({k: normalized(v) for k, v in r.items()} for r in rows), key=key) == \
        sorted(({k: normalized(v) for k, v in r.items()} for r in want), key=key), f"{case.name}: {view}"
    dialect = get_dialect("bigquery")
    counts = dialect.generate(window_stats_select(dialect, plan, True), pretty=False)
    _, ((found,)) = query_duckdb(con, bigquery_on_duckdb(counts), parameters)
    assert found["keys"] == len(want)


def test_the_transpile_keeps_parameters_and_qualify():
    sql = bigquery_on_duckdb("SELECT `a` FROM `t` WHERE TRUE AND `ts` <= @end QUALIFY ROW_NUMBER() OVER "
                             "(PARTITION BY `k` ORDER BY `ts` DESC) = 1")
    assert sql == ('SELECT "a" FROM "t" WHERE TRUE AND "ts" <= $end QUALIFY ROW_NUMBER() OVER '
                   '(PARTITION BY "k" ORDER BY "ts" DESC) = 1')


@pytest.mark.parametrize("name", HAND_WRITTEN, ids=[n.removeprefix("test_") for n in HAND_WRITTEN])
def test_hand_written_case(name, tmp_path):
    if name == "test_full_ties_of_differing_arrays" and not get_dialect("bigquery").ORDERS_ARRAYS:
        pytest.skip(ARRAYS_UNORDERED)

    def check(case: Case) -> None:
        check_joins(case, write_project(case, tmp_path / case.name))

    getattr(semantics, name)(check)


@pytest.mark.parametrize("index", range(len(randomized.SHAPES)),
                         ids=[f"shape{i}" for i in range(len(randomized.SHAPES))])
def test_random_cases(index, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"bigquery_shape{index}")
    graphs = {}

    @settings(derandomize=True, database=None, max_examples=3, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def run(data):
        case, (view, start, end) = data.draw(randomized.examples(index))
        if "graph" not in graphs:
            graphs["graph"] = write_project(case, root)
        check_joins(case, graphs["graph"])
        check_window(case, graphs["graph"], view, start, end)

    run()
