"""Feature-server benchmark: a real `fcompile serve` on 127.0.0.1 with `--keys` drivers loaded, under a
bounded load, on SQLite and Redis, beside the in-process SDK read as the floor.

The project is online_bench.py's (a view of 10 float features, service `wide_v1`), materialized in process.
For each store and `--workers` count, a server is started and driven, for `--duration` seconds per run,
with requests for 1 and for 100 random drivers x 10 features at concurrency 1 and 16 (keep-alive
connections), by wrk (Debian package `wrk`; POST bodies from a Lua script cycling through pre-built
requests) or, without wrk, by an asyncio client of raw HTTP/1.1 (which spends CPU on the same cores).
Prints requests/s, p50 and p99 latency as the client saw them, the server's own p99 (the bucket of its
latency histogram, from /metrics: time from reading the request to sending the answer) and errors (non-200
answers and socket errors) per run, the SDK's
`get_online_features(...).to_http_json()` in process (p50/p99 over many calls), and the issue's targets:
p50 <= 0.5 ms and p99 <= 2 ms at c=1 for one entity; >= 5,000 requests/s at c=16 for one entity and
>= 500 for 100 entities; no errors; a flat p99 over a 60-second run (`--duration 60`: the one-entity c=16
run is then cut into segments of `--segment` seconds, each with its own p99).

Then, on each store's first server, the aggregated read against the plain one: one connection (c=1)
alternates requests for one driver's 10 windowed aggregations (online_bench's view `trip_windows`, 7-day
windows with a step of 1h, materialized over trips of the 7 days before now, so a request reads and merges
168 tiles) and for the same driver's 10 plain features, `--pairs` times after a warm-up, and prints both
p50s and their ratio (target: at most 2x).

The machine's load average is printed with each run: the load generator, Redis and the server share the
cores, and other processes on a shared machine move the figures.

    python bench/serve_bench.py [--keys 100000] [--duration 10] [--stores sqlite redis] [--workers 1 2]
                                [--entities 1 100] [--concurrency 1 16] [--client auto|wrk|asyncio]
                                [--segment 10] [--pairs 3000] [--keep]
    python bench/serve_bench.py --duration 60 --entities 1 --concurrency 16   # the flat-p99 check
    python bench/serve_bench.py --quick      # 10k keys, 2-second runs, SQLite, one worker: a smoke run
    python bench/serve_bench.py --on-demand  # the cost of one on-demand feature (below)
    python bench/serve_bench.py --baseline bare [--rounds 6] [--duration 18]  # against a bare ASGI app

`--baseline bare` (issue 20) measures the server against a bare ASGI app on the same stack: for each store and
`--workers` count, the feature server and a bare app (this module's `bare_app`: it reads the request body and
answers a fixed body, the feature server's own answer to one of the requests, so of the same size) run under
uvicorn with the same settings (uvloop, httptools, the same worker count, keep-alive, no access log, no
Server or Date header), and wrk drives them in alternating runs of `--duration` / `--rounds` seconds each
(`--rounds` pairs, each pair's order flipped): 1 entity at c=1 and c=16, 100 entities at c=16. A result
check first compares the server's answers with the SDK's in process, and the bare app's body with the server's.
Prints each side's medians and the ratios against the targets: one-entity p50 <= 1.3x the bare app's, c=16
throughput >= 80% of the bare app's for one entity and >= 50% for 100, and each side's CPU time per request
(its processes' user + system time over the run, from /proc: less moved by the machine's load than
requests/s). Before the runs, per store, the
floors under the server's own work: the SDK's read and JSON in process (p50, 1 and 100 entities) and,
on Redis, one GET round trip from Python.

`--on-demand` measures what one on-demand feature adds to a request (issue 17): the same 1-entity request
for the 10 features of `wide_v1`, without and with one on-demand feature (`amount / f0 + f1`, `amount` a
request field sent beside the key: service `wide_order_v1`), at c=1 against one worker, in alternating
runs of the same server (`--rounds` pairs of `--duration` / `--rounds` seconds each); prints each side's
p50 (the median of its runs' p50s), the ratio (the median of the pairs' ratios: the machine's load moves
between pairs more than within one; target <= 1.20), and the same ratio for the SDK in process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from online_bench import AGGREGATED_KEYS, END, write_project

SERVICE = "wide_v1"
WINDOWS_SERVICE = "windows_v1"  # 10 windowed aggregations, 7-day windows of 1h steps
AGGREGATED_RATIO_TARGET = 2.0  # the p50 of a one-entity request of them, at most this many times a plain one's
REDIS_URL = os.environ.get("FCOMPILE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TARGETS = {"p50_ms": 0.5, "p99_ms": 2.0, "rps_1": 5000, "rps_100": 500}
HEADER = "store   workers entities conc  client   requests  requests/s   p50 ms   p99 ms srv p99<=ms errors  load"
FLAT_P99_RATIO = 2.0  # a segment's p99 at most this many times the lowest segment's
ON_DEMAND_SERVICE = "wide_order_v1"
ON_DEMAND_RATIO = 1.20  # a request with one on-demand feature: p50 at most 20% above the same without it
ON_DEMAND_SPEC = """\
request_sources:
  - {name: order_request, fields: [{name: amount, dtype: float64}]}
