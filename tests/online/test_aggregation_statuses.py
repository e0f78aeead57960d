"""Statuses, full refresh, tile dropping and failures of windowed aggregations online (issue 16), on SQLite
(the store behaviour under them is the same on every store: the parity tests run all three)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from aggregation_parity import BASE, random_trips, reference, write_project, write_trips
from store_backends import new_project

from fcompile import FeatureStore
from fcompile.diagnostics import DiagnosticError

UTC = dt.timezone.utc
SQLITE = {"type": "sqlite", "path": "store/online.db"}


def _project(tmp_path: Path, ttl: str | None = None) -> Path:
    write_project(tmp_path, new_project(), SQLITE, ttl=ttl)
    return tmp_path


def _materialize(fs: FeatureStore, end: dt.datetime, **options):
    from fcompile.tasks.materialize import materialize_views

    (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("trip_windows")],
                                  end, **options)
    return result


def _read(fs: FeatureStore, drivers: list[int], t: dt.datetime, features=("trips_1d", "fare_sum_1d", "last_fare")):
    body = fs.get_online_features({"driver_id": drivers}, [f"trip_windows:{f}" for f in features],
                                  now=t).to_http_dict()
    names = body["metadata"]["feature_names"]
    return {name: result for name, result in zip(names, body["results"])}


def test_not_found_before_materializing_then_present_with_empty_values(tmp_path):
    root = _project(tmp_path)
    trips = random_trips(1, 50, keys=3, hours=30)
    write_trips(root, trips)
    end = BASE + dt.timedelta(hours=30)
    with FeatureStore(root) as fs:
        before = _read(fs, [1, 99], end)
        assert before["trips_1d"]["statuses"] == ["NOT_FOUND", "NOT_FOUND"]
        assert _materialize(fs, end).ok
        after = _read(fs, [1, 99], end)
        assert after["trips_1d"]["statuses"] == ["PRESENT", "PRESENT"]
        assert after["trips_1d"]["values"] == [reference(trips, 1, end)["trips_1d"], 0]  # 99 has no trips
        assert after["fare_sum_1d"]["values"][1] is None and after["last_fare"]["values"][1] is None
        # the event time of an aggregated value: the newest materialized step
        assert after["trips_1d"]["event_timestamps"] == ["2024-03-02T06:00:00Z"] * 2


def test_outside_max_age_when_the_newest_step_is_older_than_the_ttl(tmp_path):
    root = _project(tmp_path, ttl="3h")
    trips = random_trips(2, 60, keys=3, hours=30)
    write_trips(root, trips)
    end = BASE + dt.timedelta(hours=30, minutes=20)  # newest materialized step: 06:00
    with FeatureStore(root) as fs:
        assert _materialize(fs, end).ok
        fresh = _read(fs, [1, 99], BASE + dt.timedelta(hours=33))  # 3h after the newest step: not older
        assert fresh["trips_1d"]["statuses"] == ["PRESENT", "PRESENT"]
        stale = _read(fs, [1, 99], BASE + dt.timedelta(hours=33, microseconds=1))
        assert stale["trips_1d"]["statuses"] == ["OUTSIDE_MAX_AGE", "OUTSIDE_MAX_AGE"]
        assert stale["trips_1d"]["values"] == [None, None]


def test_full_refresh_drops_the_tiles_and_old_tiles_are_dropped(tmp_path):
    from fcompile.online import tile_spec
    from fcompile.online.tiles import TILES_FEATURE

    root = _project(tmp_path)
    trips = random_trips(3, 200, keys=3, hours=120)
    write_trips(root, trips[:100])
    with FeatureStore(root) as fs:
        spec = tile_spec(fs.graph, "trip_windows")
        first = BASE + dt.timedelta(hours=60)
        assert _materialize(fs, first).ok
        second = BASE + dt.timedelta(hours=119)
        write_trips(root, trips)
        assert _materialize(fs, second, start=BASE).ok  # recompute everything: older tiles are never kept
        (row,) = fs.online_store.read(spec.online_view, [(1,)], (TILES_FEATURE,))
        steps = spec.decode(row.values[TILES_FEATURE]).matrix[0]
        assert steps.min() >= spec.oldest_needed(int((second - dt.datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000)
        # a full refresh with a source that lost driver 3's rows: its tiles go
        write_trips(root, [r for r in trips if r["driver_id"] != 3])
        assert _materialize(fs, second, full_refresh=True).ok
        assert fs.online_store.read(spec.online_view, [(3,)], (TILES_FEATURE,)) == [None]
        assert _read(fs, [3], second)["trips_1d"]["values"] == [0]


def test_a_failed_write_leaves_the_watermark(tmp_path, monkeypatch):
    from fcompile.tasks import materialize_tiles

    root = _project(tmp_path)
    trips = random_trips(4, 100, keys=5, hours=30)
    write_trips(root, trips)
    end = BASE + dt.timedelta(hours=30)
    with FeatureStore(root) as fs:
        assert _materialize(fs, end - dt.timedelta(hours=5)).ok
        watermark = fs.online_store.get_state("trip_windows").watermark

        def broken(*args, **kwargs):
            from fcompile.online.base import store_failed

            raise store_failed("SQLite", "writing", OSError("disk full"))

        monkeypatch.setattr(materialize_tiles, "_write_entities", broken)
        result = _materialize(fs, end)
        assert not result.ok and "FC116" in result.diagnostics[0].render()
        assert fs.online_store.get_state("trip_windows").watermark == watermark
        monkeypatch.undo()
        assert _materialize(fs, end).ok  # the re-run converges
        values = _read(fs, [1, 2], end)["trips_1d"]["values"]
        assert values == [reference(trips, d, end)["trips_1d"] for d in (1, 2)]


def test_tiles_of_other_aggregations_are_refused_with_a_diagnostic(tmp_path):
    root = _project(tmp_path)
    write_trips(root, random_trips(5, 50, keys=3, hours=30))
    end = BASE + dt.timedelta(hours=30)
    with FeatureStore(root) as fs:
        assert _materialize(fs, end).ok
    spec = (root / "features.yml").read_text().replace("step: 1h", "step: 2h").replace("window: 1h", "window: 2h") \
        .replace("window: 3h", "window: 4h")
    (root / "features.yml").write_text(spec)
    with FeatureStore(root) as fs:
        with pytest.raises(DiagnosticError) as error:
            _read(fs, [1], end)
        assert "--full-refresh" in error.value.diagnostics[0].hint
        assert _materialize(fs, end, full_refresh=True).ok
        assert _read(fs, [1], end)["trips_1d"]["statuses"] == ["PRESENT"]


def test_deleting_an_entity_deletes_its_tiles(tmp_path):
    root = _project(tmp_path)
    trips = random_trips(6, 80, keys=3, hours=30)
    write_trips(root, trips)
    end = BASE + dt.timedelta(hours=30)
    with FeatureStore(root) as fs:
        assert _materialize(fs, end).ok
        assert _read(fs, [1], end)["trips_1d"]["values"] == [reference(trips, 1, end)["trips_1d"]]
        deletion = fs.delete_online("trip_windows", {"driver_id": [1, 99]})
        assert deletion.deleted == ((1,),) and deletion.not_found == ((99,),)
        assert _read(fs, [1], end)["trips_1d"] == {"values": [0], "statuses": ["PRESENT"],
                                                   "event_timestamps": ["2024-03-02T06:00:00Z"]}
