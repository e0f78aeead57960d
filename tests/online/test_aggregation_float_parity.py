"""Float parity of merged moments on adversarial data (issue 16): values far from zero (1e9, 1e12; integers
10**12, 10**15) with a spread of about 1, and windows of small values after a history of huge ones. After a
materialization and after pushes, the variances, deviations, averages and float sums read online equal the
training SQL's (DuckDB) and the exact reference's (fractions) within 1e-9 relative. SQLite store: the merge
is the same code for every store."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from pathlib import Path

import pytest
from aggregation_parity import AGGREGATES, BASE, FEATURES, random_trips, reference, write_project, write_trips
from store_backends import new_project

from fcompile import FeatureStore

HOURS = 40
FLOATS = ("fare_sum_1d", "fare_avg_6h", "fare_std_1d", "km_var_1d", "km_sum_1d")


def _adversarial(seed: int) -> list[dict]:
    rng = random.Random(seed)
    trips = random_trips(seed, 260, keys=4, hours=HOURS)
    offset, spread, km_offset = rng.choice([1e9, 1e12]), rng.choice([1.0, 10.0]), rng.choice([10**12, 10**15])
    switch = BASE + dt.timedelta(hours=rng.choice([HOURS // 2, HOURS - 8]))
    for row in trips:
        small = row["driver_id"] % 2 == 0 and row["event_timestamp"] >= switch  # small after a huge history
        if row["fare"] is not None:
            row["fare"] = (0.25 if small else offset) + round(rng.gauss(0, spread), 4)
        if row["km"] is not None:
            row["km"] = (0 if small else km_offset) + rng.randrange(0, 12)
    return trips


def _close(got, want) -> bool:
    if got is None or want is None:
        return got is want
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=0.0) or got == want


@pytest.mark.parametrize("seed", range(4))
def test_moments_far_from_zero_agree_online_offline_and_exactly(tmp_path, seed):
    import pyarrow as pa

    from fcompile.tasks.materialize import materialize_views

    write_project(tmp_path, new_project(), {"type": "sqlite", "path": "store/online.db"}, pushed=True)
    trips = _adversarial(300 + seed)
    end = BASE + dt.timedelta(hours=HOURS - 6, minutes=25)
    stored = [r for r in trips if r["event_timestamp"] <= end]
    write_trips(tmp_path, stored)
    rng = random.Random(seed)
    with FeatureStore(tmp_path) as fs:
        (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("trip_windows")],
                                      end)
        assert result.ok
        # pushed rows, into stored tiles and new ones, with the same offsets
        pushed = [dict(r, created=r["created"]) for r in trips if end < r["event_timestamp"] <= end + dt.timedelta(hours=3)]
        pushed += [dict(r, event_timestamp=end - dt.timedelta(minutes=rng.randrange(1, 100))) for r in rng.sample(stored, 15)]
        for row in pushed:
            row["created"] = row["event_timestamp"]
        fs.push("trips_push", {name: [row[name] for row in pushed] for name in pushed[0]}, to="online")
        everything = stored + pushed
        write_trips(tmp_path, everything)
        drivers = [1, 2, 3, 4]
        moments = [end + dt.timedelta(hours=h, minutes=m) for h, m in ((0, 0), (1, 10), (3, 35), (8, 0))]
        spine = pa.table({"driver_id": pa.array([d for _ in moments for d in drivers], pa.int64()),
                          "event_timestamp": pa.array([t for t in moments for _ in drivers], pa.timestamp("us", "UTC"))})
        training = fs.get_historical_features(spine, FEATURES).to_arrow().to_pylist()
        checked = 0
        for n, t in enumerate(moments):
            values = fs.get_online_features({"driver_id": drivers}, FEATURES, now=t).values()
            for i, driver in enumerate(drivers):
                want = reference(everything, driver, t)
                for name in FLOATS:
                    online, offline = values[name][i], training[n * len(drivers) + i][name]
                    assert _close(online, want[name]), f"{name} of {driver} at {t}: online {online!r}, exact {want[name]!r}"
                    assert _close(offline, want[name]), f"{name} of {driver} at {t}: SQL {offline!r}, exact {want[name]!r}"
                    checked += want[name] is not None
        assert checked > 40
