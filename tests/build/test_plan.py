"""`fcompile plan`: a change of each class prints that class, with its reason, its SQL diff and what
`materialize` must do next, as text, markdown and JSON; a bad --state is FC170."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sample_projects import assert_clean, fcompile

from fcompile.artifacts import plan_report
from fcompile.artifacts import plan as plan_module
from fcompile.artifacts.build import compile_project, expected_target, write_target
from fcompile.artifacts.changes import BREAKING, COMPATIBLE, METADATA, RECOMPUTE, spec_changes
from fcompile.artifacts.manifest import SCHEMA_VERSION
from fcompile.artifacts.plan import make_plan
from fcompile.artifacts.plan_report import render_json, render_markdown, render_text
from fcompile.artifacts.state import load_previous_build
from fcompile.diagnostics import Code, DiagnosticError
from fcompile.parser import load_project

REFRESH_HOURLY = "the online store needs `fcompile materialize --full-refresh --select driver_hourly_stats`"


def write_state(project: Path, folder: Path, dialects=("duckdb",)) -> Path:
    """What `fcompile build --target-path folder` writes for the project as it is."""
    graph = load_project(project)
    result = compile_project(graph, dialects)
    assert result.ok, result.diagnostics
    write_target(expected_target(graph, result, folder))
    return folder


def edit(project: Path, relative: str, old: str, new: str) -> None:
    path = project / relative
    text = path.read_text("utf-8")
    assert text.count(old) == 1, (relative, old)
    path.write_text(text.replace(old, new), "utf-8")


def plan_of(project: Path, state: Path, select=()):
    return make_plan(load_project(project), load_previous_build(state), select)


def by_node(plan) -> dict[str, object]:
    return {str(node.ref): node for node in plan.nodes}


@pytest.fixture
def sample(table_sample, tmp_path):
    """The table sample with its state (duckdb) written beside it."""
    return table_sample, write_state(table_sample, tmp_path / "state")


def test_no_change_is_an_empty_plan(sample):
    project, state = sample
    plan = plan_of(project, state)
    assert plan.nodes == () and plan.exit_code == 0 and plan.unchanged == 25  # 20 nodes and the 5 data tests
    assert render_text(plan).startswith("plan: no change to project 'driver_ranking'")
    assert "nothing beyond the usual incremental run" in render_text(plan)


def test_a_description_and_tags_are_metadata_only(sample):
    project, state = sample
    edit(project, "features/driver.yml", "Slowly changing driver attributes;", "Slowly changing attributes;")
    edit(project, "features/driver.yml", "tags: {team: driver-performance, tier: silver}",
         "tags: {team: driver-performance, tier: gold}")
    plan = plan_of(project, state)
    assert list(by_node(plan)) == ["feature_view.driver_lifetime_stats"]
    node = plan.nodes[0]
    assert node.change_class == METADATA and node.sql == () and plan.exit_code == 0
    assert [r.change.field for r in node.reasons] == ["description", "tags"]
    assert all(r.effect == "metadata only; nothing to recompute" for r in node.reasons)
    assert plan.materialize.command is None
    assert "metadata only: feature_view.driver_lifetime_stats (features/driver.yml:40)" in render_text(plan)


def test_a_ttl_change_is_recompute_with_the_refresh_to_run(sample):
    project, state = sample
    edit(project, "features/driver.yml", "    ttl: 2h", "    ttl: 3h")
    plan = plan_of(project, state)
    nodes = by_node(plan)
    view = nodes["feature_view.driver_hourly_stats"]
    assert view.change_class == RECOMPUTE
    assert [r.text for r in view.reasons] == [
        f"ttl 2h → 3h: values change; training sets built before differ; {REFRESH_HOURLY}"]
    assert view.sql == ()  # its materialization SQL does not depend on the ttl
    service = nodes["feature_service.driver_activity_v1"]  # its training SQL does
    assert service.status == "sql" and service.change_class == RECOMPUTE
    assert service.reasons[0].summary == "compiled SQL changed through feature_view.driver_hourly_stats"
    [diff] = service.sql
    assert diff.path == "compiled/duckdb/retrieve/driver_activity_v1.sql" and diff.status == "changed"
    assert any(line.startswith("-") and "INTERVAL 7200 SECOND" in line for line in diff.lines)
    assert any(line.startswith("+") and "INTERVAL 10800 SECOND" in line for line in diff.lines)
    assert set(nodes) == {"feature_view.driver_hourly_stats", "feature_service.driver_activity_v1",
                          "feature_service.driver_ranking_v2", "feature_service.driver_ranking_orders",
                          "dataset.driver_ranking_training"}
    assert plan.exit_code == 0
    assert plan.materialize.full_refresh == ("driver_hourly_stats",)
    assert plan.materialize.command == "fcompile materialize --full-refresh --select driver_hourly_stats"
    text = render_text(plan)
    assert "recompute: feature_view.driver_hourly_stats (features/driver.yml:21)" in text
    assert "refresh in full: driver_hourly_stats" in text


def test_a_source_change_is_recompute_for_the_views_that_read_it(sample):
    project, state = sample
    edit(project, "features/driver.yml", "    created_timestamp_field: created\n", "")
    plan = plan_of(project, state)
    nodes = by_node(plan)
    source = nodes["source.driver_stats"]
    assert source.change_class == RECOMPUTE
    assert source.reasons[0].text == (
        "created_timestamp_field created → none: values of the views that read it change (driver_hourly_stats); "
        f"training sets built before differ; {REFRESH_HOURLY}")
    view = nodes["feature_view.driver_hourly_stats"]  # same definition, other SQL
    assert view.status == "sql" and view.change_class == RECOMPUTE and view.sql
    assert plan.materialize.full_refresh == ("driver_hourly_stats",)


def test_a_feature_added_is_compatible_and_a_new_view_is_loaded_next(sample):
    project, state = sample
    edit(project, "features/driver.yml", "      - name: vehicle_class\n",
         "      - {name: signup_date, dtype: date}\n      - name: vehicle_class\n")
    with open(project / "features" / "driver.yml", "a", encoding="utf-8") as spec:
        spec.write("\n  - name: driver_signup\n    entities: [driver]\n    source: driver_profile\n"
                   "    features:\n      - {name: onboarded_at, dtype: timestamp}\n")
    plan = plan_of(project, state)
    nodes = by_node(plan)
    view = nodes["feature_view.driver_lifetime_stats"]
    assert view.change_class == COMPATIBLE
    assert view.reasons[0].summary == "feature signup_date added (date)"
    assert "online rows written before read it as NULL" in view.reasons[0].effect
    new = nodes["feature_view.driver_signup"]
    assert new.status == "added" and new.change_class == COMPATIBLE
    assert new.sql[0].status == "added" and new.sql[0].lines[0] == "--- /dev/null"
    # driver_ranking_v2 takes driver_lifetime_stats:*, so it gains the column, as its dataset does
    service = nodes["feature_service.driver_ranking_v2"]
    assert service.change_class == COMPATIBLE
    assert service.reasons[0].text == ("feature driver_lifetime_stats:signup_date added: requests of the service "
                                       "get a new column")
    assert plan.exit_code == 0
    assert plan.materialize.first_load == ("driver_signup",)
    assert plan.materialize.full_refresh == ("driver_lifetime_stats",)


def test_a_feature_removed_breaks_the_view_the_service_and_the_dataset(sample):
    project, state = sample
    edit(project, "features/driver.yml",
         "      - {name: is_premium, dtype: bool, description: Whether the driver is in the premium programme.}\n", "")
    plan = plan_of(project, state)
    nodes = by_node(plan)
    assert {k: n.change_class for k, n in nodes.items()} == {
        "feature_view.driver_lifetime_stats": BREAKING, "feature_service.driver_ranking_v2": BREAKING,
        "feature_service.driver_ranking_orders": BREAKING, "dataset.driver_ranking_training": BREAKING}
    assert nodes["feature_view.driver_lifetime_stats"].reasons[0].text == (
        "feature is_premium removed: requests, services and datasets that name driver_lifetime_stats:is_premium fail")
    assert nodes["dataset.driver_ranking_training"].reasons[0].text == (
        "feature driver_lifetime_stats:is_premium removed: its training set loses the column "
        "driver_lifetime_stats:is_premium")
    assert plan.breaking and plan.exit_code == 2
    assert [str(n.ref) for n in plan.nodes][0] == "feature_view.driver_lifetime_stats"  # breaking first, by kind
    assert render_text(plan).endswith("breaking changes: exit code 2\n")


def test_a_retyped_feature_and_changed_keys_are_breaking(sample):
    project, state = sample
    edit(project, "features/driver.yml", "      - name: conv_rate\n        dtype: float64", "      - name: conv_rate\n        dtype: float32")
    edit(project, "features/driver_customer.yml", "entities: [driver, customer]", "entities: [driver]")
    plan = plan_of(project, state)
    nodes = by_node(plan)
    retyped = nodes["feature_view.driver_hourly_stats"].reasons[0]
    assert retyped.change.change_class == BREAKING and retyped.change.full_refresh
    assert retyped.summary == "features.conv_rate.dtype float64 → float32"
    keys = nodes["feature_view.driver_customer_affinity"].reasons[0]
    assert keys.summary == 'entities ["driver", "customer"] → ["driver"]' and keys.change.change_class == BREAKING
    assert set(plan.materialize.full_refresh) == {"driver_hourly_stats", "driver_customer_affinity"}
    assert plan.exit_code == 2


def test_removing_a_view_breaks_and_taking_one_offline_too(sample):
    project, state = sample
    edit(project, "datasets/training.yml", "    service: driver_ranking_orders\n",
         "    features: [driver_hourly_stats:conv_rate]\n")
    services = project / "features" / "services.yml"  # both services that read it
    services.write_text(services.read_text("utf-8").replace("      - driver_customer_affinity:*\n", ""), "utf-8")
    text = (project / "features" / "driver_customer.yml").read_text("utf-8")
    (project / "features" / "driver_customer.yml").write_text(text.split("feature_views:")[0], "utf-8")
    edit(project, "features/customer.yml", "    ttl: P2D\n", "    ttl: P2D\n    online: false\n")
    plan = plan_of(project, state)
    nodes = by_node(plan)
    removed = nodes["feature_view.driver_customer_affinity"]
    assert removed.status == "removed" and removed.change_class == BREAKING
    assert removed.sql[0].status == "removed"
    offline = nodes["feature_view.customer_daily_profile"].reasons[0]
    assert offline.text == "online true → false: online reads of it fail; its rows stay in the online store"
    assert plan.materialize.left_behind == ("customer_daily_profile", "driver_customer_affinity")


def test_a_join_strategy_is_compatible_and_lateness_too(sample):
    project, state = sample
    edit(project, "features/driver.yml", "    ttl: 2h\n", "    ttl: 2h\n    strategy: window\n    lateness: 1h\n")
    plan = plan_of(project, state)
    view = by_node(plan)["feature_view.driver_hourly_stats"]
    assert view.change_class == COMPATIBLE
    assert [r.text for r in view.reasons] == [
        "lateness 0s → 1h: incremental runs restart 1h before the watermark; training values do not change",
        "strategy none → window: the join is computed another way; its results are the same"]
    service = by_node(plan)["feature_service.driver_activity_v1"]  # its SQL changes, not what it returns
    assert service.change_class == COMPATIBLE and service.sql
    assert plan.materialize.command is None and plan.exit_code == 0


def test_fields_this_table_does_not_know_are_recompute_and_removed_features_breaking():
    """What later node fields (an aggregation's window, an expression) get until the table names them."""
    view = {"name": "v", "aggregation_step": 3600.0, "features": [
        {"name": "fare_sum", "dtype": "float64", "aggregation": {"function": "sum", "window": 86400.0}},
        {"name": "trips", "dtype": "int64", "aggregation": {"function": "count", "window": 3600.0}}]}
    changed = {"name": "v", "aggregation_step": 7200.0, "features": [
        {"name": "fare_sum", "dtype": "float64", "aggregation": {"function": "sum", "window": 172800.0}}]}
    changes = spec_changes("feature_view", view, changed, online=True)
    assert [(c.field, c.change_class, c.full_refresh) for c in changes] == [
        ("aggregation_step", RECOMPUTE, True), ("features.fare_sum.aggregation", RECOMPUTE, True),
        ("features.trips", BREAKING, False)]
    assert plan_module._summary(changes[0]) == "aggregation_step 1h → 2h"
    added = spec_changes("feature_view", {"name": "v"}, {"name": "v", "expression": "a + 1"})
    assert [(c.field, c.change_class, c.what) for c in added] == [("expression", RECOMPUTE, "added")]
    # a kind of node this table does not know: its features are still compared by name
    before = {"name": "o", "features": [{"name": "a", "dtype": "int64", "expr": "x + 1"},
                                        {"name": "b", "dtype": "int64", "expr": "x"}]}
    after = {"name": "o", "features": [{"name": "a", "dtype": "int64", "expr": "x + 2", "description": "d"}]}
    assert [(c.field, c.change_class) for c in spec_changes("on_demand_view", before, after)] == [
        ("features.a.description", METADATA), ("features.a.expr", RECOMPUTE), ("features.b", BREAKING)]


def test_markdown_is_a_pull_request_comment(sample):
    project, state = sample
    edit(project, "features/driver.yml", "    ttl: 2h", "    ttl: 3h")
    markdown = render_markdown(plan_of(project, state))
    assert markdown.startswith("### fcompile plan: no breaking change\n")
    assert ("| `feature_view.driver_hourly_stats` (features/driver.yml:21) | **recompute** | ttl 2h → 3h: values "
            f"change; training sets built before differ; {REFRESH_HOURLY} |") in markdown
    assert "<details><summary><code>feature_service.driver_activity_v1</code>: compiled SQL (1 file)</summary>" \
        in markdown
    assert markdown.count("<details>") == markdown.count("</details>") == 4
    assert "```diff\n--- a/compiled/duckdb/retrieve/driver_activity_v1.sql" in markdown
    assert "- refresh in full: driver_hourly_stats  ->  fcompile materialize --full-refresh --select " \
        "driver_hourly_stats" in markdown


def test_markdown_leaves_out_diffs_beyond_a_comments_size(sample, monkeypatch):
    project, state = sample
    edit(project, "features/driver.yml", "    ttl: 2h", "    ttl: 3h")
    monkeypatch.setattr(plan_report, "MARKDOWN_BUDGET", 3000)
    markdown = render_markdown(plan_of(project, state))
    assert "are left out (a comment holds 65,536 characters)" in markdown
    assert len(markdown) < 4000


def test_long_diffs_are_cut_with_a_count(sample, monkeypatch):
    project, state = sample
    edit(project, "features/driver.yml", "    ttl: 2h", "    ttl: 3h")
    monkeypatch.setattr(plan_module, "DIFF_MAX_LINES", 5)
    plan = plan_of(project, state)
    diff = by_node(plan)["feature_service.driver_activity_v1"].sql[0]
    assert len(diff.lines) == 5 and diff.more_lines > 0
    assert f"… {diff.more_lines} more lines" in render_text(plan)


def test_json_is_a_stable_document(sample):
    project, state = sample
    edit(project, "features/driver.yml", "      - name: conv_rate\n        dtype: float64", "      - name: conv_rate\n        dtype: float32")
    plan = plan_of(project, state)
    document = json.loads(render_json(plan))
    assert render_json(plan_of(project, state)) == render_json(plan)
    assert set(document) == {"format_version", "project", "state", "dialects", "exit_code", "breaking", "summary",
                             "nodes", "materialize"}
    assert document["format_version"] == 1 and document["exit_code"] == 2 and document["breaking"] is True
    assert document["dialects"] == ["duckdb"]
    # the service and dataset whose on-demand expression reads conv_rate compile anew (it is widened to float64)
    assert document["summary"]["breaking"] == 3 and document["summary"]["unchanged"] == 22
    view = document["nodes"][0]
    assert view["node"] == "feature_view.driver_hourly_stats" and view["class"] == "breaking"
    assert view["changes"][0] == {
        "field": "features.conv_rate.dtype", "what": "changed", "before": "float64", "after": "float32",
        "class": "breaking", "full_refresh": True, "summary": "features.conv_rate.dtype float64 → float32",
        "effect": f"readers get another type; rows written before are not converted; {REFRESH_HOURLY}"}
    assert view["location"] == {"path": "features/driver.yml", "line": 21, "column": 11}
    assert document["materialize"]["command"] == "fcompile materialize --full-refresh --select driver_hourly_stats"


def test_a_state_without_compiled_files_compares_their_digests(sample):
    project, state = sample
    import shutil

    shutil.rmtree(state / "compiled")
    edit(project, "features/driver.yml", "    ttl: 2h", "    ttl: 3h")
    plan = plan_of(project, state)
    diff = by_node(plan)["feature_service.driver_activity_v1"].sql[0]
    assert diff.status == "changed" and diff.lines == ()
    assert "(the state holds no compiled files to compare with)" in render_text(plan)


def test_select_limits_the_plan(sample):
    project, state = sample
    edit(project, "features/driver.yml", "    ttl: 2h", "    ttl: 3h")
    plan = plan_of(project, state, ["driver_hourly_stats"])
    assert [str(n.ref) for n in plan.nodes] == ["feature_view.driver_hourly_stats"]


def test_the_command_exit_codes_and_formats(sample):
    project, state = sample
    quiet = fcompile("plan", "--state", str(state), cwd=project)
    assert quiet.returncode == 0 and quiet.stdout.startswith("plan: no change"), quiet.stderr
    edit(project, "features/driver.yml", "      - name: conv_rate\n        dtype: float64", "      - name: conv_rate\n        dtype: float32")
    for output_format in ("text", "markdown", "json"):
        result = fcompile("plan", "--state", str(state), "--format", output_format, cwd=project)
        assert_clean(result)
        assert result.returncode == 2, result.stderr
    assert json.loads(result.stdout)["exit_code"] == 2


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing", "no such folder"),
    (lambda d: (d / "file").write_text("x") and d / "file", "not a folder"),
    (lambda d: d, "holds no manifest.json"),
    (lambda d: (d / "manifest.json").write_text("{nope") and d, "manifest.json cannot be read as JSON"),
    (lambda d: (d / "manifest.json").write_text('{"nodes": []}') and d, "manifest.json is not an fcompile manifest"),
    (lambda d: (d / "manifest.json").write_text(json.dumps(
        {"metadata": {"schema_version": 1, "fcompile_version": "0.0.1"}, "nodes": {}, "compiled": []})) and d,
     f"its manifest has schema version 1 (fcompile 0.0.1); this fcompile reads version {SCHEMA_VERSION}"),
])
def test_a_bad_state_folder_is_fc170(table_sample, tmp_path, make, message):
    folder = tmp_path / "state"
    folder.mkdir()
    state = make(folder)
    with pytest.raises(DiagnosticError) as caught:
        load_previous_build(state)
    [problem] = caught.value.diagnostics
    assert problem.code is Code.STATE_UNREADABLE and problem.position is None and problem.hint
    assert problem.message.startswith(f"--state {state}: {message}")
    result = fcompile("plan", "--state", str(state), cwd=table_sample)
    assert_clean(result)
    assert result.returncode == 1 and "error[FC170]" in result.stderr and message in result.stderr


