"""A small hand-made project for the runner tests, whose data is written here so every expected value
can be read off the rows below."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

PROJECT = """\
name: runner_test
default_target: dev
targets:
  dev: {offline: {type: duckdb, path: .fcompile/offline.duckdb}, online: {type: sqlite, path: .fcompile/online.db}}
  memory: {offline: {type: duckdb, path: ":memory:"}, online: {type: sqlite}}
  warehouse: {offline: {type: redshift}, online: {type: sqlite}}
"""

SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
  - {name: rider, join_keys: [{name: rider_id, dtype: string}]}
sources:
  - {name: stats_src, path: data/stats.parquet, timestamp_field: ts, created_timestamp_field: created}
  - {name: rider_src, table: rider_stats, timestamp_field: ts}
feature_views:
  - name: stats
    entities: [driver]
    source: stats_src
    features: [{name: conv, dtype: float64}, {name: trips, dtype: int64}]
  - name: recent
    entities: [driver]
    source: stats_src
    ttl: 1h
    features: [{name: conv, dtype: float64}]
  - name: rider
    entities: [rider]
    source: rider_src
    features: [{name: rating, dtype: float64}]
feature_services:
  - {name: driver_v1, features: ["stats:conv", "stats:trips"]}
  - {name: both_v1, features: ["stats:trips", "rider:rating"]}
"""

UTC = dt.timezone.utc


def at(hour: int, minute: int = 0) -> dt.datetime:
    """A naive time on 2024-01-01, read as UTC."""
    return dt.datetime(2024, 1, 1, hour, minute)


# driver 1: 10:00 (0.1, 1); 11:00 twice, the later created (0.25, 3) wins; driver 2: 09:00 (0.5, 5)
STATS = {
    "driver_id": [1, 1, 1, 2],
    "ts": [at(10), at(11), at(11), at(9)],
    "created": [at(10), at(11), at(11, 30), at(9)],
    "conv": [0.1, 0.2, 0.25, 0.5],
    "trips": [1, 2, 3, 5],
}
# zoned event times: 10:00 UTC written as 11:00+01:00
RIDERS = {"rider_id": ["a", "b"], "ts": [dt.datetime(2024, 1, 1, 11, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                                         dt.datetime(2024, 1, 1, 10, tzinfo=UTC)],
          "rating": [4.5, 3.0]}


def spine_rows() -> dict[str, list]:
    """Spine rows and, in the test functions, the features they must get."""
    return {
        "driver_id": [1, 1, 1, 2, 3, 1, 1],
        "rider_id": ["a", "a", "b", "a", "a", None, "a"],
        "event_timestamp": [at(10, 30), at(11, 30), at(12, 30), at(8), at(12), at(11, 30), at(10, 30)],
        "label": [1, 0, 1, 0, 1, 0, 1],
    }


EXPECTED = {  # per spine row above: stats:conv, stats:trips, recent:conv, rider:rating
    "conv": [0.1, 0.25, 0.25, None, None, 0.25, 0.1],
    "trips": [1, 3, 3, None, None, 3, 1],
    "recent_conv": [0.1, 0.25, None, None, None, 0.25, 0.1],
    "rating": [4.5, 4.5, 3.0, None, 4.5, None, 4.5],
}


def write_small_project(root: Path) -> Path:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "data").mkdir(parents=True)
    (root / "fcompile_project.yml").write_text(PROJECT)
    (root / "features.yml").write_text(SPEC)
    pq.write_table(pa.table(STATS), root / "data" / "stats.parquet")
    (root / ".fcompile").mkdir()
    con = duckdb.connect(str(root / ".fcompile" / "offline.duckdb"))
    con.execute("SET TimeZone='UTC'")
    riders = pa.table(RIDERS)
    con.register("riders", riders)
    con.execute("CREATE TABLE rider_stats AS SELECT * FROM riders")
    spine = pa.table(spine_rows())
    con.register("spine_arrow", spine)
    con.execute("CREATE TABLE spine_table AS SELECT * FROM spine_arrow")
    con.close()
    return root
