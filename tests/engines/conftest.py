"""Fixtures of the engine conformance suite: `engine` runs a test once per offline engine. The PostgreSQL
server's URL comes from tests/conftest.py (`postgres_url`)."""

from __future__ import annotations

import pytest

from engines.engines import ENGINE_NAMES, DuckDBUnderTest, EngineUnderTest, PostgresUnderTest, SparkUnderTest


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory):
    """One local Spark session for the whole run: starting one takes seconds."""
    pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'fcompile[dev]')")
    from pyspark.sql import SparkSession

    warehouse = tmp_path_factory.mktemp("spark_warehouse")
    # Tuned for many tiny queries: one shuffle partition (tests that need several set it themselves), no
    # adaptive re-planning, no broadcast jobs, no code generation (compiling Java for each query costs more
    # than it saves on a few rows), the C1 JIT only. Measured on the 2-core machine: about 1 s a query
    # instead of 2-2.5 s. Where tests/dialects started a session first, this is that one (same tuning).
    session = (SparkSession.builder.master("local[2]").appName("fcompile-tests")
               .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
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


@pytest.fixture(scope="session")
def engines(request, tmp_path_factory):
    """The engines of the run, each made once, when a test first needs it, and closed at the end."""
    made: dict[str, EngineUnderTest] = {}

    def get(name: str) -> EngineUnderTest:
        if name not in made:
            if name == "duckdb":
                made[name] = DuckDBUnderTest()
            elif name == "postgres":
                made[name] = PostgresUnderTest(request.getfixturevalue("postgres_url"))
            else:
                made[name] = SparkUnderTest(request.getfixturevalue("spark_session"),
                                            tmp_path_factory.mktemp("spark_tables"))
        return made[name]

    yield get
    for found in made.values():
        found.close()


@pytest.fixture(scope="session", params=ENGINE_NAMES)
def engine(request, engines) -> EngineUnderTest:
    """Each test runs once per engine (grouped by engine, so each starts once)."""
    return engines(request.param)


@pytest.fixture(scope="session")
def postgres_engine(engines) -> PostgresUnderTest:
    return engines("postgres")


@pytest.fixture(scope="session")
def spark_engine(engines) -> SparkUnderTest:
    return engines("spark")
