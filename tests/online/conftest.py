"""Fixtures of the online-store tests: `store` (a connected store of a new project) and `backend` (to
connect more), once per store type - SQLite, Redis, PostgreSQL. A server that cannot be reached skips its
tests with the reason; on the project's machines both must answer (tests/conftest.py, store_backends.py)."""

from __future__ import annotations

import pytest
from store_backends import BACKENDS, Backend, postgres_cleanup, redis_cleanup


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    if request.param == "sqlite":
        made = Backend("sqlite", {"type": "sqlite", "path": "store/online.db"}, str(tmp_path), lambda project: None)
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")
        made = Backend("redis", {"type": "redis", "url": url}, str(tmp_path), redis_cleanup(url))
    else:
        url = request.getfixturevalue("postgres_url")
        made = Backend("postgres", {"type": "postgres", "url": url}, str(tmp_path), postgres_cleanup(url))
    yield made
    made.close_all()


@pytest.fixture
def store(backend):
    """A connected store of a new project."""
    return backend.connect()
