"""Compiled SQL gives the same rows whatever the session's time zone (docs/concepts/point-in-time.md): run on
DuckDB, PostgreSQL and (the compiled files themselves, below) Spark in sessions set to Australia/Adelaide
(+10:30/+9:30) and America/Los_Angeles (-8/-7), a view with naive timestamps against a zoned spine, and the
reverse, give exactly the reference's rows.

Tables are loaded in a UTC session (so a naive value is stored as written); only the query runs in the other
zone. Before the compiled SQL converted times explicitly, the engines read a naive time in the session's zone
where it met a zoned one, and these cases gave wrong rows."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from dataclasses import replace

import pytest

from fcompile.artifacts.queries import SPINE_RELATION, compile_node
from fcompile.artifacts.selection import NodeRef
from fcompile.dialects import get_dialect
from fcompile.graph import Projection

from compiler.harness import (
    Case, EntityDef, PostgresEngine, Table, ViewDef, arrow_table, assert_same_rows, check_case, check_latest,
    expected, expected_latest, normalized, write_project,
)

ZONES = ("Australia/Adelaide", "America/Los_Angeles")
UTC = dt.timezone.utc
T = dt.datetime(2024, 3, 10, 12, 0, 0)  # naive: UTC
MIN = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)

DRIVER = EntityDef("driver", (("driver_id", "int64"),))


@contextlib.contextmanager
def session_zone(engine, zone: str):
    """Run the body's queries in a session set to `zone` (tables are loaded in UTC before)."""
    statement = {"duckdb": "SET TimeZone='{}'", "postgres": "SET TIME ZONE '{}'"}[engine.dialect]
    run = engine.con.execute if engine.dialect == "duckdb" else engine.conn.execute
    run(statement.format(zone))
    try:
        yield
    finally:
        run(statement.format("UTC"))


class ZonedQueries:
    """An engine whose tables load in UTC and whose queries run in another session zone."""

    def __init__(self, engine, zone: str) -> None:
        self.engine, self.zone, self.dialect = engine, zone, engine.dialect

    def load_case(self, case: Case) -> None:
        self.engine.load_case(case)

    def spine_forms(self):
        return self.engine.spine_forms()

    def query(self, sql, params=None):
        with session_zone(self.engine, self.zone):
            return self.engine.query(sql, params)


def _moment(delta: dt.timedelta, zoned: bool) -> dt.datetime:
    moment = T + delta
    return moment.replace(tzinfo=UTC) if zoned else moment


def zone_case(source_zoned: bool, spine_zoned: bool, ttl: dt.timedelta | None = HOUR) -> Case:
    """Rows around the spine time whose visibility flips when a naive time is read as local time in a zone
    several hours from UTC: inside the ttl, just before its bound, just after the spine time."""
    ts_type = "timestamptz" if source_zoned else "timestamp"
    columns = (("driver_id", "int64"), ("event_ts", ts_type), ("created", ts_type), ("conv", "float64"))
    rows = [
        (1, -30 * MIN, -30 * MIN, 0.1),                  # visible, inside the 1h ttl
        (1, -30 * MIN, -20 * MIN, 0.2),                  # same event time, created later: wins
        (1, 5 * MIN, 5 * MIN, 0.9),                      # after the spine time: never visible
        (2, -61 * MIN, -61 * MIN, 0.3),                  # outside the ttl
        (2, -60 * MIN, -70 * MIN, 0.4),                  # exactly at the ttl bound: visible
        (3, -9 * HOUR, -9 * HOUR, 0.5),                  # visible only without a ttl
        (3, 9 * HOUR, 9 * HOUR, 0.6),                    # in the future
        (4, 0 * MIN, 0 * MIN, 0.7),                      # exactly at the spine time: visible
    ]
    table = Table("stats_t", columns, [
        {"driver_id": k, "event_ts": _moment(e, source_zoned), "created": _moment(c, source_zoned), "conv": v}
        for k, e, c, v in rows])
    spine_type = "timestamptz" if spine_zoned else "timestamp"
    spine = Table("spine_t", (("driver_id", "int64"), ("event_timestamp", spine_type)), [
        {"driver_id": k, "event_timestamp": _moment(d, spine_zoned)}
        for k, d in ((1, 0 * MIN), (2, 0 * MIN), (3, 0 * MIN), (4, 0 * MIN), (1, 10 * HOUR), (3, -5 * HOUR))])
    view = ViewDef("stats", ("driver",), "stats_t", (("conv", "float64"),), created="created", ttl=ttl)
    name = f"{'zoned' if source_zoned else 'naive'}_view_{'zoned' if spine_zoned else 'naive'}_spine"
    return Case((DRIVER,), (view,), (table,), spine, (Projection("stats", ("conv",)),), name=name)


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("source_zoned,spine_zoned", [(False, True), (True, False), (False, False), (True, True)],
                         ids=["naive-view-zoned-spine", "zoned-view-naive-spine", "naive-both", "zoned-both"])
