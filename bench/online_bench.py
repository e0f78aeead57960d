"""Materialization and online-read benchmark on the SQLite store, in process.

Generates a view of 10 float features for `--keys` drivers (three source rows each) with DuckDB straight
to Parquet, materializes it (reporting keys/s), then times `FeatureStore.get_online_features(...)` with
`.to_http_dict()` for 1 entity x 10 features, `--calls` times after one warm-up call, and for 100 entities x 10
features (random drivers), a tenth as many times, each beside the store's own read of the same keys.
Then materializes a view of 10 windowed aggregations (7d windows, step 1h: 168 tiles per driver, for up to
AGGREGATED_KEYS drivers) and reads one driver's 10 aggregated features and 10 plain ones alternately, with
`to_dict()`, printing both and the ratio of their p50s (target: at most 3x). Prints p50/p99 in microseconds. Targets: 1 entity p50 <= 30 us and p99 <= 80 us, 100 entities p50 <=
400 us, for the call.

    python bench/online_bench.py [--keys 100000] [--calls 20000] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

PROJECT = """\
name: online_bench
default_target: sqlite
targets:
  sqlite: {offline: {type: duckdb}, online: {type: sqlite, path: .fcompile/online.db}}
  redis: {offline: {type: duckdb}, online: {type: redis, url: "%s"}}
  postgres: {offline: {type: duckdb}, online: {type: postgres, url: "%s"}}
"""
SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - {name: stats, path: data/stats.parquet, timestamp_field: ts}
  - {name: trips, path: data/trips.parquet, timestamp_field: ts}
feature_views:
  - name: wide
    entities: [driver]
    source: stats
    features: [%s]
  - name: trip_windows
    entities: [driver]
    source: trips
    aggregations:
      step: 1h
      features:
        - {name: trips_7d, function: count, window: 7d}
        - {name: fares_7d, function: count, column: fare, window: 7d}
        - {name: fare_sum_7d, function: sum, column: fare, window: 7d}
        - {name: km_sum_1d, function: sum, column: km, window: 1d}
        - {name: fare_avg_7d, function: avg, column: fare, window: 7d}
        - {name: fare_min_7d, function: min, column: fare, window: 7d}
        - {name: fare_max_7d, function: max, column: fare, window: 7d}
        - {name: fare_std_7d, function: stddev, column: fare, window: 7d}
        - {name: km_var_7d, function: variance, column: km, window: 7d}
        - {name: last_fare, function: last, column: fare, window: 7d}
feature_services:
  - {name: wide_v1, features: ["wide:*"]}
  - {name: windows_v1, features: ["trip_windows:*"]}
""" % ", ".join(f"{{name: f{i}, dtype: float64}}" for i in range(10))
END = dt.datetime(2024, 1, 10, tzinfo=dt.timezone.utc)
TARGETS = {1: (30, 80), 100: (400, None)}  # entities -> (p50, p99) in microseconds for the call (SQLite)
AGGREGATED_KEYS = 2_000  # drivers with trips in the windowed view
RATIO_TARGET = 3.0  # 10 aggregated features (7d/1h: 168 tiles) read within 3x the time of 10 plain ones
REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_URL = "postgresql://127.0.0.1:5432/test"


