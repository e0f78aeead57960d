"""What the online aggregation tests share: a project with a view of windowed aggregations over random trips,
and a plain-Python reference of the semantics (docs/concepts/aggregations.md) to compare online values with.

The reference is written from the stated semantics only: for an entity and a time t, e = floor(t / step) *
step; each feature is its function over the entity's rows with e - window <= event time < e; NULL inputs are
ignored except by count without a column; an empty window gives count 0 and NULL otherwise; last is the
value of the newest row with a value (event time, then created time, then the greatest tie_breaker `seq`,
NULL oldest; full ties: the greatest value). Sums,
means and variances are computed exactly (fractions) and rounded once. Strings order as Python orders them
(by code point) and bytes by their bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from fractions import Fraction
from pathlib import Path
from typing import Any

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
BASE = dt.datetime(2024, 3, 1, tzinfo=UTC)
STEP = dt.timedelta(hours=1)

PROJECT = """\
name: {name}
default_target: dev
targets:
  dev: {{offline: {offline}, online: {online}}}
"""

SPEC = """\
entities:
  - {{name: driver, join_keys: [{{name: driver_id, dtype: int64}}]}}
sources:
  - {{name: trips, path: data/trips.parquet, timestamp_field: event_timestamp, created_timestamp_field: created,
     tie_breaker: seq}}
  - {{name: trips_push, push: {{batch_source: trips}}}}
feature_views:
  - name: trip_windows
    entities: [driver]
    source: {source}{ttl}
    lateness: 2h
    features:
      - {{name: fare, dtype: float64}}
      - {{name: seq, dtype: int64}}
    aggregations:
      step: 1h
      features:
        - {{name: trips_1h, function: count, window: 1h}}
        - {{name: trips_1d, function: count, window: 1d}}
        - {{name: fares_3h, function: count, column: fare, window: 3h}}
        - {{name: fare_sum_1d, function: sum, column: fare, window: 1d}}
        - {{name: km_sum_1d, function: sum, column: km, window: 1d}}
        - {{name: fare_avg_6h, function: avg, column: fare, window: 6h}}
        - {{name: fare_min_1d, function: min, column: fare, window: 1d}}
        - {{name: km_max_6h, function: max, column: km, window: 6h}}
        - {{name: fare_std_1d, function: stddev, column: fare, window: 1d}}
        - {{name: km_var_1d, function: variance, column: km, window: 1d}}
        - {{name: last_fare, function: last, column: fare, window: 1d}}
        - {{name: last_km_3h, function: last, column: km, window: 3h}}
        - {{name: first_seen_max, function: max, column: seen, window: 1d}}
        - {{name: tier_min_3h, function: min, column: tier, window: 3h}}
        - {{name: tier_max_6h, function: max, column: tier, window: 6h}}
        - {{name: last_tier, function: last, column: tier, window: 1d}}
        - {{name: last_tag_3h, function: last, column: tag, window: 3h}}