@pytest.mark.parametrize("ttl", [HOUR, None], ids=["ttl-1h", "no-ttl"])
def test_point_in_time_join_is_the_same_in_any_session_zone(engine, zone, source_zoned, spine_zoned, ttl, tmp_path):
    case = zone_case(source_zoned, spine_zoned, ttl)
    check_case(ZonedQueries(engine, zone), case, write_project(case, tmp_path / case.name))


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("source_zoned", [False, True], ids=["naive-view", "zoned-view"])
@pytest.mark.parametrize("bounds_zoned", [False, True], ids=["naive-bounds", "zoned-bounds"])
def test_materialization_window_is_the_same_in_any_session_zone(engine, zone, source_zoned, bounds_zoned, tmp_path):
    """The window's bounds, bound naive (read as UTC) or zoned, select the same rows in any session zone."""
    case = zone_case(source_zoned, True)
    start, end = T - 61 * MIN, T  # both ends inclusive: driver 2's row at -61 min is in, driver 1's at +5 out
    if bounds_zoned:
        start, end = start.replace(tzinfo=UTC).astimezone(dt.timezone(dt.timedelta(hours=5))), end.replace(tzinfo=UTC)
    check_latest(ZonedQueries(engine, zone), case, write_project(case, tmp_path / case.name), "stats", start, end)


# -- the compiled files on Spark -------------------------------------------------------------------------------
#
# Spark has no spelling of "this time as a UTC instant" that works for TIMESTAMP_NTZ and TIMESTAMP (LTZ)
# alike, so its compiled files begin by setting the session's time zone to UTC. Here the files themselves
# (`compile_node`: header, statements separated as in the file) run in sessions set to other zones, on
# tables loaded from Parquet (naive times are TIMESTAMP_NTZ, zoned ones TIMESTAMP).

SPINE_QUERY = "SELECT driver_id, event_timestamp FROM spine_t"


def spark_zone_project(case: Case, root, database: str):
    """The case's project with a service over its view and a dataset built from a query spine."""
    spec = {"feature_services": [{"name": "stats_svc", "features": ["stats:conv"]}],
            "datasets": [{"name": "stats_training", "spine": {"query": SPINE_QUERY}, "service": "stats_svc",
                          "output": {"table": f"{database}.stats_training"}}]}
    return write_project(replace(case, extra_spec=spec), root)


def file_statements(text: str) -> list[str]:
    """A compiled file's statements, in order: the header's comment lines dropped, split where the file
    separates them."""
    body = "\n".join(line for line in text.splitlines() if not line.startswith("-- "))
    return [statement.strip() for statement in body.split(";\n\n")]


def run_file(session, zone: str, text: str, args=None):
    """The file's statements run in order in a session whose time zone was `zone`: the last one's rows."""
    session.conf.set("spark.sql.session.timeZone", zone)
    try:
        *leading, last = file_statements(text)
        for statement in leading:
            session.sql(statement)
        return session.sql(last, args=args) if args else session.sql(last)
    except BaseException:
        session.conf.set("spark.sql.session.timeZone", "UTC")
        raise


