"""Every target dialect compiles the sample project: its dataset, each feature service's point-in-time
join and each feature view's latest values. Every statement re-parses in its own dialect, the shapes
that capabilities choose appear exactly where the table below says, and a capability a plan needs but
the dialect lacks is a diagnostic (FC100, naming the dialect), never bad SQL.

A new warehouse is one module in fcompile/dialects/ and one row in EXPECTED."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import pytest
from sqlglot import exp

from fcompile.diagnostics import DiagnosticError
from fcompile.dialects import DIALECTS, compile_sql, get_dialect
from fcompile.graph import DatasetOutput
from fcompile.planner.plans import JoinStrategy, Relation, ViewJoin
from fcompile.planner.datasets import plan_build_dataset
from fcompile.planner.point_in_time import plan_latest_values
from fcompile.sql_names import TARGET_DIALECTS

from dialects.projects import DIALECT_NAMES, STRATEGIES, compiled, service_join


@dataclass(frozen=True)
class Expected:
    asof: str | None           # how a native ASOF join is spelled; None: lowered to the window plan
    qualify: bool              # QUALIFY, else a ranked subquery
    star_except: str | None    # the keyword of `* EXCLUDE (...)` / `* EXCEPT (...)`, or None
    reads_files: bool
    runnable: bool
    replaces_table: bool       # CREATE OR REPLACE TABLE, else built under a staging name, then DROP + RENAME
    ttl_2h: str                # the sample's 2h ttl bound against a spine point's time (`__fc_spine_ts`: the
                               # spine's event time, as a UTC instant where the dialect converts times)
    spine_numbering: str       # how spine rows are numbered when the spine has no row-id column


EXPECTED = {
    "duckdb": Expected("ASOF LEFT JOIN", True, "EXCLUDE", True, True, True,
                       '"p"."__fc_spine_ts" - INTERVAL 7200 SECOND', "ROW_NUMBER() OVER ()"),
    "snowflake": Expected("MATCH_CONDITION", True, "EXCLUDE", False, True, True,
                          'TIMESTAMPADD(SECOND, -7200, "P"."__FC_SPINE_TS")', "ROW_NUMBER() OVER (ORDER BY NULL)"),
    "bigquery": Expected(None, True, "EXCEPT", False, True, True,
                         "TIMESTAMP_SUB(`p`.`__fc_spine_ts`, INTERVAL 7200 SECOND)", "ROW_NUMBER() OVER ()"),
    "postgres": Expected(None, False, None, False, True, False,
                         "\"p\".\"__fc_spine_ts\" - INTERVAL '7200 SECOND'", "ROW_NUMBER() OVER ()"),
    "spark": Expected(None, False, None, True, True, False,
                      "`p`.`__fc_spine_ts` - INTERVAL 7200 SECOND", "MONOTONICALLY_INCREASING_ID()"),
    "redshift": Expected(None, True, None, False, False, False,
                         'DATEADD(SECOND, -7200, "p"."__fc_spine_ts")', "ROW_NUMBER() OVER ()"),
    "trino": Expected(None, False, None, False, False, False,
                      "DATE_ADD('SECOND', -7200, \"p\".\"__fc_spine_ts\")", "ROW_NUMBER() OVER ()"),
}

ORDERS_COLUMNS = ("order_id", "driver_id", "customer_id", "event_timestamp", "fare_amount", "completed",
                  "order_amount", "order_hour")
SERVICES = ("driver_activity_v1", "driver_ranking_v2")

pytestmark = pytest.mark.parametrize("name", DIALECT_NAMES)


def fc100(excinfo, name: str) -> str:
    [diagnostic] = excinfo.value.diagnostics
    assert diagnostic.code.value == "FC100"
    assert f"dialect '{name}'" in diagnostic.message
    return diagnostic.message


# the rank column of a de-duplicating subquery; `__fc_rank_<i>` ranks the rows of an aggregation's `last`
DEDUP_RANK = re.compile(r"__fc_rank(?!_)", re.IGNORECASE)


def assert_capability_shapes(name: str, text: str, plan) -> None:
    """What the flags choose, read off the SQL text: ASOF only where native, QUALIFY only where
    supported (and then only where a plan ranks rows), ttl bounds spelled the dialect's way."""
    expected = EXPECTED[name]
    view_joins = [j for j in getattr(plan, "joins", ()) if isinstance(j, ViewJoin)]  # aggregations have no strategy
    strategies = {j.strategy for j in view_joins}
    has_asof = JoinStrategy.ASOF in strategies and expected.asof is not None
    assert ("ASOF" in text) == has_asof
    assert ("MATCH_CONDITION" in text) == (has_asof and expected.asof == "MATCH_CONDITION")
    if has_asof:
        assert expected.asof in text
    if not expected.qualify or not DIALECTS[name].QUALIFY_NEEDS_WHERE:
        assert ("QUALIFY" in text) == expected.qualify
        assert bool(DEDUP_RANK.search(text)) == (not expected.qualify)
    else:  # QUALIFY where the select has a WHERE, else a ranked subquery
        assert "QUALIFY" in text or DEDUP_RANK.search(text)
    ranged = any(j.ttl_seconds == 7200 and j.strategy is JoinStrategy.RANGE for j in view_joins)
    if ranged:
        assert expected.ttl_2h in text


