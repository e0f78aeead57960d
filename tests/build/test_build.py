"""The build in process: what is written for which node, determinism, the manifest, stale files,
partial selections, atomic writes and the capability diagnostics."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from pathlib import Path

import pytest

from fcompile import __version__
from fcompile.artifacts import build as build_module
from fcompile.artifacts.build import (
    check_target, compile_project, expected_target, read_tree, resolve_dialects, write_target,
)
from fcompile.artifacts.manifest import dump_manifest, manifest_problems
from fcompile.diagnostics import Code, DiagnosticError
from fcompile.dialects import DIALECTS
from fcompile.parser import load_project
from sample_projects import SPINE_QUERY

SAMPLE_FILES = {
    "materialize/customer_daily_profile.sql", "materialize/driver_customer_affinity.sql",
    "materialize/driver_hourly_stats.sql", "materialize/driver_lifetime_stats.sql",
    "materialize/driver_onboarding.sql", "materialize/driver_trip_windows.sql", "retrieve/driver_activity_v1.sql", "retrieve/driver_ranking_v2.sql",
    "retrieve/driver_ranking_orders.sql",
    "datasets/driver_ranking_training.sql",
    "tests/driver_hourly_stats__conv_rate__not_null.sql", "tests/driver_hourly_stats__conv_rate__range.sql",
    "tests/driver_hourly_stats__row_count.sql", "tests/driver_hourly_stats__unique_key_time.sql",
    "tests/driver_lifetime_stats__vehicle_class__accepted_values.sql",
}


def build(root: Path, dialects=("duckdb",), select=(), exclude=(), target="target"):
    graph = load_project(root)
    result = compile_project(graph, dialects, select, exclude)
    write_target(expected_target(graph, result, root / target))
    return result


def files_of(root: Path, dialect: str) -> set[str]:
    return set(read_tree(root / "target" / "compiled" / dialect))


def test_every_view_service_and_dataset_gets_its_file(path_sample):
    result = build(path_sample)
    assert result.ok, result.diagnostics
    assert files_of(path_sample, "duckdb") == SAMPLE_FILES
    assert set(read_tree(path_sample / "target")) == {f"compiled/duckdb/{p}" for p in SAMPLE_FILES} | {"manifest.json"}


def test_default_dialect_is_the_targets_offline_type(path_sample):
    assert resolve_dialects(load_project(path_sample), None) == ("duckdb",)
    assert resolve_dialects(load_project(path_sample), "all") == tuple(sorted(DIALECTS))
    with pytest.raises(DiagnosticError, match="unknown dialect 'duckbd'") as caught:
        resolve_dialects(load_project(path_sample), "duckbd")
    assert "did you mean 'duckdb'" in caught.value.diagnostics[0].hint


def test_headers_name_version_node_and_spec_file(path_sample):
    build(path_sample)
    compiled = path_sample / "target" / "compiled" / "duckdb"
    view = (compiled / "materialize" / "driver_hourly_stats.sql").read_text("utf-8")
    assert view.startswith(f"-- fcompile {__version__} · feature view driver_hourly_stats · features/driver.yml\n")
    assert "-- $start and $end are bound parameters" in view
    assert view.endswith("\n") and not view.endswith("\n\n")
    service = (compiled / "retrieve" / "driver_ranking_v2.sql").read_text("utf-8")
    assert service.splitlines()[0].endswith("· feature service driver_ranking_v2 · features/services.yml")
    assert "fcompile_spine(driver_id, customer_id, event_timestamp)" in service.splitlines()[1]
    offline = (compiled / "materialize" / "driver_onboarding.sql").read_text("utf-8")
    assert "offline-only view (online: false)" in offline
    dataset = (compiled / "datasets" / "driver_ranking_training.sql").read_text("utf-8")
    assert "-- writes table driver_ranking_training" in dataset


def test_path_sources_are_written_relative_to_the_project(path_sample):
    build(path_sample)
    everything = b"".join(read_tree(path_sample / "target").values()).decode()
    assert "read_parquet('data/driver_stats.parquet')" in everything.lower()
    assert str(path_sample) not in everything
    assert str(path_sample.resolve()) not in everything


def test_two_builds_in_two_places_are_byte_identical(path_sample, tmp_path):
    elsewhere = tmp_path / "some" / "other" / "checkout"
    shutil.copytree(path_sample, elsewhere)
    build(path_sample)
    first = read_tree(path_sample / "target")
    build(path_sample)
    assert read_tree(path_sample / "target") == first
    build(elsewhere)
    assert read_tree(elsewhere / "target") == first


def test_manifest_validates_and_describes_graph_and_files(path_sample):
    build(path_sample)
    raw = (path_sample / "target" / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    assert manifest_problems(manifest) == []
    assert raw == dump_manifest(manifest)  # sorted and canonical: what was read dumps to the same bytes
    lines = raw.decode().splitlines()  # one line per compiled file and per node, for readable diffs
    assert sum(line.lstrip().startswith('{"dialect": ') for line in lines) == len(manifest["compiled"])
    assert sum(line.startswith('      "') for line in lines) == sum(map(len, manifest["nodes"].values()))
    assert manifest["metadata"] == {"schema_version": 4, "fcompile_version": __version__, "project": "driver_ranking"}
    view = manifest["nodes"]["feature_view"]["driver_hourly_stats"]
    assert view["location"] == {"path": "features/driver.yml", "line": 21, "column": 11}
    assert view["depends_on"] == ["entity.driver", "source.driver_stats"]
    assert manifest["nodes"]["dataset"]["driver_ranking_training"]["depends_on"] == [
        "feature_service.driver_ranking_orders", "source.orders"]
    listed = {f["path"]: f for f in manifest["compiled"]}
    assert set(listed) == {f"compiled/duckdb/{p}" for p in SAMPLE_FILES}
    import hashlib
    for path, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256((path_sample / "target" / path).read_bytes()).hexdigest()
    assert listed["compiled/duckdb/retrieve/driver_activity_v1.sql"]["node"] == "feature_service.driver_activity_v1"


def test_manifest_schema_rejects_a_broken_manifest(path_sample):
    build(path_sample)
    manifest = json.loads((path_sample / "target" / "manifest.json").read_text())
    manifest["metadata"]["schema_version"] = 1
    manifest["nodes"]["feature_view"]["driver_hourly_stats"]["location"]["path"] = "/abs/features/driver.yml"
    del manifest["compiled"][0]["sha256"]
    assert len(manifest_problems(manifest)) == 3


def test_files_of_deleted_nodes_are_removed(table_sample):
    build(table_sample)
    spec = table_sample / "features" / "services.yml"
    text = spec.read_text()
    spec.write_text(text[:text.index("  - name: driver_ranking_v2")])
    (table_sample / "datasets" / "training.yml").unlink()
    build(table_sample)
    assert files_of(table_sample, "duckdb") == SAMPLE_FILES - {
        "retrieve/driver_ranking_v2.sql", "retrieve/driver_ranking_orders.sql", "datasets/driver_ranking_training.sql"}
    manifest = json.loads((table_sample / "target" / "manifest.json").read_text())
    assert "driver_ranking_v2" not in json.dumps(manifest["compiled"])


def test_a_partial_selection_keeps_the_other_files(table_sample):
    build(table_sample)
    before = read_tree(table_sample / "target" / "compiled")
    (table_sample / "target" / "compiled" / "duckdb" / "materialize" / "driver_onboarding.sql").write_text("old\n")
    result = build(table_sample, select=["driver_hourly_stats"])
    assert [str(r) for r in result.selected] == ["feature_view.driver_hourly_stats"]
    after = read_tree(table_sample / "target" / "compiled")
    assert after["duckdb/materialize/driver_onboarding.sql"] == b"old\n"  # not selected: left alone
    assert set(after) == set(before)


def test_other_dialects_folders_are_left_alone(table_sample):
    build(table_sample, dialects=("duckdb", "snowflake"))
    snowflake = read_tree(table_sample / "target" / "compiled" / "snowflake")
    build(table_sample, dialects=("duckdb",))
    assert read_tree(table_sample / "target" / "compiled" / "snowflake") == snowflake
    manifest = json.loads((table_sample / "target" / "manifest.json").read_text())
    assert {f["dialect"] for f in manifest["compiled"]} == {"duckdb", "snowflake"}


def test_unreadable_path_sources_are_fc100_per_node_and_a_failed_build_is_neither_written_nor_checked(path_sample):
    build(path_sample)
    before = read_tree(path_sample / "target")
    graph = load_project(path_sample)
    result = compile_project(graph, ("duckdb", "postgres"))
    assert len(result.diagnostics) == len(SAMPLE_FILES)  # one per affected node
    for d in result.diagnostics:
        assert d.code is Code.UNSUPPORTED_BY_DIALECT
        assert "dialect 'postgres'" in d.message and d.position is not None
    assert any(d.message.startswith("feature view 'driver_hourly_stats': ") for d in result.diagnostics)
    state = expected_target(graph, result, path_sample / "target")
    assert not state.complete
    with pytest.raises(ValueError, match="not written"):
        write_target(state)
    with pytest.raises(ValueError, match="cannot be checked"):
        check_target(state)
    assert read_tree(path_sample / "target") == before  # the last good build stays


def test_check_lists_stale_missing_and_extra(table_sample):
    dialects = ("duckdb",)
    build(table_sample)
    graph = load_project(table_sample)
    target = table_sample / "target"

    def report():
        result = compile_project(graph, dialects)
        return check_target(expected_target(graph, result, target))

    assert report().up_to_date
    compiled = target / "compiled" / "duckdb"
    (compiled / "materialize" / "driver_hourly_stats.sql").write_text("-- edited by hand\n")
    (compiled / "retrieve" / "driver_activity_v1.sql").unlink()
    (compiled / "retrieve" / "old_service.sql").write_text("SELECT 1\n")
    got = report()
    assert got.stale == ("compiled/duckdb/materialize/driver_hourly_stats.sql",)  # the manifest matches the build
    assert got.missing == ("compiled/duckdb/retrieve/driver_activity_v1.sql",)
    assert got.extra == ("compiled/duckdb/retrieve/old_service.sql",)


def test_a_failed_write_leaves_the_target_as_it_was(table_sample, monkeypatch):
    build(table_sample)
    before = read_tree(table_sample / "target")
    spec = table_sample / "features" / "driver.yml"
    spec.write_text(spec.read_text().replace("ttl: 2h", "ttl: 3h"))
    graph = load_project(table_sample)
    result = compile_project(graph, ("duckdb",))
    expected = expected_target(graph, result, table_sample / "target")
    calls = []
    original = build_module.write_new_file

    def failing(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(path, data)

    monkeypatch.setattr(build_module, "write_new_file", failing)
    with pytest.raises(OSError, match="disk full"):
        write_target(expected)
    assert read_tree(table_sample / "target") == before
    assert sorted(p.name for p in (table_sample / "target").iterdir()) == ["compiled", "manifest.json"]


def test_an_unchanged_build_touches_nothing_and_a_change_rewrites_only_its_files(table_sample):
    build(table_sample)
    compiled = table_sample / "target" / "compiled" / "duckdb"
    view, service = compiled / "materialize" / "customer_daily_profile.sql", compiled / "retrieve" / "driver_activity_v1.sql"
    def identity(path):
        stat = path.stat()
        return stat.st_ino, stat.st_mtime_ns, stat.st_size

    before = {p: identity(p) for p in (view, service, table_sample / "target" / "manifest.json")}
    build(table_sample)
    assert {p: identity(p) for p in before} == before
    spec = table_sample / "features" / "driver.yml"
    spec.write_text(spec.read_text().replace("ttl: 2h", "ttl: 3h"))
    build(table_sample)
    assert view.stat().st_ino == before[view][0]  # unchanged: carried over as a hard link
    assert "10800" in service.read_text()


def test_every_dialect_compiles_every_node_of_the_table_sample(table_sample):
    result = compile_project(load_project(table_sample), tuple(sorted(DIALECTS)))
    assert result.diagnostics == []
    assert len(result.files) == len(DIALECTS) * len(SAMPLE_FILES)


def test_a_table_spine_without_known_columns_compiles_for_every_dialect(table_sample):
    """With `* EXCLUDE` the spine's helper columns are dropped and the rows come in spine order; without
    it the final select reads the table itself as `s.*`, in no order (a table has none)."""
    training = table_sample / "datasets" / "training.yml"
    training.write_text(training.read_text().replace(
        SPINE_QUERY, "table: raw.orders"))
    graph = load_project(table_sample)
    result = compile_project(graph, sorted(DIALECTS), ["driver_ranking_training"])
    assert result.ok, [d.render() for d in result.diagnostics]
    for name, cls in sorted(DIALECTS.items()):
        final = result.files[f"{name}/datasets/driver_ranking_training.sql"].decode().rsplit(")\nSELECT", 1)[1]
        assert ("ORDER BY" in final) == cls.STAR_EXCEPT, name
        assert (".*," in final) == (not cls.STAR_EXCEPT), name


def test_a_spine_query_missing_a_join_key_is_a_diagnostic(table_sample):
    training = table_sample / "datasets" / "training.yml"
    training.write_text(training.read_text().replace("order_id, driver_id, customer_id,", "order_id, driver_id,"))
    result = compile_project(load_project(table_sample), ("postgres",), ["driver_ranking_training"])
    assert [d.code for d in result.diagnostics] == [Code.MISSING_COLUMN]
    assert "'customer_id'" in result.diagnostics[0].message


def test_a_service_whose_short_names_collide_uses_full_feature_names(table_sample):
    services = table_sample / "features" / "services.yml"
    services.write_text(services.read_text() + """
  - name: two_windows
    features:
      - {view: driver_hourly_stats, features: [conv_rate], alias: recent}
      - {view: driver_hourly_stats, features: [conv_rate], alias: again}
