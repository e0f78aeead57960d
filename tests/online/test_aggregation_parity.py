"""Online/offline parity of windowed aggregations (issue 16): after a materialization, the value read online
(SDK and HTTP server) for random entities and request times equals the training set's value (the compiled
SQL, on DuckDB) and the plain-Python reference's for the same (entity, t), on every online store; also after
an incremental run that brings late rows, a re-run, and pushes (SDK and `POST /push`)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from aggregation_parity import (
    AGGREGATES, BASE, FEATURES, TAGS, TIERS, assert_same, from_json, random_trips, reference, write_project,
    write_trips,
)
from store_backends import new_project

from fcompile import FeatureStore

HOURS = 72


@pytest.fixture
def root(backend):
    project = new_project()
    folder = Path(backend.root)
    write_project(folder, project, backend.settings, pushed=True)
    yield folder
    backend.cleanup(project)


def _materialize(fs: FeatureStore, end: dt.datetime, **options):
    from fcompile.tasks.materialize import materialize_views

    (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("trip_windows")],
                                  end, **options)
    assert result.ok, [d.render() for d in result.diagnostics]
    return result


def _check(fs: FeatureStore, trips: list, end: dt.datetime, seed: int, times: int = 6) -> None:
    """Online values at random times after `end` equal the reference's and the training set's for the same
    (driver, t), the offline source then holding exactly `trips` (the rows the store was given)."""
    import pyarrow as pa

    write_trips(Path(fs.graph.project.root), trips)
    rng = random.Random(seed)
    drivers = list(range(1, 13))  # 11 and 12 have no trips
    moments = []
    for _ in range(times):
        t = end + dt.timedelta(microseconds=rng.randrange(0, 5 * 3_600_000_000))
        if rng.random() < 0.3:
            t = t.replace(minute=0, second=0, microsecond=0)  # on a step boundary
        moments.append(t)
    spine = pa.table({"driver_id": pa.array([d for _ in moments for d in drivers], pa.int64()),
                      "event_timestamp": pa.array([t for t in moments for _ in drivers], pa.timestamp("us", "UTC"))})
    training = fs.get_historical_features(spine, FEATURES).to_arrow().to_pylist()
    for n, t in enumerate(moments):
        response = fs.get_online_features({"driver_id": drivers}, FEATURES, now=t)
        values = response.values()
        statuses = response.to_http_dict()["results"]
        for i, driver in enumerate(drivers):
            online = {name: values[name][i] for name in AGGREGATES}
            assert_same(online, reference(trips, driver, t), f"driver {driver} at {t}")
            offline = training[n * len(drivers) + i]
            assert offline["driver_id"] == driver
            assert_same(online, {name: offline[name] for name in AGGREGATES}, f"training SQL: driver {driver} at {t}")
        assert all(s == "PRESENT" for r in statuses[1:] for s in r["statuses"])


def test_materialized_tiles_read_as_the_semantics(root):
    trips = random_trips(1, 400, keys=10, hours=HOURS)
    end = BASE + dt.timedelta(hours=HOURS - 5, minutes=17)
    write_trips(root, trips)
    with FeatureStore(root) as fs:
        _materialize(fs, end)
        in_store = [r for r in trips if r["event_timestamp"] <= end]
        _check(fs, in_store, end, seed=2)


def test_incremental_run_with_late_rows(root):
    trips = random_trips(3, 300, keys=10, hours=HOURS)
    first = BASE + dt.timedelta(hours=HOURS - 8, minutes=40)
    write_trips(root, [r for r in trips if r["event_timestamp"] <= first])
    with FeatureStore(root) as fs:
        _materialize(fs, first)
        # late rows (within the view's lateness of 2h before the watermark) and new ones arrive
        rng = random.Random(4)
        late = [dict(r, event_timestamp=first - dt.timedelta(minutes=rng.randrange(1, 110)),
                     created=first + dt.timedelta(minutes=1)) for r in rng.sample(trips, 20)]
        later = [r for r in trips if r["event_timestamp"] > first]
        everything = [r for r in trips if r["event_timestamp"] <= first] + late + later
        write_trips(root, everything)
        second = BASE + dt.timedelta(hours=HOURS - 3, minutes=5)
        result = _materialize(fs, second)
        # the window starts at the watermark less the lateness (2h), inside a step: its whole step is recomputed
        start = first - dt.timedelta(hours=2)
        step = start.replace(minute=0, second=0, microsecond=0)
        assert result.window.start == start and result.tiles_since == step
        assert result.message.endswith(f"; tiles of whole steps from {step:%Y-%m-%dT%H:%M:%SZ} recomputed"), result.message
        _check(fs, [r for r in everything if r["event_timestamp"] <= second], second, seed=5)
        _materialize(fs, second)  # a re-run converges
        _check(fs, [r for r in everything if r["event_timestamp"] <= second], second, seed=6)


def test_an_end_in_the_future_keeps_the_tiles_a_read_now_needs(root):
    """`--end` up to a day ahead is allowed: the run keeps (and on a first run computes) the tiles a read at
    the watermark it leaves - now - reads, not only those a read at the end would (the oldest day's tiles)."""
    now = dt.datetime.now(dt.timezone.utc)
    base = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=HOURS)
    trips = [r for r in random_trips(11, 400, keys=10, hours=HOURS, base=base) if r["event_timestamp"] <= now]
    write_trips(root, trips)
    with FeatureStore(root) as fs:
        result = _materialize(fs, now + dt.timedelta(hours=20))
        moment = dt.datetime.now(dt.timezone.utc)
        values = fs.get_online_features({"driver_id": list(range(1, 11))}, FEATURES, now=moment).values()
        for i, driver in enumerate(range(1, 11)):
            assert_same({name: values[name][i] for name in AGGREGATES}, reference(trips, driver, moment),
                        f"driver {driver} at {moment}")
        assert result.tiles_since <= now - dt.timedelta(days=1)


