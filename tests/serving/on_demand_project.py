"""A project with on-demand features over a plain and an aggregated feature view and a request source, its
random data, and the training side of the parity tests: the on-demand join compiled to DuckDB SQL
(fcompile/planner/on_demand.py, fcompile/dialects/on_demand.py) run over a spine that holds the same
(entity, t, request fields) the online request sends.

Times are relative to `end`, the moment the project is materialized to: the tests that go through the
feature server (which checks max age against its own clock) pass the current time; the SDK tests any.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from fcompile.dialects import compile_statements
from fcompile.parser import parse_project
from fcompile.planner.on_demand import plan_on_demand_join
from fcompile.planner.plans import Relation, SpinePlan

UTC = dt.timezone.utc
SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - {name: stats_src, path: data/stats.parquet, timestamp_field: ts}
  - {name: trips_src, path: data/trips.parquet, timestamp_field: event_timestamp}
feature_views:
  - name: stats
    entities: [driver]
    source: stats_src
    ttl: 3h
    features:
      - {name: trips, dtype: int64}
      - {name: rate, dtype: float32}
  - name: trip_windows
    entities: [driver]
    source: trips_src
    features:
      - {name: fare, dtype: float64}
    aggregations:
      step: 1h
      features:
        - {name: trips_1h, function: count, window: 1h}
        - {name: fare_sum_1d, function: sum, column: fare, window: 1d}
request_sources:
  - name: req
    fields:
      - {name: amount, dtype: float64}
      - {name: hour, dtype: int64}
      - {name: placed_at, dtype: timestamp}
on_demand_views:
  - name: order_features
    inputs: [stats, trip_windows, req]
    features:
      - {name: per_trip, dtype: float64, expr: "amount / trips"}
      - {name: bumped, dtype: int64, expr: "COALESCE(trips, 0) + 1"}
      - {name: band, dtype: string, expr: "CASE WHEN rate >= 0.5 THEN 'high' ELSE 'low' END"}
      - {name: night, dtype: bool, expr: "hour < 6 OR hour >= 22"}
      - {name: fare_share, dtype: float64, expr: "amount / NULLIF(fare_sum_1d, 0) + trips_1h"}
      - {name: placed_hour, dtype: int64, expr: "EXTRACT(HOUR FROM placed_at) + COALESCE(trips_1h, 0)"}
  - name: derived
    inputs: [order_features, stats]
    features:
      - {name: doubled, dtype: float64, expr: "per_trip * 2 + rate"}
      - {name: bumped_tens, dtype: int64, expr: "bumped * 10"}
feature_services:
  - name: orders
    features:
      - {view: order_features, features: [per_trip, night]}
      - {view: stats, features: [trips]}
      - {view: derived, features: [bumped_tens]}
"""
FEATURES = ["order_features:per_trip", "stats:trips", "order_features:bumped", "order_features:band",
            "order_features:night", "order_features:fare_share", "order_features:placed_hour",
            "derived:doubled", "derived:bumped_tens", "trip_windows:trips_1h"]
DRIVERS = list(range(1, 9))  # 7 and 8 have no rows: NOT_FOUND
AMOUNTS = [None, 0.0, 12.5, -7.0, 1e300, 3.25]
HOURS = [None, 0, 5, 6, 21, 22, 23]


