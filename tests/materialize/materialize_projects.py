"""A small project for the materialization tests, whose data is written here so every expected value can
be read off the rows below, and helpers to run `fcompile materialize` and read the online store back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

PROJECT = """\
name: materialize_test
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
feature_views:
  - name: stats
    entities: [driver]
    source: stats_src
    lateness: 1h
    features: [{name: conv, dtype: float64}, {name: trips, dtype: int64}]
    tags: {team: a}
  - name: recent
    entities: [driver]
    source: stats_src
    ttl: 1h
    features: [{name: conv, dtype: float64}]
  - name: rider
    entities: [rider]
    source: rider_src
    features: [{name: rating, dtype: float64}]
    tags: {team: b}
  - name: archive
    entities: [driver]
    source: stats_src
    online: false
    features: [{name: trips, dtype: int64}]
feature_services:
  - {name: driver_v1, features: ["stats:conv", "stats:trips"]}
"""

UTC = dt.timezone.utc


def at(hour: int, minute: int = 0) -> dt.datetime:
    """A time on 2024-01-01, UTC."""
    return dt.datetime(2024, 1, 1, hour, minute, tzinfo=UTC)


# driver 1: 10:00 (0.1, 1); 11:00 twice, the later created (0.25, 3) wins; driver 2: 09:00 (0.5, 5)
STATS = {
    "driver_id": [1, 1, 1, 2],
    "ts": [at(10), at(11), at(11), at(9)],
    "created": [at(10), at(11), at(11, 30), at(9)],
    "conv": [0.1, 0.2, 0.25, 0.5],
    "trips": [1, 2, 3, 5],
}
RIDERS = {"rider_id": ["a", "b", "a"], "ts": [at(8), at(10), at(12)], "rating": [4.5, 3.0, 4.0]}


def write_stats(root: Path, rows: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(rows), root / "data" / "stats.parquet")


def write_project(root: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "data").mkdir(parents=True)
    (root / "fcompile_project.yml").write_text(PROJECT)
    (root / "features.yml").write_text(SPEC)
    write_stats(root, STATS)
    pq.write_table(pa.table(RIDERS), root / "data" / "riders.parquet")
    return root


def with_rows(base: dict, **rows: list) -> dict:
    """`base` with rows appended (column by column)."""
    return {column: list(values) + list(rows[column]) for column, values in base.items()}
