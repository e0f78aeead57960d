"""`Runner.window_stats` - the counts materialization shows as progress - gives the same rows, keys and times
whatever the session's time zone, as the compiled files do (tests/compiler/test_session_time_zone.py): run on
DuckDB and PostgreSQL in sessions set to Australia/Adelaide (+10:30 that day) and America/Los_Angeles (-8, then -7
from 10:00 UTC that day),
over naive and zoned event times at and around the window's edges.

The table loads in the runner's UTC session; only the counting runs in the other zone. Before the counting
query read times as UTC instants (`utc_instant`), PostgreSQL read a naive time in the session's zone where
it met the zoned bound, and DuckDB read the naive bound in the session's zone where it met a zoned column,
and these counts were wrong."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest

from fcompile.graph import Projection
from fcompile.planner.point_in_time import plan_latest_values

from compiler.harness import Case, EntityDef, Table, ViewDef, write_project

UTC = dt.timezone.utc
T = dt.datetime(2024, 3, 10, 12, 0, 0)  # naive: UTC (Los Angeles is at -7 since 10:00 UTC that day)
MIN = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
START, END = T - 6 * HOUR, T  # both ends inclusive
ZONES = ("Australia/Adelaide", "America/Los_Angeles")

# (driver, event time relative to T): in the window or not, and where a time read in a session's zone moves
ROWS = [
    (1, -6 * HOUR),            # at the start: in
    (1, -6 * HOUR - MIN),      # a minute before the start: out
    (2, 0 * MIN),              # at the end: in
    (2, MIN),                  # a minute after the end: out
    (3, -3 * HOUR),            # in
    (4, 5 * HOUR),             # out; read as Adelaide time it is 5.5 h before T: in
    (5, 10 * HOUR),            # out; read as Adelaide time, half an hour before T: in
    (6, -13 * HOUR),           # out; read as Los Angeles time (-8 before 10:00 UTC), 5 h before T: in
]


def zone_table(zoned: bool) -> Table:
    kind = "timestamptz" if zoned else "timestamp"
    rows = [{"driver_id": key, "event_ts": (T + delta).replace(tzinfo=UTC) if zoned else T + delta, "conv": 0.5}
            for key, delta in ROWS]
    return Table(f"window_zone_{kind}", (("driver_id", "int64"), ("event_ts", kind), ("conv", "float64")), rows)


def wanted(start: dt.datetime | None) -> tuple[int, int, dt.datetime, dt.datetime]:
    """(rows, keys, earliest, latest) of the window, counted here."""
    inside = [(key, T + delta) for key, delta in ROWS if (start is None or T + delta >= start) and T + delta <= END]
    times = [moment.replace(tzinfo=UTC) for _, moment in inside]
    return len(inside), len({key for key, _ in inside}), min(times), max(times)


@contextlib.contextmanager
def session_zone(engine_name: str, runner, zone: str):
    """The runner's session set to `zone` within; UTC again afterwards."""
    if engine_name == "duckdb":
        run, statement = runner.con.execute, "SET TimeZone = '{}'"
    else:
        run, statement = runner.conn.execute, "SET TIME ZONE '{}'"
    run(statement.format(zone))
    try:
        yield
    finally:
        run(statement.format("UTC"))


@pytest.mark.parametrize("engine_name", ["duckdb", "postgres"])
@pytest.mark.parametrize("zoned", [False, True], ids=["naive-times", "zoned-times"])
def test_window_stats_are_the_same_in_any_session_zone(engines, engine_name, zoned, tmp_path):
    engine = engines(engine_name)
    runner = engine.runner()
    table = zone_table(zoned)
    view = ViewDef("stats", ("driver",), table.name, (("conv", "float64"),))
    case = Case((EntityDef("driver", (("driver_id", "int64"),)),), (view,), (table,),
                Table("spine_t", (), []), (Projection("stats", ("conv",)),), name="window_zone")
    graph = write_project(case, tmp_path)
    engine.load(runner, table)
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    for start in (START, None):
        rows, keys, earliest, latest = wanted(start)
        if engine_name == "duckdb":  # counts the rows and times, not the keys (fcompile/runners/duckdb.py)
            keys = None
        in_utc = runner.window_stats(plan, start, END, "stats")
        assert (in_utc.rows, in_utc.keys, in_utc.earliest, in_utc.latest) == (rows, keys, earliest, latest)
        for zone in ZONES:
            with session_zone(engine_name, runner, zone):
                found = runner.window_stats(plan, start, END, "stats")
            assert (found.rows, found.keys, found.earliest, found.latest) == (rows, keys, earliest, latest), \
                (zone, start)
