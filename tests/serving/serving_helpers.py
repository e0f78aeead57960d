"""A real `fcompile serve` in a subprocess, a small project to serve, and an HTTP client (http.client).

The project: drivers 1001-1003 with three features in `driver_stats` (no ttl: PRESENT), the same source
behind `driver_recent` (ttl 1d: OUTSIDE_MAX_AGE today), an offline-only view, a push source feeding
`driver_pushed`, and a view keyed by a date (`shift_stats`) to exercise join keys JSON has no type for
(and floats it has no form for: NaN and infinities).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from store_cleanup import delete_redis_project
from tcp_proxy import free_port

UTC = dt.timezone.utc

SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
  - {name: shift, join_keys: [{name: shift_day, dtype: date}]}
sources:
  - {name: stats, path: data/stats, timestamp_field: ts}
  - {name: stats_push, push: {batch_source: stats}}
  - {name: shifts, path: data/shifts.parquet, timestamp_field: ts}
feature_views:
  - name: driver_stats
    entities: [driver]
    source: stats
    features: [{name: conv_rate, dtype: float64}, {name: trips, dtype: int64}, {name: city, dtype: string}]
  - name: driver_recent
    entities: [driver]
    source: stats
    ttl: 1d
    features: [{name: trips, dtype: int64}]
  - name: driver_archive
    entities: [driver]
    source: stats
    online: false
    features: [{name: conv_rate, dtype: float64}]
  - name: driver_pushed
    entities: [driver]
    source: stats_push
    features: [{name: conv_rate, dtype: float64}, {name: trips, dtype: int64}]
  - name: shift_stats
    entities: [shift]
    source: shifts
    features: [{name: demand, dtype: float64}]
feature_services:
  - {name: driver_v1, features: ["driver_stats:*"]}
  - {name: driver_mixed, features: ["driver_stats:conv_rate", "driver_recent:trips"]}
  - {name: driver_archived, features: ["driver_archive:conv_rate"]}
"""
WINDOW = {"start_ts": "2024-04-01T00:00:00Z", "end_ts": "2024-06-01T00:00:00Z"}


def write_project(root: Path, online: dict, serving: dict | None = None, name: str | None = None) -> str:
    """A project in `root` whose dev target uses `online`; returns the project's name (unique: it
    namespaces the store's keys)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = name or f"srv_{uuid.uuid4().hex[:12]}"
    target = {"offline": {"type": "duckdb", "path": ".fcompile/offline.duckdb"}, "online": online}
    if serving is not None:
        target["serving"] = serving
    project = {"name": name, "default_target": "dev", "targets": {"dev": target}}
    root.mkdir(parents=True, exist_ok=True)
    (root / "fcompile_project.yml").write_text(json.dumps(project, indent=2))  # JSON is YAML
    (root / "features.yml").write_text(SPEC)
    (root / "data" / "stats").mkdir(parents=True, exist_ok=True)
    at = lambda day, hour: dt.datetime(2024, 5, day, hour)  # noqa: E731
    pq.write_table(pa.table({
        "driver_id": pa.array([1001, 1001, 1002, 1003], pa.int64()),
        "ts": pa.array([at(1, 10), at(2, 10), at(1, 12), at(1, 8)], pa.timestamp("us")),
        "conv_rate": [0.25, 0.5, 0.75, 0.125],
        "trips": pa.array([10, 12, 7, 3], pa.int64()),
        "city": ["Oslo", "Oslo", "Bergen", None],
    }), root / "data" / "stats" / "part-0.parquet")
    pq.write_table(pa.table({
        "shift_day": pa.array([dt.date(2024, 5, d) for d in (1, 2, 3, 4, 5)], pa.date32()),
        "ts": pa.array([at(d, 23) for d in (1, 2, 3, 4, 5)], pa.timestamp("us")),
        "demand": [0.9, 0.4, float("nan"), float("inf"), float("-inf")],
    }), root / "data" / "shifts.parquet")
    return name


closed_port = free_port  # nothing listens there: a connection is refused


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict:
        return self.json["error"]

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


class Server:
    """`fcompile serve` on a free port of 127.0.0.1, its output in `log_path`."""

    def __init__(self, project: Path, *args: str, env: dict[str, str] | None = None, wait: bool = True,
                 port: int | None = None):
        """`port`: where the project's serving block makes the server listen (no --port is passed)."""
        self.project = project
        self.port = port or free_port()
        self.log_path = project / f"serve-{self.port}.log"
        full_env = {k: v for k, v in os.environ.items() if k not in ("FCOMPILE_PROJECT_DIR", "FCOMPILE_TARGET")}
        full_env.update(env or {})
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fcompile", "serve", "--project-dir", str(project),
             *(() if port else ("--port", str(self.port))), *args], stdout=self._log, stderr=subprocess.STDOUT,
            env=full_env)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"fcompile serve exited with {self.process.returncode}:\n{self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"fcompile serve did not listen within {timeout} s:\n{self.log}")

    @property
    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             timeout: float = 30.0) -> Response:
        """One request on a new connection. `body`: bytes or str as they are, anything else as JSON."""
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            reply = connection.getresponse()
            return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
        finally:
            connection.close()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Response:
        return self.call("POST", path, body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.call("GET", path, **kwargs)

    def online(self, entities: dict, **fields: Any) -> Response:
        return self.post("/get-online-features", {"entities": entities, **fields})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def materialize(server: Server) -> None:
    reply = server.post("/materialize", WINDOW)
    assert reply.status == 200, reply


def metric(text: str, name: str, /, **labels: str) -> float:
    """The value of one sample of a Prometheus text exposition (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def redis_cleanup(url: str, project: str) -> None:
    delete_redis_project(url, project)


def read_raw_response(client) -> bytes:
    """One whole HTTP response from a raw socket (headers and Content-Length bytes of body)."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
        more = client.recv(65536)
        if not more:
            break
        data += more
    return data


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0
