"""Fixtures of the catalog tests: the sample project, tested, and its catalog site generated once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def fcompile(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPILE_")}
    return subprocess.run([sys.executable, "-m", "fcompile", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="session")
def sample_site(tmp_path_factory) -> Path:
    """The sample's project folder, seeded and tested (target/run_results.json), with target/docs/ generated."""
    project = tmp_path_factory.mktemp("catalog") / "driver_ranking"
    for args in (("init", str(project)), ("seed", "--project-dir", str(project)),
                 ("test", "--project-dir", str(project)), ("docs", "generate", "--project-dir", str(project))):
        done = fcompile(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
    return project


ON_DEMAND_PROJECT = {
    "fcompile_project.yml": """name: odv
default_target: dev
targets:
  dev:
    offline: {type: duckdb, path: x.duckdb}
    online: {type: sqlite, path: x.db}
""",
    "spec.yml": """entities:
  - name: driver
    join_keys: [{name: driver_id, dtype: int64}]
sources:
  - name: trips
    path: data/trips.parquet
    timestamp_field: ts
feature_views:
  - name: stats
    entities: [driver]
    source: trips
    features:
      - {name: trips, dtype: int64}
      - {name: rate, dtype: float64}
request_sources:
  - name: req
    fields:
      - {name: amount, dtype: float64, description: the order's amount}
on_demand_views:
  - name: order_features
    inputs: [stats, req]
    description: per-order features
    features:
      - {name: per_trip, dtype: float64, expr: "amount / trips"}
  - name: derived
    inputs: [order_features, stats]
    features:
      - {name: doubled, dtype: float64, expr: "per_trip * 2 + stats.rate"}
""",
}


@pytest.fixture(scope="session")
def on_demand_site(tmp_path_factory) -> Path:
    """A project of request sources and on-demand views (one reading another), with its catalog generated."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    project = tmp_path_factory.mktemp("catalog_odv") / "odv"
    (project / "data").mkdir(parents=True)
    pq.write_table(pa.table({"driver_id": [1], "ts": [dt.datetime(2024, 1, 1)], "trips": [1], "rate": [0.5]}),
                   project / "data" / "trips.parquet")
    for name, text in ON_DEMAND_PROJECT.items():
        (project / name).write_text(text)
    done = fcompile("docs", "generate", "--project-dir", str(project))
    assert done.returncode == 0, done.stderr
    return project
