"""Materialization and online-read benchmark on the SQLite store, in process.

Generates a view of 10 float features for `--keys` drivers (three source rows each) with DuckDB straight
to Parquet, materializes it (reporting keys/s), then times `FeatureStore.get_online_features(...)` with
`.to_http_dict()` for 1 entity x 10 features, `--calls` times after one warm-up call, and for 100 entities x 10
features (random drivers), a tenth as many times, each beside the store's own read of the same keys.
Prints p50/p99 in microseconds. Targets: 1 entity p50 <= 30 us and p99 <= 80 us, 100 entities p50 <=
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
feature_views:
  - name: wide
    entities: [driver]
    source: stats
    features: [%s]
feature_services:
  - {name: wide_v1, features: ["wide:*"]}
""" % ", ".join(f"{{name: f{i}, dtype: float64}}" for i in range(10))
END = dt.datetime(2024, 1, 10, tzinfo=dt.timezone.utc)
TARGETS = {1: (30, 80), 100: (400, None)}  # entities -> (p50, p99) in microseconds for the call (SQLite)
REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_URL = "postgresql://127.0.0.1:5432/test"


def write_project(root: Path, keys: int, redis_url: str = REDIS_URL, postgres_url: str = POSTGRES_URL) -> None:
    import duckdb

    (root / "data").mkdir(parents=True)
    (root / "fcompile_project.yml").write_text(PROJECT % (redis_url, postgres_url))
    (root / "features.yml").write_text(SPEC)
    features = ", ".join(f"(hash(k, r, {i}) % 100000) / 1000.0 AS f{i}" for i in range(10))
    con = duckdb.connect()
    con.execute(f"COPY (SELECT k AS driver_id, TIMESTAMP '2024-01-01' + to_hours(CAST(r * 24 AS BIGINT)) AS ts, "
                f"{features} FROM range({keys}) AS d(k), range(3) AS n(r)) "
                f"TO '{root / 'data' / 'stats.parquet'}' (FORMAT parquet)")
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
            if args.store != "sqlite" and not args.keep:
                fs.online_store.drop_view("wide")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