def spark_rows(frame, folder) -> tuple[list[str], list[dict]]:
    """A result's rows as Arrow reads them back from Parquet (instants as UTC, naive times as written): a
    collected timestamp would be in the driver's local zone."""
    import pyarrow.parquet as pq

    frame.coalesce(1).write.parquet(str(folder))
    table = pq.read_table(folder)
    return table.column_names, table.to_pylist()


def load_spark(session, table: Table, folder) -> None:
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    pq.write_table(arrow_table(table), folder / "part-0.parquet")
    session.read.parquet(str(folder)).createOrReplaceTempView(table.name)


@pytest.fixture
def spark_zone(spark_session, tmp_path):
    """The test session, with a database for datasets (the files say USING PARQUET, so Spark's default
    of making Hive tables plays no part); its time zone is UTC again afterwards."""
    database = f"fc_tz_{uuid.uuid4().hex[:12]}"
    spark_session.sql(f"CREATE DATABASE `{database}` LOCATION '{tmp_path / 'database'}'")
    yield spark_session, database
    spark_session.conf.set("spark.sql.session.timeZone", "UTC")
    spark_session.sql(f"DROP DATABASE IF EXISTS `{database}` CASCADE")


@pytest.mark.parametrize("source_zoned,spine_zoned", [(False, True), (True, False)],
                         ids=["naive-view-zoned-spine", "zoned-view-naive-spine"])
def test_spark_compiled_files_are_the_same_in_any_session_zone(spark_zone, source_zoned, spine_zoned, tmp_path):
    """The service's, the view's and the dataset's files, each run as it is after the session was set to
    Australia/Adelaide and to America/Los_Angeles, give the reference's rows."""
    session, database = spark_zone
    case = zone_case(source_zoned, spine_zoned)
    graph = spark_zone_project(case, tmp_path / "project", database)
    for table in (*case.tables, case.spine):
        load_spark(session, table, tmp_path / "tables" / table.name)
    session.table("spine_t").createOrReplaceTempView(SPINE_RELATION)  # what the retrieve file reads
    dialect = get_dialect("spark")
    files = {kind: compile_node(graph, NodeRef(kind, name), dialect).text
             for kind, name in (("feature_service", "stats_svc"), ("feature_view", "stats"),
                                ("dataset", "stats_training"))}
    wanted = expected(case)
    start, end = T - 61 * MIN, T
    wanted_latest = sorted(({k: normalized(v) for k, v in r.items()} for r in expected_latest(case, "stats", start, end)),
                           key=str)
    for zone in ZONES:
        out = tmp_path / zone.replace("/", "_")
        retrieved = spark_rows(run_file(session, zone, files["feature_service"]), out / "retrieve")
        assert_same_rows(retrieved, wanted, f"retrieve file in a {zone} session\n{files['feature_service']}")

        run_file(session, zone, files["dataset"])
        built = spark_rows(session.table(f"{database}.stats_training").orderBy("event_timestamp", "driver_id"),
                           out / "dataset")
        in_order = sorted(wanted[1], key=lambda r: (normalized(r["event_timestamp"]), r["driver_id"]))
        assert_same_rows(built, (wanted[0], in_order), f"dataset file in a {zone} session\n{files['dataset']}")

        names, rows = spark_rows(run_file(session, zone, files["feature_view"], {"start": start, "end": end}),
                                 out / "materialize")
        got = sorted(({k: normalized(v) for k, v in r.items()} for r in rows), key=str)
        assert got == wanted_latest, f"materialize file in a {zone} session\n{files['feature_view']}"


