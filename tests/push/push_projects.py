"""The push tests' project: a push source over each kind of batch source, and views through them.

| push source    | batch source                     | offline push          |
| -------------- | -------------------------------- | --------------------- |
| stats_push     | stats: a folder of Parquet files | a new file in it      |
| events_push    | events: a DuckDB table           | one INSERT            |
| trips_push     | trips: a glob, part-*.parquet    | part-<new>.parquet    |
| profile_push   | profile: one Parquet file        | refused (FC124)       |
| ranked_push    | ranked: a query                  | refused (FC124)       |

The project's name is new for every test, so projects on the shared Redis and PostgreSQL never meet.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from store_cleanup import new_project

UTC = dt.timezone.utc

SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - name: stats
    path: data/stats/
    timestamp_field: event_timestamp
    created_timestamp_field: created
    field_mapping: {conversion: conv_rate}
  - {name: stats_push, push: {batch_source: stats}}
  - {name: events, table: raw.events, timestamp_field: ts}
  - {name: events_push, push: {batch_source: events}}
  - {name: trips, path: "data/trips/part-*.parquet", timestamp_field: ts}
  - {name: trips_push, push: {batch_source: trips}}
  - {name: profile, path: data/profile.parquet, timestamp_field: ts}
  - {name: profile_push, push: {batch_source: profile}}
  - {name: ranked, query: "SELECT * FROM raw.events", timestamp_field: ts}
  - {name: ranked_push, push: {batch_source: ranked}}
feature_views:
  - name: driver_stats
    entities: [driver]
    source: stats_push
    features: [{name: conv_rate, dtype: float64}, {name: trips, dtype: int64}, {name: note, dtype: string}]
  - name: driver_stats_archive
    entities: [driver]
    source: stats_push
    online: false
    features: [{name: trips, dtype: int64}]
  - name: driver_stats_direct
    entities: [driver]
    source: stats
    features: [{name: trips, dtype: int64}]
  - name: driver_events
    entities: [driver]
    source: events_push
    features: [{name: clicks, dtype: int64}]
  - name: driver_trips
    entities: [driver]
    source: trips_push
    features: [{name: distance, dtype: float64}]
  - name: driver_profile
    entities: [driver]
    source: profile_push
    features: [{name: rating, dtype: float64}]
  - name: driver_ranked
    entities: [driver]
    source: ranked_push
    features: [{name: clicks, dtype: int64}]
"""


def at(hour: int, minute: int = 0) -> dt.datetime:
    """A time on 2024-01-01, UTC."""
    return dt.datetime(2024, 1, 1, hour, minute, tzinfo=UTC)


# What the batch sources hold before any push: drivers 1 and 2 at 10:00.
STATS = {"driver_id": [1, 2], "event_timestamp": [at(10), at(10)], "created": [at(10), at(10)],
         "conversion": [0.1, 0.2], "trips": [1, 2], "note": ["a", "b"]}
EVENTS = {"driver_id": [1, 2], "ts": [at(10), at(10)], "clicks": [10, 20]}
TRIPS = {"driver_id": [1], "ts": [at(10)], "distance": [1.5]}
PROFILE = {"driver_id": [1], "ts": [at(10)], "rating": [4.5]}


new_name = new_project


def write_project(root: Path, online: dict[str, Any] | None = None, name: str | None = None) -> Path:
    """The project in `root`, with its data; `online` is the target's online store (default SQLite)."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    online = online or {"type": "sqlite", "path": ".fcompile/online.db"}
    project = {"name": name or new_name(), "default_target": "dev",
               "targets": {"dev": {"offline": {"type": "duckdb", "path": ".fcompile/offline.duckdb"},
                                   "online": online}}}
    for folder in ("data/stats", "data/trips", ".fcompile"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "fcompile_project.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    (root / "features.yml").write_text(SPEC)
    # naive microsecond timestamps in the files: a pushed row must take the dataset's own types
    naive = {"event_timestamp", "created", "ts"}
    for data, path in ((STATS, "data/stats/part-0.parquet"), (TRIPS, "data/trips/part-0.parquet"),
                       (PROFILE, "data/profile.parquet")):
        columns = {k: pa.array([v.replace(tzinfo=None) for v in vs], pa.timestamp("us")) if k in naive else vs
                   for k, vs in data.items()}
        pq.write_table(pa.table(columns), root / path)
    with duckdb.connect(str(root / ".fcompile" / "offline.duckdb")) as con:
        con.execute("SET TimeZone='UTC'")
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.events (driver_id BIGINT, ts TIMESTAMP, clicks BIGINT, comment VARCHAR)")
        con.executemany("INSERT INTO raw.events VALUES (?, ?, ?, NULL)",
                        [(d, t.replace(tzinfo=None), c) for d, t, c in zip(*EVENTS.values())])
    return root


def stats_rows(driver_ids: list[int], when: list[dt.datetime | str], conversion: list[float],
               trips: list[int] | None = None, note: list[str | None] | None = None) -> dict[str, list]:
    """Rows of stats_push as a JSON body carries them (a mapping of column -> values)."""
    count = len(driver_ids)
    return {"driver_id": driver_ids, "event_timestamp": when, "conversion": conversion,
            "trips": trips if trips is not None else [0] * count,
            "note": note if note is not None else [None] * count}


def online_values(fs, view: str, features: list[str], driver_ids: list[int], now: dt.datetime = at(23)) -> dict:
    """{driver_id: ({feature: value}, event time)} as the online store serves them (None when not found)."""
    response = fs.get_online_features({"driver_id": driver_ids}, [f"{view}:{f}" for f in features], now=now)
    results = response.to_http_dict()["results"]
    out = {}
    for i, driver in enumerate(driver_ids):
        if results[1]["statuses"][i] == "NOT_FOUND":
            out[driver] = None
        else:
            out[driver] = ({f: results[1 + j]["values"][i] for j, f in enumerate(features)},
                           results[1]["event_timestamps"][i])
    return out


def training_values(fs, view: str, feature: str, driver_ids: list[int], when: dt.datetime) -> list:
    """The feature's point-in-time value for each driver at `when` (a training set)."""
    import pyarrow as pa

    spine = pa.table({"driver_id": pa.array(driver_ids, pa.int64()),
                      "event_timestamp": pa.array([when] * len(driver_ids), pa.timestamp("us", "UTC"))})
    return fs.get_historical_features(spine, [f"{view}:{feature}"]).to_arrow().column(feature).to_pylist()
