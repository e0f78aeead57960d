"""Compiled SQL gives the same rows whatever the session's time zone (docs/concepts/point-in-time.md): run on
DuckDB and PostgreSQL in sessions set to Australia/Adelaide (+10:30/+9:30) and America/Los_Angeles (-8/-7),
a view with naive timestamps against a zoned spine, and the reverse, give exactly the reference's rows.

Tables are loaded in a UTC session (so a naive value is stored as written); only the query runs in the other
zone. Before the compiled SQL converted times explicitly, the engines read a naive time in the session's zone
where it met a zoned one, and these cases gave wrong rows."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest

from fcompile.graph import Projection

from compiler.harness import Case, EntityDef, Table, ViewDef, check_case, check_latest, write_project

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