"""

AGGREGATES = {  # name: (function, column, window)
    "trips_1h": ("count", None, dt.timedelta(hours=1)),
    "trips_1d": ("count", None, dt.timedelta(days=1)),
    "fares_3h": ("count", "fare", dt.timedelta(hours=3)),
    "fare_sum_1d": ("sum", "fare", dt.timedelta(days=1)),
    "km_sum_1d": ("sum", "km", dt.timedelta(days=1)),
    "fare_avg_6h": ("avg", "fare", dt.timedelta(hours=6)),
    "fare_min_1d": ("min", "fare", dt.timedelta(days=1)),
    "km_max_6h": ("max", "km", dt.timedelta(hours=6)),
    "fare_std_1d": ("stddev", "fare", dt.timedelta(days=1)),
    "km_var_1d": ("variance", "km", dt.timedelta(days=1)),
    "last_fare": ("last", "fare", dt.timedelta(days=1)),
    "last_km_3h": ("last", "km", dt.timedelta(hours=3)),
    "first_seen_max": ("max", "seen", dt.timedelta(days=1)),
    "tier_min_3h": ("min", "tier", dt.timedelta(hours=3)),
    "tier_max_6h": ("max", "tier", dt.timedelta(hours=6)),
    "last_tier": ("last", "tier", dt.timedelta(days=1)),
    "last_tag_3h": ("last", "tag", dt.timedelta(hours=3)),
}
# strings that order differently by code point, by bytes of another encoding, ignoring case or by locale
TIERS = ["a", "B", "b", "Z", "ab", "a b", "", "é", "e", "zz", "\u00ff", "\uffff", "\U0001f600", "\u00e9t\u00e9"]
TAGS = [b"", b"\x00", b"\x00\x01", b"\x7f", b"\x80", b"\xff", b"a", b"a\x00", b"ab"]
FEATURES = [f"trip_windows:{name}" for name in AGGREGATES]
EXACT = {"trips_1h", "trips_1d", "fares_3h", "km_sum_1d", "fare_min_1d", "km_max_6h", "last_fare", "last_km_3h",
         "first_seen_max", "tier_min_3h", "tier_max_6h", "last_tier", "last_tag_3h"}


def write_project(root: Path, project: str, online: dict, offline: dict | None = None, ttl: str | None = None,
                  pushed: bool = False) -> None:
    (root / "data").mkdir(exist_ok=True)
    (root / "fcompile_project.yml").write_text(PROJECT.format(
        name=project, online=json.dumps(online), offline=json.dumps(offline or {"type": "duckdb"})))
    (root / "features.yml").write_text(SPEC.format(source="trips_push" if pushed else "trips",
                                                   ttl=f"\n    ttl: {ttl}" if ttl else ""))


def random_trips(seed: int, count: int, keys: int, hours: int, base: dt.datetime = BASE) -> list[dict[str, Any]]:
    """Trips over `hours` from `base` (on an hour), with events exactly on step boundaries, duplicates, rows
    tied with another on event and created time but with other values (which `last` breaks by the tie_breaker
    `seq`, and, where that is equal too, by value), and NULLs."""
    rng = random.Random(seed)
    trips = []
    for _ in range(count):
        if rng.random() < 0.2:
            ts = base + dt.timedelta(hours=rng.randrange(hours))  # on a boundary
        else:
            ts = base + dt.timedelta(microseconds=rng.randrange(hours * 3_600_000_000))
        trips.append({
            "driver_id": rng.randrange(1, keys + 1),
            "event_timestamp": ts,
            "created": ts + dt.timedelta(seconds=rng.choice([0, 0, 5, 60])),
            "fare": None if rng.random() < 0.1 else round(rng.uniform(2, 80), 2),
            "km": None if rng.random() < 0.1 else rng.randrange(0, 40),
            "seen": ts - dt.timedelta(days=rng.randrange(0, 400)),
            "tier": None if rng.random() < 0.15 else rng.choice(TIERS),
            "tag": None if rng.random() < 0.15 else rng.choice(TAGS),
            "seq": None if rng.random() < 0.1 else rng.randrange(-3, 4),
        })
        if rng.random() < 0.05:
            trips.append(dict(trips[-1]))  # an exact duplicate: both count
        if rng.random() < 0.08:  # the same event and created time, other values: `last` takes the greatest seq,
            # then the greatest value
            trips.append(dict(trips[-1], tier=rng.choice(TIERS), tag=rng.choice(TAGS),
                              km=None if rng.random() < 0.2 else rng.randrange(0, 40),
                              seq=rng.choice([None, trips[-1]["seq"], rng.randrange(-3, 4)])))
    return trips


def trips_table(trips: list[dict[str, Any]]):
    import pyarrow as pa

    return pa.table({
        "driver_id": pa.array([t["driver_id"] for t in trips], pa.int64()),
        "event_timestamp": pa.array([t["event_timestamp"] for t in trips], pa.timestamp("us", "UTC")),
        "created": pa.array([t["created"] for t in trips], pa.timestamp("us", "UTC")),
        "fare": pa.array([t["fare"] for t in trips], pa.float64()),
        "km": pa.array([t["km"] for t in trips], pa.int64()),
        "seen": pa.array([t["seen"] for t in trips], pa.timestamp("us", "UTC")),
        "tier": pa.array([t.get("tier") for t in trips], pa.string()),
        "tag": pa.array([t.get("tag") for t in trips], pa.binary()),
        "seq": pa.array([t.get("seq") for t in trips], pa.int64()),
    })


def write_trips(root: Path, trips: list[dict[str, Any]]) -> None:
    import pyarrow.parquet as pq

    pq.write_table(trips_table(trips), root / "data" / "trips.parquet")


def _micros(moment: dt.datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def window_end(t: dt.datetime) -> dt.datetime:
    size = _micros(EPOCH + STEP)
    return EPOCH + dt.timedelta(microseconds=_micros(t) // size * size)


def reference(trips: list[dict[str, Any]], driver: int, t: dt.datetime) -> dict[str, Any]:
    end = window_end(t)
    out: dict[str, Any] = {}
    for name, (function, column, window) in AGGREGATES.items():
        rows = [r for r in trips if r["driver_id"] == driver and end - window <= r["event_timestamp"] < end]
        out[name] = _aggregate(function, column, rows)
    return out


def _aggregate(function: str, column: str | None, rows: list[dict[str, Any]]) -> Any:
    if function == "count" and column is None:
        return len(rows)
    present = [r for r in rows if r[column] is not None]
    values = [r[column] for r in present]
    if function == "count":
        return len(values)
    if not values:
        return None
    if function == "min":
        return min(values)
    if function == "max":
        return max(values)
    if function == "last":
        top = max(_order(r) for r in present)
        return max(r[column] for r in present if _order(r) == top)
    exact = [Fraction(v) for v in values]
    total = sum(exact)
    if function == "sum":
        return int(total) if all(isinstance(v, int) for v in values) else float(total)
    mean = total / len(exact)
    if function == "avg":
        return float(mean)
    if len(exact) < 2:
        return None
    variance = sum((v - mean) ** 2 for v in exact) / (len(exact) - 1)
    return float(variance) if function == "variance" else math.sqrt(variance)


def _order(row: dict[str, Any]) -> tuple:
    """The point-in-time order of a row: event time, created time, then its tie_breaker (NULL oldest)."""
    seq = row.get("seq")
    return row["event_timestamp"], row["created"], (0, 0) if seq is None else (1, seq)


def from_json(online: dict[str, Any]) -> dict[str, Any]:
    """Aggregated values as a JSON response gives them (times as RFC 3339 text, bytes as base64), as the SDK
    gives them."""
    import base64

    out = dict(online)
    if out["first_seen_max"] is not None:
        out["first_seen_max"] = dt.datetime.fromisoformat(out["first_seen_max"].replace("Z", "+00:00"))
    if out["last_tag_3h"] is not None:
        out["last_tag_3h"] = base64.b64decode(out["last_tag_3h"])
    return out


def assert_same(online: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    """Exact for counts, integer sums, min, max and last; within 1e-9 relative for float sums, averages and
    deviations."""
    for name, want in expected.items():
        got = online[name]
        if name in EXACT or want is None or got is None:
            assert got == want and type(got) is type(want), f"{where}: {name} = {got!r}, expected {want!r}"
        else:
            assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), f"{where}: {name} = {got!r}, expected {want!r}"


class Server:
    """`fcompile serve` of a project in a subprocess on a free port (stopped by `stop`)."""

    def __init__(self, root: Path) -> None:
        import os
        import subprocess
        import sys

        from tcp_proxy import free_port

        self.port = free_port()
        self.log = open(root / "serve.log", "wb")
        env = {k: v for k, v in os.environ.items() if k not in ("FCOMPILE_PROJECT_DIR", "FCOMPILE_TARGET")}
        self.process = subprocess.Popen([sys.executable, "-m", "fcompile", "serve", "--project-dir", str(root),
                                         "--port", str(self.port), "--reload-interval", "0"],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self._wait(root)

    def _wait(self, root: Path) -> None:
        import socket
        import time

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError((root / "serve.log").read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("fcompile serve did not listen")

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", path, body=json.dumps(body, default=str),
                               headers={"Content-Type": "application/json"})
            reply = connection.getresponse()
            return reply.status, json.loads(reply.read() or b"null")
        finally:
            connection.close()

    def stop(self) -> None:
        import signal
        import subprocess

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
