"""On-demand features in a training set's SQL (issue 17, fcompile/planner/on_demand.py): executed on DuckDB
and compared row by row with a reference in plain Python: the point-in-time value of each input, then the
expression evaluated in process (compute_online), the spine's order and columns kept, inputs not requested
left out."""

from __future__ import annotations

import datetime as dt
import math
import random

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile.diagnostics import DiagnosticError
from fcompile.dialects import compile_statements
from fcompile.expressions.on_demand import OnDemandColumn, OnlineInput, compute_online
from fcompile.parser import parse_project
from fcompile.planner.on_demand import plan_on_demand_join
from fcompile.planner.plans import Relation, SpinePlan

PROJECT = """name: odt
default_target: dev
targets:
  dev:
    offline: {type: duckdb, path: x.duckdb}
    online: {type: sqlite, path: x.db}
"""
SPEC = """entities:
  - name: driver
    join_keys: [{name: driver_id, dtype: int64}]
sources:
  - name: stats_src
    path: data/stats.parquet
    timestamp_field: ts
feature_views:
  - name: stats
    entities: [driver]
    source: stats_src
    ttl: 3h
    features:
      - {name: trips, dtype: int64}
      - {name: rate, dtype: float32}
request_sources:
  - name: req
    fields:
      - {name: amount, dtype: float64}
      - {name: hour, dtype: int64}
on_demand_views:
  - name: order_features
    inputs: [stats, req]
    features:
      - {name: per_trip, dtype: float64, expr: "amount / trips"}
      - {name: bumped, dtype: int64, expr: "COALESCE(trips, 0) + 1"}
      - {name: band, dtype: string, expr: "CASE WHEN rate >= 0.5 THEN 'high' ELSE 'low' END"}
      - {name: night, dtype: bool, expr: "hour < 6 OR hour >= 22"}
  - name: derived
    inputs: [order_features, stats]
    features:
      - {name: doubled, dtype: float64, expr: "per_trip * 2 + rate"}
"""
T0 = dt.datetime(2024, 1, 1)


def project(tmp_path, seed: int):
    rng = random.Random(seed)
    (tmp_path / "data").mkdir()
    rows = [(d, T0 + dt.timedelta(minutes=rng.randrange(0, 600)), rng.choice([None, 0, 1, 5, -3, 40]),
             rng.choice([None, 0.25, 0.5, 0.75, float("nan")])) for d in (1, 2, 3) for _ in range(6)]
    seen = set()
    rows = [r for r in rows if (r[0], r[1]) not in seen and not seen.add((r[0], r[1]))]
    pq.write_table(pa.table({"driver_id": [r[0] for r in rows], "ts": [r[1] for r in rows],
                             "trips": pa.array([r[2] for r in rows], pa.int64()),
                             "rate": pa.array([r[3] for r in rows], pa.float32())}),
                   tmp_path / "data" / "stats.parquet")
    spine = [(rng.choice([1, 2, 3, 4]), T0 + dt.timedelta(minutes=rng.randrange(-60, 720)),
              rng.choice([None, 0.0, 12.5, -7.0, 1e300]), rng.choice([None, 0, 5, 6, 21, 22, 23]))
             for _ in range(40)]
    pq.write_table(pa.table({"driver_id": [s[0] for s in spine], "event_timestamp": [s[1] for s in spine],
                             "amount": pa.array([s[2] for s in spine], pa.float64()),
                             "hour": pa.array([s[3] for s in spine], pa.int64())}), tmp_path / "spine.parquet")
    (tmp_path / "fcompile_project.yml").write_text(PROJECT)
    (tmp_path / "spec.yml").write_text(SPEC)
    graph = parse_project(tmp_path, use_cache=False).graph
    assert graph is not None
    return graph, rows, spine


def spine_plan(tmp_path, columns=("driver_id", "event_timestamp", "amount", "hour")) -> SpinePlan:
    return SpinePlan(Relation("query", f"SELECT * FROM read_parquet('{tmp_path / 'spine.parquet'}')"),
                     "event_timestamp", columns)


def reference(graph, rows, spine, requests):
    """Each spine row's point-in-time inputs (newest row at or before the spine time, within the ttl), then
    each requested feature by the in-process evaluator."""
    out = []
    for driver, at, amount, hour in spine:
        candidates = [r for r in rows if r[0] == driver and at - dt.timedelta(hours=3) <= r[1] <= at]
        newest = max(candidates, key=lambda r: r[1]) if candidates else None
        known = {"stats.trips": newest[2] if newest else None,
                 "stats.rate": float(pa.array([newest[3]], pa.float32())[0].as_py()) if newest and newest[3] is not None
                 else None, "req.amount": amount, "req.hour": hour}
        values = {}
        for view, name in requests:
            values[name] = evaluate(graph, view, name, known)
        out.append(values)
    return out


