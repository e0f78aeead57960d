"""Training/serving skew benchmark (issue 18): `fcompile profile --online` on a view of `--keys` entities
(default 1M), on each online store (SQLite in a temporary folder, Redis at FCOMPILE_TEST_REDIS_URL, PostgreSQL
at FCOMPILE_TEST_POSTGRES_URL; defaults redis://127.0.0.1:6379/0 and postgresql://127.0.0.1:5432/test) with
DuckDB offline.

Seeded data: one row per driver (a float64, an int64 and a string feature), written as Parquet, materialized
into the store. Then, per store:

- listing and sampling: every key the store holds listed (`OnlineStore.stored_keys`) and a sample of
  `--limit` (default 10,000) drawn (fcompile/online/key_samples.py) - the part whose time grows with the
  store; wall and CPU seconds of this process (the servers' own CPU is not counted), and the peak of Python
  memory it allocated (tracemalloc, in a second pass: tracing slows it down);
- the whole check (`measure_skew`): listing and sampling, the online read of the sampled keys, the
  point-in-time training query of them on DuckDB, the comparison; it must find no skew (exits 1 otherwise).

    python bench/skew_bench.py [--keys 1000000] [--limit 10000] [--stores sqlite,redis,postgres]
    python bench/skew_bench.py --keys 50000                     # smoke, seconds
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

END = dt.datetime(2024, 5, 2, tzinfo=dt.timezone.utc)
SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - {name: stats_src, path: data/stats.parquet, timestamp_field: ts}
feature_views:
  - name: stats
    entities: [driver]
    source: stats_src
    features: [{name: score, dtype: float64}, {name: trips, dtype: int64}, {name: note, dtype: string}]
"""


def settings(store: str, folder: Path) -> dict:
    if store == "sqlite":
        return {"type": "sqlite", "path": "store/online.db"}
    if store == "redis":
        return {"type": "redis", "url": os.environ.get("FCOMPILE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")}
    return {"type": "postgres", "url": os.environ.get("FCOMPILE_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")}


def write_project(folder: Path, project: str, online: dict, keys: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    (folder / "data").mkdir(parents=True)
    (folder / "fcompile_project.yml").write_text(
        f"name: {project}\ndefault_target: dev\ntargets:\n"
        f"  dev: {{offline: {{type: duckdb}}, online: {json.dumps(online)}}}\n")
    (folder / "features.yml").write_text(SPEC)
    rng = np.random.default_rng(7)
    ids = np.arange(1, keys + 1, dtype=np.int64)
    pq.write_table(pa.table({
        "driver_id": ids,
        "ts": pa.array(np.full(keys, int((END - dt.timedelta(hours=1)).timestamp() * 1e6), dtype=np.int64),
                       pa.timestamp("us", "UTC")),
        "score": rng.random(keys),
        "trips": rng.integers(0, 1000, keys),
        "note": pa.array([f"n{i % 977}" for i in range(keys)], pa.string()),
    }), folder / "data" / "stats.parquet")


def cleanup(store: str, online: dict, project: str) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from store_cleanup import delete_postgres_project, delete_redis_project

    if store == "redis":
        delete_redis_project(online["url"], project)
    elif store == "postgres":
        delete_postgres_project(online["url"], project)


def bench_store(store: str, keys: int, limit: int) -> bool:
    from fcompile import FeatureStore
    from fcompile.online import online_view
    from fcompile.online.key_samples import sample_keys
    from fcompile.tasks.materialize import materialize_views
    from fcompile.tasks.online_skew import measure_skew

    folder = Path(tempfile.mkdtemp(prefix="skew_bench_"))
    project = f"bench_{uuid.uuid4().hex[:12]}"
    online = settings(store, folder)
    try:
        write_project(folder, project, online, keys)
        with FeatureStore(folder) as fs:
            started = time.perf_counter()
            (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("stats")], END)
            assert result.ok and result.keys_written == keys, [d.render() for d in result.diagnostics]
            loaded = time.perf_counter() - started
            view = online_view(fs.graph, "stats")
            wall, cpu = time.perf_counter(), time.process_time()
            sample = sample_keys(fs.online_store.stored_keys(view), limit, 1)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert sample.listed == keys and len(sample.keys) == min(limit, keys)
            tracemalloc.start()
            sample_keys(fs.online_store.stored_keys(view), limit, 1)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            whole, whole_cpu = time.perf_counter(), time.process_time()
            report = measure_skew(fs.graph, fs.runner, fs.online_store, "stats", limit=limit, seed=1)
            whole, whole_cpu = time.perf_counter() - whole, time.process_time() - whole_cpu
        clean = report.worst_share == 0 and report.compared == min(limit, keys)
        print(f"{store:<9} {keys:>10,} keys (loaded in {loaded:.1f} s): list + sample {limit:,}: {wall:.2f} s wall, "
              f"{cpu:.2f} s CPU, peak {peak / 2**20:.1f} MiB; whole check {whole:.2f} s wall, {whole_cpu:.2f} s CPU"
              + ("" if clean else f"  SKEW FOUND: {report.worst_share:.4f}"), flush=True)
        return clean
    finally:
        cleanup(store, online, project)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--stores", default="sqlite,redis,postgres")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()[0]:.2f}", flush=True)
    ok = all([bench_store(store, args.keys, args.limit) for store in args.stores.split(",")])
    print(f"load average: {os.getloadavg()[0]:.2f}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