def test_a_node_changed_itself_and_through_what_it_reads_gives_both_reasons(sample):
    project, state = sample
    edit(project, "features/driver.yml", "    created_timestamp_field: created\n", "")
    edit(project, "features/driver.yml", "Recent driver performance;", "Recent performance;")
    view = by_node(plan_of(project, state))["feature_view.driver_hourly_stats"]
    assert view.status == "changed" and view.change_class == RECOMPUTE
    assert [(r.change.field, r.change.change_class) for r in view.reasons] == [
        ("description", METADATA), ("sql", RECOMPUTE)]
    assert view.reasons[1].summary == "compiled SQL changed through source.driver_stats"
    assert view.reasons[1].effect == f"values change; training sets built before differ; {REFRESH_HOURLY}"


# --- on-demand features (issue 17) ---------------------------------------------------------------------------


def test_an_on_demand_expression_change_is_recompute_for_what_reads_it(sample):
    project, state = sample
    edit(project, "features/orders.yml", '"order_hour < 6 OR order_hour >= 22"', '"order_hour < 5 OR order_hour >= 22"')
    plan = plan_of(project, state)
    nodes = by_node(plan)
    view = nodes["on_demand_view.order_features"]
    assert view.change_class == RECOMPUTE
    assert [r.summary for r in view.reasons] == [
        "features.night.expr order_hour < 6 OR order_hour >= 22 → order_hour < 5 OR order_hour >= 22"]
    assert {k: n.change_class for k, n in nodes.items()} == {
        "on_demand_view.order_features": RECOMPUTE, "feature_service.driver_ranking_orders": RECOMPUTE,
        "dataset.driver_ranking_training": RECOMPUTE}
    assert nodes["feature_service.driver_ranking_orders"].sql  # its compiled SQL changes with the expression
    assert not plan.breaking and plan.exit_code == 0


