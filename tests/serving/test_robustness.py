"""Slow and vanished clients hold only their own connection; the command starts cleanly or says why not."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

from serving_helpers import Server, read_raw_response, write_project

ASK = b'{"entities": {"driver_id": [1001]}, "feature_service": "driver_v1"}'


def test_half_sent_request_does_not_block_others_and_times_out(sqlite_server):
    with socket.create_connection(("127.0.0.1", sqlite_server.port), timeout=10) as slow:
        slow.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(ASK), ASK[:20]))
        started = time.monotonic()
        for _ in range(20):
            assert sqlite_server.online({"driver_id": [1001]}, feature_service="driver_v1").status == 200
        assert time.monotonic() - started < 5
        reply = read_raw_response(slow)  # the server gave up on the body (--request-timeout 2 for this server)
        assert reply.startswith(b"HTTP/1.1 408"), reply
        assert b"FC125" in reply and b"did not arrive within 2 s" in reply


def test_clients_that_vanish_mid_request_leave_the_server_serving(sqlite_server):
    for cut in (10, 60, len(ASK) + 60):
        with socket.create_connection(("127.0.0.1", sqlite_server.port), timeout=10) as gone:
            request = b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(ASK),
                                                                                                         ASK)
            gone.sendall(request[:cut])
            gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
    # a client that sends a whole request and leaves before reading the answer
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", sqlite_server.port), timeout=10) as gone:
            gone.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(ASK), ASK))
    reply = sqlite_server.online({"driver_id": [1001]}, feature_service="driver_v1")
    assert reply.status == 200
    assert sqlite_server.process.poll() is None
    assert "Traceback" not in sqlite_server.log


def run_serve(project, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FCOMPILE_PROJECT_DIR"}
    return subprocess.run([sys.executable, "-m", "fcompile", "serve", "--project-dir", str(project), *args],
                          capture_output=True, text=True, env=env, timeout=60)


def test_invalid_project_stops_the_command_with_diagnostics(tmp_path):
    write_project(tmp_path, {"type": "sqlite"})
    spec = tmp_path / "features.yml"
    spec.write_text(spec.read_text().replace("entities: [driver]\n    source: stats\n    features",
                                             "entities: [drivr]\n    source: stats\n    features", 1))
    result = run_serve(tmp_path, "--port", "1")
    assert result.returncode == 1
    assert "error[FC030]" in result.stderr and "drivr" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_diagnostic(tmp_path, sqlite_server):
    write_project(tmp_path, {"type": "sqlite"})
    result = run_serve(tmp_path, "--port", str(sqlite_server.port))
    assert result.returncode == 1
    assert f"error[FC090]: cannot listen on 127.0.0.1:{sqlite_server.port}" in result.stderr


def test_serving_block_sets_host_and_port(tmp_path):
    from serving_helpers import free_port

    port = free_port()
    write_project(tmp_path, {"type": "sqlite"}, {"host": "127.0.0.1", "port": port})
    server = Server(tmp_path, port=port, wait=False)
    try:
        server.wait_ready()
        assert server.get("/health").status == 200
    finally:
        server.stop()


def test_version_does_not_import_the_server_stack():
    imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "fcompile", "--version"],
                             capture_output=True, text=True).stderr
    for heavy in ("uvicorn", "prometheus_client", "uvloop", "httptools", "fcompile.serving"):
        assert f" {heavy}\n" not in imports, f"{heavy} is imported by --version"


def test_headers_that_never_end_are_cut_off(sqlite_server):
    """A client that connects and sends half a request line, or nothing, is closed after the request
    timeout (2 s for this server) while the others are served."""
    silent = socket.create_connection(("127.0.0.1", sqlite_server.port), timeout=10)
    trickle = socket.create_connection(("127.0.0.1", sqlite_server.port), timeout=10)
    try:
        trickle.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert sqlite_server.online({"driver_id": [1001]}, feature_service="driver_v1").status == 200
        for client in (silent, trickle):
            assert client.recv(100) == b""  # closed by the server
        assert 1.5 < time.monotonic() - started < 6
    finally:
        silent.close()
        trickle.close()


def test_pipelined_requests_mixing_small_reads_and_other_endpoints_are_answered_in_order(sqlite_server):
    """Small reads are answered by the protocol, /health and a large read by ASGI calls: one connection
    sending them all at once still gets its answers in the order it asked."""
    many = json.dumps({"entities": {"driver_id": [1001] * 300}, "feature_service": "driver_v1"}).encode()
    asks = [b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(ASK), ASK),
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(many), many),
            b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(ASK), ASK)]
    with socket.create_connection(("127.0.0.1", sqlite_server.port), timeout=10) as client:
        client.sendall(b"".join(asks))
        data, answers = b"", []
        while len(answers) < len(asks):
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            if length is not None and len(rest) >= length:
                answers.append(head + b"\r\n\r\n" + rest[:length])
                data = rest[length:]
                continue
            more = client.recv(65536)
            assert more, answers
            data += more
    bodies = [json.loads(answer.partition(b"\r\n\r\n")[2]) for answer in answers]
    assert all(answer.startswith(b"HTTP/1.1 200") for answer in answers), answers
    assert bodies[1]["status"] == "ok" and bodies[0] == bodies[3]
    assert len(bodies[0]["results"][0]["values"]) == 1 and len(bodies[2]["results"][0]["values"]) == 300
