"""Pushed rows tied on event and created time with other rows (pushed or materialized) in a view's online
tiles (issue 16): `last` breaks the tie by the source's tie_breaker - whatever its type (string, timestamp,
date, int) and whether or not the view looks it up as a feature - greatest first, NULL oldest, then by the
greatest value, as the training SQL's point-in-time order does. After the push, the value read online equals
the training set's (the compiled SQL on DuckDB, the pushed rows then in the offline source) and a
plain-Python reference's, on every online store. The views here have only aggregations."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
from aggregation_parity import BASE, TIERS, window_end
from store_backends import new_project

from fcompile import FeatureStore

HOURS = 12
PROJECT = """\
name: {name}
default_target: dev
targets:
  dev: {{offline: {{type: duckdb}}, online: {online}}}
"""
SPEC = """\
entities:
  - {{name: driver, join_keys: [{{name: driver_id, dtype: int64}}]}}
sources:
  - {{name: trips, path: data/trips.parquet, timestamp_field: event_timestamp, created_timestamp_field: created,
     tie_breaker: {tie}}}
  - {{name: trips_push, push: {{batch_source: trips}}}}
feature_views:
  - name: trip_windows
    entities: [driver]
    source: trips_push
    aggregations:
      step: 1h
      features:
        - {{name: trips_3h, function: count, window: 3h}}
        - {{name: last_fare, function: last, column: fare, window: 3h}}
        - {{name: last_tier, function: last, column: tier, window: 3h}}
        - {{name: last_km_1h, function: last, column: km, window: 1h}}
