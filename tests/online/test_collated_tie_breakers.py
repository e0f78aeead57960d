"""A string tie_breaker in a column with a language collation, on PostgreSQL (issue 16): rows tied on event and
created time go to the greatest tie_breaker by its UTF-8 bytes, as the online tiles order it, not in the column's
collation (ICU en-US puts 'a' before 'B' and 'b' before 'B'; bytes put 'B' first). The point-in-time training
value (range and window plans, and the tile query of a `last`), the materialized online value of a plain view
and of an aggregated one, and the online value after rows tied with materialized ones are pushed, all equal a
plain-Python reference that compares the tie_breakers as Python compares str (code point order, which is UTF-8
byte order)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from aggregation_parity import BASE, window_end

from fcompile import FeatureStore

COLLATION = "en-US-x-icu"
PROJECT = """\
name: {name}
default_target: dev
targets:
  dev: {{offline: {offline}, online: {{type: sqlite, path: store/online.db}}}}
"""
SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - {name: trips, table: trips, timestamp_field: event_timestamp, created_timestamp_field: created,
     tie_breaker: lane}
  - {name: trips_push, push: {batch_source: trips}}
feature_views:
  - name: trip_facts              # no ttl: the window plan
    entities: [driver]
    source: trips
    features:
      - {name: fare, dtype: float64}
      - {name: lane, dtype: string}  # gives the tie_breaker's type
  - name: trip_facts_1h           # a ttl of 1h: the range plan
    entities: [driver]
    source: trips
    ttl: 1h
    features:
      - {name: fare, dtype: float64}
  - name: trip_windows
    entities: [driver]
    source: trips_push
    aggregations:
      step: 1h
      features:
        - {name: trips_3h, function: count, window: 3h}
        - {name: last_fare, function: last, column: fare, window: 3h, dtype: float64}
"""
# pairs whose order in the collation is not their order in bytes
LANES = [("a", "B"), ("b", "B"), ("é", "f"), ("Z", "a"), ("ab", "aB")]
END = BASE + dt.timedelta(hours=5, minutes=30)


def _stored() -> list[dict[str, Any]]:
    """Per driver, groups of rows tied on event and created time, each with another lane (or NULL)."""
    rows: list[dict[str, Any]] = []
    for driver in range(1, 6):
        first, second = LANES[driver - 1]
        for hour, lanes in ((1, (first, second)), (3, (second, None, first)), (5, (first, second))):
            ts = BASE + dt.timedelta(hours=hour, minutes=10 * driver)
            for n, lane in enumerate(lanes):
                rows.append({"driver_id": driver, "event_timestamp": ts, "created": ts, "lane": lane,
                             "fare": float(100 * hour + 10 * driver + n)})
    return [r for r in rows if r["event_timestamp"] <= END]


