"""`--select state:modified` (and `state:modified+`) with `--state DIR`: the nodes new or changed since an
earlier build, by definition or by compiled SQL, on build, run and materialize."""

from __future__ import annotations

import json
import shutil

import pytest
from sample_projects import assert_clean, fcompile
from test_plan import edit, write_state

from fcompile.artifacts.selection import select_nodes
from fcompile.artifacts.state import load_previous_build, modified_nodes
from fcompile.diagnostics import Code, DiagnosticError
from fcompile.parser import load_project


def modified(project, state) -> set[str]:
    return {str(r) for r in modified_nodes(load_project(project), load_previous_build(state))}


@pytest.fixture
def sample(table_sample, tmp_path):
    return table_sample, write_state(table_sample, tmp_path / "state", ("duckdb", "postgres"))


def test_nothing_is_modified_right_after_the_build(sample):
    assert modified(*sample) == set()


def test_a_definition_or_its_compiled_sql_changed(sample):
    project, state = sample
    edit(project, "features/driver.yml", "    ttl: 2h", "    ttl: 3h")
    # the view's definition; the services and the dataset through their compiled SQL
    assert modified(project, state) == {"feature_view.driver_hourly_stats", "feature_service.driver_activity_v1",
                                        "feature_service.driver_ranking_v2", "feature_service.driver_ranking_orders",
                                        "dataset.driver_ranking_training"}


def test_a_description_modifies_only_its_node(sample):
    project, state = sample
    edit(project, "features/driver.yml", "Slowly changing driver attributes;", "Slowly changing attributes;")
    assert modified(project, state) == {"feature_view.driver_lifetime_stats"}


def test_a_new_node_is_modified_and_moving_a_node_to_another_file_is_not(sample):
    project, state = sample
    customer = (project / "features" / "customer.yml").read_text("utf-8")
    (project / "features" / "customer.yml").unlink()
    (project / "features" / "moved.yml").write_text(customer, "utf-8")  # the header line names the file
    with open(project / "features" / "driver.yml", "a", encoding="utf-8") as spec:
        spec.write("\n  - name: driver_signup\n    entities: [driver]\n    source: driver_profile\n"
                   "    features:\n      - {name: onboarded_at, dtype: timestamp}\n")
    assert modified(project, state) == {"feature_view.driver_signup"}


def test_a_changed_source_modifies_the_views_whose_sql_reads_it(sample):
    project, state = sample
    edit(project, "features/driver.yml", "    created_timestamp_field: created\n", "")
    assert {"source.driver_stats", "feature_view.driver_hourly_stats"} <= modified(project, state)


def test_a_changed_file_in_the_state_counts_even_with_the_same_definition(sample):
    project, state = sample
    path = state / "compiled" / "postgres" / "materialize" / "driver_onboarding.sql"
    path.write_text(path.read_text("utf-8") + "-- edited by hand\n", "utf-8")
    assert modified(project, state) == {"feature_view.driver_onboarding"}


def test_the_selector_and_its_descendants(sample):
    project, state = sample
    edit(project, "features/driver.yml", "Slowly changing driver attributes;", "Slowly changing attributes;")
    graph = load_project(project)
    previous = load_previous_build(state)
    asked = []

    def state_nodes():
        asked.append(1)
        return modified_nodes(graph, previous)

    assert [str(r) for r in select_nodes(graph, ["state:modified"], (), state_nodes)] == [
        "feature_view.driver_lifetime_stats"]
    assert {str(r) for r in select_nodes(graph, ["state:modified+"], (), state_nodes)} == {
        "feature_view.driver_lifetime_stats", "feature_service.driver_ranking_v2", "dataset.driver_ranking_training",
        "feature_service.driver_ranking_orders",
        "test.driver_lifetime_stats__vehicle_class__accepted_values"}  # a view's data tests are downstream of it
    assert [str(r) for r in select_nodes(graph, ["state:modified+,tag:model"], (), state_nodes)] == [
        "feature_service.driver_ranking_orders", "feature_service.driver_ranking_v2", "dataset.driver_ranking_training"]
    assert select_nodes(graph, ["driver_lifetime_stats"], ["state:modified"], state_nodes) == []
    assert select_nodes(graph, ["driver_onboarding"], (), lambda: pytest.fail("not asked")) != []


