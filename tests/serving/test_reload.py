"""The server follows edits to the project without a restart, and keeps serving the old project while
the new one is invalid."""

from __future__ import annotations

import subprocess
import sys
import time

from serving_helpers import Server, materialize, write_project

NEW_SERVICE = '  - {name: driver_trips, features: ["driver_stats:trips"]}\n'


def wait_for(check, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def build(project) -> None:
    result = subprocess.run([sys.executable, "-m", "fcompile", "build", "--project-dir", str(project)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_edit_rebuild_serves_new_service_and_invalid_edit_keeps_old(tmp_path):
    write_project(tmp_path, {"type": "sqlite", "path": ".fcompile/online.db"})
    spec = tmp_path / "features.yml"
    server = Server(tmp_path, "--reload-interval", "0.2")
    try:
        materialize(server)
        ask = {"entities": {"driver_id": [1001]}, "feature_service": "driver_trips"}
        assert server.post("/get-online-features", ask).status == 404

        spec.write_text(spec.read_text() + NEW_SERVICE)
        build(tmp_path)
        wait_for(lambda: server.post("/get-online-features", ask).status == 200, what="the new service")
        assert server.post("/get-online-features", ask).json["results"][1]["values"] == [12]
        generation = server.get("/health").json["generation"]
        assert generation >= 2

        # an invalid edit: the old graph keeps serving, and the log names the problem
        valid = spec.read_text()
        spec.write_text(valid.replace("entities: [driver]\n    source: stats\n    ttl: 1d",
                                      "entities: [drivr]\n    source: stats\n    ttl: 1d"))
        wait_for(lambda: "FC030" in server.log, what="the invalid project's diagnostic in the log")
        assert "still serving generation" in server.log and "unknown entity 'drivr'" in server.log
        assert server.post("/get-online-features", ask).status == 200
        assert server.get("/health").json["generation"] == generation

        # fixed again: served again, from a new generation
        spec.write_text(valid.replace(NEW_SERVICE, '  - {name: driver_cities, features: ["driver_stats:city"]}\n'))
        city = {"entities": {"driver_id": [1002]}, "feature_service": "driver_cities"}
        wait_for(lambda: server.post("/get-online-features", city).status == 200, what="the fixed project")
        assert server.post("/get-online-features", city).json["results"][1]["values"] == ["Bergen"]
        assert server.post("/get-online-features", ask).status == 404
        metrics = server.get("/metrics").body.decode()
        assert 'fcompile_serve_reloads_total{result="error"}' in metrics
    finally:
        server.stop()


def test_requests_during_reloads_never_fail(tmp_path):
    """Reads keep answering 200 while the project is reloaded again and again."""
    import threading

    write_project(tmp_path, {"type": "sqlite", "path": ".fcompile/online.db"})
    spec = tmp_path / "features.yml"
    server = Server(tmp_path, "--reload-interval", "0.05")
    statuses: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            statuses.append(server.post("/get-online-features", {"entities": {"driver_id": [1001]},
                                                                 "feature_service": "driver_v1"}).status)

    try:
        readers = [threading.Thread(target=read) for _ in range(2)]
        for thread in readers:
            thread.start()
        text = spec.read_text()
        for i in range(8):
            spec.write_text(text + f'  - {{name: extra_{i}, features: ["driver_stats:trips"]}}\n')
            time.sleep(0.25)
        stop.set()
        for thread in readers:
            thread.join()
        assert statuses and set(statuses) == {200}
        assert server.get("/health").json["generation"] >= 3
    finally:
        stop.set()
        server.stop()