def _pushed(stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows tied with each driver's newest stored row, one with each lane of its pair."""
    pushed = []
    for driver in range(1, 6):
        newest = max((r for r in stored if r["driver_id"] == driver), key=lambda r: r["event_timestamp"])
        for n, lane in enumerate(LANES[(driver + 1) % len(LANES)]):
            pushed.append(dict(newest, lane=lane, fare=float(1000 + 10 * driver + n)))
    return pushed


def _newest(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest row by event time, created time, then the greatest lane as Python orders str, NULL lowest,
    with the greatest fare of the rows still tied (a pushed row may repeat a stored one's lane); None without
    rows."""
    if not rows:
        return None

    def order(row: dict[str, Any]) -> tuple:
        return row["event_timestamp"], row["created"], (0, "") if row["lane"] is None else (1, row["lane"])

    top = max(order(r) for r in rows)
    return max((r for r in rows if order(r) == top), key=lambda r: r["fare"])


def _load(conn, schema: str, rows: list[dict[str, Any]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(f'INSERT INTO "{schema}".trips VALUES (%s, %s, %s, %s, %s)',
                        [(r["driver_id"], r["event_timestamp"], r["created"], r["lane"], r["fare"]) for r in rows])


@pytest.fixture
def collated_schema(postgres_url):
    import psycopg

    schema = f"fc_collated_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_collation WHERE collname = %s", (COLLATION,)).fetchone() is None:
            pytest.skip(f"PostgreSQL has no collation {COLLATION} (built without ICU)")
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'CREATE TABLE "{schema}".trips (driver_id BIGINT, event_timestamp TIMESTAMPTZ, '
                     f'created TIMESTAMPTZ, lane TEXT COLLATE "{COLLATION}", fare DOUBLE PRECISION)')
        # the case the test is about: the column's collation orders these lanes unlike their bytes
        for low, high in LANES:
            column_max = conn.execute(f'SELECT MAX(lane COLLATE "{COLLATION}") FROM (VALUES (%s), (%s)) AS v(lane)',
                                      (low, high)).fetchone()[0]
            assert column_max != max(low, high), (low, high)
        yield conn, schema
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_string_tie_breaker_orders_by_bytes_in_a_collated_column(tmp_path, postgres_url, collated_schema):
    import pyarrow as pa

    from fcompile.tasks.materialize import materialize_views

    conn, schema = collated_schema
    root = Path(tmp_path)
    offline = {"type": "postgres", "url": postgres_url, "schema": schema}
    (root / "fcompile_project.yml").write_text(PROJECT.format(name=f"p{uuid.uuid4().hex[:10]}",
                                                              offline=json.dumps(offline)))
    (root / "features.yml").write_text(SPEC)
    stored = _stored()
    _load(conn, schema, stored)
    drivers = [1, 2, 3, 4, 5]
    plain = ["trip_facts:fare", "trip_facts:lane", "trip_facts_1h:fare"]
    windowed = ["trip_windows:trips_3h", "trip_windows:last_fare"]

    def reference(rows: list[dict[str, Any]], driver: int, t: dt.datetime) -> dict[str, Any]:
        mine = [r for r in rows if r["driver_id"] == driver]
        newest = _newest([r for r in mine if r["event_timestamp"] <= t])
        recent = _newest([r for r in mine if t - dt.timedelta(hours=1) <= r["event_timestamp"] <= t])
        end = window_end(t)
        in_window = [r for r in mine if end - dt.timedelta(hours=3) <= r["event_timestamp"] < end]
        last = _newest(in_window)
        return {"trip_facts__fare": newest and newest["fare"], "trip_facts__lane": newest and newest["lane"],
                "trip_facts_1h__fare": recent and recent["fare"], "trip_windows__trips_3h": len(in_window),
                "trip_windows__last_fare": last and last["fare"]}

    def training(features: list[str], moments: list[dt.datetime]) -> list[dict[str, Any]]:
        spine = pa.table({"driver_id": pa.array([d for _ in moments for d in drivers], pa.int64()),
                          "event_timestamp": pa.array([t for t in moments for _ in drivers],
                                                      pa.timestamp("us", "UTC"))})
        return fs.get_historical_features(spine, features, full_feature_names=True).to_arrow().to_pylist()

    def online(features: list[str], t: dt.datetime) -> list[dict[str, Any]]:
        values = fs.get_online_features({"driver_id": drivers}, features, now=t, full_feature_names=True).values()
        return [{name: values[name][i] for name in values if "__" in name} for i in range(len(drivers))]

    with FeatureStore(root) as fs:
        assert fs.graph.source("trips").tie_breaker_dtype.name == "string"
        moments = [BASE + dt.timedelta(hours=h, minutes=m) for h in range(1, 6) for m in (0, 30, 55)] + [END]
        for n, row in enumerate(training(plain + windowed, moments)):
            t, driver = moments[n // len(drivers)], drivers[n % len(drivers)]
            got = {k: v for k, v in row.items() if "__" in k}
            assert got == reference(stored, driver, t), f"training SQL, driver {driver} at {t}"

        views = [fs.graph.feature_view(v) for v in ("trip_facts", "trip_windows")]
        for result in materialize_views(fs.graph, fs.runner, fs.online_store, views, END):
            assert result.ok, [d.render() for d in result.diagnostics]
        later = END + dt.timedelta(minutes=20)
        for i, got in enumerate(online(["trip_facts:fare", "trip_facts:lane"] + windowed, later)):
            want = reference(stored, drivers[i], later)
            assert got == {k: want[k] for k in got}, f"materialized, driver {drivers[i]}"

        pushed = _pushed(stored)
        fs.push("trips_push", {name: [row[name] for row in pushed] for name in pushed[0]}, to="online")
        _load(conn, schema, pushed)
        everything = stored + pushed
        after = [END, later, END + dt.timedelta(hours=1, minutes=5)]
        rows = training(windowed, after)
        for n, t in enumerate(after):
            for i, got in enumerate(online(windowed, t)):
                want = reference(everything, drivers[i], t)
                want = {k: want[k] for k in got}
                assert {k: rows[n * len(drivers) + i][k] for k in got} == want, f"training, driver {drivers[i]} at {t}"
                assert got == want, f"pushed, driver {drivers[i]} at {t}"
