"""Fixtures of the feature-server tests: real `fcompile serve` processes (serving_helpers.py).

`served` is one server per online store, SQLite and Redis, shared by the session and loaded through its
own POST /materialize. Redis is at FCOMPILE_TEST_REDIS_URL (default redis://127.0.0.1:6379/0); when it
cannot be reached its tests skip, saying so (on the project's machines it must answer).
"""

from __future__ import annotations

import pytest
from serving_helpers import Server, materialize, redis_cleanup, write_project

pytest.importorskip("uvicorn", reason="the feature server needs the serve extra (pip install 'fcompile[serve]')")


def online_settings(request: pytest.FixtureRequest, backend: str) -> dict:
    if backend == "redis":
        return {"type": "redis", "url": request.getfixturevalue("redis_url")}
    return {"type": "sqlite", "path": ".fcompile/online.db"}


@pytest.fixture(scope="session", params=["sqlite", "redis"])
def served(request, tmp_path_factory):
    """A loaded server per store, with a small request limit (8 KiB) for the 413 tests."""
    root = tmp_path_factory.mktemp(f"served-{request.param}")
    name = write_project(root, online_settings(request, request.param), {"max_request_bytes": 8192})
    server = Server(root, "--reload-interval", "0")
    try:
        materialize(server)
        server.backend = request.param
        yield server
    finally:
        server.stop()
        if request.param == "redis":
            redis_cleanup(request.getfixturevalue("redis_url"), name)


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory):
    """A loaded SQLite server for the tests that need one store only."""
    root = tmp_path_factory.mktemp("served-single")
    write_project(root, {"type": "sqlite", "path": ".fcompile/online.db"}, {"max_request_bytes": 8192})
    server = Server(root, "--reload-interval", "0", "--request-timeout", "2")
    try:
        materialize(server)
        yield server
    finally:
        server.stop()