""")
    graph = load_project(table_sample)
    result = compile_project(graph, ("duckdb",), ["two_windows"])
    assert result.ok, result.diagnostics
    text = result.files["duckdb/retrieve/two_windows.sql"].decode()
    assert "full feature names" in text and '"recent__conv_rate"' in text and '"again__conv_rate"' in text


def test_check_with_a_selection_judges_only_the_selected_files(table_sample):
    build(table_sample)
    graph = load_project(table_sample)
    compiled = table_sample / "target" / "compiled" / "duckdb"
    (compiled / "materialize" / "driver_onboarding.sql").write_text("-- edited\n")
    (compiled / "retrieve" / "orphan.sql").write_text("SELECT 1\n")

    def report(select):
        result = compile_project(graph, ("duckdb",), select)
        return check_target(expected_target(graph, result, table_sample / "target"))

    narrow = report(["driver_hourly_stats"])
    assert narrow.stale == ("manifest.json",)  # it would list the hand-edited file's new hash
    assert narrow.missing == ()
    assert narrow.extra == ("compiled/duckdb/retrieve/orphan.sql",)  # belongs to no node at all
    assert report([]).stale == ("compiled/duckdb/materialize/driver_onboarding.sql",)


def test_many_files_are_staged_on_threads_and_a_failure_is_raised(tmp_path, monkeypatch):
    existing = tmp_path / "old.sql"
    existing.write_bytes(b"same")
    staged = [(tmp_path / f"d{i % 3}" / f"f{i}.sql", b"same" if i % 2 else f"new {i}".encode(), existing,
               b"same") for i in range(300)]
    threads = set()
    original = build_module.write_new_file
    # the first two writes wait for each other: they meet only if two threads write at once (else the
    # barrier times out), which a busy machine cannot make look otherwise by running one thread to the end
    first_two = threading.Barrier(2, timeout=30)
    calls = iter(range(2))

    def on_a_thread(path, data):
        threads.add(threading.get_ident())
        if next(calls, None) is not None:
            first_two.wait()
        return original(path, data)

    monkeypatch.setattr(build_module, "write_new_file", on_a_thread)
    build_module._stage_files(staged)
    assert len(threads) > 1  # the folders were written on several threads
    for out, content, _, _ in staged:
        assert out.read_bytes() == content
        assert (out.stat().st_ino == existing.stat().st_ino) == (content == b"same")  # unchanged: linked

    def failing(path, data):
        if path.name == "f150.sql":
            raise OSError("disk full")
        return original(path, data)

    monkeypatch.setattr(build_module, "write_new_file", failing)
    with pytest.raises(OSError, match="disk full"):
        build_module._stage_files([(tmp_path / "again" / out.parent.name / out.name, c, e, b"other")
                                   for out, c, e, _ in staged])


def test_adding_a_feature_leaves_the_sql_of_services_that_do_not_request_it_unchanged(table_sample):
    """A request reads only the features it returns (docs/concepts/point-in-time.md, full ties): a feature
    added to a view changes the view's materialization and no service or dataset that does not name it, on
    every dialect. Requesting it changes the service that does, and only that one."""
    dialects = tuple(sorted(DIALECTS))
    assert build(table_sample, dialects).ok
    before = read_tree(table_sample / "target" / "compiled")
    spec = table_sample / "features" / "driver.yml"
    text = spec.read_text("utf-8")
    feature = "      - {name: avg_rating, dtype: float32, description: Trailing average rating given by riders (1-5).}\n"
    assert feature in text
    # one line more: the nodes below it move down, and their files (whose headers name the spec file, not
    # the line) stay as they were
    spec.write_text(text.replace(feature, feature + "      - {name: cancel_rate, dtype: float64}\n"), "utf-8")
    assert build(table_sample, dialects).ok
    after = read_tree(table_sample / "target" / "compiled")
    changed = {path for path in before if before[path] != after[path]}
    assert changed == {f"{d}/materialize/driver_hourly_stats.sql" for d in dialects}

    services = table_sample / "features" / "services.yml"
    text = services.read_text("utf-8")
    services.write_text(text.replace("      - driver_hourly_stats:avg_daily_trips\n",
                                     "      - driver_hourly_stats:avg_daily_trips\n"
                                     "      - driver_hourly_stats:cancel_rate\n"), "utf-8")
    assert build(table_sample, dialects).ok
    requested = read_tree(table_sample / "target" / "compiled")
    assert {path for path in after if after[path] != requested[path]} == \
        {f"{d}/retrieve/driver_activity_v1.sql" for d in dialects}


def test_a_colliding_service_has_the_same_full_names_in_its_file_the_sdk_and_online(path_sample):
    """Naming is decided once (fcompile/planner/naming.py): a service whose short names collide, which the
    parser accepts because its views are aliased, is read with full names by its compiled file, a training
    set and an online read alike (the SDK used to raise FC070 where the compiled file switched)."""
    import pyarrow as pa

    from fcompile import FeatureStore

    services = path_sample / "features" / "services.yml"
    services.write_text(services.read_text() + """
  - name: two_windows
    features:
      - {view: driver_hourly_stats, features: [conv_rate], alias: recent}
      - {view: driver_hourly_stats, features: [conv_rate], alias: again}
""")
    graph = load_project(path_sample)
    result = compile_project(graph, ("duckdb",), ["two_windows"])
    assert result.ok, result.diagnostics
    assert '"recent__conv_rate"' in result.files["duckdb/retrieve/two_windows.sql"].decode()
    spine = pa.table({"driver_id": [1001], "event_timestamp": pa.array([dt.datetime(2030, 1, 1)], pa.timestamp("us"))})
    with FeatureStore(path_sample) as store:
        trained = store.get_historical_features(spine, service="two_windows").to_arrow()
        online = store.planned_online_request(service="two_windows")
        listed = store.get_historical_features(spine, ["driver_hourly_stats:conv_rate"]).to_arrow()
    assert trained.column_names[-2:] == ["recent__conv_rate", "again__conv_rate"]
    assert trained["recent__conv_rate"].to_pylist() == trained["again__conv_rate"].to_pylist() == \
        listed["conv_rate"].to_pylist()
    assert online.feature_names == ("recent__conv_rate", "again__conv_rate")
