"""Point-in-time join benchmark: fcompile's training-set query beside hand-written DuckDB SQL, per ttl.

Generates seeded data in the driver-stats shape with DuckDB straight to Parquet (a feature table with one
row per driver per hour, about 1% of (driver, hour) rows re-sent with another or the same `created`, and a
spine in random order with duplicate rows, NULL keys and times, unknown drivers, and timestamps before,
inside, after and exactly on the data's hours) and a project with one feature view per ttl (2h, 1d, none).
Then, per ttl, it runs fcompile through the SDK writing Parquet, and three hand-written DuckDB queries with
the semantics of docs/concepts/point-in-time.md (full ties: each feature the greatest of the tied rows' values),
each writing Parquet with COPY, over the feature rows merged per (driver, event time, created):

- asof:   ASOF LEFT JOIN against the feature rows de-duplicated per (driver, event time);
- window: spine and feature rows in one timeline per driver, the newest feature row carried forward;
- range:  every candidate in [ts - ttl, ts], the newest kept with ROW_NUMBER (bounded ttls only).

The baseline is the fastest hand-written form at that ttl; every other output must equal it (same row
count, EXCEPT ALL empty both ways on every column and on the row's position). Every run is its own
subprocess and reports its own peak RSS (VmHWM); seconds are measured inside the run, from opening the
connection (hand-written) or the FeatureStore (fcompile: parse, plan, compile - with the imports they
need - and execute) to the Parquet file written; both kinds have imported duckdb before. Targets (from the
issue): time <= 1.2x and peak memory <= 1.5x the best hand-written form, `import fcompile` < 0.3 s; they
are meant for the default size: on small data, fcompile's fixed cost (about half a second and 100 MiB of
imports) dominates. `--large` (100M feature rows, 10M spine rows) runs fcompile only and checks it
completes within the machine's memory. Exits 1 when an output differs, not when a target is missed.

    python bench/pit_bench.py [--entities 100000] [--hours 100] [--spine-rows 1000000]
                              [--ttl 2h 1d unbounded] [--repeat 1] [--large] [--keep]
    python bench/pit_bench.py --entities 1000 --hours 24 --spine-rows 10000     # smoke, a few seconds
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

TIME_TARGET = 1.2      # fcompile seconds / best hand-written seconds
MEMORY_TARGET = 1.5    # fcompile peak RSS / that form's peak RSS
IMPORT_TARGET = 0.3    # seconds for `import fcompile`

TTLS: dict[str, int | None] = {"2h": 7200, "1d": 86400, "unbounded": None}
FEATURES = ("conv_rate", "acc_rate", "avg_daily_trips", "avg_rating")
SPINE_COLUMNS = ("driver_id", "event_timestamp", "label")
FORMS = ("asof", "window", "range")

WINDOW_START = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
GAP_RATE = 0.01          # driver hours without a row
SPARSE_EVERY = 100       # every 100th driver reports only every 6th hour, so short ttls find nothing
TIE_RATE = 0.01          # driver hours sent twice: later created, earlier created, or the same created
SPINE_DUPLICATE_RATE = 0.01
SPINE_NULL_RATE = 0.001  # spine rows with a NULL driver; as many with a NULL time

# -- data ------------------------------------------------------------------------------------------------

# A stateless 32-bit mixer (as in fcompile/sample/data.py): every value is a function of (row number, salt),
# so the data is the same whatever the thread count. Row numbers stay below 2**32.
_MACROS = """
CREATE TEMP MACRO pb_seeded(k, salt) AS (CAST(k AS BIGINT) * 668265263 + CAST(salt AS BIGINT) * 374761393 + 7)
    & 4294967295;
