"""Windowed aggregations through the command line (issue 16): `fcompile run`'s online step and `fcompile
materialize` load a view's tiles, and `fcompile get-online-features --json --now T` prints, for each driver,
what a training set computes for (driver, T) - aggregated features mixed with a plain one."""

from __future__ import annotations

import datetime as dt
import json

from aggregation_parity import (
    AGGREGATES, BASE, FEATURES, assert_same, from_json, random_trips, write_project, write_trips,
)
from store_backends import new_project

from fcompile import FeatureStore
from fcompile.cli import main


def _cli(capsys, *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_run_and_materialize_then_read_from_the_command_line(tmp_path, capsys):
    import pyarrow as pa

    root = tmp_path
    write_project(root, new_project(), {"type": "sqlite", "path": "store/online.db"})
    trips = random_trips(21, 250, keys=6, hours=50)
    first, second = BASE + dt.timedelta(hours=40, minutes=10), BASE + dt.timedelta(hours=49, minutes=59)
    write_trips(root, [r for r in trips if r["event_timestamp"] <= first])
    code, out = _cli(capsys, "run", "--project-dir", str(root), "--end", first.isoformat())
    assert code == 0 and "trip_windows" in out, out
    with FeatureStore(root) as fs:  # run's online step loaded the view
        assert fs.online_store.get_state("trip_windows").watermark == first
    write_trips(root, [r for r in trips if r["event_timestamp"] <= second])
    code, out = _cli(capsys, "materialize", "--project-dir", str(root), "--end", second.isoformat())
    assert code == 0, out
    t = second + dt.timedelta(minutes=45)
    code, out = _cli(capsys, "get-online-features", "--project-dir", str(root), "--json", "--now", t.isoformat(),
                     "--features", ",".join([*FEATURES, "trip_windows:fare"]), *(f"--entity=driver_id={d}" for d in range(1, 8)))
    assert code == 0, out
    body = json.loads(out)
    results = dict(zip(body["metadata"]["feature_names"], body["results"]))
    with FeatureStore(root) as fs:
        spine = pa.table({"driver_id": pa.array(range(1, 8), pa.int64()),
                          "event_timestamp": pa.array([t] * 7, pa.timestamp("us", "UTC"))})
        training = fs.get_historical_features(spine, FEATURES).to_arrow().to_pylist()
    for i in range(7):
        online = from_json({name: results[name]["values"][i] for name in AGGREGATES})
        assert_same(online, {name: training[i][name] for name in AGGREGATES}, f"driver {i + 1}")
        assert {results[name]["statuses"][i] for name in AGGREGATES} == {"PRESENT"}
