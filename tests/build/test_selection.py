"""Selectors: names, tags, graph expansion, union, intersection, exclusion and their diagnostics."""

from __future__ import annotations

import pytest

from fcompile.artifacts.selection import DependencyGraph, NodeRef, node_refs, select_nodes
from fcompile.diagnostics import Code, DiagnosticError
from fcompile.parser import load_project


@pytest.fixture
def graph(table_sample):
    return load_project(table_sample)


def names(refs) -> set[str]:
    return {str(r) for r in refs}


def test_no_selector_selects_every_node(graph):
    assert len(select_nodes(graph)) == sum(len(nodes) for _, nodes in graph.by_kind())


def test_a_name_selects_only_that_node(graph):
    assert names(select_nodes(graph, ["driver_hourly_stats"])) == {"feature_view.driver_hourly_stats"}


def test_upstream_of_a_service(graph):
    assert names(select_nodes(graph, ["+driver_activity_v1"])) == {
        "feature_service.driver_activity_v1", "feature_view.driver_hourly_stats",
        "source.driver_stats", "entity.driver"}


def test_downstream_of_a_source(graph):
    assert names(select_nodes(graph, ["driver_profile+"])) == {
        "source.driver_profile", "feature_view.driver_lifetime_stats", "feature_view.driver_onboarding",
        "feature_service.driver_ranking_v2", "feature_service.driver_ranking_orders", "dataset.driver_ranking_training",
        "test.driver_lifetime_stats__vehicle_class__accepted_values"}


def test_through_an_on_demand_view(graph):
    """A service or dataset depends on the on-demand view it reads, which depends on its inputs."""
    assert names(select_nodes(graph, ["+order_features"])) == {
        "on_demand_view.order_features", "feature_view.driver_hourly_stats", "feature_view.driver_trip_windows",
        "request_source.order_request", "source.driver_stats", "source.trips", "entity.driver"}
    assert names(select_nodes(graph, ["order_features+"])) == {
        "on_demand_view.order_features", "feature_service.driver_ranking_orders", "dataset.driver_ranking_training"}


def test_spine_source_is_upstream_of_its_dataset(graph):
    deps = DependencyGraph.of(graph)
    assert NodeRef("source", "orders") in deps.upstream[NodeRef("dataset", "driver_ranking_training")]
    assert "dataset.driver_ranking_training" in names(select_nodes(graph, ["orders+"]))


def test_tags_by_key_and_by_pair(graph):
    assert names(select_nodes(graph, ["tag:tier=gold"])) == {
        "feature_view.driver_hourly_stats", "feature_view.customer_daily_profile"}
    assert "feature_service.driver_activity_v1" in names(select_nodes(graph, ["tag:stage"]))


def test_space_is_union_and_comma_is_intersection(graph):
    union = names(select_nodes(graph, ["driver_activity_v1 customer_daily_profile"]))
    assert union == {"feature_service.driver_activity_v1", "feature_view.customer_daily_profile"}
    assert names(select_nodes(graph, ["driver+,tag:tier=gold"])) == {"feature_view.driver_hourly_stats"}
    assert names(select_nodes(graph, ["driver_activity_v1", "customer_daily_profile"])) == union


def test_exclude_uses_the_same_syntax(graph):
    chosen = names(select_nodes(graph, ["driver+"], ["tag:team=driver-ops driver_ranking_training"]))
    assert "feature_view.driver_onboarding" not in chosen
    assert "dataset.driver_ranking_training" not in chosen
    assert "feature_view.driver_hourly_stats" in chosen


def test_result_keeps_the_graph_order(graph):
    refs = select_nodes(graph, ["driver_ranking_v2+ +driver_ranking_v2"])
    assert refs == [r for r in node_refs(graph) if r in set(refs)]


@pytest.mark.parametrize(("selector", "hint"), [
    ("drivr", "did you mean 'driver'?"),
    ("tag:gold", "did you mean 'tag:tier=gold'?"),
    ("tag:tier=gld", "did you mean 'tag:tier=gold'?"),
    ("tga:tier", "did you mean 'tag'?"),
    ("++", "tag:key=value"),
    ("a,,b", "tag:key=value"),
])
def test_problems_are_diagnostics_with_hints(graph, selector, hint):
    with pytest.raises(DiagnosticError) as caught:
        select_nodes(graph, [selector])
    assert all(d.code is Code.BAD_ARGUMENT for d in caught.value.diagnostics)
    assert any(hint in (d.hint or "") for d in caught.value.diagnostics), caught.value.diagnostics


def test_every_problem_is_reported_at_once(graph):
    with pytest.raises(DiagnosticError) as caught:
        select_nodes(graph, ["drivr tag:nope"], ["custmer"])
    assert len(caught.value.diagnostics) == 3