on_demand_views:
  - name: order_features
    inputs: [wide, order_request]
    features:
      - {name: amount_ratio, dtype: float64, expr: "amount / f0 + f1"}
"""


@dataclass
class Run:
    store: str
    workers: int
    entities: int
    concurrency: int
    client: str
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    load: float
    server_p99_ms: float = float("nan")  # upper bound of the server's own p99 (its histogram's bucket)
    cpu_us: float = float("nan")  # the server's processes' CPU time (user + system) per request, from /proc


# -- the project and its store ------------------------------------------------------------------------

def prepare(root: Path, store: str, keys: int) -> str:
    """online_bench's project and data, with the store's online settings and the on-demand service; materialized
    (the windowed view's trips over the 7 days before now, materialized up to now, so a request merges a full
    week of tiles). Returns its name."""
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    write_project(root, keys, trips_end=now.replace(minute=0, second=0, microsecond=0))
    spec = (root / "features.yml").read_text().replace("feature_services:\n", ON_DEMAND_SPEC + "feature_services:\n")
    (root / "features.yml").write_text(spec + f'  - {{name: {ON_DEMAND_SERVICE}, features: ["wide:*", '
                                       '"order_features:amount_ratio"]}\n')
    name = f"serve_bench_{uuid.uuid4().hex[:8]}"
    online = ("{type: sqlite, path: .fcompile/online.db}" if store == "sqlite"
              else f"{{type: redis, url: '{REDIS_URL}'}}")
    (root / "fcompile_project.yml").write_text(
        f"name: {name}\ndefault_target: dev\ntargets:\n  dev: {{offline: {{type: duckdb}}, online: {online}}}\n")
    from fcompile import FeatureStore
    from fcompile.tasks.materialize import materialize_views

    with FeatureStore(root) as fs:
        started = time.perf_counter()
        (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("wide")], END)
        assert result.ok, [d.render() for d in result.diagnostics]
        print(f"{store}: materialized {result.keys_written:,} keys in {time.perf_counter() - started:.1f} s")
        (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("trip_windows")],
                                      now)
        assert result.ok, [d.render() for d in result.diagnostics]
        print(f"{store}: materialized the tiles of {result.keys_written:,} drivers from {result.rows_read:,} trips")
    return name


def sdk_floor(root: Path, keys: int, calls: int) -> dict[int, tuple[float, float]]:
    """p50/p99 in ms of `get_online_features(...).to_http_json()` in process, per entity count."""
    from fcompile import FeatureStore

    rng = random.Random(7)
    out = {}
    with FeatureStore(root) as fs:
        for entities in (1, 100):
            count = calls if entities == 1 else max(calls // 20, 200)
            asks = [[rng.randrange(keys) for _ in range(entities)] for _ in range(count)]
            fs.get_online_features({"driver_id": asks[0]}, service=SERVICE).to_http_json()
            samples = []
            for drivers in asks:
                begin = time.perf_counter()
                fs.get_online_features({"driver_id": drivers}, service=SERVICE).to_http_json()
                samples.append(time.perf_counter() - begin)
            out[entities] = percentiles_ms(samples)
    return out


def redis_round_trip_ms(calls: int = 5000) -> float:
    """p50 of one GET of a 100-byte value with redis-py: the least a read from Redis waits for."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    key = f"serve_bench_rtt_{uuid.uuid4().hex[:8]}"
    client.set(key, b"x" * 100)
    try:
        samples = []
        for _ in range(calls):
            begin = time.perf_counter()
            client.get(key)
            samples.append(time.perf_counter() - begin)
        return percentiles_ms(samples)[0]
    finally:
        client.delete(key)
        client.close()


