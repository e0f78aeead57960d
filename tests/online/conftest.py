"""Fixtures of the online-store tests: `store` (a connected store of a new project) and `backend` (to
connect more), once per store type - SQLite, Redis, PostgreSQL. A server that cannot be reached skips its
tests with the reason; on the project's machines both must answer (store_backends.py)."""

from __future__ import annotations

import pytest
from store_backends import BACKENDS, POSTGRES_URL, REDIS_URL, Backend, postgres_cleanup, redis_cleanup


@pytest.fixture(scope="session")
def redis_url() -> str:
    redis = pytest.importorskip("redis", reason="the redis package is not installed (pip install 'fcompile[dev]')")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} cannot be reached (set FCOMPILE_TEST_REDIS_URL): {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL as given, or with a user that trust authentication accepts (as tests/compiler does)."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'fcompile[dev]')")
    url = POSTGRES_URL
    candidates = [url]
    if "user=" not in url and "@" not in url:
        candidates += [url + ("&" if "?" in url else "?") + f"user={u}" for u in ("postgres", "root")]
    errors = []
    for candidate in candidates:
        try:
            psycopg.connect(candidate, connect_timeout=3).close()
            return candidate
        except psycopg.OperationalError as exc:
            errors.append(str(exc).strip().splitlines()[0])
    pytest.skip(f"PostgreSQL at {url} cannot be reached (set FCOMPILE_TEST_POSTGRES_URL): {errors[-1]}")


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
