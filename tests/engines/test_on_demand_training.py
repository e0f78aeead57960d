"""Training sets with on-demand features (issue 17), on every engine, against an independent reference.

A request mixes on-demand features (one reading another on-demand view's), plain features and a feature of a
view without ttl, with full_feature_names off and on; it is planned as a user's request is
(`plan_training_query`: the spine registered by the runner, then planned), run by the engine's runner, and
compared row by row, in spine order, with a reference that shares nothing with fcompile: the point-in-time
values of tests/compiler/reference.py, then each on-demand feature computed by a Python function written
here from the documented semantics (docs/concepts/on-demand-features.md: NULL in, NULL out; division by
zero NULL; integer division truncating toward zero; ROUND half away from zero) - not by fcompile's
expression evaluator.
"""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from fcompile.diagnostics import DiagnosticError
from fcompile.graph import Projection
from fcompile.runners.spines import SpineInput
from fcompile.tasks.training import plan_training_query

from compiler import reference
from compiler.harness import Case, EntityDef, Table, ViewDef, arrow_table, assert_same_rows, ref_view, write_project
from compiler.reference import Requested

T0 = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
ON_DEMAND = {
    "request_sources": [{"name": "req", "fields": [{"name": "amount", "dtype": "float64"},
                                                   {"name": "hour", "dtype": "int64"}]}],
    "on_demand_views": [
        {"name": "order_features", "inputs": ["stats", "profile", "req"], "features": [
            {"name": "per_trip", "dtype": "float64", "expr": "amount / trips"},
            {"name": "bumped", "dtype": "int64", "expr": "COALESCE(trips, 0) + 1"},
            {"name": "band", "dtype": "string", "expr": "CASE WHEN rate >= 0.5 THEN 'high' ELSE 'low' END"},
            {"name": "night", "dtype": "bool", "expr": "hour < 6 OR hour >= 22"},
            {"name": "halves", "dtype": "int64", "expr": "trips / 2"},
            {"name": "rounded", "dtype": "float64", "expr": "ROUND(rate * 10, 0)"},
            {"name": "shout", "dtype": "string", "expr": "UPPER(tier)"},
        ]},
        {"name": "derived", "inputs": ["order_features", "stats"], "features": [
            {"name": "doubled", "dtype": "float64", "expr": "per_trip * 2 + rate"},
        ]},
    ],
}