def test_a_read_as_of_a_time_whose_windows_the_store_no_longer_keeps_is_refused(root):
    """A replay (`now=`) earlier than the newest materialization: the store keeps the tiles of windows ending
    at or after it. A window that reaches before them is FC183, not a value missing rows; a shorter window
    that the kept tiles cover is answered, and equals the reference."""
    from fcompile.diagnostics import DiagnosticError

    trips = random_trips(12, 300, keys=10, hours=HOURS)
    end = BASE + dt.timedelta(hours=HOURS - 2, minutes=10)
    in_store = [r for r in trips if r["event_timestamp"] <= end]
    write_trips(root, trips)
    with FeatureStore(root) as fs:
        _materialize(fs, end)
        earlier = end - dt.timedelta(hours=3)
        with pytest.raises(DiagnosticError) as caught:
            fs.get_online_features({"driver_id": [1, 2]}, FEATURES, now=earlier)
        (problem,) = caught.value.diagnostics
        fresh = end.replace(minute=0)
        assert problem.code.value == "FC183" and problem.message == (
            f"feature view 'trip_windows': a read as of {earlier:%Y-%m-%dT%H:%M:%SZ} needs the tiles from "
            f"{earlier.replace(minute=0) - dt.timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}, and the online store keeps "
            f"those from {fresh - dt.timedelta(days=1):%Y-%m-%dT%H:%M:%SZ} (what windows ending at or after its "
            f"newest materialization, {fresh:%Y-%m-%dT%H:%M:%SZ}, read)"), problem.message
        short = ["trip_windows:trips_1h", "trip_windows:fares_3h", "trip_windows:km_max_6h"]
        values = fs.get_online_features({"driver_id": [1, 2]}, short, now=earlier).values()
        for i, driver in enumerate((1, 2)):
            expected = reference(in_store, driver, earlier)
            assert_same({f: values[f][i] for f in ("trips_1h", "fares_3h", "km_max_6h")},
                        {f: expected[f] for f in ("trips_1h", "fares_3h", "km_max_6h")}, f"driver {driver}")


