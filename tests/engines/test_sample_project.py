"""The sample project on every engine: its feature services and its dataset give the reference's training
sets, row by row in spine order (docs/concepts/point-in-time.md), whichever engine computes them.

The sample is generated once (scale 0.05: 250 orders, about 2,300 feature rows over four sources with
late corrections, ties and gaps). Its sources are tables: on every engine its seeds are loaded as `fcompile
seed` loads them (engines.sample_on), and the test reads the same tables. The expected rows come from the pure-Python
reference (tests/compiler/reference.py), so every engine is held to the same answer, not to another engine.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fcompile import FeatureStore
from fcompile.parser import load_project
from fcompile.runners.datasets import run_dataset
from fcompile.sample import init_project

from compiler import reference
from compiler.harness import assert_same_rows
from engines.engines import reference_views, sample_on

SCALE, SEED = 0.05, 11
FILE_DATASET = """
datasets:
  - name: activity_file
    description: driver_activity_v1 for every order, written to a Parquet file.
    spine: orders
    service: driver_activity_v1
    output: {path: target/activity.parquet}
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("engine_sample")
    init_project(root / "project", scale=SCALE, seed=SEED)
    return root


@pytest.fixture(scope="module")
def expected_rows(sample):
    """The reference's training set for each feature service, over the orders in file order."""
    graph = load_project(sample / "project")
    data = sample / "project" / "seeds"
    views = reference_views(graph, data)
    orders = pq.read_table(data / "orders.parquet")

    def rows(service: str, full_feature_names: bool) -> tuple[list[str], list[dict]]:
        projections = graph.get("feature_service", service).projections
        requested = [reference.Requested(p.view, feature, output) for p in projections
                     for feature, output in zip(p.features, p.output_names(full_feature_names))]
        found = reference.point_in_time_join(orders.to_pylist(), orders.column_names, "event_timestamp",
                                             {p.view: views[p.view] for p in projections}, requested)
        return [*orders.column_names, *(r.output for r in requested)], found

    return rows


@pytest.mark.parametrize("service, full_feature_names", [("driver_activity_v1", False), ("driver_ranking_v2", True)])
def test_feature_services_give_the_reference_rows(engine, sample, expected_rows, tmp_path, service,
                                                  full_feature_names):
    root = sample_on(engine, sample, tmp_path / "project")
    orders = pq.read_table(sample / "project" / "seeds" / "orders.parquet")
    with FeatureStore(root, target="engine") as fs:
        got = fs.get_historical_features(orders, service=service, full_feature_names=full_feature_names).to_arrow()
    assert_same_rows((got.column_names, got.to_pylist()), expected_rows(service, full_feature_names),
                     f"{service} on {engine.name}")


def test_the_datasets_give_the_reference_rows(engine, sample, expected_rows, tmp_path):
    """The sample's dataset (a table in the engine's database) and one written to a Parquet file."""
    root = sample_on(engine, sample, tmp_path / "project")
    (root / "datasets" / "file.yml").write_text(FILE_DATASET)
    with FeatureStore(root, target="engine") as fs:
        graph, runner = fs.graph, fs.runner
        table = run_dataset(graph, runner, graph.dataset("driver_ranking_training"))
        assert table.ok, [d.render() for d in table.diagnostics]
        names, wanted = expected_rows("driver_ranking_v2", True)
        assert table.rows == len(wanted)
        written = engine.read_table(runner, engine.output_prefix() + "driver_ranking_training").to_pylist()
        by_order = lambda row: row["order_id"]  # noqa: E731  (a table has no order: compare by spine row)
        assert_same_rows((names, sorted(written, key=by_order)), (names, sorted(wanted, key=by_order)),
                         f"dataset driver_ranking_training on {engine.name}")
        file = run_dataset(graph, runner, graph.dataset("activity_file"))
        assert file.ok, [d.render() for d in file.diagnostics]
    written = pq.read_table(root / "target" / "activity.parquet")
    assert_same_rows((written.column_names, written.to_pylist()), expected_rows("driver_activity_v1", False),
                     f"dataset activity_file on {engine.name}")
