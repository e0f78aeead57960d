"""Materialization benchmark: `fcompile materialize` as a user runs it, beside a hand-written DuckDB + SQLite
load of the same rows, in the same run.

Data: pit_bench.py's seeded driver-stats rows (driver, hour, created, 4 features; gaps, ~1% re-sent rows with
a later or an earlier created time; no full ties, so the hand-written `row_number()` picks what fcompile
picks), per `--scale ROWS:DRIVERS`: by default 10M rows for 100k drivers, then 1M rows for 10k drivers. The
project has one online feature view over them, without a ttl.

A run is what a user types, in a fresh process: `.fcompile/` (the parse cache and the SQLite store) and
`target/` are deleted, then `python -m fcompile materialize --full-refresh --start 2024-01-01T00:00:00Z
--end 2026-01-01T00:00:00Z [--target T]` runs in the project folder (the window holds every row; the issue's
end, 2030, is refused since: FC119); its seconds are the subprocess's wall time, interpreter start and
imports included. The hand-written load is a fresh process too (a script of a
dozen lines, the same wall clock): `import duckdb, sqlite3`, one DuckDB query `QUALIFY row_number() OVER
(PARTITION BY driver_id ORDER BY event_timestamp DESC, created DESC NULLS LAST) = 1` fetched as Arrow,
then one `executemany` of a plain INSERT into a SQLite table keyed by `driver_id` in one transaction (WAL,
synchronous=NORMAL, like fcompile's store), into an emptied database file. `--repeat` rounds (5) run every
kind once each, interleaved (the machine is shared: a burst of load falls on every kind alike), and the
median counts. `CPU s` is the median of the process's CPU time (user + system, every thread), `peak MiB`
the highest peak RSS, both from `wait4`. Python may write its bytecode cache (PYTHONDONTWRITEBYTECODE is
dropped for the runs), as an installed package has it.

Result check: the keys each run wrote (target/run_results.json) equal the hand-written table's rows, and
after the last round 1,000 drivers read back through each store equal the hand-written table's values.
Targets (issue 20): fcompile on SQLite <= 1.10x the hand-written load at 10M rows -> 100k drivers and <=
1.3x at 1M rows -> 10k drivers. `--write-rates` adds the older in-process measurement: the time inside each
store's `write_batch`, with the targets Redis >= 150,000 and PostgreSQL >= 100,000 store keys/s. Exits 1
when a value read back differs, not when a target is missed.

    python bench/materialize_bench.py [--scale 10000000:100000 1000000:10000] [--stores sqlite redis postgres]
                                      [--repeat 5] [--write-rates] [--keep]
    python bench/materialize_bench.py --quick        # 100k rows, 10k drivers, 3 rounds: a smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pit_bench import FEATURES, generate_data, peak_rss_bytes

PROJECT = "materialize_bench"  # then a random suffix: runs side by side never share keys or schemas
VIEW = "driver_stats_latest"
# the wide window, but for its end: 2030 is refused now (FC119, an end more than a day after now)
START, END = "2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z"  # every generated row is in 2025
END_TIME = datetime(2026, 1, 1, tzinfo=UTC)
STORES = ("sqlite", "redis", "postgres")
LABELS = {"sqlite": "SQLite", "redis": "Redis", "postgres": "PostgreSQL"}
RATIO_TARGETS = {(10_000_000, 100_000): 1.10, (1_000_000, 10_000): 1.3}  # fcompile on SQLite / hand-written
KEYS_PER_SECOND_TARGET = {"redis": 150_000, "postgres": 100_000}
SAMPLE_KEYS = 1_000
DEFAULT_SCALES = ["10000000:100000", "1000000:10000"]
QUICK = {"scales": ["100000:10000"], "repeat": 3}
DTYPES = {"conv_rate": "float64", "acc_rate": "float64", "avg_daily_trips": "int64", "avg_rating": "float32"}


# -- the project ----------------------------------------------------------------------------------------

def write_project(root: Path, name: str, redis_url: str, postgres_url: str) -> None:
    """One online feature view (no ttl) over driver_stats.parquet; one target per online store, the offline
    engine DuckDB in memory."""
    targets = {"sqlite": {"type": "sqlite", "path": ".fcompile/online.db"},
               "redis": {"type": "redis", "url": redis_url}, "postgres": {"type": "postgres", "url": postgres_url}}
    lines = [f"name: {name}", "default_target: sqlite", "targets:"]
    lines += [f"  {target}: {{offline: {{type: duckdb}}, online: {json.dumps(online)}}}"
              for target, online in targets.items()]
    (root / "fcompile_project.yml").write_text("\n".join(lines) + "\n")
    (root / "features").mkdir(parents=True, exist_ok=True)
    features = "".join(f"      - {{name: {f}, dtype: {DTYPES[f]}}}\n" for f in FEATURES)
    (root / "features" / "driver.yml").write_text(
        "entities:\n  - name: driver\n    join_keys:\n      - {name: driver_id, dtype: int64}\n"
        "sources:\n  - name: driver_stats\n    path: data/driver_stats.parquet\n"
        "    timestamp_field: event_timestamp\n    created_timestamp_field: created\n"
        f"feature_views:\n  - name: {VIEW}\n    entities: [driver]\n    source: driver_stats\n"
        "    features:\n" + features)


# The hand-written load, a script run in a fresh process: argv[1] the Parquet file, argv[2] the database.
BASELINE_SCRIPT = """
import sys, sqlite3, duckdb
con = duckdb.connect()
table = con.sql('''
    SELECT driver_id, epoch_us(event_timestamp) AS event_us, epoch_us(created) AS created_us, %(features)s
    FROM read_parquet($path)
    WHERE driver_id IS NOT NULL AND event_timestamp IS NOT NULL
      AND event_timestamp BETWEEN TIMESTAMPTZ '%(start)s' AND TIMESTAMPTZ '%(end)s'
    QUALIFY row_number() OVER (PARTITION BY driver_id ORDER BY event_timestamp DESC, created DESC NULLS LAST) = 1
''', params={"path": sys.argv[1]}).fetch_arrow_table()
db = sqlite3.connect(sys.argv[2], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=NORMAL")
db.execute("CREATE TABLE driver_stats (driver_id INTEGER PRIMARY KEY, event_us INTEGER NOT NULL, created_us INTEGER, "
           "conv_rate REAL, acc_rate REAL, avg_daily_trips INTEGER, avg_rating REAL)")
db.execute("BEGIN")
db.executemany("INSERT INTO driver_stats VALUES (?, ?, ?, ?, ?, ?, ?)", zip(*(c.to_pylist() for c in table.columns)))
db.execute("COMMIT")
db.close()
""" % {"features": ", ".join(FEATURES), "start": START.replace("T", " ").rstrip("Z") + "+00",
       "end": END.replace("T", " ").rstrip("Z") + "+00"}


# -- runs as a user runs them -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    seconds: float        # wall time, the median
    cpu_seconds: float    # user + system time of the process (every thread), the median
    peak_bytes: int       # the highest
    keys: int             # keys written (the last run's)


# Python may keep its bytecode cache, as an installed fcompile has it (without it, every module of fcompile
# would be compiled again at every run, which no user pays).
RUN_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def measured(command: list[str], cwd: Path) -> tuple[float, float, int, subprocess.CompletedProcess]:
    """Wall seconds, CPU seconds (user + system) and peak RSS of `command` in a fresh process (wait4)."""
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=out_file, stderr=err_file, env=RUN_ENV)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0)
        err_file.seek(0)
        done = subprocess.CompletedProcess(command, process.returncode, out_file.read(), err_file.read())
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, done


def run_cli(root: Path, target: str) -> dict:
    """`fcompile materialize` in a fresh process, after deleting `.fcompile/` and `target/` (and emptying
    a server store)."""
    reset_store(root, target)
    command = [sys.executable, "-m", "fcompile", "materialize", "--full-refresh", "--start", START, "--end", END,
               "--target", target]
    seconds, cpu, peak, done = measured(command, root)
    if done.returncode != 0:
        raise RuntimeError(f"fcompile materialize --target {target} failed (exit {done.returncode}):\n"
                           f"{done.stdout[-2000:]}{done.stderr[-4000:]}")
    (result,) = json.loads((root / "target" / "run_results.json").read_text())["results"]
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak, "keys": result["keys_written"]}


def run_baseline(root: Path) -> dict:
    """The hand-written load in a fresh process, into an emptied database file."""
    import sqlite3

    for suffix in ("", "-wal", "-shm"):
        Path(str(root / "baseline.db") + suffix).unlink(missing_ok=True)
    command = [sys.executable, "-c", BASELINE_SCRIPT, str(root / "data" / "driver_stats.parquet"),
               str(root / "baseline.db")]
    seconds, cpu, peak, done = measured(command, root)
    if done.returncode != 0:
        raise RuntimeError(f"the hand-written load failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    db = sqlite3.connect(root / "baseline.db")
    try:
        (keys,) = db.execute("SELECT count(*) FROM driver_stats").fetchone()
    finally:
        db.close()
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak, "keys": keys}


def measure(root: Path, stores: list[str], repeat: int, wrong: list[str]) -> dict[str, Run]:
    """`repeat` rounds of one run of each kind, interleaved; per kind the medians and the highest peak. After
    its last run, each store is checked against the hand-written table (`wrong` gets what differs)."""
    found: dict[str, list[dict]] = {name: [] for name in ["baseline", *stores]}
    for round_ in range(repeat):
        found["baseline"].append(run_baseline(root))
        for target in stores:
            found[target].append(run_cli(root, target))
            if round_ == repeat - 1:  # before the next store's run deletes `.fcompile/`
                problem = check_sample(root, target)
                if problem:
                    wrong.append(f"{LABELS[target]}: {problem}")
    return {name: Run(statistics.median(r["seconds"] for r in results),
                      statistics.median(r["cpu_seconds"] for r in results),
                      max(r["peak_bytes"] for r in results), results[-1]["keys"])
            for name, results in found.items()}


def reset_store(root: Path, target: str) -> None:
    """A fresh start for a run: no `.fcompile/` (parse cache, SQLite store) nor `target/`; in a server
    store, no keys or schema of the bench's project."""
    shutil.rmtree(root / ".fcompile", ignore_errors=True)
    shutil.rmtree(root / "target", ignore_errors=True)
    if target == "sqlite":
        return
    settings = json.loads((root / "bench.json").read_text())
    namespace, url = settings["namespace"], settings["urls"][target]
    if target == "redis":
        import redis

        client = redis.Redis.from_url(url)
        try:
            doomed = []
            for key in client.scan_iter(match=f"fc:{namespace}:*", count=10_000):
                doomed.append(key)
                if len(doomed) >= 10_000:
                    client.unlink(*doomed)
                    doomed.clear()
            if doomed:
                client.unlink(*doomed)
        finally:
            client.close()
    else:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "fc_{namespace}" CASCADE')


def reachable(target: str, url: str) -> str | None:
    """None when the server answers, else why not."""
    try:
        if target == "redis":
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=3)
            try:
                client.ping()
            finally:
                client.close()
        elif target == "postgres":
            import psycopg

            psycopg.connect(url, connect_timeout=3).close()
    except Exception as exc:  # any failure means: not measured, say why
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    return None


