"""Features land on their own spine rows whatever order the spine's rows are read in, on every engine.

The spine CTE is referenced once per view and again by the final select; an engine may evaluate it once
per reference (BigQuery runs a CTE once per reference, Trino inlines it), and a spine query ordered
by a random number yields its rows in another order each time. Features are therefore computed per
distinct (keys, time) of the spine and joined back on keys and time, never on a row number
(docs/concepts/point-in-time.md). Here the spine is `SELECT * FROM spine_t ORDER BY UUID()` (each
dialect's spelling of a random UUID), read in place by the runner and as a compiled file reads it (columns unknown), and
the rows are compared with the reference as a multiset: the order of a query's rows means nothing. Each
spine row has its own label, so a feature attached to another row shows.

A table spine whose columns are unknown (a compiled dataset's `table:` spine) compiles for every
dialect, and runs: where the dialect has no `* EXCLUDE` it is read as `s.*` of the table, in no order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlglot

from fcompile.dialects import DIALECTS, compile_sql
from fcompile.graph import Projection
from fcompile.planner.plans import JoinStrategy, Relation, SpinePlan
from fcompile.planner.point_in_time import plan_point_in_time_join
from fcompile.runners.spines import SpineInput
from fcompile.tasks.training import plan_training_query

from compiler.harness import (
    STRATEGIES, Case, Table, expected, normalized, query_duckdb, write_project,
)
from compiler.test_point_in_time_semantics import (
    CUSTOMER, CUSTOMER_VIEW, DRIVER, HOUR, SEC, STATS, STATS_COLUMNS, T, stats_table,
)

SPINE_ROWS = 240


def numbering_case() -> Case:
    """Two views with other keys and ttls; spine rows sharing a point (duplicates), NULL keys and times."""
    stats = stats_table(*[(d, T - (d * 7 + k * 13) % 90 * 60 * SEC, T, d / 10 + k, d * 10 + k, f"t{k}")
                          for d in range(12) for k in range(4)], columns=STATS_COLUMNS)
    profile = Table("profile_t", (("customer_id", "string"), ("snapshot_ts", "timestamp"), ("balance", "float64"),
                                  ("segment", "string")),
                    [{"customer_id": f"c{c}", "snapshot_ts": T - (c * 5 + k) * HOUR, "balance": c + k / 4,
                      "segment": f"s{k}"} for c in range(6) for k in range(3)])
    rows = []
    for i in range(SPINE_ROWS):
        driver = None if i % 37 == 5 else i % 13
        time = None if i % 41 == 7 else T - (i * 17 % 120) * 60 * SEC - (i % 3) * 20 * HOUR
        rows.append({"driver_id": driver, "customer_id": f"c{i % 7}", "event_timestamp": time, "label": i})
    rows += [dict(rows[i]) | {"label": SPINE_ROWS + i} for i in range(0, 40, 4)]  # the same points again
    spine = Table("spine_t", (("driver_id", "int64"), ("customer_id", "string"), ("event_timestamp", "timestamp"),
                              ("label", "int64")), rows)
    return Case((DRIVER, CUSTOMER), (STATS, CUSTOMER_VIEW), (stats, profile), spine,
                (Projection("stats", ("conv", "tier")), Projection("profile", ("balance",))), name="numbering")


def random_order_query(dialect: str) -> str:
    """The spine's rows in a random order: by a random UUID, as the dialect spells one (GEN_RANDOM_UUID(),
    UUID_STRING(), GENERATE_UUID(), ...). Not RANDOM(): fakesnow fails on it inside a subquery."""
    return sqlglot.transpile("SELECT * FROM spine_t ORDER BY UUID()", read="duckdb", write=dialect)[0]


def as_multiset(names: list[str], rows: list[dict[str, Any]]) -> tuple[list[str], list[tuple]]:
    return list(names), sorted(tuple(str(normalized(row[n])) for n in names) for row in rows)


def assert_same_multiset(got: tuple[list[str], list[dict]], wanted: tuple[list[str], list[dict]],
                         context: str) -> None:
    names, rows = as_multiset(*got)
    wanted_names, wanted_rows = as_multiset(*wanted)
    assert names == wanted_names, context
    assert len(rows) == len(wanted_rows), f"{context}: {len(rows)} rows, expected {len(wanted_rows)}"
    missing = [r for r in wanted_rows if r not in rows][:3]
    assert rows == wanted_rows, f"{context}: rows differ, e.g. expected {missing}"


def arrow_rows(table) -> tuple[list[str], list[dict]]:
    return table.column_names, table.to_pylist()


def strategies_for(engine) -> list[Any]:
    """Every strategy; on Spark, where each query is a job of seconds, the two whose plans differ there."""
    return [JoinStrategy.RANGE, JoinStrategy.WINDOW] if engine.one_strategy_per_case else list(STRATEGIES)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return write_project(numbering_case(), tmp_path_factory.mktemp("numbering"))


def test_a_spine_query_in_random_order_through_the_runner(engine, graph):
    """As `run` and the SDK read a spine query: registered by the runner (in place where it can be)."""
    case, runner = numbering_case(), engine.runner()
    for table in (*case.tables, case.spine):
        engine.load(runner, table)
    wanted = expected(case)
    query = plan_training_query(graph, runner, SpineInput("query", random_order_query(runner.sql_dialect.sqlglot_name)),
                                case.projections, timestamp_column=case.spine_ts, label=case.name)
    for strategy in strategies_for(engine):
        plan = plan_point_in_time_join(graph, query.plan.spine, case.projections, strategy=strategy)
        assert_same_multiset(arrow_rows(runner.to_arrow(plan, case.name)), wanted,
                             f"{engine.name}, strategy {strategy}\n{runner.statements(plan)[0]}")


@pytest.mark.parametrize("kind", ["query", "table"])
def test_a_spine_of_unknown_columns_as_a_compiled_file_reads_it(engine, graph, kind):
    """As a built dataset reads its `query:` or `table:` spine: in place, its columns unknown, numbered (where
    the dialect can drop the number) in the spine CTE."""
    case, runner = numbering_case(), engine.runner()
    for table in (*case.tables, case.spine):
        engine.load(runner, table)
    wanted = expected(case)
    relation = Relation("query", random_order_query(runner.sql_dialect.sqlglot_name)) if kind == "query" \
        else Relation("table", case.spine.name)
    for strategy in strategies_for(engine):
        plan = plan_point_in_time_join(graph, SpinePlan(relation, case.spine_ts), case.projections, strategy=strategy)
        assert_same_multiset(arrow_rows(runner.to_arrow(plan, case.name)), wanted,
                             f"{engine.name}, {kind} spine, strategy {strategy}\n{runner.statements(plan)[0]}")


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("kind", ["query", "table"])
def test_a_spine_of_unknown_columns_compiles_for_every_dialect(dialect, graph, kind):
    case = numbering_case()
    relation = Relation("query", random_order_query(DIALECTS[dialect].sqlglot_name)) if kind == "query" \
        else Relation("table", case.spine.name)
    for strategy in STRATEGIES:
        plan = plan_point_in_time_join(graph, SpinePlan(relation, case.spine_ts), case.projections, strategy=strategy)
        sql = compile_sql(plan, dialect)
        tree = sqlglot.parse_one(sql, read=DIALECTS[dialect].sqlglot_name)
        assert bool(tree.args.get("order")) == DIALECTS[dialect].STAR_EXCEPT, sql  # in spine order, or none
        # the number orders the output and nothing else: no join or window reads it
        for node in (*tree.find_all(sqlglot.exp.Join), *tree.find_all(sqlglot.exp.Window)):
            assert not [c for c in node.find_all(sqlglot.exp.Column) if c.name.lower() == "__fc_row_id"], sql


def evaluated_per_reference(sql: str, dialect: str) -> str:
    """`sql` with its spine CTE marked NOT MATERIALIZED: each reference reads the spine query again, in
    another random order, as BigQuery (a CTE run once per reference) and Trino (CTEs inlined) do. The
    emulators and the engines here otherwise read it once, which would hide a numbering that joins."""
    tree = sqlglot.parse_one(sql, read=dialect)
    spine = next(c for c in tree.find_all(sqlglot.exp.CTE) if c.alias_or_name.lower() == "spine")
    spine.set("materialized", False)
    return tree.sql(dialect=dialect)


def test_a_spine_cte_evaluated_once_per_reference_attaches_features_to_their_own_rows(engines, graph):
    """The compiled statement for a spine query of known columns (numbered in the spine CTE, as `run` reads
    a query in place on PostgreSQL, Snowflake and BigQuery), run on DuckDB with the spine CTE evaluated per
    reference. (PostgreSQL keeps a CTE holding a volatile function materialized even when told not to.)
    Joining on the spine's row number fails here: each reference numbers the rows in another order."""
    engine = engines("duckdb")
    case, runner = numbering_case(), engine.runner()
    for table in (*case.tables, case.spine):
        engine.load(runner, table)
    wanted = expected(case)
    spine = SpinePlan(Relation("query", random_order_query("duckdb")), case.spine_ts, case.spine.column_names)
    for strategy in STRATEGIES:
        plan = plan_point_in_time_join(graph, spine, case.projections, strategy=strategy)
        sql = evaluated_per_reference(compile_sql(plan, "duckdb"), "duckdb")
        assert_same_multiset(query_duckdb(runner.con, sql), wanted, f"strategy {strategy}\n{sql}")