def test_an_on_demand_feature_added_is_compatible(sample):
    project, state = sample
    edit(project, "features/orders.yml", '      - {name: night, dtype: bool, expr: "order_hour < 6 OR order_hour >= 22"}\n',
         '      - {name: night, dtype: bool, expr: "order_hour < 6 OR order_hour >= 22"}\n'
         '      - {name: late, dtype: bool, expr: "order_hour >= 20"}\n')
    plan = plan_of(project, state)
    nodes = by_node(plan)
    assert nodes["on_demand_view.order_features"].change_class == COMPATIBLE
    assert [r.summary for r in nodes["on_demand_view.order_features"].reasons] == ["feature late added (bool)"]
    assert plan.exit_code == 0 and not plan.breaking


def test_removing_an_on_demand_feature_a_service_uses_is_breaking(sample):
    project, state = sample
    edit(project, "features/orders.yml", '      - {name: night, dtype: bool, expr: "order_hour < 6 OR order_hour >= 22"}\n',
         "")
    plan = plan_of(project, state)
    nodes = by_node(plan)
    assert nodes["on_demand_view.order_features"].change_class == BREAKING
    assert nodes["feature_service.driver_ranking_orders"].change_class == BREAKING
    assert nodes["dataset.driver_ranking_training"].change_class == BREAKING
    assert plan.breaking and plan.exit_code == 2