def evaluate(graph, view, name, known):
    if graph.get("feature_view", view) is not None:
        return known[f"{view}.{name}"]
    feature = graph.on_demand_view(view).feature(name)
    inputs = {}
    for read in feature.reads:
        source, inner = read.split(".", 1)
        inputs[read] = (evaluate(graph, source, inner, known) if graph.get("on_demand_view", source) is not None
                        else known[read])
    dtypes = {read: "float64" if isinstance(v, float) else "int64" for read, v in inputs.items()}
    column = OnDemandColumn(name, feature.node, tuple((r, r, dtypes[r]) for r in feature.reads))
    values, _ = compute_online(column, {r: OnlineInput([v]) for r, v in inputs.items()}, 1)
    return values[0]


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_duckdb_training_sql_equals_the_evaluator(tmp_path, seed):
    graph, rows, spine = project(tmp_path, seed)
    requests = [("order_features", "per_trip"), ("stats", "trips"), ("order_features", "bumped"),
                ("order_features", "band"), ("order_features", "night"), ("derived", "doubled")]
    plan = plan_on_demand_join(graph, spine_plan(tmp_path), requests)
    statements = compile_statements(plan, "duckdb")
    with duckdb.connect() as con:
        for statement in statements[:-1]:
            con.execute(statement)
        cursor = con.execute(statements[-1])
        names = [d[0] for d in cursor.description]
        got = cursor.fetchall()
    assert names == ["driver_id", "event_timestamp", "amount", "hour", "per_trip", "trips", "bumped", "band",
                     "night", "doubled"]
    assert [(r[0], r[2], r[3]) for r in got] == [(s[0], s[2], s[3]) for s in spine]  # spine order kept
    expected = reference(graph, rows, spine, requests)
    for row, want in zip(got, expected):
        for name, value in zip(names[4:], row[4:]):
            assert same(value, want[name]), (name, row, want)


def test_missing_request_fields_are_fc146(tmp_path):
    graph, _, _ = project(tmp_path, 0)
    with pytest.raises(DiagnosticError) as caught:
        plan_on_demand_join(graph, spine_plan(tmp_path, ("driver_id", "event_timestamp")),
                            [("order_features", "per_trip"), ("order_features", "night")])
    (problem,) = caught.value.diagnostics
    assert problem.code.value == "FC146" and "'amount', 'hour'" in problem.message


def test_the_worked_example_of_the_docs(tmp_path):
    """docs/concepts/on-demand-features.md: its spec (the YAML block) and input rows, through the SDK's
    get_historical_features on DuckDB, give the result table the page shows."""
    import re
    from pathlib import Path

    import yaml

    from fcompile import FeatureStore

    page = (Path(__file__).parents[2] / "docs" / "concepts" / "on-demand-features.md").read_text("utf-8")
    spec = yaml.safe_load(re.search(r"```yaml\n(.*?)```", page, re.S).group(1))
    tables = [[[cell.strip() for cell in line.strip().strip("|").split("|")] for line in block.strip().splitlines()
               if not line.startswith("| ---")] for block in re.findall(r"((?:^\|.*\n)+)", page, re.M)]
    stats_rows, result = next(t for t in tables if t[0][0] == "event_timestamp (UTC)"), tables[-1]

    def at(text):
        return dt.datetime.strptime(text.removesuffix(" (UTC)"), "%Y-%m-%d %H:%M")

    (tmp_path / "data").mkdir()
    pq.write_table(pa.table({
        "driver_id": pa.array([1001] * (len(stats_rows) - 1), pa.int64()),
        "event_timestamp": [at(r[0]) for r in stats_rows[1:]],
        "conv_rate": pa.array([float(r[1]) for r in stats_rows[1:]], pa.float64()),
        "avg_daily_trips": pa.array([int(r[2]) for r in stats_rows[1:]], pa.int64())}), tmp_path / "data" / "stats.parquet")
    spec |= {"entities": [{"name": "driver", "join_keys": [{"name": "driver_id", "dtype": "int64"}]}],
             "sources": [{"name": "stats", "path": "data/stats.parquet", "timestamp_field": "event_timestamp"}],
             "feature_views": [{"name": "driver_hourly_stats", "entities": ["driver"], "source": "stats", "ttl": "2h",
                                "features": [{"name": "conv_rate", "dtype": "float64"},
                                             {"name": "avg_daily_trips", "dtype": "int64"}]}],
             "feature_services": [{"name": "orders_svc", "features": ["order_features:*"]}]}
    (tmp_path / "fcompile_project.yml").write_text(PROJECT)
    (tmp_path / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False))

    def value(text, kind):
        return None if text == "NULL" else kind(text)

    header, rows = result[0], result[1:]
    assert header == ["driver_id", "event_timestamp", "order_amount", "order_hour", "amount_per_trip", "conv_band",
                      "night"]
    spine = pa.table({"driver_id": pa.array([int(r[0]) for r in rows], pa.int64()),
                      "event_timestamp": [at(r[1]) for r in rows],
                      "order_amount": pa.array([value(r[2], float) for r in rows], pa.float64()),
                      "order_hour": pa.array([value(r[3], int) for r in rows], pa.int64())})
    got = FeatureStore(tmp_path).get_historical_features(
        spine, ["order_features:amount_per_trip", "order_features:conv_band", "order_features:night"]).to_arrow()
    assert got.column_names == header
    wanted = [(value(r[4], float), value(r[5], str), value(r[6], lambda t: t == "true")) for r in rows]
    assert [(r["amount_per_trip"], r["conv_band"], r["night"]) for r in got.to_pylist()] == wanted

    # by the service, once built: its compiled retrieve file runs as it is, the spine supplied as fcompile_spine
    from typer.testing import CliRunner

    from fcompile.cli import app

    built = CliRunner().invoke(app, ["build", "--project-dir", str(tmp_path)])
    assert built.exit_code == 0, built.output
    compiled = (tmp_path / "target" / "compiled" / "duckdb" / "retrieve" / "orders_svc.sql").read_text()
    assert "fcompile_spine(driver_id, event_timestamp, order_amount, order_hour)" in compiled
    job = FeatureStore(tmp_path).get_historical_features(spine, service="orders_svc")
    assert job.matches_compiled_file, job.mismatch
    assert job.to_arrow().to_pylist() == got.to_pylist()