"""
FEATURES = ["trip_windows:trips_3h", "trip_windows:last_fare", "trip_windows:last_tier", "trip_windows:last_km_1h"]
WINDOWS = {"trips_3h": (None, 3), "last_fare": ("fare", 3), "last_tier": ("tier", 3), "last_km_1h": ("km", 1)}

# Tie values of each kind, in a random order: strings that order differently by code point and otherwise,
# timestamps a microsecond apart, dates and ints on both sides of zero.
TIES = {
    "lane": ["a", "B", "b", "", "é", "e", "\uffff", "\U0001f600", "ab", "a b"],
    "logged": [BASE + dt.timedelta(microseconds=m) for m in (-1, 0, 1, 2, 3_600_000_000, -86_400_000_000)],
    "day": [dt.date(2024, 3, 1) + dt.timedelta(days=d) for d in (-400, -1, 0, 1, 2)],
    "seq": [-3, -1, 0, 1, 2, 1 << 40],
}


def _arrow_type(tie: str):
    import pyarrow as pa

    return {"lane": pa.string(), "logged": pa.timestamp("us", "UTC"), "day": pa.date32(), "seq": pa.int64()}[tie]


def _trips(rng: random.Random, tie: str, count: int, start: dt.datetime, hours: int) -> list[dict[str, Any]]:
    """Trips with many full ties of event and created time (their tie values drawn from few, NULL included)."""
    trips: list[dict[str, Any]] = []
    for _ in range(count):
        if trips and rng.random() < 0.4:  # tied with an earlier row on event and created time
            base = rng.choice(trips[-5:])
            ts, created, driver = base["event_timestamp"], base["created"], base["driver_id"]
        else:
            ts = start + dt.timedelta(seconds=rng.randrange(hours * 3600))
            created, driver = ts + dt.timedelta(seconds=rng.choice([0, 0, 30])), rng.randrange(1, 5)
        trips.append({"driver_id": driver, "event_timestamp": ts, "created": created,
                      "fare": None if rng.random() < 0.1 else round(rng.uniform(1, 50), 2),
                      "tier": None if rng.random() < 0.1 else rng.choice(TIERS),
                      "km": None if rng.random() < 0.1 else rng.randrange(0, 9),
                      tie: None if rng.random() < 0.15 else rng.choice(TIES[tie])})
    return trips


def _write(root: Path, tie: str, trips: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({
        "driver_id": pa.array([t["driver_id"] for t in trips], pa.int64()),
        "event_timestamp": pa.array([t["event_timestamp"] for t in trips], pa.timestamp("us", "UTC")),
        "created": pa.array([t["created"] for t in trips], pa.timestamp("us", "UTC")),
        "fare": pa.array([t["fare"] for t in trips], pa.float64()),
        "tier": pa.array([t["tier"] for t in trips], pa.string()),
        "km": pa.array([t["km"] for t in trips], pa.int64()),
        tie: pa.array([t[tie] for t in trips], _arrow_type(tie)),
    }), root / "data" / "trips.parquet")


def _reference(trips: list[dict[str, Any]], tie: str, driver: int, t: dt.datetime) -> dict[str, Any]:
    """The semantics: the newest row with a value by event time, created time, then the greatest tie_breaker
    (NULL oldest), then the greatest value; strings by code point."""
    end = window_end(t)
    out: dict[str, Any] = {}
    for name, (column, hours) in WINDOWS.items():
        rows = [r for r in trips if r["driver_id"] == driver
                and end - dt.timedelta(hours=hours) <= r["event_timestamp"] < end]
        if column is None:
            out[name] = len(rows)
            continue
        present = [r for r in rows if r[column] is not None]
        if not present:
            out[name] = None
            continue

        def order(row: dict[str, Any]) -> tuple:
            return row["event_timestamp"], row["created"], (0,) if row[tie] is None else (1, row[tie])

        top = max(order(r) for r in present)
        out[name] = max(r[column] for r in present if order(r) == top)
    return out


@pytest.mark.parametrize("tie", ["lane", "logged", "day", "seq"])
def test_pushed_ties_break_as_the_training_sql(backend, tie):
    import pyarrow as pa

    from fcompile.tasks.materialize import materialize_views

    root = Path(backend.root)
    project = new_project()
    (root / "data").mkdir(exist_ok=True)
    (root / "fcompile_project.yml").write_text(PROJECT.format(name=project, online=json.dumps(backend.settings)))
    (root / "features.yml").write_text(SPEC.format(tie=tie))
    rng = random.Random(f"{tie}-{backend.name}")
    end = BASE + dt.timedelta(hours=HOURS - 3, minutes=20)
    stored = [r for r in _trips(rng, tie, 150, BASE, HOURS) if r["event_timestamp"] <= end]
    _write(root, tie, stored)
    try:
        with FeatureStore(root) as fs:
            source = fs.graph.source("trips")
            assert source.tie_breaker_dtype is not None and source.tie_breaker_dtype.name == {
                "lane": "string", "logged": "timestamp", "day": "date", "seq": "int64"}[tie]
            (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("trip_windows")],
                                          end)
            assert result.ok, [d.render() for d in result.diagnostics]
            # pushed rows: tied with each other, and with the newest stored row of a step (each tie value
            # smaller, equal, greater and NULL), with other values
            pushed = _trips(rng, tie, 40, end - dt.timedelta(hours=2), 3)
            newest: dict[tuple, dict[str, Any]] = {}
            for row in stored:
                if row["event_timestamp"] >= end - dt.timedelta(hours=3):
                    key = (row["driver_id"], row["event_timestamp"].replace(minute=0, second=0, microsecond=0))
                    newest[key] = max(newest.get(key, row), row, key=lambda r: (r["event_timestamp"], r["created"]))
            for n, row in enumerate(sorted(newest.values(), key=lambda r: (r["driver_id"], r["event_timestamp"]))):
                for value in ([row[tie]] if n % 2 else []) + [None, rng.choice(TIES[tie])]:
                    pushed.append(dict(row, **{tie: value, "fare": round(rng.uniform(1, 50), 2),
                                               "tier": rng.choice(TIERS), "km": rng.randrange(0, 9)}))
            rng.shuffle(pushed)
            for chunk in (pushed[:25], pushed[25:]):
                fs.push("trips_push", {name: [row[name] for row in chunk] for name in chunk[0]}, to="online")
            everything = stored + pushed
            _write(root, tie, everything)
            drivers = [1, 2, 3, 4, 5]
            moments = [end + dt.timedelta(minutes=m) for m in (0, 40, 100, 160)]
            spine = pa.table({"driver_id": pa.array([d for _ in moments for d in drivers], pa.int64()),
                              "event_timestamp": pa.array([t for t in moments for _ in drivers],
                                                          pa.timestamp("us", "UTC"))})
            training = fs.get_historical_features(spine, FEATURES).to_arrow().to_pylist()
            for n, t in enumerate(moments):
                values = fs.get_online_features({"driver_id": drivers}, FEATURES, now=t).values()
                for i, driver in enumerate(drivers):
                    online = {name: values[name][i] for name in WINDOWS}
                    offline = {name: training[n * len(drivers) + i][name] for name in WINDOWS}
                    want = _reference(everything, tie, driver, t)
                    assert online == offline, f"driver {driver} at {t}: online {online}, training SQL {offline}"
                    assert online == want, f"driver {driver} at {t}: online {online}, reference {want}"
    finally:
        backend.cleanup(project)


def test_tiles_written_without_the_tie_breaker_are_refused(tmp_path):
    """Records written before the tiles kept this source's tie_breaker (a view that did not look it up as a
    feature, whose layout had no tie row) are refused on read and on push with FC114, which asks for a full
    refresh; after it, pushes and reads work."""
    from dataclasses import replace

    from fcompile.diagnostics import DiagnosticError
    from fcompile.tasks.materialize import materialize_views

    root = tmp_path
    (root / "data").mkdir()
    (root / "fcompile_project.yml").write_text(PROJECT.format(
        name=new_project(), online=json.dumps({"type": "sqlite", "path": "store/online.db"})))
    (root / "features.yml").write_text(SPEC.format(tie="lane"))
    rng = random.Random(3)
    end = BASE + dt.timedelta(hours=HOURS - 1)
    trips = [r for r in _trips(rng, "lane", 60, BASE, HOURS) if r["event_timestamp"] <= end]
    _write(root, "lane", trips)
    with FeatureStore(root) as fs:
        view = fs.graph.feature_view("trip_windows")
        before = replace(fs.graph, sources=tuple(replace(s, tie_breaker_dtype=None) for s in fs.graph.sources))
        (result,) = materialize_views(before, fs.runner, fs.online_store, [before.feature_view(view.name)], end)
        assert result.ok
        with pytest.raises(DiagnosticError) as error:
            fs.get_online_features({"driver_id": [1]}, FEATURES, now=end)
        (diagnostic,) = error.value.diagnostics
        assert diagnostic.code.value == "FC114" and "written for other aggregations" in diagnostic.message
        assert diagnostic.hint == "run `fcompile materialize --full-refresh --select trip_windows` to compute them again"
        row = dict(trips[-1], lane="z")
        with pytest.raises(DiagnosticError) as error:
            fs.push("trips_push", {name: [value] for name, value in row.items()}, to="online")
        assert "--full-refresh" in error.value.diagnostics[0].hint
        (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [view], end, full_refresh=True)
        assert result.ok
        fs.push("trips_push", {name: [value] for name, value in row.items()}, to="online")
        t = end + dt.timedelta(hours=1)
        got = fs.get_online_features({"driver_id": [row["driver_id"]]}, FEATURES, now=t).values()
        assert {name: got[name][0] for name in WINDOWS} == _reference(trips + [row], "lane", row["driver_id"], t)
