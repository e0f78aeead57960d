"""A dataset file replaces its table so that a failed build leaves the old table: executed statement by
statement as a SQL client runs a file, on PostgreSQL (one transaction: psql goes on after an error, and
the rest of the transaction then fails and its COMMIT rolls back) and on Spark (no transactions: the
statements run until the first error, as `spark-sql -f` does)."""

from __future__ import annotations

import pytest

from fcompile.dialects import compile_statements
from fcompile.graph import DatasetOutput
from fcompile.planner.plans import BuildDataset

from dialects.projects import expected_boundary
from dialects.test_sqlglot_pitfalls import BOTH, BOTH_OUT, boundary_join, load_spark_views, load_sql_tables, picked

STAGING = "__fc_building_trained"


def build(graph) -> BuildDataset:
    return BuildDataset("trained", DatasetOutput("table", "trained"), boundary_join(graph, BOTH, None))


def run_like_psql(conn, statements: list[str]) -> list[str]:
    """Every statement in order, going on after an error as psql does by default; the errors' first lines."""
    errors = []
    for sql in statements:
        try:
            conn.execute(sql)
        except Exception as exc:  # noqa: BLE001 - any error the server reports; psql prints it and goes on
            errors.append(str(exc).splitlines()[0])
    return errors


def postgres_tables(conn) -> set[str]:
    return {name for (name,) in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()}


def test_postgres_replaces_the_table_in_one_transaction(postgres_connection, boundary_graph):
    conn = postgres_connection
    load_sql_tables(lambda sql, params=None: conn.execute(sql, params), "TIMESTAMP", "%s")
    conn.execute("DROP TABLE IF EXISTS trained")
    conn.execute("CREATE TABLE trained AS SELECT 42 AS marker")
    statements = compile_statements(build(boundary_graph), "postgres")
    assert statements[0] == "BEGIN" and statements[-1] == "COMMIT"

    conn.execute("ALTER TABLE stats_src RENAME TO stats_gone")  # the build fails: its source is missing
    errors = run_like_psql(conn, statements)
    assert "stats_src" in errors[0] and any("current transaction is aborted" in e for e in errors[1:])
    assert conn.execute("SELECT marker FROM trained").fetchall() == [(42,)]  # the old table, untouched
    assert STAGING not in postgres_tables(conn)

    conn.execute("ALTER TABLE stats_gone RENAME TO stats_src")
    assert run_like_psql(conn, statements) == []
    assert picked(*postgres_query(conn, "SELECT * FROM trained ORDER BY row_no")) == expected_boundary(BOTH)
    assert STAGING not in postgres_tables(conn)
    assert run_like_psql(conn, statements) == []  # and again, over the table it built


def postgres_query(conn, sql: str):
    cursor = conn.execute(sql)
    return [d.name for d in cursor.description], cursor.fetchall()


def test_spark_builds_aside_and_keeps_the_old_table_when_the_build_fails(spark_session, boundary_graph):
    from pyspark.errors import PySparkException

    spark = spark_session  # with Spark's default createHiveTableByDefault: the file says USING PARQUET
    load_spark_views(spark)
    spark.sql("DROP TABLE IF EXISTS trained")
    spark.sql("CREATE TABLE trained USING parquet AS SELECT 42 AS marker")
    statements = compile_statements(build(boundary_graph), "spark")
    spark.sql("DROP VIEW stats_src")  # the build fails: its source is missing
    try:
        with pytest.raises(PySparkException):
            for sql in statements:  # until the first error
                spark.sql(sql)
        assert [tuple(r) for r in spark.sql("SELECT marker FROM trained").collect()] == [(42,)]
    finally:
        load_spark_views(spark)
    for sql in statements:
        spark.sql(sql)
    rows = [tuple(r) for r in spark.sql("SELECT * FROM trained ORDER BY row_no").select(*BOTH_OUT).collect()]
    assert rows == expected_boundary(BOTH)
    assert not spark.catalog.tableExists(STAGING)
    spark.sql("DROP TABLE trained")
