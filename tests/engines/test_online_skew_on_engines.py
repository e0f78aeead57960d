"""Training/serving skew, `fcompile profile --online --view V` (issue 18; fcompile/tasks/online_skew.py), with
each offline engine computing both what is materialized and the offline side of the check: DuckDB,
PostgreSQL, Spark, fakesnow, the BigQuery emulator (live accounts when configured). The online store is
SQLite in every run. After a materialization by the engine, the engine's point-in-time values of the same
keys at the watermark agree with what the store serves (0 differing keys for every feature: same dtypes,
times as the same instants, a NULL as a NULL); a stored value changed through the online store alone shows
up for exactly that key and feature."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest
import yaml

from fcompile.online import online_view
from fcompile.online.sqlite import SqliteOnlineStore
from fcompile.parser import parse_project
from fcompile.planner.plans import CREATED_TS, EVENT_TS
from fcompile.tasks.materialize import materialize_views
from fcompile.tasks.online_skew import measure_skew

from compiler.harness import Table
from engines.engines import add_target

UTC = dt.timezone.utc
TABLE = "skew_rows"
END = dt.datetime(2024, 5, 2)  # materialized up to here (naive: UTC, as the engines' tables hold it)
COLUMNS = (("driver_id", "int64"), ("event_ts", "timestamp"), ("created", "timestamp"), ("score", "float64"),
           ("trips", "int64"), ("note", "string"), ("premium", "bool"), ("seen", "timestamp"))
FEATURES = (("score", "float64"), ("trips", "int64"), ("note", "string"), ("premium", "bool"),
            ("seen", "timestamp"))
DRIVERS = (1, 2, 3, 4, 5)


def make_rows() -> list[dict]:
    """Two rows an hour apart per driver, the newer an hour before END, except driver 5's, 23 hours before END
    (outside the 1d ttl an hour after END); driver 2's newer score is NaN, driver 4 has no note and driver 5
    no `premium` in its newer row; `seen` with microseconds."""
    rows = []
    for driver in DRIVERS:
        for hours in ((24, 23) if driver == 5 else (2, 1)):
            ts = END - dt.timedelta(hours=hours)
            rows.append({"driver_id": driver, "event_ts": ts, "created": ts, "score": math.nan if (driver, hours) == (2, 1) else driver + hours / 8 + 0.1,
                         "trips": driver * 10 + hours, "note": None if driver == 4 else f"n{driver}-{hours}",
                         "premium": None if (driver, hours) == (5, 23) else driver % 2 == 0,
                         "seen": dt.datetime(2024, 1, 1, 12, 30, 15, 250_001) + dt.timedelta(days=driver)})
    return rows


ROWS = make_rows()


def graph_on(engine, root):
    (root / "fcompile_project.yml").write_text(yaml.safe_dump({
        "name": "skew_engines", "default_target": "dev",
        "targets": {"dev": {"offline": {"type": "duckdb", "path": "x.duckdb"},
                            "online": {"type": "sqlite", "path": "x.db"}}}}))
    add_target(root, "engine", engine.offline_settings(root))
    (root / "spec.yml").write_text(yaml.safe_dump({
        "entities": [{"name": "driver", "join_keys": [{"name": "driver_id", "dtype": "int64"}]}],
        "sources": [{"name": "skew_src", "table": TABLE, "timestamp_field": "event_ts",
                     "created_timestamp_field": "created"}],
        "feature_views": [{"name": "stats", "entities": ["driver"], "source": "skew_src", "ttl": "1d",
                           "features": [{"name": n, "dtype": t} for n, t in FEATURES]}],
    }, sort_keys=False))
    result = parse_project(root, target="engine", use_cache=False)
    assert result.ok, [d.render() for d in result.diagnostics]
    return result.graph


def counts(report) -> dict[str, tuple[int, int, int, int]]:
    """Per feature: (compared, values differ, online only, offline only)."""
    return {f.name: (f.compared, f.values_differ, f.online_only, f.offline_only) for f in report.features}


def test_skew_is_zero_after_materialization_and_finds_an_edited_value(engine, tmp_path):
    runner = engine.runner()
    engine.load(runner, Table(TABLE, COLUMNS, ROWS))
    graph = graph_on(engine, tmp_path)
    store = SqliteOnlineStore(str(tmp_path / "online.db"), "skew_engines")
    try:
        (result,) = materialize_views(graph, runner, store, [graph.feature_view("stats")], END.replace(tzinfo=UTC))
        assert result.ok and result.keys_written == len(DRIVERS), [d.render() for d in result.diagnostics]

        report = measure_skew(graph, runner, store, "stats", seed=18)
        assert (report.at, report.at_basis, report.dialect) == (END.replace(tzinfo=UTC), "watermark", runner.dialect)
        assert (report.keys_held, report.compared, report.unreadable) == (len(DRIVERS), len(DRIVERS), 0)
        assert counts(report) == {name: (len(DRIVERS), 0, 0, 0) for name, _ in FEATURES}, \
            [(f.name, f.samples) for f in report.features if f.differing]
        # two hours later driver 5's row is outside the ttl on both sides (NULL equals NULL)
        later = measure_skew(graph, runner, store, "stats", at=END.replace(tzinfo=UTC) + dt.timedelta(hours=2))
        assert counts(later) == counts(report), [(f.name, f.samples) for f in later.features if f.differing]
        assert later.at_basis == "--at"

        # driver 3's stored row replaced through the store with the same event and created time (the incoming
        # row wins) and one more trip: exactly that key and feature differ
        three = max((r for r in ROWS if r["driver_id"] == 3), key=lambda r: r["event_ts"])
        at = pa.array([three["event_ts"]], pa.timestamp("us", "UTC"))
        store.write_batch(online_view(graph, "stats"), pa.RecordBatch.from_pydict({
            "driver_id": pa.array([3], pa.int64()), EVENT_TS: at, CREATED_TS: at,
            "score": pa.array([three["score"]], pa.float64()), "trips": pa.array([three["trips"] + 1], pa.int64()),
            "note": pa.array([three["note"]], pa.string()), "premium": pa.array([three["premium"]], pa.bool_()),
            "seen": pa.array([three["seen"]], pa.timestamp("us", "UTC"))}))
        edited = measure_skew(graph, runner, store, "stats", seed=18)
    finally:
        store.close()
    assert counts(edited) == {name: (len(DRIVERS), int(name == "trips"), 0, 0) for name, _ in FEATURES}
    (trips,) = [f for f in edited.features if f.name == "trips"]
    assert [(s.key, s.online, s.offline) for s in trips.samples] == [((3,), three["trips"] + 1, three["trips"])]
