"""Compiling by shape (fcompile/dialects/shapes.py) gives the SQL that compiling each plan directly
gives: the same statements after re-parsing, in every dialect, for any names, and the same errors.
Plans that differ only in names share one generated template."""

from __future__ import annotations

import re
import string

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcompile.diagnostics import DiagnosticError
from fcompile.dialects import DIALECTS, compile_statements, generate_statements, get_dialect, session_statements
from fcompile.dialects.shapes import Templates, shape_of
from fcompile.graph import DType
from fcompile.planner.plans import (
    FeatureColumn, JoinStrategy, KeyColumn, LatestValues, PointInTimeJoin, Relation, SpinePlan, ViewJoin,
)

DIALECT_NAMES = tuple(DIALECTS)
INT64, FLOAT64, STRING = DType("int64"), DType("float64"), DType("string")


def outcome(compile, plan, dialect_name: str):
    """Re-parsed statements and their comments (which name views and keys too), or the error's text."""
    dialect = get_dialect(dialect_name)
    try:
        statements = compile(plan, dialect)
    except DiagnosticError as exc:
        return ("error", str(exc))
    return (tuple(sqlglot.parse_one(s, read=dialect.sqlglot_name) for s in statements),
            tuple(re.findall(r"/\*.*?\*/", s) for s in statements))


def assert_same_as_direct(plan, templates: Templates | None = None) -> None:
    for name in DIALECT_NAMES:
        shaped = outcome(lambda p, d: compile_statements(p, d, templates=templates), plan, name)
        direct = outcome(lambda p, d: session_statements(d) + generate_statements(p, d), plan, name)
        assert shaped == direct, f"{name}: shaped SQL differs"


def latest(view="driver_stats", table="raw.driver_stats", key="driver_id", column=None, ts="event_timestamp",
           created="created", features=(("trips", INT64), ("rate", FLOAT64))) -> LatestValues:
    relation = Relation("path", table) if "/" in table else Relation("table", table)
    return LatestValues(view, relation, (KeyColumn(key, column or key, INT64),), ts, created,
                        tuple(FeatureColumn(f, f, dtype) for f, dtype in features))


def join(names: dict[str, str], strategy: JoinStrategy, ttl: int | None, spine: Relation) -> PointInTimeJoin:
    n = names
    view = ViewJoin(n["view"], Relation("table", n["table"]), (KeyColumn(n["key"], n["column"], INT64),),
                    n["ts"], n["created"], ttl, (FeatureColumn(n["feature"], n["output"], STRING),), strategy,
                    tie_breaker=n["other"])
    spine_plan = SpinePlan(spine, n["spine_ts"], (n["key"], n["spine_ts"], n["label"]))
    return PointInTimeJoin(spine_plan, (view,), ((0, n["output"]),))


def test_views_that_differ_only_in_names_share_one_template():
    templates = Templates()
    plans = [latest(view=f"view_{i}", table=f"raw.events_{i}", key=f"key_{i}") for i in range(3, 9)]
    for plan in plans:
        for name in DIALECT_NAMES:
            compile_statements(plan, name, templates=templates)
    assert len(templates.generated) == len(DIALECT_NAMES)
    assert all(templates.generated.values())
    for plan in plans:
        assert_same_as_direct(plan)


def test_a_shape_keeps_what_decides_the_sql():
    base = latest()
    # which names are equal is part of the shape: here the view and the table are both driver_stats
    assert shape_of(base).plan != shape_of(latest(view="other_view")).plan
    assert shape_of(base).plan == shape_of(latest(view="other_stats", table="raw.other_stats", key="other_key")).plan
    assert shape_of(base).plan != shape_of(latest(features=(("trips", FLOAT64), ("rate", FLOAT64)))).plan
    assert shape_of(base).plan != shape_of(latest(features=(("trips", INT64),))).plan
    assert shape_of(base).plan != shape_of(latest(created=None)).plan
    assert shape_of(base).plan != shape_of(latest(column="id")).plan  # a key read under another name


@pytest.mark.parametrize("plan", [
    latest(table='raw."Driver Stats"'),           # a quoted part: kept as written
    latest(table="raw.select"),                    # a keyword as a part
    latest(table="project-1.raw.stats"),
    latest(table="/data/it's here/stats.parquet"),  # a quote in a path
    latest(table="/data/stats.csv"),
    latest(view="fcq0xz"),                         # a name that looks like a sentinel: compiled directly
    latest(key="userId", features=(("convRate", FLOAT64), ("ConvRate", FLOAT64))),  # case matters where kept
])
def test_unusual_names_and_paths_give_the_direct_sql(plan):
    assert_same_as_direct(plan)


def test_sentinel_lookalikes_are_shapes_of_their_own():
    assert shape_of(latest(view="fcq0xz")).literal
    assert shape_of(latest(table="/data/fcp1z.parquet")).literal
    assert not shape_of(latest()).literal


def test_errors_come_from_the_real_plan():
    plan = latest(table="/data/driver_stats.parquet")
    with pytest.raises(DiagnosticError, match="driver_stats.parquet"):
        compile_statements(plan, "snowflake", templates=Templates())


NAME = st.text(string.ascii_letters + "_", min_size=1, max_size=3).flatmap(
    lambda head: st.text(string.ascii_letters + string.digits + "_", max_size=24).map(lambda tail: head + tail)
).filter(lambda n: "__" not in n)
FIELDS = ("view", "table", "key", "column", "ts", "created", "feature", "output", "other", "spine_ts", "label")


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.fixed_dictionaries({f: NAME for f in FIELDS}),
       strategy=st.sampled_from(tuple(JoinStrategy)), ttl=st.sampled_from([None, 1, 7200, 86400]),
       spine=st.sampled_from([Relation("placeholder", "fcompile_spine"), Relation("table", "raw.orders"),
                              Relation("path", "/data/orders 2024.parquet")]))
def test_any_names_give_the_direct_sql(names, strategy, ttl, spine):
    """Names equal or not, of any case and length, in every strategy and dialect."""
    plan = join(names, strategy, ttl, spine)
    if len({names["key"], names["spine_ts"], names["label"]}) < 3 or names["output"] in (names["key"], names["label"]):
        return  # not a plan the planner would make: spine columns and outputs are distinct
    assert_same_as_direct(plan)