CREATE TEMP MACRO pb_mix(x) AS (xor(x >> 16, x) * 73244475) & 4294967295;
CREATE TEMP MACRO pb_hash(k, salt) AS xor(pb_mix(pb_mix(pb_seeded(k, salt))) >> 16, pb_mix(pb_mix(pb_seeded(k, salt))));
CREATE TEMP MACRO pb_unit(k, salt) AS pb_hash(k, salt) / 4294967296.0;
"""

# Hashes are computed in projections and filtered on later: DuckDB shares repeated sub-expressions of the
# expanded macros only inside a projection (see fcompile/sample/data.py).
# revision 0: the row; 1: re-sent with a later created (wins); 2: with an earlier created (loses);
# 3: the same created, a full tie: each feature takes the greatest of the two rows' values (half of them with the
# same conv_rate; a quarter of those with a NULL acc_rate, which is lowest).
_FEATURE_ROWS = """
WITH cells AS (
    SELECT range AS k, range // {entities} AS h, range % {entities} AS d,
        pb_unit(range, 1) AS gap, pb_unit(range, 2) AS tie
    FROM range({entities} * {hours})
),
present AS (
    SELECT k, h, d, tie FROM cells WHERE (d % {sparse_every} <> 0 OR h % 6 = 0) AND gap >= {gap_rate}
),
revisions AS (
    SELECT k, h, d, 0 AS revision FROM present
    UNION ALL
    SELECT k, h, d, 1 + pb_hash(k, 3) % {revisions} AS revision FROM present WHERE tie < {tie_rate}
),
drawn AS (
    SELECT k, h, d, revision, 2 * k + CAST(revision > 0 AS BIGINT) AS v,
        pb_hash(k, 4) AS delay, pb_hash(k, 5) AS resend,
        pb_unit(k, 6) < 0.5 AS same_conv, pb_unit(k, 7) < 0.25 AS null_acc
    FROM revisions
),
valued AS (
    SELECT k, h, d, revision, delay, resend,
        pb_unit(CASE WHEN revision = 3 AND same_conv THEN 2 * k ELSE v END, 10) AS conv,
        pb_unit(v, 11) >= 0.01 AND NOT (revision = 3 AND null_acc) AS has_acc,
        pb_unit(v, 12) AS acc, pb_hash(v, 13) AS trips, pb_unit(v, 14) AS rating
    FROM drawn
)
SELECT
    CAST(1001 + d AS BIGINT) AS driver_id,
    to_timestamp({start} + h * 3600) AS event_timestamp,
    to_timestamp({start} + h * 3600 + 60 + delay % 840 + CASE revision
        WHEN 1 THEN 3600 + resend % 3600 WHEN 2 THEN -1 - resend % 50 ELSE 0 END) AS created,
    round(conv, 4) AS conv_rate,
    CASE WHEN has_acc THEN round(acc, 4) END AS acc_rate,
    CAST(trips % 40 AS BIGINT) AS avg_daily_trips,
    CAST(round(3 + 2 * rating, 2) AS FLOAT) AS avg_rating
FROM valued
"""

# Spine rows in random order: 5% exactly on a feature hour, 5% in the two days before the data, 3% on an
# hour after it (1-72 h: the inclusive ttl bound), 3% any second in the three days after it, the rest
# anywhere inside; 1% copies of an earlier row, 0.1% NULL driver, 0.1% NULL time, about 1% drivers without
# feature rows.
_SPINE_ROWS = """
WITH draws AS (
    SELECT range AS k,
        CASE WHEN range > 0 AND pb_unit(range, 30) < {duplicate_rate} THEN pb_hash(range, 31) % range
            ELSE range END AS b
    FROM range({spine_rows})
),
drawn AS (
    SELECT k, pb_unit(b, 32) AS kind, pb_hash(b, 33) AS r1, pb_hash(b, 34) AS r2, pb_unit(b, 35) AS r3,
        pb_unit(b, 36) AS r4, pb_unit(b, 37) AS r5
    FROM draws
)
SELECT
    CASE WHEN r3 >= {null_rate} THEN CAST(1001 + r1 % {drivers} AS BIGINT) END AS driver_id,
    to_timestamp(CASE
        WHEN r5 < {null_rate} THEN NULL
        WHEN kind < 0.05 THEN {start} + r2 % {hours} * 3600
        WHEN kind < 0.10 THEN {start} - 1 - r2 % 172800
        WHEN kind < 0.13 THEN {last_hour} + 3600 * (1 + r2 % 72)
        WHEN kind < 0.16 THEN {last_hour} + 1 + r2 % 259200
        ELSE {start} + r2 % ({hours} * 3600) END) AS event_timestamp,
    r4 < 0.3 AS label
