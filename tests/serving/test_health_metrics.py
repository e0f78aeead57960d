"""GET /health (200, or 503 when the store is gone) and GET /metrics (counted across workers)."""

from __future__ import annotations

import concurrent.futures
import time

from serving_helpers import Server, closed_port, materialize, metric, redis_cleanup, write_project
from tcp_proxy import TcpProxy


def test_health_answers_200_with_the_project(served):
    reply = served.get("/health")
    assert reply.status == 200, reply
    assert reply.json["status"] == "ok" and reply.json["online_store"] == served.backend


def test_health_is_503_when_redis_is_gone(tmp_path):
    write_project(tmp_path, {"type": "redis", "url": f"redis://127.0.0.1:{closed_port()}/0"})
    server = Server(tmp_path, "--reload-interval", "0")
    try:
        reply = server.get("/health")
        assert reply.status == 503, reply
        assert reply.error["code"] == "FC113" and "cannot reach the Redis online store" in reply.error["message"]
        read = server.online({"driver_id": [1001]}, feature_service="driver_v1")
        assert read.status == 503 and read.error["code"] == "FC113"
        assert server.get("/metrics").status == 200  # the rest of the server still answers
        assert server.process.poll() is None
    finally:
        server.stop()
    assert "online store cannot be reached" in server.log


def test_redis_that_goes_away_and_comes_back(tmp_path, redis_url):
    """Down at start (503), up (200, no restart), gone while serving (503), back (200)."""
    from urllib.parse import urlsplit

    parts = urlsplit(redis_url)
    forwarder = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 6379), closed_port(), start=False)
    database = parts.path or "/0"
    name = write_project(tmp_path, {"type": "redis", "url": f"redis://127.0.0.1:{forwarder.port}{database}",
                                    "timeout": 5})
    server = Server(tmp_path, "--reload-interval", "0")
    try:
        assert server.get("/health").status == 503
        forwarder.start()
        assert server.get("/health").status == 200
        materialize(server)
        ask = {"entities": {"driver_id": [1001]}, "feature_service": "driver_v1"}
        assert server.post("/get-online-features", ask).json["results"][1]["values"] == [0.5]
        forwarder.stop()
        gone = server.post("/get-online-features", ask)
        assert gone.status == 503 and gone.error["code"] == "FC114", gone  # lost while connected
        assert server.get("/health").status == 503
        forwarder.start()
        assert server.post("/get-online-features", ask).status == 200
        assert server.get("/health").status == 200
        assert server.process.poll() is None
    finally:
        forwarder.stop()
        server.stop()
        redis_cleanup(redis_url, name)


def test_metrics_count_requests_rows_errors_and_latency(sqlite_server):
    before = sqlite_server.get("/metrics").body.decode()
    for _ in range(7):
        assert sqlite_server.online({"driver_id": [1001, 1002]}, feature_service="driver_v1").status == 200
    assert sqlite_server.online({"driver_id": [1]}, feature_service="nope").status == 404
    after = sqlite_server.get("/metrics")
    assert after.status == 200 and after.headers["content-type"].startswith("text/plain")
    text = after.body.decode()
    labels = {"endpoint": "/get-online-features", "feature_service": "driver_v1"}

    def grew(name: str, **extra: str) -> float:
        return metric(text, name, **labels | extra) - metric(before, name, **labels | extra)

    assert grew("fcompile_serve_requests_total", status="200") == 7
    assert grew("fcompile_serve_rows_read_total") == 14
    assert grew("fcompile_serve_request_duration_seconds_count") == 7
    assert grew("fcompile_serve_request_duration_seconds_bucket", le="+Inf") == 7
    # an unknown service is not a label value (a scan of names cannot grow the label set)
    unknown = {"endpoint": "/get-online-features", "feature_service": "", "code": "FC034"}
    assert metric(text, "fcompile_serve_errors_total", **unknown) - metric(before, "fcompile_serve_errors_total",
                                                                           **unknown) == 1
    assert 'feature_service="nope"' not in text


def test_metrics_add_up_across_workers(tmp_path):
    write_project(tmp_path, {"type": "sqlite", "path": ".fcompile/online.db"})
    server = Server(tmp_path, "--workers", "2", "--reload-interval", "0", "--access-log")
    try:
        _wait_for_workers(server, 2)
        sent, served_by = 0, set()
        while len(served_by) < 2 and sent < 2000:  # until both workers have answered some (the kernel picks)
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                replies = list(pool.map(lambda _: server.online({"driver_id": [1001]}, feature_service="driver_v1"),
                                        range(100)))
            assert all(r.status == 200 for r in replies)
            sent += len(replies)
            served_by = {line.split("[")[1].split("]")[0] for line in server.log.splitlines()
                         if "POST /get-online-features" in line}
        assert len(served_by) == 2, "one worker answered every request"
        deadline = time.monotonic() + 10  # each worker writes its requests' counts once a second
        while True:
            text = server.get("/metrics").body.decode()
            total = metric(text, "fcompile_serve_requests_total", endpoint="/get-online-features",
                           feature_service="driver_v1", status="200")
            if total == sent or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert total == sent  # both workers' counts, added up
    finally:
        server.stop()


def _wait_for_workers(server: Server, count: int, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while server.log.count("Application startup complete") < count:
        assert time.monotonic() < deadline, server.log
        time.sleep(0.1)
