"""Engines for the point-in-time semantics tests: DuckDB in process, PostgreSQL at
FCOMPILE_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/test), each session in UTC."""

from __future__ import annotations

import os
import uuid

import pytest

from compiler.harness import DuckDBEngine, PostgresEngine, duckdb_connection

POSTGRES_URL = os.environ.get("FCOMPILE_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


@pytest.fixture
def duckdb_engine():
    con = duckdb_connection()
    yield DuckDBEngine(con)
    con.close()


@pytest.fixture(scope="session")
def postgres_connection():
    """One connection for the run, in a schema of its own that is dropped at the end."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'fcompile[dev]')")
    url = POSTGRES_URL
    if "user=" not in url and "@" not in url:  # trust auth: connect as whoever can
        candidates = [url + ("&" if "?" in url else "?") + f"user={u}" for u in ("postgres", "root")] + [url]
    else:
        candidates = [url]
    conn, errors = None, []
    for candidate in candidates:
        try:
            conn = psycopg.connect(candidate, autocommit=True, connect_timeout=5)
            break
        except psycopg.OperationalError as exc:
            errors.append(str(exc).strip().splitlines()[0])
    if conn is None:
        pytest.skip(f"PostgreSQL at {url} cannot be reached (set FCOMPILE_TEST_POSTGRES_URL): {errors[-1]}")
    schema = f"fc_pit_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute(f'SET search_path TO "{schema}"')
    conn.execute("SET TIME ZONE 'UTC'")
    yield conn
    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.close()


@pytest.fixture
def postgres_engine(postgres_connection):
    return PostgresEngine(postgres_connection)


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request):
    """Each test runs once per engine; every strategy is tried inside the test."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture(params=["range", "asof", "window"])
def strategy(request):
    """Every join strategy, forced for every view (on PostgreSQL ASOF is lowered to WINDOW)."""
    from fcompile.planner.plans import JoinStrategy

    return JoinStrategy(request.param)