def test_pushed_rows_update_the_tiles(root):
    trips = random_trips(7, 200, keys=10, hours=HOURS)
    end = BASE + dt.timedelta(hours=HOURS - 6, minutes=30)
    write_trips(root, trips)
    in_store = [r for r in trips if r["event_timestamp"] <= end]
    with FeatureStore(root) as fs:
        _materialize(fs, end)
        rng = random.Random(8)
        pushed = []
        for i in range(25):
            ts = end + dt.timedelta(minutes=rng.randrange(-240, 60))
            pushed.append({"driver_id": rng.randrange(1, 12), "event_timestamp": ts, "created": ts,
                           "fare": None if i % 7 == 0 else round(rng.uniform(1, 90), 2),
                           "km": None if i % 5 == 0 else rng.randrange(0, 50),
                           "seen": ts - dt.timedelta(days=rng.randrange(0, 900)),
                           "tier": None if i % 6 == 0 else rng.choice(TIERS),
                           "tag": None if i % 4 == 0 else rng.choice(TAGS),
                           "seq": None if i % 9 == 0 else rng.randrange(-3, 4)})
            if i % 4 == 3:  # tied with the row before on event and created time: `last` takes the greatest seq
                # (the source's tie_breaker; NULL oldest), then the greatest value
                seq = [None, pushed[-1]["seq"], rng.randrange(-3, 4), -5, 9][i % 5]
                pushed.append(dict(pushed[-1], tier=rng.choice(TIERS), tag=rng.choice(TAGS), km=rng.randrange(0, 50),
                                   fare=round(rng.uniform(1, 90), 2), seq=seq))
        # rows tied with materialized ones (the stored tile's `last` keeps its seq, NULL included) and the newest
        # of their step, with a smaller, a greater and no seq
        newest = {}
        for row in in_store:
            if row["event_timestamp"] >= end - dt.timedelta(hours=3):
                key = (row["driver_id"], row["event_timestamp"].replace(minute=0, second=0, microsecond=0))
                newest[key] = max(newest.get(key, row), row, key=lambda r: (r["event_timestamp"], r["created"]))
        for n, row in enumerate(sorted(newest.values(), key=lambda r: (r["driver_id"], r["event_timestamp"]))[:12]):
            given = row["seq"]
            seq = [None, -4 if given is None else given - 1, 5 if given is None else given + 1][n % 3]
            pushed.append(dict(row, fare=round(rng.uniform(1, 90), 2), km=rng.randrange(0, 50),
                               tier=rng.choice(TIERS), tag=rng.choice(TAGS), seq=seq))
        rng.shuffle(pushed)
        for chunk in (pushed[:10], pushed[10:]):
            fs.push("trips_push", {name: [row[name] for row in chunk] for name in chunk[0]}, to="online")
        _check(fs, in_store + pushed, end + dt.timedelta(hours=1), seed=9)