FROM drawn
ORDER BY k
"""


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def generate_data(data_dir: Path, entities: int, hours: int, spine_rows: int,
                  full_ties: bool = True) -> dict[str, int]:
    """Write driver_stats.parquet and spine.parquet; returns rows per file. Without `full_ties`, a re-sent
    row always has another created time (revisions 1 and 2 only)."""
    import duckdb

    if entities * hours * 2 + 1 >= 2**32 or spine_rows >= 2**32:
        raise SystemExit("sizes too large for the 32-bit mixer")
    parameters = {
        "entities": entities, "hours": hours, "spine_rows": spine_rows, "start": WINDOW_START,
        "last_hour": WINDOW_START + (hours - 1) * 3600, "drivers": entities + max(1, entities // 100),
        "sparse_every": SPARSE_EVERY, "gap_rate": GAP_RATE, "tie_rate": TIE_RATE, "revisions": 3 if full_ties else 2,
        "duplicate_rate": SPINE_DUPLICATE_RATE, "null_rate": SPINE_NULL_RATE,
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'").fetchall()
        con.execute(_MACROS).fetchall()
        for name, template in (("driver_stats", _FEATURE_ROWS), ("spine", _SPINE_ROWS)):
            path = data_dir / f"{name}.parquet"
            query = template.format(**parameters)
            con.execute(f"COPY ({query}) TO {sql_string(str(path))} (FORMAT PARQUET)").fetchall()
            [(counts[name],)] = con.execute(f"SELECT count(*) FROM read_parquet({sql_string(str(path))})").fetchall()
    return counts


def write_project(root: Path) -> None:
    """fcompile_project.yml (duckdb + sqlite) and one spec: the driver, the source, a view per ttl."""
    (root / "features").mkdir(parents=True, exist_ok=True)
    (root / "fcompile_project.yml").write_text(
        "name: pit_bench\ndefault_target: dev\ntargets:\n"
        "  dev:\n    offline: {type: duckdb, path: .fcompile/offline.duckdb}\n"
        "    online: {type: sqlite, path: .fcompile/online.db}\n")
    dtypes = {"conv_rate": "float64", "acc_rate": "float64", "avg_daily_trips": "int64", "avg_rating": "float32"}
    features = "".join(f"      - {{name: {f}, dtype: {dtypes[f]}}}\n" for f in FEATURES)
    views = ""
    for label, seconds in TTLS.items():
        views += f"  - name: {view_name(label)}\n    entities: [driver]\n    source: driver_stats\n"
        if seconds is not None:
            views += f"    ttl: {label}\n"
        views += "    features:\n" + features
    (root / "features" / "driver.yml").write_text(
        "entities:\n  - name: driver\n    join_keys:\n      - {name: driver_id, dtype: int64}\n"
        "sources:\n  - name: driver_stats\n    path: data/driver_stats.parquet\n"
        "    timestamp_field: event_timestamp\n    created_timestamp_field: created\n"
        "feature_views:\n" + views)


def view_name(ttl_label: str) -> str:
    return f"driver_{ttl_label}"


# -- the hand-written forms ------------------------------------------------------------------------------

def _merged_rows(features: str) -> str:
    """The feature rows, one per (driver, event time, created): a full tie's features each their greatest."""
    greatest = ", ".join(f"max({c}) AS {c}" for c in FEATURES)
    return f"SELECT driver_id, ets, created, {greatest} FROM ({_feature_rows(features, 'created')}) " \
           "GROUP BY driver_id, ets, created"


def _within_ttl(value: str, event_ts: str, spine_ts: str, ttl: int | None) -> str:
    if ttl is None:
        return value
    return f"CASE WHEN {event_ts} >= {spine_ts} - INTERVAL {ttl} SECOND THEN {value} END"


