"""Limits that keep one client from taking a worker's memory or its event loop: the request line and
headers (bytes and lines: 431), entities per read (413), large reads on the reader thread, and the memory
of a worker under oversized headers and bodies (docs/reference/http-api.md#limits)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from serving_helpers import Server, materialize, read_raw_response, write_project

ASK = b'{"entities": {"driver_id": [1001]}, "feature_service": "driver_v1"}'
MiB = 1024 * 1024


def exchange(port: int, request: bytes) -> tuple[bytes, bytes]:
    """Send `request` on a new connection; the head and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(request)
        head, _, body = read_raw_response(client).partition(b"\r\n\r\n")
    return head, body


def refusal(head: bytes, body: bytes) -> dict:
    assert head.startswith(b"HTTP/1.1 431 "), head
    assert b"connection: close" in head.lower() and b"content-type: application/json" in head.lower()
    document = json.loads(body)
    assert document["error"]["code"] == "FC126" and document["errors"] == [document["error"]]
    return document["error"]


def get(path: bytes = b"/health", headers: bytes = b"") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"


def test_long_headers_request_line_and_many_headers_get_431(sqlite_server):
    """The defaults: 65,536 bytes of request line and headers, 100 header lines."""
    port = sqlite_server.port
    error = refusal(*exchange(port, get(headers=b"X-Big: " + b"a" * 70_000 + b"\r\n")))
    assert error["message"] == "the request line and headers are larger than 65,536 bytes"
    assert "serving.max_header_bytes" in error["hint"]
    error = refusal(*exchange(port, get(b"/health?" + b"a" * 70_000)))
    assert error["message"] == "the request line and headers are larger than 65,536 bytes"
    error = refusal(*exchange(port, get(headers=b"".join(b"X-%d: 1\r\n" % i for i in range(100)))))  # and Host
    assert error["message"] == "the request has more than 100 header lines"
    assert "serving.max_headers" in error["hint"]
    # at the limits
    head, _ = exchange(port, get(headers=b"".join(b"X-%d: 1\r\n" % i for i in range(99))))
    assert head.startswith(b"HTTP/1.1 200 "), head
    head, _ = exchange(port, get(headers=b"X-Big: " + b"a" * 65_000 + b"\r\n"))
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert "Traceback" not in sqlite_server.log


def test_the_header_limit_is_per_request_on_a_kept_alive_connection(sqlite_server):
    request = (b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 30_000 +
               b"\r\nContent-Length: %d\r\n\r\n%s" % (len(ASK), ASK))
    with socket.create_connection(("127.0.0.1", sqlite_server.port), timeout=10) as client:
        for _ in range(5):  # 150 KB of headers over the connection, 30 KB a request
            client.sendall(request)
            assert read_raw_response(client).startswith(b"HTTP/1.1 200 ")
        client.sendall(get(headers=b"X-Big: " + b"a" * 70_000 + b"\r\n"))
        head, _, body = read_raw_response(client).partition(b"\r\n\r\n")
        refusal(head, body)
        assert client.recv(100) == b""  # and the connection is closed


def test_a_large_read_answers_as_small_ones_do(served):
    """More than 256 entities are read on the worker's reader thread, with its own store connection."""
    others = list(range(5000, 5297))
    large = served.online({"driver_id": [1001, 1002, 1003] + others}, feature_service="driver_v1")
    small = served.online({"driver_id": [1001, 1002, 1003]}, feature_service="driver_v1")
    assert large.status == 200 and small.status == 200, (large, small)
    keys, *features = large.json["results"]
    assert keys["values"] == [1001, 1002, 1003] + others and keys["statuses"] == ["PRESENT"] * 300
    for big, few in zip(features, small.json["results"][1:]):
        assert big["values"][:3] == few["values"] and big["statuses"][:3] == few["statuses"]
        assert big["statuses"][3:] == ["NOT_FOUND"] * 297


# -- a server with lowered limits, on PostgreSQL (whose table locks hold a read where the test wants it) --