def test_http_server_serves_the_same_values(root):
    """`POST /get-online-features` (request time: now) mixed with a plain feature, and `POST /push`, on a
    running server; the data ends just before now."""
    pytest.importorskip("uvicorn", reason="the feature server needs the serve extra (pip install 'fcompile[serve]')")
    import pyarrow as pa
    from aggregation_parity import Server, window_end

    now = dt.datetime.now(dt.timezone.utc)
    base = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=48)
    trips = [r for r in random_trips(11, 300, keys=10, hours=49, base=base) if r["event_timestamp"] < now]
    write_trips(root, trips)
    with FeatureStore(root) as fs:
        _materialize(fs, now)
    server = Server(root)
    try:
        drivers = list(range(1, 13))
        request = {"entities": {"driver_id": drivers}, "features": [*FEATURES, "trip_windows:fare"]}

        def served_and_expected(rows: list, plain_found: list) -> None:
            before = dt.datetime.now(dt.timezone.utc)
            status, body = server.post("/get-online-features", request)
            after = dt.datetime.now(dt.timezone.utc)
            assert status == 200, body
            if window_end(before) != window_end(after):  # the hour turned during the request: ask again
                return served_and_expected(rows, plain_found)
            names = body["metadata"]["feature_names"]
            results = dict(zip(names, body["results"]))
            write_trips(root, rows)
            with FeatureStore(root) as fs:
                spine = pa.table({"driver_id": pa.array(drivers, pa.int64()),
                                  "event_timestamp": pa.array([before] * len(drivers), pa.timestamp("us", "UTC"))})
                training = fs.get_historical_features(spine, FEATURES).to_arrow().to_pylist()
            for i, driver in enumerate(drivers):
                online = from_json({name: results[name]["values"][i] for name in AGGREGATES})  # JSON: text, base64
                assert_same(online, reference(rows, driver, before), f"driver {driver} over HTTP")
                assert_same(online, {name: training[i][name] for name in AGGREGATES},
                            f"training SQL: driver {driver} over HTTP")
                assert all(results[name]["statuses"][i] == "PRESENT" for name in AGGREGATES)
            assert results["fare"]["statuses"][10:] == plain_found  # the plain feature: 11 and 12 have no trips

        served_and_expected(trips, ["NOT_FOUND", "NOT_FOUND"])
        pushed_at = now - dt.timedelta(minutes=70)
        row = {"driver_id": 12, "event_timestamp": pushed_at.isoformat(), "created": pushed_at.isoformat(),
               "fare": 12.5, "km": 7, "seen": (pushed_at - dt.timedelta(days=3)).isoformat(), "tier": "\u00e9t\u00e9",
               "tag": "t\u00e4g", "seq": 1}  # bytes pushed as text are stored as UTF-8
        status, body = server.post("/push", {"push_source_name": "trips_push", "df": {k: [v] for k, v in row.items()},
                                             "to": "online"})
        assert status == 200, body
        served_and_expected(trips + [dict(row, event_timestamp=pushed_at, created=pushed_at, tag="t\u00e4g".encode(),
                                          seen=pushed_at - dt.timedelta(days=3))], ["NOT_FOUND", "PRESENT"])
    finally:
        server.stop()


def test_variances_far_from_zero_keep_their_digits(root):
    """Values of 1e6 + quarters and 1e7 + units: the merged deviations (the tiles' M2s, and their means' spread
    around the window's mean, taken from the window's sum) keep the digits a sum of squares would lose. (Far
    larger offsets, 1e9 + quarters, lose digits in each tile's own mean, a float64, offline as online.)"""
    rng = random.Random(13)
    trips = random_trips(13, 150, keys=4, hours=30)
    for row in trips:
        row["fare"] = None if row["fare"] is None else 1e6 + rng.randrange(0, 8) * 0.25
        row["km"] = None if row["km"] is None else 10_000_000 + rng.randrange(0, 5)
    end = BASE + dt.timedelta(hours=29, minutes=10)
    write_trips(root, trips)
    with FeatureStore(root) as fs:
        _materialize(fs, end)
        for hours in (0, 1, 3):
            t = end + dt.timedelta(hours=hours)
            values = fs.get_online_features({"driver_id": [1, 2, 3, 4]}, FEATURES, now=t).values()
            for i, driver in enumerate((1, 2, 3, 4)):
                want = reference([r for r in trips if r["event_timestamp"] <= end], driver, t)
                assert want["fare_std_1d"] is not None and want["km_var_1d"] is not None
                assert_same({name: values[name][i] for name in AGGREGATES}, want, f"driver {driver} at {t}")