def test_registry_holds_every_target_in_order(name):
    assert tuple(DIALECTS) == TARGET_DIALECTS == tuple(EXPECTED)
    assert get_dialect(name).name == name


def test_capability_flags(name):
    dialect, expected = DIALECTS[name], EXPECTED[name]
    assert dialect.SUPPORTS_ASOF_LEFT_JOIN == (expected.asof == "ASOF LEFT JOIN")
    assert dialect.SUPPORTS_ASOF_MATCH_CONDITION == (expected.asof == "MATCH_CONDITION")
    assert dialect.SUPPORTS_QUALIFY == expected.qualify
    assert dialect.STAR_EXCEPT == (expected.star_except is not None)
    assert dialect.READS_FILES == expected.reads_files
    assert dialect.RUNNABLE == expected.runnable
    assert dialect.SUPPORTS_CREATE_OR_REPLACE_TABLE == expected.replaces_table


def test_sample_dataset(name, table_graph):
    plan = plan_build_dataset(table_graph, table_graph.datasets[0], spine_columns=ORDERS_COLUMNS)
    statements = compiled(plan, name)
    expected = EXPECTED[name]
    if expected.replaces_table:
        [(text, tree)] = statements
        assert isinstance(tree, exp.Create) and tree.args.get("replace")
        assert text.startswith("CREATE OR REPLACE TABLE ")
    else:
        if DIALECTS[name].TRANSACTIONAL_DDL:
            assert [t for t, _ in statements[::len(statements) - 1]] == ["BEGIN", "COMMIT"]
            statements = statements[1:-1]
        [(drop_text, drop), (text, tree), (_, drop_old), (_, rename)] = statements
        assert isinstance(drop, exp.Drop) and drop.args.get("exists")
        assert drop_text.startswith("DROP TABLE IF EXISTS ") and "__fc_building_" in drop_text
        assert isinstance(tree, exp.Create) and not tree.args.get("replace")
        assert text.startswith("CREATE TABLE ") and "OR REPLACE" not in text and "__fc_building_" in text
        assert isinstance(drop_old, exp.Drop) and isinstance(rename, exp.Alter)
    assert expected.spine_numbering in text
    assert_capability_shapes(name, text, plan.query)
    # the output: the spine's columns, then the service's features under full names, once each
    select = tree.expression
    outputs = [s.alias_or_name for s in select.selects]
    assert len(outputs) == len(ORDERS_COLUMNS) + len(plan.query.feature_names)
    assert [o.lower() for o in outputs] == [c.lower() for c in ORDERS_COLUMNS + plan.query.feature_names]