# -- the in-process measurement of the store writes (--write-rates) ----------------------------------------

class WriteTimer:
    """The store, with the time spent in `write_batch` added up (everything else passes through)."""

    def __init__(self, store) -> None:
        self.store = store
        self.seconds = 0.0

    def write_batch(self, view, batch):
        start = time.perf_counter()
        try:
            return self.store.write_batch(view, batch)
        finally:
            self.seconds += time.perf_counter() - start

    def __getattr__(self, name: str):
        return getattr(self.store, name)


def worker(spec: dict) -> dict:
    """One in-process materialization into an emptied store: the seconds spent inside `write_batch`."""
    from fcompile import FeatureStore
    from fcompile.tasks.materialize import materialize_views

    with FeatureStore(Path(spec["project"]), spec["target"]) as fs:
        store = WriteTimer(fs.online_store)
        (result,) = materialize_views(fs.graph, fs.runner, store, [fs.graph.feature_view(VIEW)], END_TIME,
                                      full_refresh=True)
    if not result.ok:
        raise SystemExit("\n".join(d.render() for d in result.diagnostics))
    return {"write_seconds": store.seconds, "keys": result.keys_written}


def write_rates(root: Path, stores: list[str], repeat: int) -> dict[str, float]:
    """Store keys per second inside `write_batch`, the fastest of `repeat` in-process runs per store."""
    rates = {}
    for target in stores:
        best, keys = math.inf, 0
        for _ in range(repeat):
            reset_store(root, target)
            spec = json.dumps({"project": str(root), "target": target})
            done = subprocess.run([sys.executable, __file__, "--worker", spec], capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"the in-process run into {target} failed:\n{done.stderr[-4000:]}")
            found = json.loads(done.stdout.strip().splitlines()[-1])
            best, keys = min(best, found["write_seconds"]), found["keys"]
        rates[target] = keys / best
    return rates


