"""Fixtures every test folder may use: the real Redis and PostgreSQL servers the store, push, serving,
dialect and engine tests talk to.

Redis is at FCOMPILE_TEST_REDIS_URL (default redis://127.0.0.1:6379/0), PostgreSQL at
FCOMPILE_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/test, trust authentication). A server
that cannot be reached skips the tests that need it, saying why; on the project's machines both answer.
"""

from __future__ import annotations

import os

import pytest

REDIS_URL = os.environ.get("FCOMPILE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("FCOMPILE_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


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


def postgres_candidates(url: str = POSTGRES_URL) -> list[str]:
    """The URL as given and, when it names no user, with the users trust authentication usually accepts."""
    candidates = [url]
    if "user=" not in url and "@" not in url:
        candidates += [url + ("&" if "?" in url else "?") + f"user={user}" for user in ("postgres", "root")]
    return candidates


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The first of `postgres_candidates()` the server accepts."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'fcompile[dev]')")
    errors = []
    for candidate in postgres_candidates():
        try:
            psycopg.connect(candidate, connect_timeout=3).close()
            return candidate
        except psycopg.OperationalError as exc:
            errors.append(str(exc).strip().splitlines()[0])
    pytest.skip(f"PostgreSQL at {POSTGRES_URL} cannot be reached (set FCOMPILE_TEST_POSTGRES_URL): {errors[-1]}")