def test_sample_dataset_whose_spine_columns_are_unknown(name, table_graph):
    """The spine's other columns pass through with `* EXCLUDE`/`* EXCEPT`, in spine order, where the
    dialect has it; elsewhere the final select reads the spine table itself as `s.*`, with no helper
    column to drop and no order (sqlglot would print `* EXCEPT` for Postgres without complaint)."""
    plan = plan_build_dataset(table_graph, table_graph.datasets[0])
    keyword = EXPECTED[name].star_except
    text, tree = next((t, tree) for t, tree in compiled(plan, name) if isinstance(tree, exp.Create))
    select = tree.expression
    if keyword is None:
        assert re.search(r"SELECT\s+[\"`]s[\"`]\.\*,", text), text
        relation = select.find(exp.From).this
        assert isinstance(relation, exp.Table) and relation.name.lower() == "orders"
        assert "__fc_row_id" not in text.lower() and not select.args.get("order")
        assert "EXCEPT" not in text.upper() and "EXCLUDE" not in text.upper()
        return
    excluded = r"[\"`]__fc_row_id[\"`], [\"`]__fc_spine_ts[\"`]" if get_dialect(name).CONVERTS_TIMES_TO_UTC \
        else r"[\"`]__fc_row_id[\"`]"
    assert re.search(rf"\.\*\s+{keyword} \({excluded}\)", text, re.IGNORECASE), text
    assert ("EXCEPT" if keyword == "EXCLUDE" else "EXCLUDE") not in text
    assert select.args.get("order")


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("strategy", (None, *STRATEGIES), ids=lambda s: s.value if s else "planned")
def test_feature_service_join(name, table_graph, service, strategy):
    plan = service_join(table_graph, service, strategy)
    [(text, tree)] = compiled(plan, name)
    assert isinstance(tree, exp.Select)
    assert_capability_shapes(name, text, plan)
    assert [s.alias_or_name.lower() for s in tree.selects] == [
        c.lower() for c in plan.spine.columns + plan.feature_names]


@pytest.mark.parametrize("view", ["driver_hourly_stats", "driver_lifetime_stats", "driver_onboarding",
                                  "customer_daily_profile", "driver_customer_affinity"])
def test_latest_values(name, table_graph, view):
    plan = plan_latest_values(table_graph, table_graph.feature_view(view))
    [(text, tree)] = compiled(plan, name)
    assert isinstance(tree, exp.Select)
    assert_capability_shapes(name, text, plan)
    # start and end, bound, never pasted (twice or more each where times are converted: the coarse window, then
    # the exact one on the converted bound, whose spelling may name it more than once)
    bound = list(tree.find_all(exp.Placeholder, exp.Parameter))
    if get_dialect(name).CONVERTS_TIMES_TO_UTC:
        assert len(bound) >= 4 and {p.name for p in bound} == {"start", "end"}
    else:
        assert len(bound) == 2


def test_file_sources(name, path_graph):
    """The sample as shipped reads Parquet files: only dialects that read files compile it."""
    plan = service_join(path_graph, "driver_ranking_v2")
    if not EXPECTED[name].reads_files:
        with pytest.raises(DiagnosticError) as excinfo:
            compile_sql(plan, name)
        assert "reading files" in fc100(excinfo, name)
        return
    [(text, tree)] = compiled(plan, name)
    paths = {j.relation.locator for j in plan.joins}
    for path in paths:
        assert path in text
    assert_capability_shapes(name, text, plan)


def test_csv_sources(name, table_graph):
    plan = service_join(table_graph, "driver_activity_v1")
    plan = dataclasses.replace(plan, joins=tuple(
        dataclasses.replace(j, relation=Relation("path", "/data/Driver Stats.csv")) for j in plan.joins))
    if name == "duckdb":  # read_csv_auto: header and types from the file
        assert "READ_CSV_AUTO('/data/Driver Stats.csv')" in compiled(plan, name)[0][0]
        return
    with pytest.raises(DiagnosticError) as excinfo:
        compile_sql(plan, name)
    assert "/data/Driver Stats.csv" in fc100(excinfo, name)