# -- Snowflake: the SQL text ----------------------------------------------------------------------------------
#
# fakesnow does not emulate Snowflake's session time zone (its DuckDB runs in UTC, and ALTER SESSION SET
# TIMEZONE is "not implemented"), so a session zone cannot be run there: what is checked is that every
# compared time is spelled as a UTC TIMESTAMP_NTZ, which Snowflake compares without any time zone.

def snowflake_utc(time: str) -> str:
    return f"TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, {time}), 6)"


def test_snowflake_files_compare_only_times_read_as_utc_timestamp_ntz(tmp_path):
    case = zone_case(False, True)
    graph = spark_zone_project(case, tmp_path / "project", "ML")
    dialect = get_dialect("snowflake")
    service, view, dataset = (compile_node(graph, NodeRef(kind, name), dialect).text for kind, name in (
        ("feature_service", "stats_svc"), ("feature_view", "stats"), ("dataset", "stats_training")))
    spine_ts, event_ts, created_ts = (snowflake_utc(c) for c in ('"EVENT_TIMESTAMP"', '"SRC"."EVENT_TS"',
                                                                  '"SRC"."CREATED"'))
    for text in (service, dataset):  # (the spine's alias depends on the plan)
        assert f'{spine_ts} AS "__FC_SPINE_TS"' in text
        assert re.search(r'"F"\."__FC_EVENT_TS" <= "\w+"\."__FC_SPINE_TS"', text), text
        assert re.search(r'TIMESTAMPADD\(SECOND, -3600, "\w+"\."__FC_SPINE_TS"\)', text), text
    for text in (service, view, dataset):
        assert f'{event_ts} AS "__FC_EVENT_TS"' in text and f'{created_ts} AS "__FC_CREATED_TS"' in text
        assert "ALTER SESSION" not in text and "session's time zone" not in text
    assert f'"__FC_EVENT_TS" >= {snowflake_utc(":start")}' in view
    assert f'"__FC_EVENT_TS" <= {snowflake_utc(":end")}' in view


# -- PostgreSQL: every microsecond in range ----------------------------------------------------------------

EXTREMES = ("4713-01-01 00:00:00 BC", "1969-12-31 23:59:59.999999", "2024-03-10 12:00:00.000001",
            "9999-12-31 23:59:59.999999", "294276-12-31 23:59:59.999999")


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("column_type", ["timestamp", "timestamptz"])
def test_postgres_reads_every_time_in_range_as_its_exact_utc_instant(postgres_connection, zone, column_type):
    """The first and last microseconds PostgreSQL holds, and ordinary ones, naive (read as UTC) or zoned, come
    out as the same instant, to the microsecond, in a session of another zone (a spelling through a double,
    TO_TIMESTAMP(EXTRACT(EPOCH FROM ts)), put 9999-12-31 23:59:59.999999 out of range)."""
    from sqlglot import exp

    dialect = get_dialect("postgres")
    conn = postgres_connection
    conn.execute(f"CREATE TEMP TABLE extremes (ts {column_type})")
    try:
        for text in EXTREMES:  # loaded in the UTC session: a zoned value is the naive one read as UTC
            conn.execute(f"INSERT INTO extremes VALUES ('{text}')")
        converted = dialect.utc_instant(exp.column("ts"))
        check = exp.select(
            exp.alias_(exp.cast(exp.Anonymous(this="PG_TYPEOF", expressions=[converted.copy()]), "TEXT"), "type"),
            exp.alias_(exp.Extract(this=exp.var("EPOCH"), expression=converted), "converted"),
            exp.alias_(exp.Extract(this=exp.var("EPOCH"), expression=exp.column("ts")), "stored"),
        ).from_("extremes")
        with session_zone(PostgresEngine(conn), zone):
            rows = conn.execute(dialect.generate(check)).fetchall()
    finally:
        conn.execute("DROP TABLE extremes")
    assert len(rows) == len(EXTREMES)
    for kind, got, stored in rows:  # EXTRACT(EPOCH ...) is exact (numeric) and reads a naive time as UTC
        assert (kind, got) == ("timestamp with time zone", stored)
