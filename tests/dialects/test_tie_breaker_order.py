"""A string tie_breaker is ordered by its bytes in every ORDER BY that ranks rows by it (issue 16): the
point-in-time plans, materialization's latest values, and the tile ranking of a `last` (training set and
online tiles), each as a warehouse reads it (the statements re-parsed). Only where the dialect's strings may
order otherwise (STRINGS_ORDER_BY_BYTES false: PostgreSQL's language collations, Redshift's case-insensitive
one) does the key change; an integer tie_breaker, or one whose type the parser could not read, is ordered as
the column is. That the order is the bytes' on a collated column is run on PostgreSQL in
tests/online/test_collated_tie_breakers.py."""

from __future__ import annotations

import dataclasses

import pytest
from sqlglot import exp

from fcompile.dialects import DIALECTS, compile_statements
from fcompile.graph import DType
from fcompile.planner.online_tiles import LatestTiles, TileFeature, TileInput
from fcompile.planner.plans import (
    TIE_BREAKER, AggregateColumn, AggregateJoin, FeatureColumn, JoinStrategy, KeyColumn, LatestValues,
    PointInTimeJoin, Relation, SpinePlan, ViewJoin,
)

from dialects.projects import DIALECT_NAMES, reparse

# what each warehouse does by default; a new dialect adds its row
ORDERS_STRINGS_BY_BYTES = {"duckdb": True, "spark": True, "bigquery": True, "trino": True, "snowflake": True,
                           "postgres": False, "redshift": False}
KEY = (KeyColumn("driver_id", "driver_id", DType("int64")),)


def _plans(dtype: DType | None) -> dict[str, object]:
    spine = SpinePlan(Relation("table", "spine"), "event_ts", columns=("driver_id", "event_ts"))
    view = ViewJoin("v", Relation("table", "trips"), KEY, "event_ts", "created", 3600,
                    (FeatureColumn("fare", "fare", DType("float64")),), JoinStrategy.RANGE, None, "lane", dtype)
    aggregate = AggregateJoin("w", Relation("table", "trips"), KEY, "event_ts", "created", 3600,
                              (AggregateColumn("last", "fare", 7200, "last_fare", DType("float64")),),
                              tie_breaker="lane", tie_breaker_dtype=dtype)
    plans: dict[str, object] = {
        f"training ({s.value})": PointInTimeJoin(spine, (dataclasses.replace(view, strategy=s),), ((0, "fare"),))
        for s in JoinStrategy}
    plans["training (aggregations)"] = PointInTimeJoin(spine, (aggregate,), ((0, "last_fare"),))
    plans["latest values"] = LatestValues("v", Relation("table", "trips"), KEY, "event_ts", "created", view.features,
                                          tie_breaker="lane", tie_breaker_dtype=dtype)
    plans["latest tiles"] = LatestTiles("w", Relation("table", "trips"), KEY, "event_ts", "created", 3600,
                                        (TileInput("fare", DType("float64"), ("last", "last_event", "last_created")),),
                                        (TileFeature("last_fare", "last", 0, 2, DType("float64")),),
                                        tie_breaker="lane", tie_breaker_dtype=dtype)
    return plans


def _tie_breaker_keys(tree: exp.Expression) -> list[exp.Expression]:
    """The sort keys of the ORDER BYs that rank by the tie_breaker."""
    def is_tie_breaker(node: exp.Expression) -> bool:
        return isinstance(node, exp.Column) and node.name.lower() == TIE_BREAKER

    return [o.this for o in tree.find_all(exp.Ordered)
            if is_tie_breaker(o.this) or isinstance(o.this, exp.Collate) and is_tie_breaker(o.this.this)]


def _trees(plan, name: str) -> list[exp.Expression]:
    """The plan's statements as the warehouse reads them (psycopg sends PostgreSQL's `%%` as `%`)."""
    statements = compile_statements(plan, name)
    if name == "postgres":
        statements = [s.replace("%%", "%") for s in statements]
    return [reparse(s, name) for s in statements]


def test_every_dialect_says_how_it_orders_strings():
    assert {name: cls.STRINGS_ORDER_BY_BYTES for name, cls in DIALECTS.items()} == ORDERS_STRINGS_BY_BYTES


@pytest.mark.parametrize("name", DIALECT_NAMES)
@pytest.mark.parametrize("dtype", ["string", "int64", None])
def test_a_string_tie_breaker_is_ranked_by_its_bytes(name, dtype):
    for kind, plan in _plans(DType(dtype) if dtype else None).items():
        keys = [key for tree in _trees(plan, name) for key in _tie_breaker_keys(tree)]
        assert keys, f"{kind}: no ORDER BY of the tie_breaker"
        by_bytes = dtype == "string" and not ORDERS_STRINGS_BY_BYTES[name]
        assert all(isinstance(key, exp.Collate) == by_bytes for key in keys), (kind, [k.sql(name) for k in keys])
        if by_bytes:
            collations = {key.expression.name for key in keys}
            assert collations == {"C" if name == "postgres" else "case_sensitive"}, (kind, collations)