def _spine(spine: str) -> str:
    return (f"spine AS (SELECT {', '.join(SPINE_COLUMNS)}, file_row_number AS rid "
            f"FROM read_parquet({sql_string(spine)}, file_row_number = true))")


def _feature_rows(features: str, *extra: str) -> str:
    columns = ", ".join(["driver_id", "event_timestamp AS ets", *extra, *FEATURES])
    return (f"SELECT {columns} FROM read_parquet({sql_string(features)}) "
            "WHERE driver_id IS NOT NULL AND event_timestamp IS NOT NULL")


def asof_query(features: str, spine: str, ttl: int | None) -> str:
    values = ", ".join(_within_ttl(f"f.{c}", "f.ets", "s.event_timestamp", ttl) + f" AS {c}" for c in FEATURES)
    return f"""
WITH {_spine(spine)},
latest_per_event AS (
    {_merged_rows(features)}
    QUALIFY row_number() OVER (PARTITION BY driver_id, ets ORDER BY created DESC NULLS LAST) = 1
)
SELECT {', '.join('s.' + c for c in SPINE_COLUMNS)}, {values}
FROM spine s ASOF LEFT JOIN latest_per_event f ON s.driver_id = f.driver_id AND s.event_timestamp >= f.ets
ORDER BY s.rid"""


def window_query(features: str, spine: str, ttl: int | None) -> str:
    """One timeline per driver ordered by time, feature rows before spine rows at equal times and ranked
    among themselves oldest to best, so the last feature row before a spine row is its best candidate:
    no de-duplication pass, one sort. The row is carried as a struct (its features may be NULL)."""
    payload = ", ".join(f"{c} := {c}" for c in ("ets", *FEATURES))
    nulls = ", ".join(["NULL"] * (len(FEATURES) + 1))
    values = ", ".join(_within_ttl(f"struct_extract(best, '{c}')", "struct_extract(best, 'ets')", "ts", ttl)
                       + f" AS {c}" for c in FEATURES)
    return f"""
WITH {_spine(spine)},
timeline AS (
    SELECT driver_id, ets AS ts, 0 AS is_spine, NULL AS rid, NULL AS label, created, {', '.join(FEATURES)},
        struct_pack({payload}) AS row
    FROM ({_merged_rows(features)})
    UNION ALL
    SELECT driver_id, event_timestamp, 1, rid, label, {nulls}, NULL FROM spine
),
carried AS (
    SELECT driver_id, ts, is_spine, rid, label,
        last_value(row IGNORE NULLS) OVER (PARTITION BY driver_id
                                           ORDER BY ts ASC NULLS LAST, is_spine, created ASC NULLS FIRST
                                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS carried_row
    FROM timeline
),
spine_rows AS (
    SELECT driver_id, ts, label, rid, CASE WHEN ts IS NOT NULL AND driver_id IS NOT NULL THEN carried_row END AS best
    FROM carried WHERE is_spine = 1
)
SELECT driver_id, ts AS event_timestamp, label, {values}
FROM spine_rows
ORDER BY rid"""


def range_query(features: str, spine: str, ttl: int | None) -> str:
    assert ttl is not None, "the range form joins every earlier row without a ttl"
    feature_columns = ", ".join(f"f.{c}" for c in FEATURES)
    return f"""
WITH {_spine(spine)},
candidates AS ({_merged_rows(features)}),
best AS (
    SELECT s.rid, {feature_columns}
    FROM spine s JOIN candidates f
      ON s.driver_id = f.driver_id AND f.ets <= s.event_timestamp
     AND f.ets >= s.event_timestamp - INTERVAL {ttl} SECOND
    QUALIFY row_number() OVER (PARTITION BY s.rid ORDER BY f.ets DESC, f.created DESC NULLS LAST) = 1
)
SELECT {', '.join('s.' + c for c in SPINE_COLUMNS)}, {', '.join('b.' + c for c in FEATURES)}
FROM spine s LEFT JOIN best b ON s.rid = b.rid
ORDER BY s.rid"""


