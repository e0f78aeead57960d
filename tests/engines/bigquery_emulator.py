"""The BigQuery emulator the engine tests run on: bqemulator (BigQuery's REST and Storage API in front of
DuckDB), started as a server process from the virtualenv `make test` builds, `.venv-bqemu`. It has a
virtualenv of its own because it pins another sqlglot than fcompile; the two only talk over HTTP and gRPC.
Its HOME is `.venv-bqemu/home`, where `make test` installed DuckDB's spatial and avro extensions from
their PyPI wheels (the emulator loads them at start and would otherwise download them)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from tcp_proxy import free_ports

EMULATOR_VENV = Path(__file__).resolve().parents[2] / ".venv-bqemu"
PROJECT = "fc-tests"
START_SECONDS = 60


@dataclass(frozen=True)
class Emulator:
    rest: str       # http://127.0.0.1:PORT, the REST API (a target's `api_endpoint`)
    storage: str    # http://127.0.0.1:PORT, the Storage API's gRPC port (a target's `storage_endpoint`)
    project: str


def emulator_missing() -> str | None:
    """Why the emulator cannot start here, or None."""
    if not (EMULATOR_VENV / ".installed").exists():
        return f"the BigQuery emulator is not installed in {EMULATOR_VENV.name}: `make test` builds it"
    return None


@contextlib.contextmanager
def bigquery_emulator(log: Path) -> Iterator[Emulator]:
    """The emulator on two free ports of this machine, until the block ends; its output goes to `log`."""
    rest_port, grpc_port = free_ports(2)
    command = [str(EMULATOR_VENV / "bin" / "bqemulator"), "start", "--rest-port", str(rest_port),
               "--grpc-port", str(grpc_port), "--project", PROJECT, "--log-level", "warning",
               "--log-format", "console"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "HOME": str(EMULATOR_VENV / "home")})
    try:
        _wait_until_answering(process, f"http://127.0.0.1:{rest_port}/bigquery/v2/projects/{PROJECT}/datasets", log)
        yield Emulator(f"http://127.0.0.1:{rest_port}", f"http://127.0.0.1:{grpc_port}", PROJECT)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the BigQuery emulator exited ({process.returncode}) on starting:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the BigQuery emulator did not answer within {START_SECONDS} s:\n{_tail(log)}")
        time.sleep(0.1)




def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