def cleanup_redis(name: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        doomed = list(client.scan_iter(match=f"fc:{name}:*", count=10_000))
        for start in range(0, len(doomed), 10_000):
            client.unlink(*doomed[start:start + 10_000])
    finally:
        client.close()


def redis_reachable() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return True
    except Exception:
        return False


# -- the server ---------------------------------------------------------------------------------------

class ServerProcess:
    def __init__(self, root: Path, workers: int, bare_bodies: tuple[Path, Path] | None = None):
        """`fcompile serve` of the project in `root`; with `bare_bodies` (the answers for one entity and for
        more), the bare app in its place, on the same uvicorn settings."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.has_metrics = bare_bodies is None
        self.log = open(root / f"serve-{self.port}.log", "wb")
        if bare_bodies is None:
            command = [sys.executable, "-m", "fcompile", "serve", "--project-dir", str(root), "--port", str(self.port),
                       "--workers", str(workers), "--reload-interval", "0", "--log-level", "warning"]
        else:
            command = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(self.port), str(workers),
                       str(bare_bodies[0]), str(bare_bodies[1])]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, (root / f"serve-{self.port}.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        time.sleep(0.5 * workers)  # every worker up

    def metrics(self) -> str:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=30) as reply:
            return reply.read().decode()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def request_bodies(keys: int, entities: int, count: int, seed: int = 11, on_demand: bool = False) -> list[bytes]:
    """Request bodies for random drivers; with `on_demand`, for the service with the on-demand feature, each
    entity with its request field."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        body: dict = {"entities": {"driver_id": [rng.randrange(keys) for _ in range(entities)]},
                      "feature_service": ON_DEMAND_SERVICE if on_demand else SERVICE}
        if on_demand:
            body["entities"]["amount"] = [round(rng.uniform(1, 100), 2) for _ in range(entities)]
        out.append(json.dumps(body, separators=(",", ":")).encode())
    return out


# -- load with wrk ------------------------------------------------------------------------------------

WRK_SCRIPT = """\
local bodies = {}
local next_body = 1
local headers = {["Content-Type"] = "application/json"}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
request = function()
  local body = bodies[next_body]
  next_body = next_body %% #bodies + 1
  return wrk.format("POST", "/get-online-features", headers, body)
end
"""


def run_wrk(port: int, bodies_file: Path, script_file: Path, concurrency: int, seconds: float) -> tuple:
    """(requests, requests/s, p50 ms, p99 ms, errors) from one wrk run."""
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s",
               "-s", str(script_file), f"http://127.0.0.1:{port}/get-online-features"]
    text = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = _wrk_ms(re.search(r"50%\s+([\d.]+\w+)", text).group(1))
    p99 = _wrk_ms(re.search(r"99%\s+([\d.]+\w+)", text).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors += int(non_2xx.group(1)) if non_2xx else 0
    return requests, rps, p50, p99, errors


def _wrk_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


# -- load with asyncio (no wrk) -------------------------------------------------------------------------

async def _connection(port: int, bodies: list[bytes], offset: int, deadline: float, latencies: list[float],
                      errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    heads = [b"POST /get-online-features HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
             b"Content-Length: %d\r\n\r\n" % len(b) + b for b in bodies]
    i = offset
    try:
        while time.perf_counter() < deadline:
            request = heads[i % len(heads)]
            i += 1
            begin = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - begin)
            if not head.startswith(b"HTTP/1.1 200"):
                errors[0] += 1
    except (OSError, asyncio.IncompleteReadError):
        errors[0] += 1
    finally:
        writer.close()


def run_asyncio(port: int, bodies: list[bytes], concurrency: int, seconds: float) -> tuple:
    latencies: list[float] = []
    errors = [0]

    async def main() -> float:
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(_connection(port, bodies, k * 97, deadline, latencies, errors)
                               for k in range(concurrency)))
        return time.perf_counter() - start

    took = asyncio.run(main())
    p50, p99 = percentiles_ms(latencies)
    return len(latencies), len(latencies) / took, p50, p99, errors[0]


# -- aggregated against plain, one entity ---------------------------------------------------------------

@dataclass
class Comparison:
    store: str
    pairs: int
    plain_p50_ms: float
    aggregated_p50_ms: float

    @property
    def ratio(self) -> float:
        return self.aggregated_p50_ms / self.plain_p50_ms