QUERIES = {"asof": asof_query, "window": window_query, "range": range_query}


# -- one run per subprocess ------------------------------------------------------------------------------

def worker(spec: dict) -> dict:
    """One run, in its own process: seconds and rows (fcompile: also its seconds before the query runs)."""
    import duckdb  # every run needs it: imported before the clock starts

    if spec["kind"] == "floor":  # what a hand-written run holds before reading data
        duckdb.connect().execute("SET TimeZone = 'UTC'").fetchall()
        return {"seconds": 0.0, "rows": 0}
    if spec["kind"] == "fcompile-floor":  # what an fcompile run holds before reading data
        from fcompile import FeatureStore

        with FeatureStore(project_dir=spec["project"]) as fs:
            fs.runner  # noqa: B018  (connects)
        return {"seconds": 0.0, "rows": 0}
    out = spec["out"]
    if spec["kind"] == "fcompile":
        from fcompile import FeatureStore

        start = time.perf_counter()
        with FeatureStore(project_dir=spec["project"]) as fs:
            job = fs.get_historical_features(spec["spine"], features=[f"{spec['view']}:{f}" for f in FEATURES],
                                             full_feature_names=False)
            planned = time.perf_counter()
            rows = job.to_parquet(out)
            sql = job.sql
        seconds = time.perf_counter() - start
        Path(out + ".sql").write_text(sql)
        return {"seconds": seconds, "planning_seconds": planned - start, "rows": rows}
    query = QUERIES[spec["kind"]](spec["features"], spec["spine"], spec["ttl"])
    Path(out + ".sql").write_text(query)
    start = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'").fetchall()
    [(rows,)] = con.execute(f"COPY ({query}) TO {sql_string(out)} (FORMAT PARQUET)").fetchall()
    con.close()
    return {"seconds": time.perf_counter() - start, "rows": rows}


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_bytes: int
    rows: int
    out: str
    planning_seconds: float | None = None


def measure(spec: dict, work_dir: Path, repeat: int = 1) -> Run:
    """`repeat` subprocesses; the fastest time and the highest peak RSS. The peak is the child's own
    VmHWM, read by the child as it ends: `getrusage`/`wait4`'s ru_maxrss is no good here, because Linux
    carries the parent's resident size across fork and exec into the child's figure."""
    seconds, peak = math.inf, 0
    for _ in range(repeat):
        done = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], cwd=work_dir,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{spec['kind']} run failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        seconds, peak = min(seconds, result["seconds"]), max(peak, result["peak_bytes"])
    return Run(seconds, peak, result["rows"], spec.get("out", ""), result.get("planning_seconds"))


# -- checks ----------------------------------------------------------------------------------------------

def compare(left: str, right: str, columns: tuple[str, ...]) -> tuple[bool, str]:
    """Equal row counts and EXCEPT ALL empty both ways over every column and the row's position."""
    import duckdb

    select = ", ".join(["file_row_number", *columns])

    def rows(path: str) -> str:
        return f"SELECT {select} FROM read_parquet({sql_string(path)}, file_row_number = true)"

    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'").fetchall()
        [(n_left,)] = con.execute(f"SELECT count(*) FROM read_parquet({sql_string(left)})").fetchall()
        [(n_right,)] = con.execute(f"SELECT count(*) FROM read_parquet({sql_string(right)})").fetchall()
        [(only_left,)] = con.execute(f"SELECT count(*) FROM ({rows(left)} EXCEPT ALL {rows(right)})").fetchall()
        [(only_right,)] = con.execute(f"SELECT count(*) FROM ({rows(right)} EXCEPT ALL {rows(left)})").fetchall()
        if n_left == n_right and only_left == only_right == 0:
            return True, f"equal ({n_left:,} rows; EXCEPT ALL both ways empty)"
        detail = (f"DIFFERENT: {n_left:,} vs {n_right:,} rows; {only_left:,} rows only in the first, "
                  f"{only_right:,} only in the second")

        def values(side: str) -> str:  # as text: no Python timezone module needed to fetch them
            return ", ".join(f"CAST({side}.{c} AS VARCHAR)" for c in columns)

        differing = con.execute(
            f"SELECT file_row_number, [{values('l')}], [{values('r')}] "
            f"FROM ({rows(left)}) l FULL JOIN ({rows(right)}) r USING (file_row_number) "
            f"WHERE ({', '.join(f'l.{c}' for c in columns)}) IS DISTINCT FROM "
            f"({', '.join(f'r.{c}' for c in columns)}) ORDER BY 1 LIMIT 5").fetchall()
        detail += f"\n      first differing rows (position: first | second), columns {', '.join(columns)}:"
        for position, first, second in differing:
            detail += f"\n      {position}: {first} | {second}"
        return False, detail