# -- checks ---------------------------------------------------------------------------------------------

def check_sample(root: Path, target: str) -> str | None:
    """None when SAMPLE_KEYS drivers read back through fcompile's store equal the hand-written table's rows."""
    import sqlite3

    from fcompile.online import connect_online_store, online_view
    from fcompile.online.values import micros
    from fcompile.parser import load_project

    db = sqlite3.connect(root / "baseline.db")
    try:
        count = db.execute("SELECT count(*) FROM driver_stats").fetchone()[0]
        step = max(1, count // SAMPLE_KEYS)
        expected = db.execute(f"SELECT * FROM (SELECT row_number() OVER (ORDER BY driver_id) AS n, * "
                              f"FROM driver_stats) WHERE n % {step} = 0 LIMIT {SAMPLE_KEYS}").fetchall()
    finally:
        db.close()
    if len(expected) < min(SAMPLE_KEYS, count):
        return f"only {len(expected)} drivers sampled"
    graph = load_project(root, target)
    view = online_view(graph, VIEW)
    with connect_online_store(graph.project) as store:
        found = store.read(view, [(row[1],) for row in expected] + [(-1,)], list(FEATURES))
    if found[-1] is not None:
        return "driver -1 was never written, yet a row was read for it"
    for row, stored in zip(expected, found):
        if stored is None:
            return f"driver {row[1]}: nothing stored"
        got = (micros(stored.event_ts), None if stored.created_ts is None else micros(stored.created_ts),
               *(stored.values[f] for f in FEATURES))
        if not all(a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)) for a, b in zip(got, row[2:])):
            return f"driver {row[1]}: stored {got}, the hand-written load holds {tuple(row[2:])}"
    return None


