"""Fixtures of the engine conformance suite: `engine` runs a test once per offline engine. The PostgreSQL
server's URL comes from tests/conftest.py (`postgres_url`); the fakesnow emulator runs in this process;
the BigQuery emulator is a server process from `.venv-bqemu` (bigquery_emulator.py); a live Snowflake
account or BigQuery project is used when SNOWFLAKE_* or BIGQUERY_* variables name one (engines.py)."""

from __future__ import annotations

import os

import pytest

from engines.bigquery_emulator import bigquery_emulator, emulator_missing
from engines.engines import (
    ENGINE_NAMES, BigQueryUnderTest, DuckDBUnderTest, EngineUnderTest, PostgresUnderTest, SnowflakeUnderTest,
    SparkUnderTest, fakesnow_server,
)

def pytest_configure(config):
    # fakesnow fetches every result from DuckDB in a way DuckDB warns about: the emulator's affair, not ours
    config.addinivalue_line("filterwarnings", "ignore:Arrow output on a DB-API result:UserWarning:fakesnow")
    # google-cloud-bigquery announces that it will leave decoding Storage API pages to pandas-gbq
    config.addinivalue_line("filterwarnings", "ignore:Retrieving Arrow record batches directly via "
                            "google-cloud-bigquery-storage:PendingDeprecationWarning")


SNOWFLAKE_LIVE = ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_DATABASE", "SNOWFLAKE_WAREHOUSE")
BIGQUERY_NEEDS = "google-cloud-bigquery is not installed (pip install 'fcompile[dev]')"


def snowflake_live_connection() -> dict:
    """A live account's settings from the environment, or a skip naming what is missing."""
    missing = [name for name in SNOWFLAKE_LIVE if not os.environ.get(name)]
    if not (os.environ.get("SNOWFLAKE_PASSWORD") or os.environ.get("SNOWFLAKE_PRIVATE_KEY_PATH")):
        missing.append("SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH")
    if missing:
        pytest.skip(f"no live Snowflake account: set {', '.join(missing)}")
    connection = {key: os.environ[f"SNOWFLAKE_{key.upper()}"] for key in
                  ("account", "user", "database", "warehouse", "role", "password", "private_key_path",
                   "private_key_passphrase") if os.environ.get(f"SNOWFLAKE_{key.upper()}")}
    if "password" in connection and "private_key_path" in connection:
        del connection["password"]
    return connection


def bigquery_live_settings() -> tuple[dict, str]:
    """A live project's target settings and dataset location from the environment, or a skip naming what is
    missing: BIGQUERY_PROJECT, and credentials (GOOGLE_APPLICATION_CREDENTIALS, a service account's key, or
    application-default credentials); BIGQUERY_LOCATION is optional (default US)."""
    project = os.environ.get("BIGQUERY_PROJECT")
    if not project:
        pytest.skip("no live BigQuery project: set BIGQUERY_PROJECT (and GOOGLE_APPLICATION_CREDENTIALS, or "
                    "application-default credentials; BIGQUERY_LOCATION optional)")
    settings = {"project": project}
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        settings["keyfile"] = os.environ["GOOGLE_APPLICATION_CREDENTIALS"]
    else:
        import google.auth
        from google.auth import exceptions

        try:
            google.auth.default()
        except exceptions.DefaultCredentialsError:
            pytest.skip("no credentials for the live BigQuery project: set GOOGLE_APPLICATION_CREDENTIALS or run "
                        "gcloud auth application-default login")
    return settings, os.environ.get("BIGQUERY_LOCATION") or "US"


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
            elif name == "snowflake":
                pytest.importorskip("fakesnow", reason="fakesnow is not installed (pip install 'fcompile[dev]')")
                pytest.importorskip("starlette", reason="fakesnow's server needs starlette (pip install "
                                    "'fcompile[dev]')")
                server = fakesnow_server()  # the engine's to stop: it outlives every fixture that uses it
                made[name] = SnowflakeUnderTest(name, server.__enter__(), asof_join=False, random_examples=2,
                                                on_close=lambda: server.__exit__(None, None, None))
            elif name == "snowflake_live":
                made[name] = SnowflakeUnderTest(name, snowflake_live_connection(), asof_join=True,
                                                random_examples=2)
            elif name == "bigquery":
                pytest.importorskip("google.cloud.bigquery", reason=BIGQUERY_NEEDS)
                if emulator_missing():
                    pytest.skip(emulator_missing())
                server = bigquery_emulator(tmp_path_factory.mktemp("bqemulator") / "emulator.log")
                emulator = server.__enter__()  # the engine's to stop, as the fakesnow server
                # the emulator cannot read a query's result table with the Storage API: results come over REST
                made[name] = BigQueryUnderTest(name, {"project": emulator.project, "api_endpoint": emulator.rest,
                                                      "read_api": "rest"}, random_examples=3, emulator=emulator,
                                               on_close=lambda: server.__exit__(None, None, None))
            elif name == "bigquery_live":
                pytest.importorskip("google.cloud.bigquery", reason=BIGQUERY_NEEDS)
                settings, location = bigquery_live_settings()
                made[name] = BigQueryUnderTest(name, settings, random_examples=2, location=location)
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


@pytest.fixture(scope="session")
def snowflake_engine(engines) -> SnowflakeUnderTest:
    return engines("snowflake")


@pytest.fixture(scope="session")
def bigquery_engine(engines) -> BigQueryUnderTest:
    return engines("bigquery")