def import_seconds(statement: str, repeat: int = 3) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return min(float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                    text=True).stdout) for _ in range(repeat))


def machine_memory_bytes() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no MemTotal in /proc/meminfo (Linux only)")


def fcompile_missing() -> str | None:
    """None when `from fcompile import FeatureStore` works, else why not."""
    done = subprocess.run([sys.executable, "-c", "from fcompile import FeatureStore"], capture_output=True, text=True)
    return None if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


# -- report ----------------------------------------------------------------------------------------------

@dataclass
class Findings:
    wrong: list[str]  # correctness: outputs that differ, rows lost or multiplied
    over: list[str]   # targets missed


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f}"


def plan_of(sql: str) -> str:
    """Which of fcompile's join strategies the statement uses."""
    if "ASOF" in sql.upper():
        return "asof"
    return "window" if "_timeline" in sql else "range"


def bench_ttl(label: str, root: Path, work: Path, forms: tuple[str, ...], run_fcompile: bool, repeat: int,
              spine_rows: int, findings: Findings) -> dict[str, Run]:
    """Run, print and check one ttl."""
    ttl = TTLS[label]
    features, spine = str(root / "data" / "driver_stats.parquet"), str(root / "data" / "spine.parquet")
    runs: dict[str, Run] = {}
    for form in forms:
        if form == "range" and ttl is None:
            continue
        runs[form] = measure({"kind": form, "features": features, "spine": spine, "ttl": ttl,
                              "out": str(work / f"{label}_{form}.parquet")}, work, repeat)
    if run_fcompile:
        runs["fcompile"] = measure({"kind": "fcompile", "project": str(root), "spine": spine,
                                    "view": view_name(label), "out": str(work / f"{label}_fcompile.parquet")},
                                   work, repeat)
    hand = [name for name in runs if name != "fcompile"]
    best = min(hand, key=lambda name: runs[name].seconds) if hand else None

    print(f"ttl {label}")
    print(f"  {'what':34s} {'seconds':>8s} {'peak MiB':>9s} {'rows':>12s}")
    for name, run in runs.items():
        if name == "fcompile":
            if "range" in forms and ttl is None:
                print("  hand-written range: skipped (no ttl: every earlier row is a candidate)")
            what = f"fcompile ({plan_of(Path(run.out + '.sql').read_text())} plan)"
        else:
            what = f"hand-written {name}" + (" = baseline" if name == best else "")
        print(f"  {what:34s} {run.seconds:8.2f} {mib(run.peak_bytes):>9s} {run.rows:12,d}")
    fc = runs.get("fcompile")
    if fc is not None:
        print(f"  of fcompile's time, before the query runs (parse, plan, compile, imports): "
              f"{fc.planning_seconds:.2f} s")
        if fc.rows != spine_rows:
            findings.wrong.append(f"ttl {label}: fcompile wrote {fc.rows:,} rows for {spine_rows:,} spine rows")
    if best is not None and fc is not None:
        base = runs[best]
        time_ratio, memory_ratio = fc.seconds / base.seconds, fc.peak_bytes / base.peak_bytes
        verdicts = ("ok" if time_ratio <= TIME_TARGET else "over", "ok" if memory_ratio <= MEMORY_TARGET else "over")
        print(f"  fcompile / {best}: time {time_ratio:.2f}x (target <= {TIME_TARGET}x) {verdicts[0]}; "
              f"peak memory {memory_ratio:.2f}x (target <= {MEMORY_TARGET}x) {verdicts[1]}")
        if verdicts[0] == "over":
            findings.over.append(f"ttl {label}: time {time_ratio:.2f}x")
        if verdicts[1] == "over":
            findings.over.append(f"ttl {label}: peak memory {memory_ratio:.2f}x")
    if best is not None:
        for name, run in runs.items():
            if name != best:
                equal, detail = compare(run.out, runs[best].out, (*SPINE_COLUMNS, *FEATURES))
                print(f"  {name} = {best}: {detail}")
                if not equal:
                    findings.wrong.append(f"ttl {label}: {name}'s output differs from {best}'s")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--hours", type=int, default=100)
    parser.add_argument("--spine-rows", type=int, default=1_000_000)
    parser.add_argument("--ttl", nargs="+", choices=list(TTLS), default=list(TTLS))
    parser.add_argument("--large", action="store_true",
                        help="1M drivers x 100 hours, a 10M-row spine; fcompile only: it must complete in memory")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each query; the fastest counts")
    parser.add_argument("--no-fcompile", action="store_true", help="only the hand-written forms")
    parser.add_argument("--keep", action="store_true", help="keep the generated data, outputs and SQL")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(json.loads(args.worker))
        print(json.dumps({**result, "peak_bytes": peak_rss_bytes()}))
        return
    if args.large:
        args.entities, args.hours, args.spine_rows = 1_000_000, 100, 10_000_000

    missing = "--no-fcompile" if args.no_fcompile else fcompile_missing()
    root = Path(tempfile.mkdtemp(prefix="fcompile-pit-bench-"))
    work = root / "runs"
    work.mkdir()
    findings = Findings([], [])
    try:
        start = time.perf_counter()
        counts = generate_data(root / "data", args.entities, args.hours, args.spine_rows)
        write_project(root)
        print(f"data: {counts['driver_stats']:,} feature rows ({args.entities:,} drivers x {args.hours} hours, "
              f"gaps, ~{TIE_RATE:.0%} ties), {counts['spine']:,} spine rows; generated in "
              f"{time.perf_counter() - start:.1f} s")
        seconds = import_seconds("import fcompile")
        print(f"import fcompile: {seconds:.3f} s (target < {IMPORT_TARGET} s) "
              f"{'ok' if seconds < IMPORT_TARGET else 'over'}")
        if seconds >= IMPORT_TARGET:
            findings.over.append(f"import fcompile {seconds:.3f} s")
        floors = [f"hand-written {mib(measure({'kind': 'floor'}, work).peak_bytes)} MiB"]
        if missing:
            print(f"fcompile not run: {missing}")
        else:
            floor = measure({"kind": "fcompile-floor", "project": str(root)}, work).peak_bytes
            floors.append(f"fcompile (FeatureStore open) {mib(floor)} MiB")
        print(f"peak RSS before reading any data: {', '.join(floors)}")
        machine = machine_memory_bytes()
        for label in args.ttl:
            runs = bench_ttl(label, root, work, () if args.large else FORMS, not missing, args.repeat,
                             counts["spine"], findings)
            if args.large and "fcompile" in runs:
                fc = runs["fcompile"]
                print(f"  completed; peak RSS {fc.peak_bytes / 2**30:.1f} GiB = {fc.peak_bytes / machine:.0%} "
                      f"of the machine's {machine / 2**30:.1f} GiB")
        compared = not args.large and not missing
        print("correctness: " + ("; ".join(findings.wrong) if findings.wrong
                                 else "all outputs equal" if compared else "row counts right (nothing to compare)"))
        print("targets: " + ("over: " + "; ".join(findings.over) if findings.over
                             else "all met" if compared else "import only (no hand-written baseline)"))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if findings.wrong:
        sys.exit(1)


if __name__ == "__main__":
    main()