def write_project(root: Path, online: dict, end: dt.datetime, seed: int, name: str | None = None) -> str:
    """The project in `root` with random rows before `end`: each driver's newest stats row is either within
    the ttl of `end`, PRESENT at `end` and OUTSIDE_MAX_AGE some minutes after it (the 3h ttl), with NULL,
    zero and NaN values among them. Returns the project's name."""
    rng = random.Random(seed)
    name = name or f"odo_{uuid.uuid4().hex[:12]}"
    target = {"offline": {"type": "duckdb", "path": ".fcompile/offline.duckdb"}, "online": online}
    root.mkdir(parents=True, exist_ok=True)
    (root / "fcompile_project.yml").write_text(json.dumps({"name": name, "default_target": "dev",
                                                           "targets": {"dev": target}}))
    (root / "features.yml").write_text(SPEC)
    (root / "data").mkdir(exist_ok=True)
    stats = []
    for driver in DRIVERS[:6]:  # newest rows 1 minute to 170 minutes old: within the 3h ttl at `end`
        newest = end - dt.timedelta(minutes=rng.choice([1, 5, 30]) if driver % 2 else rng.choice([90, 170]))
        for back in range(rng.randrange(1, 4)):
            stats.append((driver, newest - dt.timedelta(hours=2 * back), rng.choice([None, 0, 1, 5, -3, 40]),
                          rng.choice([None, 0.25, 0.5, 0.75, float("nan")])))
    pq.write_table(pa.table({"driver_id": pa.array([r[0] for r in stats], pa.int64()),
                             "ts": pa.array([r[1] for r in stats], pa.timestamp("us", "UTC")),
                             "trips": pa.array([r[2] for r in stats], pa.int64()),
                             "rate": pa.array([r[3] for r in stats], pa.float32())}), root / "data" / "stats.parquet")
    trips = [(driver, end - dt.timedelta(minutes=rng.randrange(1, 30 * 60)), rng.choice([None, 0.0, 8.5, 22.0]))
             for driver in DRIVERS[:5] for _ in range(rng.randrange(0, 6))]
    pq.write_table(pa.table({"driver_id": pa.array([r[0] for r in trips], pa.int64()),
                             "event_timestamp": pa.array([r[1] for r in trips], pa.timestamp("us", "UTC")),
                             "fare": pa.array([r[2] for r in trips], pa.float64())}), root / "data" / "trips.parquet")
    return name


def random_requests(rng: random.Random, count: int, start: dt.datetime) -> list[dict]:
    """Entity rows with request fields: a driver (some never seen) and random amounts, hours and times."""
    return [{"driver_id": rng.choice(DRIVERS), "amount": rng.choice(AMOUNTS), "hour": rng.choice(HOURS),
             "placed_at": start - dt.timedelta(seconds=rng.randrange(0, 86_400 * 3))} for _ in range(count)]


def training_values(root: Path, rows: list[dict], moments: list[dt.datetime], features=FEATURES) -> list[dict]:
    """The training SQL's value of each feature for each (row, t): the on-demand join (point-in-time joins of
    every input, then the expressions) compiled for DuckDB and run over a spine of those rows."""
    graph = parse_project(root, use_cache=False).graph
    assert graph is not None
    spine_file = root / f"spine-{uuid.uuid4().hex[:8]}.parquet"
    pq.write_table(pa.table({
        "driver_id": pa.array([r["driver_id"] for r in rows], pa.int64()),
        "event_timestamp": pa.array(moments, pa.timestamp("us", "UTC")),
        "amount": pa.array([r["amount"] for r in rows], pa.float64()),
        "hour": pa.array([r["hour"] for r in rows], pa.int64()),
        "placed_at": pa.array([r["placed_at"] for r in rows], pa.timestamp("us", "UTC")),
        "row_number": pa.array(range(len(rows)), pa.int64())}), spine_file)
    columns = ("driver_id", "event_timestamp", "amount", "hour", "placed_at", "row_number")
    spine = SpinePlan(Relation("query", f"SELECT * FROM read_parquet('{spine_file}')"), "event_timestamp", columns)
    requests = [tuple(f.split(":")) for f in features]
    statements = compile_statements(plan_on_demand_join(graph, spine, requests), "duckdb")
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for statement in statements[:-1]:
            con.execute(statement)
        cursor = con.execute(statements[-1])
        names = [d[0] for d in cursor.description]
        got = [dict(zip(names, row)) for row in cursor.fetchall()]
    got.sort(key=lambda r: r["row_number"])
    return [{f.split(":")[1]: r[f.split(":")[1]] for f in features} for r in got]


def same(a, b) -> bool:
    """Equal, NaN equal to NaN, floats exactly (one evaluator, one IEEE operation order)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b