def write_project(root: Path, keys: int, redis_url: str = REDIS_URL, postgres_url: str = POSTGRES_URL,
                  trips_end: dt.datetime = END) -> None:
    """The project and its data; the trips of the windowed view cover the 7 days before `trips_end` (on an hour)."""
    import duckdb

    (root / "data").mkdir(parents=True)
    (root / "fcompile_project.yml").write_text(PROJECT % (redis_url, postgres_url))
    (root / "features.yml").write_text(SPEC)
    features = ", ".join(f"(hash(k, r, {i}) % 100000) / 1000.0 AS f{i}" for i in range(10))
    con = duckdb.connect()
    con.execute(f"COPY (SELECT k AS driver_id, TIMESTAMP '2024-01-01' + to_hours(CAST(r * 24 AS BIGINT)) AS ts, "
                f"{features} FROM range({keys}) AS d(k), range(3) AS n(r)) "
                f"TO '{root / 'data' / 'stats.parquet'}' (FORMAT parquet)")
    # trips of the windowed view: one or two an hour per driver over the 7 days before trips_end (168 tiles each)
    first = (trips_end - dt.timedelta(days=7)).astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    con.execute(f"COPY (SELECT k AS driver_id, TIMESTAMP '{first}' + to_microseconds(CAST(h * 3600000000 + "
                f"hash(k, h, r) % 3600000000 AS BIGINT)) AS ts, (hash(k, h, r, 1) % 10000) / 100.0 AS fare, "
                f"CAST(hash(k, h, r, 2) % 50 AS BIGINT) AS km FROM range({min(keys, AGGREGATED_KEYS)}) AS d(k), "
                f"range(168) AS s(h), range(2) AS n(r) WHERE r = 0 OR hash(k, h) % 2 = 0) "
                f"TO '{root / 'data' / 'trips.parquet'}' (FORMAT parquet)")
    con.close()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e6, ordered[int(len(ordered) * 0.99)] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--store", choices=("sqlite", "redis", "postgres"), default="sqlite",
                        help="the online store (the targets are for SQLite)")
    parser.add_argument("--redis-url", default=REDIS_URL)
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--keep", action="store_true", help="keep the generated project")
    args = parser.parse_args()

    from fcompile import FeatureStore
    from fcompile.tasks.materialize import materialize_views

    root = Path(tempfile.mkdtemp(prefix="fcompile-online-bench-"))
    try:
        write_project(root, args.keys, args.redis_url, args.postgres_url)
        with FeatureStore(root, args.store) as fs:
            fs.online_store.drop_view("wide")  # what an earlier run left in a server
            started = time.perf_counter()
            (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("wide")], END)
            seconds = time.perf_counter() - started
            assert result.ok, [d.render() for d in result.diagnostics]
            print(f"materialize: {result.keys_written:,} keys from {result.rows_read:,} rows in {seconds:.2f} s "
                  f"({result.keys_written / seconds:,.0f} keys/s)")
            rng = random.Random(1)
            fs.get_online_features({"driver_id": [0]}, service="wide_v1").to_http_dict()
            request = next(iter(fs._online_requests.values()))
            view, features = request.reads[0].view, request.reads[0].features
            for entities, calls, target in ((1, args.calls, TARGETS[1]), (100, max(1, args.calls // 10), TARGETS[100])):
                drivers = [[rng.randrange(args.keys) for _ in range(entities)] for _ in range(calls)]
                fs.get_online_features({"driver_id": drivers[0]}, service="wide_v1").to_http_dict()
                call_times, read_times = [], []
                for asked in drivers:
                    begin = time.perf_counter()
                    fs.get_online_features({"driver_id": asked}, service="wide_v1").to_http_dict()
                    middle = time.perf_counter()
                    fs.online_store.read(view, [(driver,) for driver in asked], features)
                    read_times.append(time.perf_counter() - middle)
                    call_times.append(middle - begin)
                shape = f"{entities} entit{'y' if entities == 1 else 'ies'} x 10 features"
                for label, samples in (("get_online_features + to_http_dict", call_times),
                                       ("store.read alone", read_times)):
                    p50, p99 = percentiles(samples)
                    verdict = ""
                    if label.startswith("get") and args.store == "sqlite":
                        p99_target = "" if target[1] is None else f", p99 <= {target[1]} us"
                        verdict = f"  (target p50 <= {target[0]} us{p99_target})"
                    print(f"{label:30s} {shape:26s}: p50 {p50:7.1f} us  p99 {p99:7.1f} us{verdict}")
            aggregated_vs_plain(fs, args)
            if args.store != "sqlite" and not args.keep:
                fs.online_store.drop_view("wide")
                fs.online_store.drop_view("trip_windows")
                fs.online_store.drop_view("trip_windows__fc_tiles")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def aggregated_vs_plain(fs, args) -> None:
    """Materializes the windowed view, then reads 10 aggregated features (7d windows, step 1h: 168 tiles per
    driver) and 10 plain ones of one driver, alternately, with `to_dict()`: p50 of each and their ratio."""
    from fcompile.tasks.materialize import materialize_views

    fs.online_store.drop_view("trip_windows__fc_tiles")
    started = time.perf_counter()
    (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("trip_windows")], END)
    seconds = time.perf_counter() - started
    assert result.ok, [d.render() for d in result.diagnostics]
    print(f"materialize trip_windows: tiles of {result.keys_written:,} drivers from {result.rows_read:,} trips "
          f"in {seconds:.2f} s")
    rng = random.Random(2)
    keys = min(args.keys, AGGREGATED_KEYS)
    now = END - dt.timedelta(minutes=30)  # the windows end at the newest materialized step
    for service in ("wide_v1", "windows_v1"):
        fs.get_online_features({"driver_id": [0]}, service=service, now=now).to_dict()
    plain, aggregated = [], []
    for _ in range(args.calls):
        asked = [rng.randrange(keys)]
        begin = time.perf_counter()
        fs.get_online_features({"driver_id": asked}, service="wide_v1", now=now).to_dict()
        middle = time.perf_counter()
        values = fs.get_online_features({"driver_id": asked}, service="windows_v1", now=now).to_dict()
        aggregated.append(time.perf_counter() - middle)
        plain.append(middle - begin)
    assert values["trips_7d"][0] > 0
    p50_plain, p99_plain = percentiles(plain)
    p50_aggregated, p99_aggregated = percentiles(aggregated)
    print(f"{'get_online_features + to_dict':30s} {'1 entity x 10 plain':26s}: p50 {p50_plain:7.1f} us  p99 "
          f"{p99_plain:7.1f} us")
    print(f"{'get_online_features + to_dict':30s} {'1 entity x 10 aggregated':26s}: p50 {p50_aggregated:7.1f} us  "
          f"p99 {p99_aggregated:7.1f} us")
    print(f"aggregated / plain (p50): {p50_aggregated / p50_plain:.2f}x  (target <= {RATIO_TARGET:g}x)")


if __name__ == "__main__":
    main()
