"""Fixtures every test folder may use: the real Redis and PostgreSQL servers the store, push, serving,
dialect and engine tests talk to, and one local Spark session (pyspark; Java 17) for the dialect and
engine tests.

Redis is at FCOMPILE_TEST_REDIS_URL (default redis://127.0.0.1:6379/0), PostgreSQL at
FCOMPILE_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/test, trust authentication). A server
that cannot be reached skips the tests that need it, saying why; on the project's machines both answer.
"""

from __future__ import annotations

import os
import shutil

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


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory):
    """One local Spark session for the whole run (the dialect and the engine tests): starting one takes
    seconds."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'fcompile[dev]')")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("Spark needs Java 17: no `java` on PATH and no JAVA_HOME")
    from pyspark.sql import SparkSession

    warehouse = tmp_path_factory.mktemp("spark_warehouse")
    # Tuned for many tiny queries: one shuffle partition (tests that need several set it themselves), no
    # adaptive re-planning, no broadcast jobs, no code generation (compiling Java for each query costs more
    # than it saves on a few rows), the C1 JIT only. Measured on the 2-core machine: about 1 s a query
    # instead of 2-2.5 s.
    session = (SparkSession.builder.master("local[2]").appName("fcompile-tests")
               .config("spark.driver.extraJavaOptions",
                       "-Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "1").config("spark.default.parallelism", "2")
               .config("spark.sql.adaptive.enabled", "false").config("spark.sql.codegen.wholeStage", "false")
               .config("spark.sql.autoBroadcastJoinThreshold", "-1")
               .config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
               .config("spark.sql.catalogImplementation", "in-memory")
               .config("spark.sql.warehouse.dir", str(warehouse))
               .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
