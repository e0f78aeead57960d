"""Snowflake's native ASOF plan (`ASOF JOIN ... MATCH_CONDITION`), executed: a documented test-only rewrite.

fakesnow cannot parse MATCH_CONDITION, so the conformance suite runs Snowflake with `asof_join: false`
(the window plan). This module runs the ASOF form itself, on DuckDB: the snowflake dialect's SQL for the
reference cases, every view joined with JoinStrategy.ASOF, is parsed as Snowflake SQL by sqlglot and
changed in one place only - each `ASOF JOIN t ON keys MATCH_CONDITION (s.ts >= t.ts)` becomes DuckDB's
`ASOF LEFT JOIN t ON keys AND s.ts >= t.ts` (Snowflake's ASOF JOIN keeps spine rows without a match, like
DuckDB's LEFT form) - then generated for DuckDB by sqlglot and compared row by row with the
reference. What this proves: the shape of the ASOF plan (keys in ON, newest-at-or-before in the match
condition, the ttl as a CASE on the matched row, de-duplication before the join) gives the reference's
rows. What it does not: that Snowflake's engine runs the text as DuckDB does - only a live account shows
that (the `snowflake_live` engine of the suite, which runs with native ASOF joins).
"""

from __future__ import annotations

import inspect

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from fcompile.dialects import get_dialect
from fcompile.planner.plans import JoinStrategy

from compiler import test_point_in_time_random as randomized
from compiler import test_point_in_time_semantics as semantics
from compiler.harness import (
    Case, assert_same_rows, compile_case, duckdb_connection, expected, load_duckdb, query_duckdb, write_project,
)
from engines.engines import ARRAYS_UNORDERED

HAND_WRITTEN = sorted(name for name, test in vars(semantics).items()
                      if name.startswith("test_") and callable(test)
                      and list(inspect.signature(test).parameters) == ["check"])


def snowflake_asof_on_duckdb(sql: str) -> tuple[str, int]:
    """The Snowflake statement as DuckDB SQL, its MATCH_CONDITION joins made ASOF LEFT joins; and how many."""
    tree = sqlglot.parse_one(sql, read="snowflake")
    rewritten = 0
    for join in tree.find_all(exp.Join):
        condition = join.args.get("match_condition")
        if condition is None:
            continue
        assert (join.args.get("method") or "").upper() == "ASOF", join.sql("snowflake")
        join.set("on", exp.and_(join.args["on"], condition.copy()))
        join.set("match_condition", None)
        join.set("side", "LEFT")
        rewritten += 1
    return tree.sql(dialect="duckdb"), rewritten


def check_asof_on_duckdb(case: Case, graph) -> None:
    sql = compile_case(graph, case, "snowflake", JoinStrategy.ASOF)
    assert sql.count("MATCH_CONDITION") == len({p.view for p in case.projections}), sql
    duckdb_sql, rewritten = snowflake_asof_on_duckdb(sql)
    assert rewritten == sql.count("MATCH_CONDITION")
    con = duckdb_connection()
    for table in (*case.tables, case.spine):
        load_duckdb(con, table)
    names, rows = query_duckdb(con, duckdb_sql)
    wanted_names, wanted = expected(case)
    # Snowflake's names are upper-case ("CONV"); the runner renames them to the request's, by position
    assert [n.lower() for n in names] == [n.lower() for n in wanted_names], f"{case.name}: {names}"
    renamed = [dict(zip(wanted_names, row.values())) for row in rows]
    assert_same_rows((wanted_names, renamed), (wanted_names, wanted), f"{case.name}, Snowflake ASOF on DuckDB\n{sql}")


def test_the_rewrite_changes_only_the_asof_join():
    sql = ('SELECT "S"."A", "F"."B" FROM "SPINE" AS "S" ASOF JOIN "F" AS "F" MATCH_CONDITION '
           '("S"."TS" >= "F"."TS") ON "S"."K" = "F"."K" ORDER BY "S"."A"')
    rewritten, count = snowflake_asof_on_duckdb(sql)
    assert count == 1
    assert rewritten == ('SELECT "S"."A", "F"."B" FROM "SPINE" AS "S" ASOF LEFT JOIN "F" AS "F" '
                         'ON "S"."K" = "F"."K" AND "S"."TS" >= "F"."TS" ORDER BY "S"."A"')


@pytest.mark.parametrize("name", HAND_WRITTEN, ids=[n.removeprefix("test_") for n in HAND_WRITTEN])
def test_hand_written_case(name, tmp_path):
    if name == "test_full_ties_of_differing_arrays" and not get_dialect("snowflake").ORDERS_ARRAYS:
        pytest.skip(ARRAYS_UNORDERED)

    def check(case: Case) -> None:
        check_asof_on_duckdb(case, write_project(case, tmp_path / case.name))

    getattr(semantics, name)(check)


@pytest.mark.parametrize("index", range(len(randomized.SHAPES)),
                         ids=[f"shape{i}" for i in range(len(randomized.SHAPES))])
def test_random_cases(index, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"asof_shape{index}")
    graphs = {}

    @settings(derandomize=True, database=None, max_examples=4, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def run(data):
        case, _ = data.draw(randomized.examples(index))
        if "graph" not in graphs:
            graphs["graph"] = write_project(case, root)
        check_asof_on_duckdb(case, graphs["graph"])

    run()
