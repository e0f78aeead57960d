"""Push sources in the project format: a view (or a dataset's spine) that names a push source is compiled,
materialized and read for training exactly as if it named the batch source; the manifest and `fcompile ls`
show push sources. The broken cases are in the parser corpus (tests/parser/broken/83-87)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fcompile import FeatureStore
from fcompile.artifacts.manifest import manifest_problems
from fcompile.cli import main
from fcompile.graph import PushSource, Spine
from fcompile.parser import load_project
from fcompile.tasks.materialize import materialize_views

from seeded_sample import init_seeded_sample

PUSH_SPEC = """\
sources:
  - name: driver_stats_push
    description: Hourly statistics pushed by the streaming job as they are computed.
    push: {batch_source: driver_stats}
    tags: {pipeline: streaming}
  - {name: orders_push, push: {batch_source: orders}}
"""


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> tuple[Path, Path]:
    """The sample project twice: as it is, and with driver_hourly_stats and the training dataset's spine
    naming push sources of their batch sources (declared in a file of their own, so no line moves)."""
    plain = tmp_path_factory.mktemp("plain") / "sample"
    init_seeded_sample(plain, scale=0.01, seed=3)
    pushed = tmp_path_factory.mktemp("pushed") / "sample"
    init_seeded_sample(pushed, scale=0.01, seed=3)
    driver = pushed / "features" / "driver.yml"
    assert driver.read_text().count("    source: driver_stats\n") == 1
    driver.write_text(driver.read_text().replace("    source: driver_stats\n", "    source: driver_stats_push\n"))
    training = pushed / "datasets" / "training.yml"
    training.write_text(training.read_text().replace("spine: orders\n", "spine: orders_push\n"))
    (pushed / "features" / "push.yml").write_text(PUSH_SPEC)
    return plain, pushed


def test_a_view_naming_a_push_source_reads_its_batch_source(samples):
    _, pushed = samples
    graph = load_project(pushed)
    view = graph.feature_view("driver_hourly_stats")
    assert (view.source, view.push_source) == ("driver_stats", "driver_stats_push")
    assert graph.push_source("driver_stats_push") == PushSource(
        "driver_stats_push", "driver_stats", "Hourly statistics pushed by the streaming job as they are computed.",
        (("pipeline", "streaming"),))
    assert graph.push_views("driver_stats_push") == (view,)
    assert graph.push_views("orders_push") == ()
    assert graph.dataset("driver_ranking_training").spine == Spine("source", "orders", "event_timestamp")
    assert [s.name for s in graph.sources] == [s.name for s in load_project(samples[0]).sources]  # no push source


def cli(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def build(root: Path, capsys) -> dict[str, bytes]:
    code = cli("build", "--project-dir", str(root), "--dialect", "all")
    assert code == 0, capsys.readouterr()  # the sample's sources are seeded tables: every dialect compiles them
    capsys.readouterr()
    compiled = root / "target" / "compiled"
    return {str(p.relative_to(compiled)): p.read_bytes() for p in sorted(compiled.rglob("*.sql"))}


def test_build_output_is_unchanged(samples, capsys):
    plain, pushed = samples
    before, after = build(plain, capsys), build(pushed, capsys)
    assert len(before) > 10 and after == before
    manifest = json.loads((pushed / "target" / "manifest.json").read_text())
    assert manifest_problems(manifest) == []
    assert manifest["metadata"]["schema_version"] == 4
    node = manifest["nodes"]["push_source"]["driver_stats_push"]
    assert node["spec"]["batch_source"] == "driver_stats"
    assert node["location"] == {"path": "features/push.yml", "line": 2, "column": 11}
    view = manifest["nodes"]["feature_view"]["driver_hourly_stats"]["spec"]
    assert (view["source"], view["push_source"]) == ("driver_stats", "driver_stats_push")
    plain_manifest = json.loads((plain / "target" / "manifest.json").read_text())
    assert plain_manifest["nodes"]["push_source"] == {}
    assert plain_manifest["nodes"]["feature_view"]["driver_hourly_stats"]["spec"]["push_source"] is None


def test_training_sets_and_materialization_are_unchanged(samples):
    plain, pushed = samples
    answers = []
    for root in (plain, pushed):
        with FeatureStore(root) as fs:
            training = fs.get_historical_features(str(root / "seeds" / "orders.parquet"),
                                                  service="driver_ranking_v2").to_arrow()
            view = fs.graph.feature_view("driver_hourly_stats")
            stats = pq.read_table(root / "seeds" / "driver_stats.parquet", columns=["driver_id", "event_timestamp"])
            end = pc.max(stats.column("event_timestamp")).as_py().replace(tzinfo=dt.timezone.utc)
            start = end - dt.timedelta(days=365)
            (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [view], end, start)
            assert result.ok
            drivers = pc.unique(stats.column("driver_id")).to_pylist()
            online = fs.get_online_features({"driver_id": drivers}, ["driver_hourly_stats:conv_rate"],
                                            now=end).to_http_dict()
            answers.append((training, result.rows_read, result.keys_written, online))
    training, rows_read, keys_written, online = answers[0]
    other = answers[1][0]
    assert training.num_rows >= 50 and training.schema == other.schema
    # float sums and means of windowed aggregations: their last bits depend on the order DuckDB adds in
    summed = {"fare_sum_1d", "fare_avg_7d"}
    assert summed <= set(training.column_names)
    for name in training.column_names:
        if name not in summed:
            assert training[name].equals(other[name]), name
            continue
        pairs = list(zip(training[name].to_pylist(), other[name].to_pylist()))
        assert all(a is None and b is None or a is not None and b is not None
                   and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in pairs), name
    assert training.column("conv_rate").null_count < training.num_rows  # values, not only NULLs
    assert (rows_read, keys_written, online) == answers[1][1:]
    assert "PRESENT" in online["results"][1]["statuses"]


def test_ls_lists_push_sources(samples, capsys):
    _, pushed = samples
    assert cli("ls", "--json", "--kind", "push_source", "--project-dir", str(pushed)) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["name"], r["summary"]) for r in rows] == [
        ("push_source", "driver_stats_push", "push: rows are kept in driver_stats"),
        ("push_source", "orders_push", "push: rows are kept in orders")]
    assert cli("ls", "--json", "--kind", "feature_view", "--project-dir", str(pushed)) == 0
    views = {r["name"]: r["summary"] for r in json.loads(capsys.readouterr().out)}
    assert "from driver_stats_push (push, into driver_stats)" in views["driver_hourly_stats"]


def test_selection_links_push_sources_between_their_batch_source_and_views(samples):
    from fcompile.artifacts.selection import select_nodes

    graph = load_project(samples[1])
    downstream = {str(r) for r in select_nodes(graph, ["driver_stats_push+"])}
    assert {"push_source.driver_stats_push", "feature_view.driver_hourly_stats"} <= downstream
    assert "source.driver_stats" not in downstream
    upstream = {str(r) for r in select_nodes(graph, ["+driver_hourly_stats"])}
    assert {"push_source.driver_stats_push", "source.driver_stats", "entity.driver"} <= upstream
    assert "feature_view.driver_hourly_stats" in {str(r) for r in select_nodes(graph, ["driver_stats+"])}