def test_selector_problems(sample):
    project, _ = sample
    graph = load_project(project)
    with pytest.raises(DiagnosticError) as caught:
        select_nodes(graph, ["state:modified"])
    [problem] = caught.value.diagnostics
    assert problem.code is Code.BAD_ARGUMENT and problem.message == "selector 'state:modified' needs --state DIR"
    with pytest.raises(DiagnosticError) as caught:
        select_nodes(graph, ["state:new"], (), lambda: set())
    assert caught.value.diagnostics[0].message == "selector 'state:new': unknown state selector 'state:new'"
    assert caught.value.diagnostics[0].hint == "the state selector is state:modified (with --state DIR)"
    with pytest.raises(DiagnosticError) as caught:
        select_nodes(graph, ["stat:modified"])
    assert caught.value.diagnostics[0].hint == "did you mean 'state'?"


def test_build_writes_only_the_modified_nodes(sample, tmp_path):
    project, state = sample
    edit(project, "features/driver.yml", "    ttl: 2h", "    ttl: 3h")
    out = tmp_path / "out"
    result = fcompile("build", "-s", "state:modified", "--state", str(state), "--target-path", str(out), cwd=project)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    written = sorted(p.relative_to(out / "compiled").as_posix() for p in (out / "compiled").rglob("*.sql"))
    assert written == ["duckdb/datasets/driver_ranking_training.sql", "duckdb/materialize/driver_hourly_stats.sql",
                       "duckdb/retrieve/driver_activity_v1.sql", "duckdb/retrieve/driver_ranking_orders.sql",
                       "duckdb/retrieve/driver_ranking_v2.sql"]
    missing = fcompile("build", "-s", "state:modified+", cwd=project)
    assert missing.returncode == 1 and "error[FC090]: selector 'state:modified+' needs --state DIR" in missing.stderr
    bad = fcompile("build", "-s", "state:modified", "--state", str(tmp_path / "nope"), cwd=project)
    assert_clean(bad)
    assert bad.returncode == 1 and "error[FC170]" in bad.stderr


def test_run_and_materialize_take_only_the_modified_views_and_datasets(path_sample, tmp_path):
    """On the sample with its data: a ttl change runs the view and the dataset whose SQL changed, and
    materializes only that view."""
    state = write_state(path_sample, tmp_path / "state")
    edit(path_sample, "features/driver.yml", "    ttl: 2h", "    ttl: 3h")
    dry = fcompile("run", "-s", "state:modified", "--state", str(state), "--dry-run", cwd=path_sample)
    assert_clean(dry)
    assert dry.returncode == 0, dry.stderr
    assert "dataset driver_ranking_training ->" in dry.stdout
    assert "feature view driver_hourly_stats -> online store" in dry.stdout
    assert "driver_lifetime_stats -> online store" not in dry.stdout
    loaded = fcompile("materialize", "-s", "state:modified", "--state", str(state), "--end", "2025-01-15",
                      cwd=path_sample)
    assert_clean(loaded)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("driver_hourly_stats  loaded") and "1 feature view loaded" in loaded.stdout
    ran = fcompile("run", "-s", "state:modified", "--state", str(state), "--no-materialize", cwd=path_sample)
    assert ran.returncode == 0, ran.stderr
    results = json.loads((path_sample / "target" / "run_results.json").read_text("utf-8"))
    nodes = [r["node"] for r in results["results"]]
    # the data tests on the dataset's inputs run first (fcompile run), then the one modified dataset
    assert [n for n in nodes if not n.startswith("test.")] == ["dataset.driver_ranking_training"]
    shutil.rmtree(state)


def test_fcompile_test_runs_the_tests_of_the_modified_views(sample):
    from fcompile.tasks.data_tests import select_tests

    project, state = sample
    previous = load_previous_build(state)
    graph = load_project(project)
    assert select_tests(graph, ["state:modified"], (), lambda: modified_nodes(graph, previous)) == []
    edit(project, "features/driver.yml", "    ttl: 2h", "    ttl: 3h")
    graph = load_project(project)
    chosen = select_tests(graph, ["state:modified"], (), lambda: modified_nodes(graph, previous))
    assert chosen and {t.parent for t in chosen} == {"driver_hourly_stats"}
    assert len(chosen) == len([t for t in graph.tests if t.parent == "driver_hourly_stats"])