@pytest.fixture(scope="module")
def limited(tmp_path_factory, postgres_url):
    from store_cleanup import delete_postgres_project

    root = tmp_path_factory.mktemp("limited")
    name = write_project(root, {"type": "postgres", "url": postgres_url},
                         {"max_entities_per_request": 500, "max_header_bytes": 2048, "max_headers": 20})
    server = Server(root, "--reload-interval", "0")
    try:
        materialize(server)
        server.project_name = name
        yield server
    finally:
        server.stop()
        delete_postgres_project(postgres_url, name)


def test_header_limits_come_from_the_serving_block(limited):
    error = refusal(*exchange(limited.port, get(headers=b"X-Big: " + b"a" * 2100 + b"\r\n")))
    assert error["message"] == "the request line and headers are larger than 2,048 bytes"
    error = refusal(*exchange(limited.port, get(headers=b"".join(b"X-%d: 1\r\n" % i for i in range(20)))))
    assert error["message"] == "the request has more than 20 header lines"
    assert exchange(limited.port, get(headers=b"X-Pad: " + b"a" * 1900 + b"\r\n"))[0].startswith(b"HTTP/1.1 200")


def test_more_entities_than_the_limit_get_413(limited):
    reply = limited.online({"driver_id": list(range(1000, 1501))}, feature_service="driver_v1")
    assert reply.status == 413, reply
    assert reply.error["code"] == "FC126"
    assert reply.error["message"] == ("/get-online-features asks for 501 entities, more than the 500 one request "
                                      "may ask for")
    assert "serving.max_entities_per_request" in reply.error["hint"]
    reply = limited.online({"driver_id": list(range(1001, 1501))}, feature_service="driver_v1")
    assert reply.status == 200, reply
    assert reply.json["results"][1]["values"][:3] == [0.5, 0.75, 0.125]
    # a body over 32 KiB is parsed on the reader thread as well, and held to the same limit
    padding = " " * 40_000
    wide = json.dumps({"entities": {"driver_id": [1002]}, "feature_service": "driver_v1"}) + padding
    reply = limited.post("/get-online-features", wide)
    assert reply.status == 200 and reply.json["results"][1]["values"] == [0.75], reply
    wide = json.dumps({"entities": {"driver_id": list(range(501))}, "feature_service": "driver_v1"}) + padding
    reply = limited.post("/get-online-features", wide)
    assert reply.status == 413 and "501 entities" in reply.error["message"], reply


def test_a_large_read_does_not_hold_the_other_clients(limited, postgres_url):
    """While a read of 300 entities waits on its table (locked here), a one-entity read of another view
    is answered: the large read is off the event loop."""
    import psycopg
    from psycopg import sql

    from fcompile.online.postgres import pg_name

    small = {"shift_day": ["2024-05-02"]}
    assert limited.online(small, features=["shift_stats:demand"]).status == 200
    drivers = list(range(1001, 1301))
    assert limited.online({"driver_id": drivers}, feature_service="driver_v1").status == 200  # connects its reader
    table = sql.Identifier(pg_name(f"fc_{limited.project_name}"), "driver_stats")
    answers: dict[str, object] = {}
    with psycopg.connect(postgres_url) as locker, psycopg.connect(postgres_url, autocommit=True) as watcher:
        locker.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(table))
        large = threading.Thread(target=lambda: answers.setdefault(
            "large", limited.online({"driver_id": drivers}, feature_service="driver_v1")))
        large.start()
        try:
            waiting = sql.SQL("SELECT count(*) FROM pg_locks WHERE relation = {}::regclass AND NOT granted").format(
                sql.Literal(table.as_string(watcher)))
            deadline = time.monotonic() + 20
            while watcher.execute(waiting).fetchone()[0] == 0:  # the large read is now in flight, held by the lock
                assert time.monotonic() < deadline, "the large read never reached its table"
                time.sleep(0.02)
            try:
                answers["small"] = limited.post("/get-online-features", {"entities": small, "features":
                                                 ["shift_stats:demand"]}, timeout=10)
            finally:
                answers["large done before the small one"] = "large" in answers
        finally:
            locker.rollback()  # lets the large read go
            large.join(30)
    assert answers["small"].status == 200 and answers["small"].json["results"][1]["values"] == [0.4]
    assert answers["large done before the small one"] is False
    assert answers["large"].status == 200 and answers["large"].json["results"][1]["values"][:2] == [0.5, 0.75]


# -- memory ------------------------------------------------------------------------------------------