def _divide(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _half_away(x: float) -> float:
    return math.copysign(math.floor(abs(x) + 0.5), x)


# The reference of each on-demand feature, from the point-in-time inputs and the request fields.
def per_trip(v):
    return _divide(v["amount"], v["trips"])


REFERENCE = {
    "per_trip": per_trip,
    "bumped": lambda v: (v["trips"] if v["trips"] is not None else 0) + 1,
    "band": lambda v: "high" if v["rate"] is not None and v["rate"] >= 0.5 else "low",
    # SQL's OR: TRUE wins over NULL, else NULL stays NULL
    "night": lambda v: None if v["hour"] is None else (v["hour"] < 6 or v["hour"] >= 22),
    "halves": lambda v: None if v["trips"] is None else int(v["trips"] / 2),  # toward zero
    "rounded": lambda v: None if v["rate"] is None else _half_away(v["rate"] * 10),
    "shout": lambda v: None if v["tier"] is None else v["tier"].upper(),
    "doubled": lambda v: None if per_trip(v) is None or v["rate"] is None else per_trip(v) * 2 + v["rate"],
}


def make_case(seed: int, full_feature_names: bool) -> Case:
    rng = random.Random(seed)
    stats, seen = [], set()
    for driver in (1, 2, 3):
        for _ in range(6):
            at = T0 + dt.timedelta(minutes=rng.randrange(0, 600))
            if (driver, at) in seen:
                continue
            seen.add((driver, at))
            stats.append({"driver_id": driver, "event_ts": at, "trips": rng.choice([None, 0, 1, 5, -3, 40]),
                          "rate": rng.choice([None, 0.25, 0.5, 0.75, -0.25, 0.05])})
    profile = [{"driver_id": d, "event_ts": T0 + dt.timedelta(hours=h), "tier": rng.choice([None, "gold", "silver"])}
               for d in (1, 2) for h in (1, 5)]
    spine = [{"driver_id": rng.choice([1, 2, 3, 4]),
              "event_timestamp": T0 + dt.timedelta(minutes=rng.randrange(-60, 720)),
              "amount": rng.choice([None, 0.0, 12.5, -7.0, 100.0, 1e300]),
              "hour": rng.choice([None, 0, 5, 6, 21, 22, 23])} for _ in range(30)]
    return Case(
        entities=(EntityDef("driver", (("driver_id", "int64"),)),),
        views=(ViewDef("stats", ("driver",), "stats_t", (("trips", "int64"), ("rate", "float64")),
                       ttl=dt.timedelta(hours=3)),
               ViewDef("profile", ("driver",), "profile_t", (("tier", "string"),))),
        tables=(Table("stats_t", (("driver_id", "int64"), ("event_ts", "timestamptz"), ("trips", "int64"),
                                  ("rate", "float64")), stats),
                Table("profile_t", (("driver_id", "int64"), ("event_ts", "timestamptz"), ("tier", "string")),
                      profile)),
        spine=Table(f"od_spine_{seed}", (("driver_id", "int64"), ("event_timestamp", "timestamptz"),
                                         ("amount", "float64"), ("hour", "int64")), spine),
        projections=(Projection("order_features", ("per_trip",)), Projection("stats", ("trips",)),
                     Projection("order_features", ("bumped", "band", "night", "halves", "rounded", "shout")),
                     Projection("derived", ("doubled",)), Projection("profile", ("tier",))),
        full_feature_names=full_feature_names, name=f"on_demand_{seed}_{'full' if full_feature_names else 'short'}",
        extra_spec=ON_DEMAND,
    )


def expected(case: Case) -> tuple[list[str], list[dict]]:
    """The spine's columns, then each requested feature: joined values by the point-in-time reference, computed
    ones by REFERENCE over them."""
    views = {v.name: ref_view(case, v) for v in case.views}
    inputs = [Requested("stats", "trips", "trips"), Requested("stats", "rate", "rate"),
              Requested("profile", "tier", "tier")]
    joined = reference.point_in_time_join(case.spine.rows, case.spine.column_names, "event_timestamp", views, inputs)
    names = [reference.output_name(p.view, f, p.alias, case.full_feature_names)
             for p in case.projections for f in p.features]
    features = [f for p in case.projections for f in p.features]
    rows = []
    for row in joined:
        values = {c: row[c] for c in case.spine.column_names}
        for name, feature in zip(names, features):
            values[name] = row[feature] if feature in ("trips", "tier") else REFERENCE[feature](row)
        rows.append(values)
    return [*case.spine.column_names, *names], rows


@pytest.mark.parametrize("full_feature_names", [False, True], ids=["short_names", "full_names"])
def test_on_demand_features_equal_the_reference(engine, tmp_path, full_feature_names):
    case = make_case(3 if full_feature_names else 1, full_feature_names)
    graph = write_project(case, tmp_path / case.name)
    runner = engine.runner()
    for table in case.tables:
        engine.load(runner, table)
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(case.spine)), case.projections,
                                case.full_feature_names, "event_timestamp", case.name)
    got = runner.to_arrow(query.plan, case.name)
    assert_same_rows((got.column_names, got.to_pylist()), expected(case), f"{case.name} on {engine.name}\n{query.sql}")


def test_a_spine_without_the_request_fields_is_fc146(engines, tmp_path):
    engine = engines("duckdb")
    case = make_case(1, False)
    graph = write_project(case, tmp_path / case.name)
    runner = engine.runner()
    spine = Table("short_spine", case.spine.columns[:3], [{k: r[k] for k in ("driver_id", "event_timestamp", "amount")}
                                                          for r in case.spine.rows])
    with pytest.raises(DiagnosticError) as caught:
        plan_training_query(graph, runner, SpineInput("arrow", arrow_table(spine)), case.projections)
    assert [d.code.value for d in caught.value.diagnostics] == ["FC146"]
    assert "'hour'" in caught.value.diagnostics[0].message and "'amount'" not in caught.value.diagnostics[0].message
