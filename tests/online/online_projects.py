"""A small project for the online-read tests, materialized through the API so the stored rows can be read
off the data below."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

PROJECT = """\
name: online_test
default_target: dev
targets:
  dev: {offline: {type: duckdb}, online: {type: sqlite, path: .fcompile/online.db}}
"""

SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
  - {name: rider, join_keys: [{name: rider_id, dtype: string}]}
sources:
  - {name: stats_src, path: data/stats.parquet, timestamp_field: ts, created_timestamp_field: created}
  - {name: rider_src, path: data/riders.parquet, timestamp_field: ts}
  - {name: wide_src, path: data/wide.parquet, timestamp_field: ts}
feature_views:
  - name: stats
    entities: [driver]
    source: stats_src
    features: [{name: conv, dtype: float64}, {name: trips, dtype: int64}, {name: note, dtype: string}]
  - name: recent
    entities: [driver]
    source: stats_src
    ttl: 1h
    features: [{name: conv, dtype: float64}]
  - name: rider
    entities: [rider]
    source: rider_src
    features: [{name: rating, dtype: float64}, {name: seen, dtype: timestamp}, {name: blob, dtype: bytes}]
  - name: pair
    entities: [driver, rider]
    source: rider_src
    features: [{name: rating, dtype: float64}]
  - name: archive
    entities: [driver]
    source: stats_src
    online: false
    features: [{name: trips, dtype: int64}]
  - name: wide
    entities: [driver]
    source: wide_src
    features: [%s]
feature_services:
  - {name: driver_v1, features: ["stats:conv", "stats:trips"]}
  - name: aliased
    features:
      - {view: recent, features: [conv], alias: fresh}
      - {view: stats, features: [conv], alias: base}
  - {name: wide_v1, features: ["wide:*"]}
""" % ", ".join(f"{{name: f{i}, dtype: float64}}" for i in range(10))

UTC = dt.timezone.utc


def at(hour: int, minute: int = 0) -> dt.datetime:
    """A time on 2024-01-01, UTC."""
    return dt.datetime(2024, 1, 1, hour, minute, tzinfo=UTC)


# driver 1: newest 11:00 (created 11:30 wins the tie); driver 2: 09:00 with a NULL note
STATS = {
    "driver_id": [1, 1, 1, 2],
    "ts": [at(10), at(11), at(11), at(9)],
    "created": [at(10), at(11), at(11, 30), at(9)],
    "conv": [0.1, 0.2, 0.25, 0.5],
    "trips": [1, 2, 3, 5],
    "note": ["x", "y", "z", None],
}
RIDERS = {"rider_id": ["a", "b"], "driver_id": [1, 2], "ts": [at(8), at(10, 15)],
          "rating": [4.5, 3.0], "seen": [at(7), at(9)], "blob": [b"\x00\xff", b"ok"]}
WIDE = {"driver_id": list(range(1, 101)), "ts": [at(10)] * 100,
        **{f"f{i}": [float(d * 10 + i) for d in range(1, 101)] for i in range(10)}}
END = at(12)


def write_project(root: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "data").mkdir(parents=True)
    (root / "fcompile_project.yml").write_text(PROJECT)
    (root / "features.yml").write_text(SPEC)
    pq.write_table(pa.table(STATS), root / "data" / "stats.parquet")
    pq.write_table(pa.table(RIDERS), root / "data" / "riders.parquet")
    pq.write_table(pa.table(WIDE), root / "data" / "wide.parquet")
    return root


def materialize_all(root: Path, end: dt.datetime = END) -> None:
    from fcompile.online import connect_online_store
    from fcompile.parser import load_project
    from fcompile.runners import connect_runner
    from fcompile.tasks.materialize import materialize_views

    graph = load_project(root)
    views = [v for v in graph.feature_views if v.online]
    with connect_online_store(graph.project) as store, connect_runner(graph.project) as runner:
        results = materialize_views(graph, runner, store, views, end)
    assert all(r.ok for r in results), [d.render() for r in results for d in r.diagnostics]