# -- report ---------------------------------------------------------------------------------------------

def bench_scale(rows: int, entities: int, stores: list[str], urls: dict[str, str], repeat: int, keep: bool,
                rates: bool, findings: dict[str, list[str]]) -> None:
    hours = max(1, rows // entities)
    root = Path(tempfile.mkdtemp(prefix="fcompile-materialize-bench-"))
    namespace = f"{PROJECT}_{os.urandom(4).hex()}"
    measured_stores: list[str] = []
    try:
        start = time.perf_counter()
        counts = generate_data(root / "data", entities, hours, 0, full_ties=False)
        write_project(root, namespace, urls["redis"], urls["postgres"])
        (root / "bench.json").write_text(json.dumps({"namespace": namespace, "urls": urls}))
        source_rows = counts["driver_stats"]
        print(f"\n{source_rows:,} source rows for {entities:,} drivers ({hours} hours each, gaps and re-sent "
              f"rows), generated in {time.perf_counter() - start:.1f} s")
        for target in stores:
            why = reachable(target, urls.get(target, ""))
            if why is None:
                measured_stores.append(target)
            else:
                print(f"  fcompile -> {LABELS[target]}: not measured, the server cannot be reached ({why})")
        wrong: list[str] = []
        runs = measure(root, measured_stores, repeat, wrong)
        findings["wrong"] += [f"{entities:,} drivers, {problem}" for problem in wrong]
        print(f"  {'what (median of ' + str(repeat) + ', fresh processes)':40s} {'seconds':>8s} {'CPU s':>6s} "
              f"{'rows read/s':>12s} {'keys':>10s} {'peak MiB':>9s}")
        for name, run in runs.items():
            what = "hand-written DuckDB + SQLite" if name == "baseline" else f"fcompile -> {LABELS[name]}"
            print(f"  {what:40s} {run.seconds:8.2f} {run.cpu_seconds:6.2f} {source_rows / run.seconds:12,.0f} "
                  f"{run.keys:10,d} {run.peak_bytes / 2**20:9,.0f}")
        base = runs["baseline"]
        for name in measured_stores:
            run = runs[name]
            if run.keys != base.keys:
                findings["wrong"].append(f"{entities:,} drivers, {LABELS[name]}: wrote {run.keys:,} keys, the "
                                         f"hand-written load {base.keys:,}")
            ratio = run.seconds / base.seconds
            target_ratio = RATIO_TARGETS.get((rows, entities)) if name == "sqlite" else None
            verdict = "" if target_ratio is None else \
                f" (target <= {target_ratio}x) {'ok' if ratio <= target_ratio else 'over'}"
            print(f"  fcompile -> {LABELS[name]} / hand-written: {ratio:.2f}x{verdict}; CPU time "
                  f"{run.cpu_seconds / base.cpu_seconds:.2f}x")
            if target_ratio is not None and ratio > target_ratio:
                findings["over"].append(f"{rows:,} rows -> {entities:,} drivers: SQLite {ratio:.2f}x the "
                                        "hand-written load")
        if rates:
            for name, rate in write_rates(root, [s for s in measured_stores if s in KEYS_PER_SECOND_TARGET],
                                          repeat).items():
                target = KEYS_PER_SECOND_TARGET[name]
                verdict = "ok" if rate >= target else "under"
                print(f"  {LABELS[name]} store writes (in process, inside write_batch, best of {repeat}): "
                      f"{rate:,.0f} keys/s (target >= {target:,}) {verdict}")
                if verdict == "under":
                    findings["over"].append(f"{entities:,} drivers: {LABELS[name]} {rate:,.0f} keys/s")
    finally:
        if keep:
            print(f"  kept {root} (and the project {namespace} in the servers)")
        else:
            for target in measured_stores:  # leave no bench data in the servers
                if target != "sqlite":
                    reset_store(root, target)
            shutil.rmtree(root, ignore_errors=True)


def parse_scale(text: str) -> tuple[int, int]:
    try:
        rows, entities = (int(part.replace("_", "")) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a scale is ROWS:DRIVERS, e.g. 10000000:100000 (got {text!r})") from None
    if entities < 1 or rows < entities:
        raise argparse.ArgumentTypeError(f"a scale needs at least one row per driver (got {text!r})")
    return rows, entities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=parse_scale, nargs="+", default=None,
                        help="ROWS:DRIVERS, one per scale (default: 10000000:100000 1000000:10000)")
    parser.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES))
    parser.add_argument("--quick", action="store_true", help="a smoke run: 100k rows, 10k drivers, 3 rounds")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds; the median counts")
    parser.add_argument("--write-rates", action="store_true",
                        help="also time the Redis and PostgreSQL stores' write_batch in process (keys/s targets)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres-url", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and stores")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({**worker(json.loads(args.worker)), "peak_bytes": peak_rss_bytes()}))
        return
    scales = args.scale or [parse_scale(s) for s in DEFAULT_SCALES]
    if args.quick:
        scales, args.repeat = [parse_scale(s) for s in QUICK["scales"]], QUICK["repeat"]
    urls = {"sqlite": "", "redis": args.redis_url, "postgres": args.postgres_url}
    findings: dict[str, list[str]] = {"wrong": [], "over": []}
    print(f"materialize benchmark: `fcompile materialize --full-refresh --start {START} --end {END}` into "
          f"{', '.join(LABELS[s] for s in args.stores)}, beside a hand-written DuckDB + SQLite load; a fresh "
          f"process per run, median of {args.repeat} interleaved rounds")
    for rows, entities in scales:
        bench_scale(rows, entities, args.stores, urls, args.repeat, args.keep, args.write_rates, findings)
    print("\ncorrectness: " + ("; ".join(findings["wrong"]) if findings["wrong"] else
                               f"every store equals the hand-written load on {SAMPLE_KEYS:,} sampled drivers"))
    print("targets: " + ("missed: " + "; ".join(findings["over"]) if findings["over"] else "all met"))
    if findings["wrong"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
