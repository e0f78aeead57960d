"""Materialization and online-read benchmark on the SQLite store, in process.

Generates a view of 10 float features for `--keys` drivers (three source rows each) with DuckDB straight
to Parquet, materializes it (reporting keys/s), then times `FeatureStore.get_online_features(...)` with
`.to_http_dict()` for 1 entity x 10 features, `--calls` times after one warm-up call, and for 100 entities x 10
features (random drivers), a tenth as many times, each beside the store's own read of the same keys.
Then materializes a view of 10 windowed aggregations (7d windows, step 1h: 168 tiles per driver, for up to
AGGREGATED_KEYS drivers) and reads one driver's 10 aggregated features and 10 plain ones alternately, with
`to_dict()`, printing both (with the CPU seconds of each side's calls) and the ratio of their p50s
(target: at most 3x). Prints p50/p99 in microseconds. Targets: 1 entity p50 <= 30 us and p99 <= 80 us, 100 entities p50 <=
400 us, for the call.

    python bench/online_bench.py [--keys 100000] [--calls 20000] [--keep]

`--baseline plain` (issue 20) measures the read against a plain lookup of the same values instead: the sample
project (`fcompile init --scale`, default 10: 1,000 drivers), its `driver_hourly_stats` materialized (every
driver), `get_online_features(...).to_dict()` of 3 features (conv_rate, acc_rate, avg_daily_trips) for 1 and
100 random drivers, against, in the same process, a plain SQLite table (driver id, event time, the three
features as typed columns; `SELECT ... WHERE driver_id = ?` / `IN (...)`) or, with `--store redis`, a hash
per driver (`HGETALL`, 1 entity) and a string per driver (`MGET` of the 100), each answered as the same
`{name: [value per entity]}` with the ttl applied. Both sides are filled from a hand-written DuckDB query of
the sample's data (the newest row per driver), and a result check proves both answer the same values for
every measured call's drivers. The two sides alternate call by call (A B, B A, ...); prints each p50 and
p99, the CPU time of each side, the ratio of the p50s and the targets (<= 2x for 1 entity, <= 1.5x for 100).

    python bench/online_bench.py --baseline plain [--store sqlite|redis] [--calls 20000] [--sample-scale 10]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
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
    parser.add_argument("--baseline", choices=("plain",), default=None,
                        help="plain: the sample's 3 features against a plain table (SQLite) or hash (Redis)")
    parser.add_argument("--sample-scale", type=float, default=10.0, help="with --baseline plain: 100 drivers a unit")
    args = parser.parse_args()
    if args.baseline == "plain":
        plain_baseline(args)
        return

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
    now = END + dt.timedelta(minutes=30)  # the windows end at END, the newest materialized step: 168 tiles
    for service in ("wide_v1", "windows_v1"):
        fs.get_online_features({"driver_id": [0]}, service=service, now=now).to_dict()
    plain, aggregated = [], []
    cpu = [0.0, 0.0]  # process time of the plain and of the aggregated calls
    for _ in range(args.calls):
        asked = [rng.randrange(keys)]
        cpu_begin, begin = time.process_time(), time.perf_counter()
        fs.get_online_features({"driver_id": asked}, service="wide_v1", now=now).to_dict()
        middle, cpu_middle = time.perf_counter(), time.process_time()
        values = fs.get_online_features({"driver_id": asked}, service="windows_v1", now=now).to_dict()
        aggregated.append(time.perf_counter() - middle)
        cpu[1] += time.process_time() - cpu_middle
        plain.append(middle - begin)
        cpu[0] += cpu_middle - cpu_begin
    assert values["trips_7d"][0] > 0
    p50_plain, p99_plain = percentiles(plain)
    p50_aggregated, p99_aggregated = percentiles(aggregated)
    print(f"{'get_online_features + to_dict':30s} {'1 entity x 10 plain':26s}: p50 {p50_plain:7.1f} us  p99 "
          f"{p99_plain:7.1f} us  CPU {cpu[0]:.3f} s")
    print(f"{'get_online_features + to_dict':30s} {'1 entity x 10 aggregated':26s}: p50 {p50_aggregated:7.1f} us  "
          f"p99 {p99_aggregated:7.1f} us  CPU {cpu[1]:.3f} s")
    print(f"aggregated / plain (p50): {p50_aggregated / p50_plain:.2f}x  (target <= {RATIO_TARGET:g}x)")


# -- against a plain lookup of the same values (--baseline plain) ------------------------------------------

PLAIN_FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips")
PLAIN_TARGETS = {1: 2.0, 100: 1.5}  # entities -> the read's p50 at most this many times the plain lookup's


def plain_baseline(args) -> None:
    """The sample's driver_hourly_stats read with fcompile and with a plain lookup, alternately (module doc)."""
    import uuid

    from fcompile import FeatureStore
    from fcompile.parser import load_project
    from fcompile.parser.seeds import find_seeds
    from fcompile.runners import connect_runner
    from fcompile.sample import init_project
    from fcompile.sample.data import DEFAULT_AS_OF
    from fcompile.tasks.materialize import materialize_views
    from fcompile.tasks.seeds import load_seeds, select_seeds

    temp = Path(tempfile.mkdtemp(prefix="fcompile-online-plain-"))
    root = temp / "sample"
    name = f"online_plain_{uuid.uuid4().hex[:8]}"  # a name of its own: Redis keys are shared
    plain = None
    try:
        init_project(root, scale=args.sample_scale)
        online = ("{type: sqlite, path: .fcompile/online.db}" if args.store == "sqlite"
                  else f"{{type: redis, url: '{args.redis_url}'}}")
        (root / "fcompile_project.yml").write_text(
            f"name: {name}\ndefault_target: dev\ntargets:\n  dev: {{offline: {{type: duckdb, path: "
            f".fcompile/offline.duckdb}}, online: {online}}}\n")
        with connect_runner(load_project(root).project) as runner:
            results = load_seeds(runner, select_seeds(find_seeds(root), ["driver_stats"]))
            assert all(r.ok for r in results), [d.render() for r in results for d in r.diagnostics]
        now = DEFAULT_AS_OF
        newest = newest_rows(root / "seeds" / "driver_stats.parquet", now)
        with FeatureStore(root) as fs:
            view = fs.graph.feature_view("driver_hourly_stats")
            started = time.perf_counter()
            (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [view], now)
            assert result.ok, [d.render() for d in result.diagnostics]
            assert result.keys_written == len(newest), (result.keys_written, len(newest))
            print(f"{args.store}: materialized {result.keys_written:,} drivers of the sample (scale "
                  f"{args.sample_scale:g}) in {time.perf_counter() - started:.2f} s; load average "
                  f"{os.getloadavg()[0]:.2f}")
            ttl_us = int(view.ttl.total_seconds() * 1_000_000)
            now_us = (now - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)
            plain = (PlainSqlite(temp / "plain.db", newest) if args.store == "sqlite"
                     else PlainRedis(args.redis_url, name, newest))
            features = [f"driver_hourly_stats:{feature}" for feature in PLAIN_FEATURES]
            drivers = sorted(newest)
            rng = random.Random(3)
            for entities in (1, 100):
                calls = args.calls if entities == 1 else max(200, args.calls // 10)
                asks = [rng.sample(drivers, entities) for _ in range(calls)]

                def ours(asked: list) -> dict:
                    return fs.get_online_features({"driver_id": asked}, features, now=now).to_dict()

                def theirs(asked: list) -> dict:
                    return plain.read(asked, now_us, ttl_us)

                for asked in asks[:50] + asks[-50:]:  # warm both, and the result check
                    mine, other = ours(asked), theirs(asked)
                    assert mine == other, (asked, mine, other)
                    assert all(v is not None for v in mine["conv_rate"]), mine  # every value PRESENT
                for asked in asks:
                    assert ours(asked) == theirs(asked), asked
                times: dict[str, list[float]] = {"fcompile": [], "plain": []}
                cpu = {"fcompile": 0.0, "plain": 0.0}
                for n, asked in enumerate(asks):
                    order = (("fcompile", ours), ("plain", theirs)) if n % 2 == 0 else \
                        (("plain", theirs), ("fcompile", ours))
                    for side, read in order:
                        cpu_begin, begin = time.process_time(), time.perf_counter()
                        read(asked)
                        times[side].append(time.perf_counter() - begin)
                        cpu[side] += time.process_time() - cpu_begin
                p50_ours, p99_ours = percentiles(times["fcompile"])
                p50_plain, p99_plain = percentiles(times["plain"])
                ratio = p50_ours / p50_plain
                target = PLAIN_TARGETS[entities]
                baseline = ("plain SQLite table" if args.store == "sqlite"
                            else "HGETALL" if entities == 1 else "MGET")
                print(f"{entities:>3d} entit{'y  ' if entities == 1 else 'ies'} x 3 features, {calls:,} calls each, "
                      f"alternating (load average {os.getloadavg()[0]:.2f}):")
                print(f"    get_online_features + to_dict  p50 {p50_ours:7.1f} us  p99 {p99_ours:7.1f} us  "
                      f"CPU {cpu['fcompile']:.2f} s")
                print(f"    {baseline + ' + dict':29s}  p50 {p50_plain:7.1f} us  p99 {p99_plain:7.1f} us  "
                      f"CPU {cpu['plain']:.2f} s")
                print(f"    ratio of p50s {ratio:.2f}x ({'met' if ratio <= target else 'MISS'}, target <= "
                      f"{target:g}x); results checked equal on every call's drivers")
            if args.store != "sqlite":
                fs.online_store.drop_view("driver_hourly_stats")
    finally:
        if plain is not None:
            plain.close()
        if args.keep:
            print(f"kept {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)


def newest_rows(parquet: Path, end: dt.datetime) -> dict[int, tuple]:
    """driver_id -> (event time in microseconds, conv_rate, acc_rate, avg_daily_trips): the newest row per
    driver up to `end` (ties to the later `created`), by a hand-written DuckDB query of the sample's data."""
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT driver_id, epoch_us(event_timestamp), conversion_rate, acc_rate, avg_daily_trips "
            "FROM read_parquet(?) WHERE event_timestamp <= ? "
            "QUALIFY row_number() OVER (PARTITION BY driver_id ORDER BY event_timestamp DESC, created DESC) = 1",
            [str(parquet), end]).fetchall()
    finally:
        con.close()
    return {row[0]: tuple(row[1:]) for row in rows}


class PlainSqlite:
    """The plain layout: a table of (driver_id, event time, the three features as typed columns)."""

    def __init__(self, path: Path, newest: dict[int, tuple]) -> None:
        import sqlite3

        self.con = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("CREATE TABLE plain (driver_id INTEGER PRIMARY KEY, event_us INTEGER NOT NULL, "
                         "conv_rate REAL, acc_rate REAL, avg_daily_trips INTEGER)")
        self.con.execute("BEGIN")
        self.con.executemany("INSERT INTO plain VALUES (?, ?, ?, ?, ?)",
                             [(driver, *values) for driver, values in newest.items()])
        self.con.execute("COMMIT")
        self.one = "SELECT driver_id, event_us, conv_rate, acc_rate, avg_daily_trips FROM plain WHERE driver_id = ?"
        self.many = "SELECT driver_id, event_us, conv_rate, acc_rate, avg_daily_trips FROM plain WHERE driver_id IN ("

    def read(self, drivers: list, now_us: int, ttl_us: int) -> dict:
        if len(drivers) == 1:
            rows = self.con.execute(self.one, drivers).fetchall()
        else:
            rows = self.con.execute(self.many + ",".join("?" * len(drivers)) + ")", drivers).fetchall()
        return as_columns(drivers, {row[0]: row[1:] for row in rows}, now_us - ttl_us)

    def close(self) -> None:
        self.con.close()


class PlainRedis:
    """The plain layout on Redis: a hash per driver (ts and the three features) for HGETALL, and a string per
    driver ("ts,conv_rate,acc_rate,avg_daily_trips") for MGET; sent on one connection of redis-py (hiredis
    parsing the replies) without its client's per-command machinery, as fcompile's store sends its MGET."""

    def __init__(self, url: str, prefix: str, newest: dict[int, tuple]) -> None:
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        pipe = self.client.pipeline(transaction=False)
        for driver, (event_us, conv, acc, trips) in newest.items():
            pipe.hset(f"{prefix}:h:{driver}", mapping={"ts": event_us, "conv_rate": repr(conv),
                                                      "acc_rate": repr(acc), "avg_daily_trips": trips})
            pipe.set(f"{prefix}:s:{driver}", f"{event_us},{conv!r},{acc!r},{trips}")
        pipe.execute()
        pool = self.client.connection_pool
        try:
            self.connection = pool.get_connection()
        except TypeError:  # redis-py before 5.3 takes a command name
            self.connection = pool.get_connection("MGET")

    def read(self, drivers: list, now_us: int, ttl_us: int) -> dict:
        found = {}
        connection = self.connection
        if len(drivers) == 1:
            connection.send_command("HGETALL", f"{self.prefix}:h:{drivers[0]}")
            reply = connection.read_response()
            if reply:
                fields = dict(zip(reply[::2], reply[1::2])) if isinstance(reply, list) else reply
                found[drivers[0]] = (int(fields[b"ts"]), float(fields[b"conv_rate"]), float(fields[b"acc_rate"]),
                                     int(fields[b"avg_daily_trips"]))
        else:
            prefix = self.prefix
            connection.send_command("MGET", *[f"{prefix}:s:{d}" for d in drivers])
            for driver, value in zip(drivers, connection.read_response()):
                if value is not None:
                    ts, conv, acc, trips = value.split(b",")
                    found[driver] = (int(ts), float(conv), float(acc), int(trips))
        return as_columns(drivers, found, now_us - ttl_us)

    def close(self) -> None:
        self.client.connection_pool.release(self.connection)
        doomed = list(self.client.scan_iter(match=f"{self.prefix}:*", count=10_000))
        for start in range(0, len(doomed), 10_000):
            self.client.unlink(*doomed[start:start + 10_000])
        self.client.close()


def as_columns(drivers: list, found: dict, oldest_us: int) -> dict:
    """`to_dict()`'s form from rows by driver: None where nothing is stored or the row is older than the ttl."""
    conv, acc, trips = [], [], []
    for driver in drivers:
        row = found.get(driver)
        if row is None or row[0] < oldest_us:
            conv.append(None)
            acc.append(None)
            trips.append(None)
        else:
            conv.append(row[1])
            acc.append(row[2])
            trips.append(row[3])
    return {"driver_id": list(drivers), "conv_rate": conv, "acc_rate": acc, "avg_daily_trips": trips}


if __name__ == "__main__":
    main()
