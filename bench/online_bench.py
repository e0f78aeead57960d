"""Materialization and online-read benchmark on the SQLite store, in process.

Generates a view of 10 float features for `--keys` drivers (three source rows each) with DuckDB straight
to Parquet, materializes it (reporting keys/s), then times `FeatureStore.get_online_features(...)` with
`.to_dict()` for 1 entity x 10 features, `--calls` times after one warm-up call, beside the store's own
read of the same key. Prints p50/p99 in microseconds; the target is a p50 of 30 us or less for the call.

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
default_target: dev
targets:
  dev: {offline: {type: duckdb}, online: {type: sqlite, path: .fcompile/online.db}}
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


def write_project(root: Path, keys: int) -> None:
    import duckdb

    (root / "data").mkdir(parents=True)
    (root / "fcompile_project.yml").write_text(PROJECT)
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
    parser.add_argument("--keep", action="store_true", help="keep the generated project")
    args = parser.parse_args()

    from fcompile import FeatureStore
    from fcompile.runners.materialize import materialize_views

    root = Path(tempfile.mkdtemp(prefix="fcompile-online-bench-"))
    try:
        write_project(root, args.keys)
        with FeatureStore(root) as fs:
            started = time.perf_counter()
            (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("wide")], END)
            seconds = time.perf_counter() - started
            assert result.ok, [d.render() for d in result.diagnostics]
            print(f"materialize: {result.keys_written:,} keys from {result.rows_read:,} rows in {seconds:.2f} s "
                  f"({result.keys_written / seconds:,.0f} keys/s)")
            rng = random.Random(1)
            drivers = [rng.randrange(args.keys) for _ in range(args.calls)]
            fs.get_online_features({"driver_id": [drivers[0]]}, service="wide_v1").to_dict()
            calls, reads = [], []
            request = next(iter(fs._online_requests.values()))
            view, features = request.reads[0].view, request.reads[0].features
            for driver in drivers:
                begin = time.perf_counter()
                fs.get_online_features({"driver_id": [driver]}, service="wide_v1").to_dict()
                middle = time.perf_counter()
                fs.online_store.read(view, [(driver,)], features)
                reads.append(time.perf_counter() - middle)
                calls.append(middle - begin)
            for label, samples in (("get_online_features + to_dict", calls), ("store.read alone", reads)):
                p50, p99 = percentiles(samples)
                print(f"{label:30s} 1 entity x 10 features: p50 {p50:6.1f} us  p99 {p99:6.1f} us")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