def aggregated_vs_plain(port: int, store: str, keys: int, pairs: int) -> Comparison:
    """On one keep-alive connection, requests for one driver's 10 aggregated features and for the same driver's
    10 plain features, alternately (so the machine's load weighs on both alike): the p50 of each."""
    rng = random.Random(5)
    drivers = [rng.randrange(min(keys, AGGREGATED_KEYS)) for _ in range(pairs + 200)]

    def request(service: str, driver: int) -> bytes:
        body = json.dumps({"entities": {"driver_id": [driver]}, "feature_service": service}).encode()
        return (b"POST /get-online-features HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)) + body

    connection = socket.create_connection(("127.0.0.1", port))
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stream = connection.makefile("rb")
    times: dict[str, list[float]] = {SERVICE: [], WINDOWS_SERVICE: []}
    try:
        for n, driver in enumerate(drivers):
            for service in (SERVICE, WINDOWS_SERVICE):
                payload = request(service, driver)
                begin = time.perf_counter()
                connection.sendall(payload)
                status = stream.readline()
                length = 0
                while True:
                    line = stream.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                answer = stream.read(length)
                took = time.perf_counter() - begin
                assert status.startswith(b"HTTP/1.1 200"), (status, answer[:300])
                if n == 0 and service == WINDOWS_SERVICE:  # the windows hold trips: the read merges tiles
                    results = json.loads(answer)["results"]
                    assert results[1]["values"][0] > 0, answer[:300]
                if n >= 200:  # after a warm-up
                    times[service].append(took)
    finally:
        stream.close()
        connection.close()
    return Comparison(store, pairs, statistics.median(times[SERVICE]) * 1e3,
                      statistics.median(times[WINDOWS_SERVICE]) * 1e3)


def percentiles_ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3


# -- the runs -----------------------------------------------------------------------------------------

def drive(server: ServerProcess, store: str, workers: int, keys: int, entities: int, concurrency: int,
          seconds: float, client: str, work: Path, on_demand: bool = False) -> Run:
    bodies = request_bodies(keys, entities, 2000 if entities == 1 else 300, seed=entities * 100 + concurrency,
                            on_demand=on_demand)
    if client == "wrk":
        bodies_file = work / f"bodies-{entities}{'-od' * on_demand}.txt"
        bodies_file.write_bytes(b"\n".join(bodies) + b"\n")
        script_file = work / f"post-{entities}{'-od' * on_demand}.lua"
        script_file.write_text(WRK_SCRIPT % bodies_file)
        run_wrk(server.port, bodies_file, script_file, concurrency, 1)  # warm-up
        before = server.metrics() if server.has_metrics else ""
        cpu = tree_cpu_seconds(server.process.pid)
        requests, rps, p50, p99, errors = run_wrk(server.port, bodies_file, script_file, concurrency, seconds)
    else:
        run_asyncio(server.port, bodies, concurrency, 0.5)
        before = server.metrics() if server.has_metrics else ""
        cpu = tree_cpu_seconds(server.process.pid)
        requests, rps, p50, p99, errors = run_asyncio(server.port, bodies, concurrency, seconds)
    cpu = tree_cpu_seconds(server.process.pid) - cpu
    return Run(store, workers, entities, concurrency, client, seconds, requests, rps, p50, p99, errors,
               os.getloadavg()[0], server_p99_ms(before, server.metrics()) if server.has_metrics else float("nan"),
               cpu / max(requests, 1) * 1e6)


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process and its children (uvicorn's workers), from /proc
    (clock ticks: a run of a few seconds and thousands of requests measures microseconds per request)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields: state, ppid, ..., utime (11), stime (12)
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def server_p99_ms(before: str, after: str) -> float:
    """The server's p99 for the run, as the upper bound of the latency bucket that holds it (from the
    difference of two /metrics scrapes): what the server itself spent, without the network, the load
    generator or waiting for a CPU before the request was read."""
    from prometheus_client.parser import text_string_to_metric_families

    def buckets(text: str) -> dict[float, float]:
        out: dict[float, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "fcompile_serve_request_duration_seconds_bucket" and \
                        sample.labels.get("feature_service") == SERVICE:
                    bound = float(sample.labels["le"])
                    out[bound] = out.get(bound, 0.0) + sample.value
        return out

    start, end = buckets(before), buckets(after)
    counts = sorted((bound, end[bound] - start.get(bound, 0.0)) for bound in end)
    total = counts[-1][1] if counts else 0.0
    for bound, cumulative in counts:
        if total and cumulative >= 0.99 * total:
            return bound * 1e3
    return float("nan")


def print_run(run: Run) -> None:
    print(f"{run.store:7s} {run.workers:>7d} {run.entities:>8d} {run.concurrency:>4d}  {run.client:7s} "
          f"{run.requests:>9,d} {run.rps:>11,.0f} {run.p50_ms:>8.3f} {run.p99_ms:>8.3f} {run.server_p99_ms:>10.2f} "
          f"{run.errors:>6d} {run.load:>5.1f}", flush=True)


def check_targets(runs: list[Run], segments: dict[tuple, list[float]],
                  comparisons: list[Comparison] = ()) -> list[str]:
    lines = []
    for comparison in comparisons:
        ok = comparison.ratio <= AGGREGATED_RATIO_TARGET
        lines.append(f"{'met ' if ok else 'MISS'} {comparison.store}, 1 entity, c=1: 10 aggregated features p50 "
                     f"{comparison.aggregated_p50_ms:.3f} ms = {comparison.ratio:.2f}x 10 plain ones' "
                     f"{comparison.plain_p50_ms:.3f} ms (<= {AGGREGATED_RATIO_TARGET:g}x)")
    for run in runs:
        label = f"{run.store}, {run.workers} worker(s), {run.entities} entit{'y' if run.entities == 1 else 'ies'}, " \
                f"c={run.concurrency}"
        if run.entities == 1 and run.concurrency == 1:
            ok = run.p50_ms <= TARGETS["p50_ms"] and run.p99_ms <= TARGETS["p99_ms"]
            lines.append(f"{'met ' if ok else 'MISS'} {label}: p50 {run.p50_ms:.3f} ms (<= 0.5), p99 {run.p99_ms:.3f} "
                         "ms (<= 2)")
        if run.concurrency == 16:
            target = TARGETS["rps_1"] if run.entities == 1 else TARGETS["rps_100"]
            ok = run.rps >= target
            lines.append(f"{'met ' if ok else 'MISS'} {label}: {run.rps:,.0f} requests/s (>= {target:,})")
        if run.errors:
            lines.append(f"MISS {label}: {run.errors} errors (target: none)")
    for (store, workers), p99s in segments.items():
        ratio = max(p99s) / min(p99s)
        shown = ", ".join(f"{p:.2f}" for p in p99s)
        lines.append(f"{'met ' if ratio <= FLAT_P99_RATIO else 'MISS'} {store}, {workers} worker(s), 1 entity, c=16: "
                     f"p99 per segment {shown} ms (max/min {ratio:.1f}, flat: <= {FLAT_P99_RATIO:g})")
    return lines


def on_demand_cost(store: str, keys: int, seconds: float, rounds: int, calls: int, client: str) -> bool:
    """The 1-entity request with and without one on-demand feature, alternating on one server; prints the
    p50s and their ratio, as the client sees them and for the SDK in process. Returns whether the target is met."""
    from fcompile import FeatureStore

    root = Path(tempfile.mkdtemp(prefix=f"fcompile-serve-bench-od-{store}-"))
    name = None
    try:
        name = prepare(root, store, keys)
        rng = random.Random(5)
        with FeatureStore(root) as fs:  # in process: alternate calls, the same drivers
            asks = [(rng.randrange(keys), round(rng.uniform(1, 100), 2)) for _ in range(calls)]
            plain, computed = [], []
            for driver, amount in asks:
                begin = time.perf_counter()
                fs.get_online_features({"driver_id": [driver]}, service=SERVICE).to_http_json()
                middle = time.perf_counter()
                fs.get_online_features({"driver_id": [driver], "amount": [amount]},
                                       service=ON_DEMAND_SERVICE).to_http_json()
                plain.append(middle - begin)
                computed.append(time.perf_counter() - middle)
        sdk = (percentiles_ms(plain[100:])[0], percentiles_ms(computed[100:])[0])
        server = ServerProcess(root, 1)
        try:
            sides: dict[bool, list[float]] = {False: [], True: []}
            for n in range(rounds):  # each pair in turn order, so a drift in the machine's load favours neither
                for on_demand in ((False, True) if n % 2 == 0 else (True, False)):
                    run = drive(server, store, 1, keys, 1, 1, seconds / rounds, client, root, on_demand)
                    assert run.errors == 0, f"{run.errors} errors"
                    sides[on_demand].append(run.p50_ms)
        finally:
            server.stop()
    finally:
        if store == "redis" and name:
            cleanup_redis(name)
        shutil.rmtree(root, ignore_errors=True)
    without, with_ = statistics.median(sides[False]), statistics.median(sides[True])
    ratio = statistics.median(b / a for a, b in zip(sides[False], sides[True]))  # pair by pair: the load moves
    print(f"{store}: 1 entity x 10 features, c=1, {rounds} alternating pairs of {seconds / rounds:g} s ({client}):")
    print(f"  server p50 without the on-demand feature {without:.3f} ms, with it {with_:.3f} ms: ratio {ratio:.3f} "
          "(the median of the pairs' ratios) "
          f"({'met' if ratio <= ON_DEMAND_RATIO else 'MISS'}, target <= {ON_DEMAND_RATIO:.2f})")
    print(f"    runs without: {', '.join(f'{p:.3f}' for p in sides[False])}; with: "
          f"{', '.join(f'{p:.3f}' for p in sides[True])}")
    print(f"  SDK in process p50 without {sdk[0] * 1e3:.1f} us, with {sdk[1] * 1e3:.1f} us: ratio {sdk[1] / sdk[0]:.3f}")
    return ratio <= ON_DEMAND_RATIO


# -- against a bare ASGI app (--baseline bare) -------------------------------------------------------------

BARE_TARGETS = {"p50": 1.3, "rps_1": 0.8, "rps_100": 0.5}  # server / bare app: p50 at most, requests/s at least
BARE_SHAPES = ((1, 1), (1, 16), (100, 16))  # (entities, concurrency)
_BARE_ANSWERS: list[bytes] = []  # the bare app's bodies: for one entity, for more


async def bare_app(scope: dict, receive, send) -> None:
    """An ASGI app that reads the request body and answers a fixed JSON body: the floor of the stack."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = _BARE_ANSWERS[0 if size < 200 else 1]  # one entity's request is under 100 bytes, 100 entities' over 600
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


def serve_bare(port: int, workers: int, one: Path, many: Path) -> None:
    """uvicorn with the settings `fcompile serve` runs it with (fcompile/serving/server.py), serving `bare_app`."""
    import uvicorn

    os.environ["FCOMPILE_BENCH_BARE"] = f"{one}\n{many}"
    uvicorn.run("serve_bench:bare_app", host="127.0.0.1", port=port, workers=workers, app_dir=str(Path(__file__).parent),
                loop="uvloop", http="httptools", lifespan="off", access_log=False, log_level="warning",
                proxy_headers=False, server_header=False, date_header=False, timeout_keep_alive=5,
                timeout_graceful_shutdown=30)


if os.environ.get("FCOMPILE_BENCH_BARE"):  # a worker of the bare app: its bodies
    _BARE_ANSWERS[:] = [Path(p).read_bytes() for p in os.environ["FCOMPILE_BENCH_BARE"].split("\n")]


def post(port: int, body: bytes) -> bytes:
    """One request, its answer's body (asserting a 200)."""
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}/get-online-features", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 200, reply.status
        return reply.read()


def bare_comparison(store: str, keys: int, workers_counts: list[int], seconds: float, rounds: int,
                    client: str) -> list[str]:
    """The server against the bare app, alternating runs (module doc); returns the verdict lines."""
    from fcompile import FeatureStore
    from fcompile.serving.encoding import encode_online

    root = Path(tempfile.mkdtemp(prefix=f"fcompile-serve-bench-bare-{store}-"))
    name = None
    lines = []
    try:
        name = prepare(root, store, keys)
        floor = sdk_floor(root, keys, 5000)
        note = (f"; one Redis GET round trip from Python p50 {redis_round_trip_ms() * 1000:.0f} us"
                if store == "redis" else "")
        print(f"{store}: in process, no HTTP, one core: the read and its JSON (the SDK's to_http_json) p50 "
              f"{floor[1][0] * 1000:.0f} us for 1 entity, {floor[100][0] * 1000:.0f} us for 100{note}")
        for workers in workers_counts:
            server = ServerProcess(root, workers)
            bare = None
            try:
                answers = []
                with FeatureStore(root) as fs:  # the result check: the server answers what the SDK reads
                    for entities in (1, 100):
                        for body in request_bodies(keys, entities, 20, seed=entities * 100 + 16):
                            answer = post(server.port, body)
                            asked = json.loads(body)
                            response = fs.get_online_features(asked["entities"], service=asked["feature_service"])
                            assert json.loads(answer) == json.loads(encode_online(response.to_http_dict())), body
                        answers.append(answer)
                files = (root / "bare-1.json", root / "bare-100.json")
                for path, answer in zip(files, answers):
                    path.write_bytes(answer)
                bare = ServerProcess(root, workers, files)
                for answer, entities in zip(answers, (1, 100)):
                    assert post(bare.port, request_bodies(keys, entities, 1)[0]) == answer  # the same bytes
                sides: dict[tuple, dict[str, list[Run]]] = {shape: {"fcompile": [], "bare": []} for shape in BARE_SHAPES}
                for n in range(rounds):
                    for entities, concurrency in BARE_SHAPES:
                        pair = (("fcompile", server), ("bare", bare)) if n % 2 == 0 else \
                            (("bare", bare), ("fcompile", server))
                        for side, target in pair:
                            run = drive(target, store, workers, keys, entities, concurrency, seconds / rounds, client,
                                        root)
                            assert run.errors == 0, f"{side}: {run.errors} errors"
                            sides[(entities, concurrency)][side].append(run)
                print(f"{store}, {workers} worker(s): {rounds} alternating pairs of {seconds / rounds:g}-s runs "
                      f"({client}); medians of the runs")
                for (entities, concurrency), runs in sides.items():
                    ours, theirs = runs["fcompile"], runs["bare"]
                    rps = [statistics.median(r.rps for r in side) for side in (ours, theirs)]
                    p50 = [statistics.median(r.p50_ms for r in side) for side in (ours, theirs)]
                    cpu = [statistics.median(r.cpu_us for r in side) for side in (ours, theirs)]
                    load = max(r.load for r in ours + theirs)
                    print(f"  {entities:>3d} entit{'y  ' if entities == 1 else 'ies'} c={concurrency:<3d} "
                          f"server {rps[0]:>8,.0f} req/s p50 {p50[0]:.3f} ms {cpu[0]:.0f} us CPU | bare app "
                          f"{rps[1]:>8,.0f} req/s p50 {p50[1]:.3f} ms {cpu[1]:.0f} us CPU | throughput "
                          f"{rps[0] / rps[1]:.2f}, p50 {p50[0] / p50[1]:.2f}x (load average up to {load:.1f})")
                    label = f"{store}, {workers} worker(s), {entities} entit{'y' if entities == 1 else 'ies'}, c={concurrency}"
                    if entities == 1:
                        ratio = p50[0] / p50[1]
                        lines.append(f"{'met ' if ratio <= BARE_TARGETS['p50'] else 'MISS'} {label}: p50 {ratio:.2f}x "
                                     f"the bare app's (<= {BARE_TARGETS['p50']:g}x)")
                    if concurrency == 16:
                        share, target = rps[0] / rps[1], BARE_TARGETS["rps_1" if entities == 1 else "rps_100"]
                        lines.append(f"{'met ' if share >= target else 'MISS'} {label}: throughput {share:.0%} of "
                                     f"the bare app's (>= {target:.0%})")
            finally:
                server.stop()
                if bare is not None:
                    bare.stop()
    finally:
        if store == "redis" and name:
            cleanup_redis(name)
        shutil.rmtree(root, ignore_errors=True)
    return lines


def main() -> None:
    if sys.argv[1:2] == ["--serve-bare"]:
        port, workers, one, many = sys.argv[2:6]
        serve_bare(int(port), int(workers), Path(one), Path(many))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run (60 for the flat-p99 check)")
    parser.add_argument("--segment", type=float, default=10.0, help="with --duration >= 2 segments: p99 per segment")
    parser.add_argument("--stores", nargs="+", default=["sqlite", "redis"], choices=["sqlite", "redis"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--entities", nargs="+", type=int, default=[1, 100], help="entities per request")
    parser.add_argument("--concurrency", nargs="+", type=int, default=[1, 16], help="connections")
    parser.add_argument("--client", default="auto", choices=["auto", "wrk", "asyncio"])
    parser.add_argument("--calls", type=int, default=20_000, help="in-process SDK calls for the floor")
    parser.add_argument("--pairs", type=int, default=3000,
                        help="aggregated and plain one-entity requests compared, each (0: skip the comparison)")
    parser.add_argument("--quick", action="store_true", help="10k keys, 2-second runs, SQLite, one worker")
    parser.add_argument("--keep", action="store_true", help="keep the generated projects")
    parser.add_argument("--on-demand", action="store_true", help="only the cost of one on-demand feature")
    parser.add_argument("--rounds", type=int, default=10,
                        help="with --on-demand or --baseline: alternating pairs of runs")
    parser.add_argument("--baseline", choices=("bare",), default=None,
                        help="bare: against a bare ASGI app on the same uvicorn settings (wrk)")
    args = parser.parse_args()
    if args.quick:
        args.keys, args.duration, args.stores, args.workers, args.calls = 10_000, 2.0, ["sqlite"], [1], 2000
        args.pairs = min(args.pairs, 1000)
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "asyncio"
    if "redis" in args.stores and not redis_reachable():
        print(f"Redis at {REDIS_URL} cannot be reached: Redis runs skipped")
        args.stores = [s for s in args.stores if s != "redis"]
    print(f"client: {client}; {args.keys:,} keys; {args.duration:g} s per run; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.on_demand:
        met = [on_demand_cost(store, args.keys, args.duration, args.rounds, args.calls, client)
               for store in args.stores]
        sys.exit(0 if all(met) else 1)
    if args.baseline == "bare":
        lines = [line for store in args.stores
                 for line in bare_comparison(store, args.keys, args.workers, args.duration, args.rounds, client)]
        print("\ntargets (issue 20: the server against a bare ASGI app on the same stack)")
        for line in lines:
            print("  " + line)
        sys.exit(0 if all(line.startswith("met") for line in lines) else 1)

    runs: list[Run] = []
    comparisons: list[Comparison] = []
    segments: dict[tuple, list[float]] = {}
    floors = {}
    for store in args.stores:
        root = Path(tempfile.mkdtemp(prefix=f"fcompile-serve-bench-{store}-"))
        name = None
        try:
            name = prepare(root, store, args.keys)
            floors[store] = sdk_floor(root, args.keys, args.calls)
            for workers in args.workers:
                server = ServerProcess(root, workers)
                try:
                    if args.pairs and workers == args.workers[0]:
                        comparison = aggregated_vs_plain(server.port, store, args.keys, args.pairs)
                        comparisons.append(comparison)
                        print(f"{store}: 1 entity, c=1, {args.pairs:,} pairs: 10 plain features p50 "
                              f"{comparison.plain_p50_ms:.3f} ms, 10 aggregated p50 {comparison.aggregated_p50_ms:.3f} "
                              f"ms: aggregated / plain {comparison.ratio:.2f}x (target <= "
                              f"{AGGREGATED_RATIO_TARGET:g}x)", flush=True)
                    if workers == args.workers[0]:
                        print(HEADER)
                    for entities in args.entities:
                        for concurrency in args.concurrency:
                            cut = entities == 1 and concurrency == 16 and args.duration >= 2 * args.segment
                            if cut:  # the flat-p99 check: consecutive segments, each its own p99
                                parts = [drive(server, store, workers, args.keys, entities, concurrency,
                                               args.segment, client, root)
                                         for _ in range(int(args.duration // args.segment))]
                                segments[(store, workers)] = [p.p99_ms for p in parts]
                                run = _merge(parts)
                            else:
                                run = drive(server, store, workers, args.keys, entities, concurrency, args.duration,
                                            client, root)
                            runs.append(run)
                            print_run(run)
                finally:
                    server.stop()
        finally:
            if store == "redis" and name:
                cleanup_redis(name)
            if args.keep:
                print(f"kept {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)
    print("\nfloor: the SDK in process, get_online_features(...).to_http_json()")
    for store, floor in floors.items():
        for entities, (p50, p99) in floor.items():
            print(f"  {store:7s} {entities:>3d} entit{'y' if entities == 1 else 'ies'} x 10 features: "
                  f"p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    print("\ntargets (issue 6; Feast 0.67 on this machine, measured by hand: 2.2-3.1 ms p50 at c=1, 400-600 "
          "requests/s at c=16)")
    for line in check_targets(runs, segments, comparisons):
        print("  " + line)


def _merge(parts: list[Run]) -> Run:
    """Consecutive segments as one run: requests added, rates weighted, p50 the median, p99 the worst."""
    first = parts[0]
    seconds = sum(p.seconds for p in parts)
    return Run(first.store, first.workers, first.entities, first.concurrency, first.client, seconds,
               sum(p.requests for p in parts), sum(p.rps * p.seconds for p in parts) / seconds,
               statistics.median(p.p50_ms for p in parts), max(p.p99_ms for p in parts), sum(p.errors for p in parts),
               max(p.load for p in parts), max(p.server_p99_ms for p in parts))


if __name__ == "__main__":
    main()
