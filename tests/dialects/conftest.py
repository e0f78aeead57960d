"""Graphs to compile, and the engines that run what they compile to: DuckDB in process, PostgreSQL at
FCOMPILE_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/test), Spark in local mode through
pyspark (Java 17). Every session runs in UTC."""

from __future__ import annotations

import os
import uuid

import pytest

from dialects.projects import boundary_project, sample_project

POSTGRES_URL = os.environ.get("FCOMPILE_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def table_graph(tmp_path_factory):
    """The sample project as shipped: every source (and the dataset's spine) read from a table."""
    return sample_project(tmp_path_factory.mktemp("sample_tables"), table_sources=True)


@pytest.fixture(scope="session")
def path_graph(tmp_path_factory):
    """The sample project with Parquet file sources instead of tables."""
    return sample_project(tmp_path_factory.mktemp("sample_paths"), table_sources=False)


@pytest.fixture(scope="session")
def boundary_graph(tmp_path_factory):
    return boundary_project(tmp_path_factory.mktemp("ttl_boundary"))


@pytest.fixture
def duckdb_connection():
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    yield con
    con.close()


@pytest.fixture(scope="session")
def postgres_connection():
    """One autocommit connection for the run, in a schema of its own that is dropped at the end."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[dev]')")
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
    schema = f"fc_dialects_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    conn.execute(f'SET search_path TO "{schema}"')
    conn.execute("SET TIME ZONE 'UTC'")
    yield conn
    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    conn.close()