def test_dataset_written_to_a_file(name, table_graph):
    dataset = dataclasses.replace(table_graph.datasets[0], output=DatasetOutput("path", "/out/training.parquet"))
    plan = plan_build_dataset(table_graph, dataset, spine_columns=ORDERS_COLUMNS)
    if name == "duckdb":
        [(text, tree)] = compiled(plan, name)
        assert isinstance(tree, exp.Copy) and "'/out/training.parquet'" in text
        return
    with pytest.raises(DiagnosticError) as excinfo:
        compile_sql(plan, name)
    assert "file" in fc100(excinfo, name)


def test_unknown_dialect_is_a_diagnostic(name):
    with pytest.raises(DiagnosticError) as excinfo:
        get_dialect(name[:-1])
    [diagnostic] = excinfo.value.diagnostics
    assert diagnostic.code.value == "FC090"
    assert f"'{name}'" in (diagnostic.hint or "")


def test_window_bounds_are_parameters_each_warehouse_binds(name, table_graph):
    """Named where the drivers bind by name; Trino binds by position only, so `?`, start before end."""
    plan = plan_latest_values(table_graph, table_graph.feature_view("driver_hourly_stats"))
    (_, tree), = compiled(plan, name)
    placeholders = list(tree.find_all(exp.Placeholder, exp.Parameter))
    if name == "trino":
        assert [p.name for p in placeholders] == ["?", "?"]
        bounds = [p.parent for p in placeholders]
        assert [type(b) for b in bounds] == [exp.GTE, exp.LTE]  # start (lower bound) comes first
    else:
        assert sorted({p.name for p in placeholders}) == ["end", "start"]


TIME_COLUMNS = {"__fc_event_ts", "__fc_spine_ts"}  # times as read: UTC instants where the dialect converts
# windowed aggregations compare steps and window ends: microseconds since the epoch, taken from the times above
EPOCH_COLUMNS = {"__fc_step", "__fc_window_end"}


@pytest.mark.parametrize("kind, node", [("feature_service", "driver_ranking_v2"), ("feature_view", "driver_hourly_stats"),
                                        ("feature_service", "driver_activity_v1")])
def test_compiled_files_do_not_depend_on_the_session_time_zone(name, table_graph, kind, node):
    """A dialect that converts times compares only converted times (the spine's time, the event times, the
    window's bounds), so the session's zone plays no part; the others' files set the session's zone to UTC
    in their first statement, and their headers say so (BigQuery needs neither: a TIMESTAMP is an instant,
    and a DATETIME never compares with one)."""
    from fcompile.artifacts.queries import compile_node
    from fcompile.artifacts.selection import NodeRef
    from sqlglot import parse

    dialect = get_dialect(name)
    text = compile_node(table_graph, NodeRef(kind, node), dialect).text
    if dialect.SESSION_TIME_ZONE:
        assert not dialect.CONVERTS_TIMES_TO_UTC
        assert "-- the first statement sets the session's time zone to UTC" in text
        first = next(line for line in text.splitlines() if not line.startswith("--"))
        assert first == dialect.SESSION_TIME_ZONE + ";"
        assert len(parse(dialect.SESSION_TIME_ZONE, read=dialect.sqlglot_name)) == 1
        return
    assert "session's time zone" not in text
    if not dialect.CONVERTS_TIMES_TO_UTC:
        assert name == "bigquery"
        return
    (tree,) = parse(text, read=dialect.sqlglot_name)
    comparisons = list(tree.find_all(exp.GTE, exp.LTE, exp.GT, exp.LT))
    assert comparisons  # (a materialization's coarse BETWEEN on the stored column is a superset in any zone)
    for comparison in comparisons:
        columns = {c.name.lower() for c in comparison.find_all(exp.Column)}
        assert columns and (columns <= TIME_COLUMNS or columns <= EPOCH_COLUMNS), comparison.sql(dialect.sqlglot_name)
        for side in (comparison.this, comparison.expression):  # a bound parameter is converted too
            if not side.find(exp.Column):
                assert side.find(exp.Placeholder, exp.Parameter) and side.sql(dialect.sqlglot_name) != \
                    side.find(exp.Placeholder, exp.Parameter).sql(dialect.sqlglot_name)
