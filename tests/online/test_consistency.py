"""Consistency (docs/concepts/point-in-time.md): for random data and random times t, after materializing up to
t, the value served online for each entity at t equals the value a training set computes for a spine row
(entity, t).

Each example materializes twice - a first run up to t1, then an incremental one up to t2 - and checks both
times, for a view with and without a ttl, with and without a created timestamp, with re-sent rows, full ties
and NULL values. Runs on every online store, with the conformance suite's `backend` fixture: SQLite always;
Redis and PostgreSQL when the servers answer (FCOMPILE_TEST_REDIS_URL, default redis://127.0.0.1:6379/0;
FCOMPILE_TEST_POSTGRES_URL, default postgresql://127.0.0.1:5432/test), skipped with the reason otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from store_backends import new_project

from fcompile import FeatureStore

BASE = dt.datetime(2024, 3, 1)  # naive: read as UTC
UTC = dt.timezone.utc
KEYS = [1, 2, 3, 4]
ASKED = [1, 2, 3, 4, 5]  # 5 never has a row
NAN = float("nan")
FEATURES = ["v:score", "v:count"]

PROJECT = """\
name: {name}
default_target: dev
targets:
  dev: {{offline: {{type: duckdb}}, online: {online}}}
"""
SPEC = """\
entities:
  - {{name: driver, join_keys: [{{name: driver_id, dtype: int64}}]}}
sources:
  - {{name: src, path: data/rows.parquet, timestamp_field: ts{created}}}
feature_views:
  - name: v
    entities: [driver]
    source: src{ttl}{lateness}
    features: [{{name: score, dtype: float64}}, {{name: count, dtype: int64}}]
"""


@pytest.fixture
def root(backend):
    """A project on the store of `backend` (conftest.py: SQLite, Redis, PostgreSQL; a server that cannot be
    reached skips with the reason), under a name of its own, whose data is removed afterwards."""
    project = new_project()
    folder = Path(backend.root)
    (folder / "data").mkdir()
    (folder / "fcompile_project.yml").write_text(PROJECT.format(name=project, online=json.dumps(backend.settings)))
    yield folder
    backend.cleanup(project)


minutes = st.integers(0, 12).map(lambda n: n * 30)  # coarse, so event times collide
rows = st.lists(st.tuples(
    st.sampled_from(KEYS), minutes, st.one_of(st.none(), minutes),
    st.one_of(st.none(), st.sampled_from([0.5, 1.0, 2.5, NAN])), st.one_of(st.none(), st.integers(0, 3)),
), max_size=25)
# full ties (same key, event and created time) of differing values: each feature gets its greatest, NaN included
FULL_TIES = [(1, 60, 60, 0.5, 1), (1, 60, 60, NAN, 3), (1, 60, 60, 1.0, None), (2, 30, None, 2.5, 0),
             (2, 30, None, None, 2), (3, 60, 0, 1.0, 1), (3, 60, 30, 0.5, 0), (3, 60, 30, None, None)]
moments = st.integers(-1, 14).map(lambda n: n * 30)  # in minutes from BASE: before, on and after the rows


@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=rows, ttl=st.sampled_from([None, "1h", "2h"]), created=st.booleans(),
       lateness=st.sampled_from([None, "30m"]), t1=moments, later=st.integers(0, 8).map(lambda n: n * 30))
@example(rows=FULL_TIES, ttl=None, created=True, lateness=None, t1=60, later=30)
@example(rows=FULL_TIES, ttl="1h", created=False, lateness="30m", t1=30, later=60)
def test_online_values_equal_training_values(root, rows, ttl, created, lateness, t1, later):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (root / "features.yml").write_text(SPEC.format(
        created=", created_timestamp_field: created" if created else "",
        ttl=f"\n    ttl: {ttl}" if ttl else "", lateness=f"\n    lateness: {lateness}" if lateness else ""))
    table = pa.table({
        "driver_id": pa.array([r[0] for r in rows], pa.int64()),
        "ts": pa.array([BASE + dt.timedelta(minutes=r[1]) for r in rows], pa.timestamp("us")),
        "created": pa.array([None if r[2] is None else BASE + dt.timedelta(minutes=r[2]) for r in rows],
                            pa.timestamp("us")),
        "score": pa.array([r[3] for r in rows], pa.float64()),
        "count": pa.array([r[4] for r in rows], pa.int64()),
    })
    pq.write_table(table, root / "data" / "rows.parquet")
    with FeatureStore(root) as fs:
        fs.online_store.drop_view("v")  # a fresh view for every example
        for minute in (t1, t1 + later):
            t = (BASE + dt.timedelta(minutes=minute)).replace(tzinfo=UTC)
            _materialize(fs, t)
            assert _comparable(_online(fs, t)) == _comparable(_training(fs, t)), f"at {t}"


def _comparable(values: dict) -> dict:
    """NaN as a string: NaN is not equal to itself."""
    return {name: [str(v) if isinstance(v, float) and math.isnan(v) else v for v in column]
            for name, column in values.items()}


def _materialize(fs: FeatureStore, end: dt.datetime) -> None:
    from fcompile.tasks.materialize import materialize_views

    (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("v")], end)
    assert result.ok, [d.render() for d in result.diagnostics]


def _online(fs: FeatureStore, t: dt.datetime) -> dict:
    values = fs.get_online_features({"driver_id": ASKED}, FEATURES, now=t).values()
    return {name: values[name] for name in ("score", "count")}


def _training(fs: FeatureStore, t: dt.datetime) -> dict:
    import pyarrow as pa

    spine = pa.table({"driver_id": pa.array(ASKED, pa.int64()),
                      "event_timestamp": pa.array([t] * len(ASKED), pa.timestamp("us", "UTC"))})
    table = fs.get_historical_features(spine, FEATURES).to_arrow()
    return {name: table.column(name).to_pylist() for name in ("score", "count")}
