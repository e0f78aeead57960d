"""Descriptions of graph nodes for `fcompile ls`: a table for people, plain lines for pipes, JSON for tools."""

from __future__ import annotations

import os
from typing import Any, Collection

from fcompile.artifacts.selection import NodeRef
from fcompile.graph import (
    DataTest, Dataset, Entity, FeatureGraph, FeatureService, FeatureView, Node, OnDemandView, PushSource, RequestSource,
    Source, to_plain,
)
from fcompile.planner.durations import format_duration
from fcompile.planner.point_in_time import choose_strategy


def describe_nodes(graph: FeatureGraph, kind: str | None = None,
                   selected: Collection[NodeRef] | None = None) -> list[dict[str, Any]]:
    """Every node (of `kind`, among `selected` when given) in the graph's order, described."""
    rows = []
    for node_kind, nodes in graph.by_kind():
        if kind is not None and node_kind != kind:
            continue
        for node in nodes:
            if selected is not None and NodeRef(node_kind, node.name) not in selected:
                continue
            plain = to_plain(node)
            location = plain.pop("location", None)
            row = {
                "kind": node_kind,
                "name": node.name,
                "summary": summarize(node),
                "location": location,
                "content_hash": node.content_hash,
                "spec": plain,
            }
            if isinstance(node, FeatureView) and node.plain_features:  # looked up as of the spine's time
                strategy, reason = choose_strategy(node)
                row["join"] = {"strategy": strategy.value, "why": reason}
            if isinstance(node, FeatureView) and node.aggregation_step is not None:  # no strategy: tiles
                row["aggregation"] = {"step": format_duration(node.aggregation_step.total_seconds()),
                                      "how": "partial aggregates per key and step, combined per spine point"}
            rows.append(row)
    return rows


def where_defined(row: dict[str, Any], root: str) -> str:
    """`path:line` of a described node, relative to the project folder."""
    location = row["location"]
    return f"{os.path.relpath(location['path'], root)}:{location['line']}" if location else ""


def plain_lines(rows: list[dict[str, Any]], root: str) -> list[str]:
    """One line per node, its fields separated by tabs: kind, name, details, where defined (whitespace
    inside a field, such as a query's line breaks, becomes one space)."""
    return ["\t".join(" ".join(field.split()) for field in (row["kind"], row["name"], row["summary"],
                                                           where_defined(row, root))) for row in rows]


def summarize(node: Node) -> str:
    if isinstance(node, Entity):
        return "keys: " + ", ".join(f"{k.name} {k.dtype}" for k in node.join_keys)
    if isinstance(node, Source):
        created = f", created: {node.created_timestamp_field}" if node.created_timestamp_field else ""
        locator = node.locator if node.kind != "query" else " ".join(node.locator.split())[:40]
        return f"{node.kind}: {locator} (time: {node.timestamp_field}{created})"
    if isinstance(node, PushSource):
        return f"push: rows are kept in {node.batch_source}"
    if isinstance(node, FeatureView):
        ttl = format_duration(node.ttl.total_seconds()) if node.ttl else "unbounded"
        online = "" if node.online else ", offline only"
        late = f", lateness {format_duration(node.lateness.total_seconds())}" if node.lateness else ""
        source = f"{node.push_source} (push, into {node.source})" if node.push_source else node.source
        counted = [f"{len(node.plain_features)} features"] if node.plain_features else []
        if node.aggregation_step is not None:
            step = format_duration(node.aggregation_step.total_seconds())
            counted.append(f"{len(node.aggregated_features)} aggregated features (step {step})")
        # the ttl bounds plain lookups; an aggregated feature's windows bound it, a ttl only its age online
        ttl_part = f", ttl {ttl}" if node.plain_features or node.ttl else ""
        schema = f", schema {node.schema} (fcompile test checks each feature)" if node.schema else ""
        return f"{' and '.join(counted)} by {', '.join(node.entities)} from {source}{ttl_part}{late}{online}{schema}"
    if isinstance(node, FeatureService):
        count = sum(len(p.features) for p in node.projections)
        views = ", ".join(p.view + (f" as {p.alias}" if p.alias else "") for p in node.projections)
        return f"{count} features from {views}"
    if isinstance(node, Dataset):
        what = f"service {node.service}" if node.service else f"{sum(len(p.features) for p in node.projections)} features"
        return f"{what} on {node.spine.kind} {node.spine.locator} -> {node.output.kind} {node.output.locator}"
    if isinstance(node, DataTest):
        on = f"{node.parent}.{node.column}" if node.column else node.parent
        return f"{node.kind} on {node.parent_kind.replace('_', ' ')} {on}, severity {node.severity}" + \
            (f", where {node.where}" if node.where else "")
    if isinstance(node, RequestSource):
        return "request fields: " + ", ".join(f"{f.name} {f.dtype}" for f in node.fields)
    if isinstance(node, OnDemandView):
        return f"{len(node.features)} on-demand features from {', '.join(node.inputs)}"
    return ""