MEMORY_BOUND_MIB = 50   # over the worker's idle RSS (measured: 8-9 MiB), documented in docs/reference/http-api.md


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _attack(port: int, head: bytes, size: int, chunk: bytes, outcomes: list) -> None:
    """Send `head`, then `size` bytes in chunks; record the status answered, or "closed"."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        try:
            client.sendall(head)
            for _ in range(size // len(chunk)):
                client.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed while sending
        try:
            answer = read_raw_response(client)
        except (ConnectionResetError, socket.timeout):
            answer = b""
    outcomes.append(answer[9:12].decode() if answer.startswith(b"HTTP/1.1 ") else "closed")


def test_worker_memory_stays_bounded_under_oversized_headers_and_bodies(tmp_path):
    """12 connections streaming 12 MiB of headers and 4 streaming 12 MiB bodies (2 declared, 2 chunked)
    to one worker with the default limits: each is answered 431 or 413 (or closed), and the worker grows
    by less than MEMORY_BOUND_MIB (before the limits, the headers were all kept: +178 MiB)."""
    write_project(tmp_path, {"type": "sqlite", "path": ".fcompile/online.db"})
    server = Server(tmp_path, "--reload-interval", "0")
    try:
        assert server.online({"driver_id": [1001]}, feature_service="driver_v1").status in (200, 503)
        pid = server.process.pid  # one worker: uvicorn serves in the process itself
        idle = _status_kib(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM, the peak RSS, starts again from here
        outcomes: list[str] = []
        chunk = b"a" * 65536
        request = b"POST /get-online-features HTTP/1.1\r\nHost: x\r\n"
        attacks = [(request + b"X-Big: ", chunk) for _ in range(12)]
        attacks += [(request + b"Content-Length: %d\r\n\r\n" % (12 * MiB), chunk) for _ in range(2)]
        attacks += [(request + b"Transfer-Encoding: chunked\r\n\r\n", b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    for _ in range(2)]
        threads = [threading.Thread(target=_attack, args=(server.port, head, 12 * MiB, piece, outcomes))
                   for head, piece in attacks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        grown_mib = (_status_kib(pid, "VmHWM") - idle) / 1024
        assert grown_mib < MEMORY_BOUND_MIB, f"the worker grew by {grown_mib:.0f} MiB under the attack"
        assert len(outcomes) == 16 and all(o in ("431", "413", "closed") for o in outcomes), outcomes
        assert outcomes.count("431") >= 10, outcomes  # the headers' refusal is read, not reset
        assert server.get("/health").status == 200
        assert "Traceback" not in server.log
    finally:
        server.stop()


def test_small_reads_stay_on_the_event_loop_and_large_ones_leave_it(tmp_path):
    """In process: which thread each of the state's stores reads on (a small read must not pay a hop)."""
    import asyncio

    from fcompile.serving.app import LOOP_READ_ENTITIES, FeatureServer
    from fcompile.serving.state import ServeConfig

    write_project(tmp_path, {"type": "sqlite", "path": ".fcompile/online.db"})
    readers: dict[str, set[str]] = {"store": set(), "large_reader": set()}

    def spy(name: str, read):
        def recorded(*args, **kwargs):
            readers[name].add(threading.current_thread().name)
            return read(*args, **kwargs)
        return recorded

    async def ask(server: FeatureServer, entities: int) -> int:
        body = json.dumps({"entities": {"driver_id": list(range(entities))}, "feature_service": "driver_v1"}).encode()
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/get-online-features", "headers": []}
        await server(scope, receive, send)
        return sent[0]["status"]

    async def run() -> None:
        server = FeatureServer(ServeConfig(str(tmp_path), reload_interval=0))
        await server.start()
        try:
            for name in readers:
                online = getattr(server.state, name).online_store  # each reader's own connection
                online.read_values = spy(name, online.read_values)
                online.read_values_of_key = spy(name, online.read_values_of_key)  # a view of one key
            assert await ask(server, 1) == 200 and await ask(server, LOOP_READ_ENTITIES) == 200
            assert await ask(server, LOOP_READ_ENTITIES + 1) == 200
        finally:
            await server.stop()

    asyncio.run(run())
    assert readers == {"store": {threading.main_thread().name}, "large_reader": {"fcompile-read_0"}}
