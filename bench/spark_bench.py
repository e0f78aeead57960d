"""Point-in-time joins on Spark in local mode beside DuckDB: what the distributed path costs on one machine.

The data, the project and the hand-written DuckDB queries are pit_bench.py's (imported, not copied): a
driver-statistics table with re-sent and fully tied rows, and a spine in random order with duplicates,
NULLs and times outside the data. Per ttl (2h, 1d, unbounded), the same training set is computed

- by the fastest hand-written DuckDB query for that ttl (each form in its own process, as pit_bench runs them);
- by fcompile on DuckDB (`get_historical_features(...).to_parquet(...)`, in its own process);
- by fcompile on Spark (the same call on a `type: spark` target, `master: local[*]`, in this process).

Seconds are from the call to the Parquet file written. Spark's start (seconds of JVM) is timed apart, and a
small warm-up query runs before the clock starts, so the figures are of the queries, not of the JIT. Spark's
output must equal DuckDB's, row for row (pit_bench's EXCEPT ALL check); the script exits 1 if it does not.

    python bench/spark_bench.py [--rows 3000000] [--spine 300000] [--ttl 2h 1d unbounded] [--master local[*]]
    python bench/spark_bench.py --quick        # 100,000 feature rows, a 10,000-row spine: under a minute

The default size takes about a minute and a half on a 2-core machine, most of it Spark.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pit_bench  # noqa: E402  (the benchmark this one runs beside)

HOURS = 100  # pit_bench's shape: one row per driver per hour; --rows sets the number of drivers
SPARK_CONF = {"spark.sql.shuffle.partitions": "8", "spark.ui.enabled": "false"}


def add_spark_target(root: Path, master: str) -> None:
    """The pit_bench project with a second target, `spark`, beside its DuckDB one."""
    import yaml

    path = root / "fcompile_project.yml"
    document = yaml.safe_load(path.read_text())
    document["targets"]["spark"] = {
        "offline": {"type": "spark", "master": master, "warehouse": ".fcompile/spark-warehouse", "conf": SPARK_CONF},
        "online": {"type": "sqlite", "path": ".fcompile/online.db"},
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def fastest_hand_written(label: str, root: Path, work: Path) -> tuple[str, pit_bench.Run]:
    ttl = pit_bench.TTLS[label]
    features, spine = str(root / "data" / "driver_stats.parquet"), str(root / "data" / "spine.parquet")
    runs = {}
    for form in pit_bench.FORMS:
        if form == "range" and ttl is None:
            continue
        runs[form] = pit_bench.measure({"kind": form, "features": features, "spine": spine, "ttl": ttl,
                                        "out": str(work / f"{label}_{form}.parquet")}, work)
    best = min(runs, key=lambda name: runs[name].seconds)
    return best, runs[best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3_000_000, help="feature rows, about (drivers x 100 hours)")
    parser.add_argument("--spine", type=int, default=300_000, help="spine rows")
    parser.add_argument("--ttl", nargs="+", choices=list(pit_bench.TTLS), default=list(pit_bench.TTLS))
    parser.add_argument("--master", default="local[*]", help="the Spark master (default local[*])")
    parser.add_argument("--quick", action="store_true", help="100,000 feature rows and a 10,000-row spine")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and outputs")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.spine = 100_000, 10_000
    entities = max(1, args.rows // HOURS)

    from fcompile import FeatureStore

    root = Path(tempfile.mkdtemp(prefix="fcompile-spark-bench-"))
    work = root / "runs"
    work.mkdir()
    different: list[str] = []
    try:
        started = time.perf_counter()
        counts = pit_bench.generate_data(root / "data", entities, HOURS, args.spine)
        pit_bench.write_project(root)
        add_spark_target(root, args.master)
        print(f"data: {counts['driver_stats']:,} feature rows ({entities:,} drivers x {HOURS} hours), "
              f"{counts['spine']:,} spine rows; generated in {time.perf_counter() - started:.1f} s")
        spine = str(root / "data" / "spine.parquet")
        with FeatureStore(root, target="spark") as fs:
            started = time.perf_counter()
            fs.runner.spark  # noqa: B018  (starts Spark)
            print(f"Spark {fs.runner.spark.version} started in {time.perf_counter() - started:.1f} s "
                  f"(master {args.master}, {os.cpu_count()} cores)")
            started = time.perf_counter()
            warm = str(work / "warm_up_spine.parquet")
            import pyarrow.parquet as pq

            pq.write_table(pq.read_table(spine).slice(0, 1000), warm)
            fs.get_historical_features(warm, features=[f"{pit_bench.view_name('2h')}:{f}" for f in pit_bench.FEATURES]
                                       ).to_parquet(str(work / "warm_up.parquet"))
            print(f"warm-up query (1,000 spine rows): {time.perf_counter() - started:.1f} s")
            print(f"{'ttl':10s} {'hand-written DuckDB':>24s} {'fcompile DuckDB':>16s} {'fcompile Spark':>15s} "
                  f"{'Spark / DuckDB':>15s}  plan on Spark")
            for label in args.ttl:
                features = [f"{pit_bench.view_name(label)}:{f}" for f in pit_bench.FEATURES]
                form, hand = fastest_hand_written(label, root, work)
                duck = pit_bench.measure({"kind": "fcompile", "project": str(root), "spine": spine,
                                          "view": pit_bench.view_name(label),
                                          "out": str(work / f"{label}_duckdb.parquet")}, work)
                out = str(work / f"{label}_spark.parquet")
                started = time.perf_counter()
                job = fs.get_historical_features(spine, features=features)
                rows = job.to_parquet(out)
                seconds = time.perf_counter() - started
                plan = "window" if "_timeline" in job.sql else "range"
                print(f"{label:10s} {hand.seconds:17.2f} ({form:5s}) {duck.seconds:16.2f} {seconds:15.2f} "
                      f"{seconds / duck.seconds:14.1f}x  {plan}")
                equal, detail = pit_bench.compare(out, duck.out, (*pit_bench.SPINE_COLUMNS, *pit_bench.FEATURES))
                if rows != counts["spine"] or not equal:
                    different.append(f"ttl {label}: {rows:,} rows; {detail}")
        print("correctness: " + ("; ".join(different) if different else
                                 "Spark's output equals DuckDB's at every ttl (EXCEPT ALL both ways empty)"))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if different:
        sys.exit(1)


if __name__ == "__main__":
    main()
