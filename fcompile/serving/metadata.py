"""The metadata API of the feature server: read-only JSON about the served project's graph.

| method and path | answers |
| --- | --- |
| `GET /api/v1/entities` | a page of entities |
| `GET /api/v1/feature_views` | a page of feature views (on-demand views too, `"kind": "on_demand_view"`) |
| `GET /api/v1/feature_views/{name}` | one view: its features, lineage and latest statistics (artifacts/profiles.py) |
| `GET /api/v1/feature_services` | a page of feature services |
| `GET /api/v1/datasets` | a page of datasets |
| `GET /api/v1/lineage` | a page of lineage nodes, with the edges into them; `?node=kind.name`: its neighbourhood |

Pages are taken by `limit` (default DEFAULT_LIMIT, at most MAX_LIMIT, at least 1) and `offset` (from 0;
past the end: an empty page). Each answer carries `total`, `next_offset` (None on the last page) and the
served project's `generation`, which changes when the server reloads the project: a client walking pages
sees whether the project changed under it. Any other query parameter, a repeated one, or a value out of
range is a 400 (FC171).

Everything comes from the graph the server already holds: `MetadataIndex` is built with each loaded state,
in the loading thread (state.py), so online reads pay nothing for it: every list item is encoded once
there, and a page is those bytes joined (bench/metadata_bench.py, 1,000 views: the index builds in about
60 ms; a page of 1,000 views takes well under a millisecond on the event loop, a lineage page of 1,000
nodes a few). Only statistics are read from files, when a view is asked for (artifacts/profiles.py keeps them).

With `serving.auth`, a token sees what it may use by name (`Visibility`): the feature views in its
`feature_views` and `write_feature_views` grants and those its granted `feature_services` read; those
services; the datasets built from what it sees; the entities, sources, push sources and request sources
upstream of its views. The rest is absent from its lists and lineage, and asking for it by name is
answered as for an unknown name (404, with a did-you-mean among the names it sees), so the answers do
not tell which hidden names exist.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import parse_qsl

import orjson

from fcompile.artifacts.selection import DependencyGraph, NodeRef
from fcompile.diagnostics import Code, did_you_mean, known_names_hint
from fcompile.graph import Dataset, Entity, FeatureGraph, FeatureService, FeatureView, Node, OnDemandView
from fcompile.serving.errors import request_error
from fcompile.serving.settings import TokenGrant
from fcompile.artifacts.profiles import view_statistics

API_PREFIX = "/api/v1"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PAGE_PARAMETERS = ("limit", "offset")
_INTEGER = re.compile(r"-?[0-9]{1,18}")
VIEW_KINDS = ("feature_view", "on_demand_view")
LINEAGE_KINDS = ("entity", "source", "push_source", "request_source", "feature_view", "on_demand_view",
                 "feature_service", "dataset")  # data tests are left out: they are checks, not data flow
UPSTREAM_KINDS = ("entity", "source", "push_source", "request_source")  # seen with the views they feed
_UNKNOWN_CODE = {"entity": Code.UNKNOWN_ENTITY, "source": Code.UNKNOWN_SOURCE, "push_source": Code.UNKNOWN_SOURCE,
                 "feature_view": Code.UNKNOWN_VIEW, "on_demand_view": Code.UNKNOWN_VIEW,
                 "feature_service": Code.UNKNOWN_SERVICE}


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def of(self, items: list[Any]) -> tuple[list[Any], dict[str, Any]]:
        """The page's slice of `items` and the fields that describe it (total, limit, offset, next_offset)."""
        chosen = items[self.offset:self.offset + self.limit]
        end = self.offset + len(chosen)
        return chosen, {"total": len(items), "limit": self.limit, "offset": self.offset,
                        "next_offset": end if end < len(items) else None}


def read_query(query: bytes, extra: tuple[str, ...] = (), paged: bool = True) -> tuple[Page, dict[str, str]]:
    """The page a query string asks for (when `paged`), and the values of the `extra` parameters it gives.
    Raises HttpError 400 (FC171) for anything else, a repeated parameter or a value out of range."""
    try:
        text = query.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise _query_error("the query string is not valid UTF-8 name=value pairs", None) from None
    allowed = (PAGE_PARAMETERS if paged else ()) + extra
    values: dict[str, str] = {}
    for name, value in pairs:
        if name not in allowed:
            raise _query_error(f"unknown query parameter '{name}'", did_you_mean(name, allowed)
                               or (f"this endpoint takes {', '.join(allowed)}" if allowed else
                                   "this endpoint takes no query parameters"))
        if name in values:
            raise _query_error(f"query parameter '{name}' is given more than once", "give it once")
        values[name] = value
    limit = _integer(values.pop("limit", None), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _integer(values.pop("offset", None), "offset", 0, 0, None)
    return Page(limit, offset), values


def _integer(text: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if text is None:
        return default
    if _INTEGER.fullmatch(text) is None:  # not int(): it takes spaces, underscores, "+" and other scripts' digits
        raise _query_error(f"query parameter '{name}' is not an integer: '{text[:40]}'", None)
    value = int(text)
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"{low} or more"
        raise _query_error(f"query parameter '{name}' is {value}; it must be {span}",
                           f"the default is {default}" + (f", the largest page {high}" if high else ""))
    return value


def _query_error(message: str, hint: str | None) -> Any:
    return request_error(400, message, hint, Code.API_QUERY)


@dataclass(frozen=True)
class Visibility:
    """The nodes one token may see; `everything` when auth is off or its grants cover every view and service."""

    nodes: frozenset[NodeRef]
    everything: bool = False

    def __contains__(self, ref: NodeRef) -> bool:
        return self.everything or ref in self.nodes


EVERYTHING = Visibility(frozenset(), True)


class MetadataIndex:
    """The documents of one loaded graph, built once (the state keeps it), read by every metadata request."""

    def __init__(self, graph: FeatureGraph, generation: int) -> None:
        self.graph = graph
        self.generation = generation
        self.root = graph.project.root
        self.dependencies = DependencyGraph.of(graph)
        self._by_kind = {kind: nodes for kind, nodes in graph.by_kind()}
        self.lineage_nodes = [NodeRef(kind, node.name) for kind in LINEAGE_KINDS for node in self._by_kind[kind]]
        self._order = {ref: i for i, ref in enumerate(self.lineage_nodes)}
        self._visibility: dict[TokenGrant, Visibility] = {}
        self._paths: dict[str, str] = {}  # spec file -> its path relative to the project
        self._summaries = {kind: [self._summary(kind, node) for node in self._by_kind[kind]]
                           for kind in ("entity", "feature_view", "on_demand_view", "feature_service", "dataset")}
        self._items = {kind: [(NodeRef(kind, item["name"]), encode(item)) for item in items]
                       for kind, items in self._summaries.items()}
        self._views = {(kind, s["name"]): s for kind in VIEW_KINDS for s in self._summaries[kind]}

    # -- who sees what ------------------------------------------------------------------------------------

    def visibility(self, grant: TokenGrant | None) -> Visibility:
        if grant is None:
            return EVERYTHING
        known = self._visibility.get(grant)
        if known is None:
            known = self._visibility[grant] = self._visible_to(grant)
        return known

    def _visible_to(self, grant: TokenGrant) -> Visibility:
        if grant.feature_views.everything and grant.feature_services.everything:
            return EVERYTHING
        graph = self.graph
        seen: set[NodeRef] = set()
        for service in graph.feature_services:
            if grant.feature_services.allows(service.name):
                seen.add(NodeRef("feature_service", service.name))
                seen.update(NodeRef(_view_kind(graph, p.view), p.view) for p in service.projections)
        for kind in VIEW_KINDS:
            for view in self._by_kind[kind]:
                if grant.feature_views.allows(view.name) or grant.write_feature_views.allows(view.name):
                    seen.add(NodeRef(kind, view.name))
        views = [ref for ref in seen if ref.kind in VIEW_KINDS]
        seen.update(ref for ref in self.dependencies.closure(views, "up") if ref.kind in UPSTREAM_KINDS)
        for dataset in graph.datasets:
            needs = ([NodeRef("feature_service", dataset.service)] if dataset.service else
                     [NodeRef(_view_kind(graph, p.view), p.view) for p in dataset.projections])
            if all(ref in seen for ref in needs):
                seen.add(NodeRef("dataset", dataset.name))
                if dataset.spine.kind == "source":
                    seen.add(NodeRef("source", dataset.spine.locator))
        return Visibility(frozenset(seen))

    # -- the answers ------------------------------------------------------------------------------------

    def listing(self, kinds: tuple[str, ...], grant: TokenGrant | None, page: Page) -> bytes:
        """A page of the nodes of `kinds` the grant sees, as the JSON answer (its items encoded at build)."""
        visible = self.visibility(grant)
        items = [item for kind in kinds for ref, item in self._items[kind] if ref in visible]
        chosen, described = page.of(items)
        return b'{"items":[' + b",".join(chosen) + b"]," + encode({**described, "generation": self.generation})[1:]

    def feature_view(self, name: str, grant: TokenGrant | None) -> dict[str, Any]:
        visible = self.visibility(grant)
        kind = next((k for k in VIEW_KINDS if self.graph.get(k, name) is not None), "feature_view")
        ref = NodeRef(kind, name)
        if self.graph.get(kind, name) is None or ref not in visible:
            raise self._unknown(ref, visible, grant)
        node = self.graph.get(kind, name)
        document = dict(self._views[kind, name])
        document["features"] = [_feature(f) for f in node.features]
        if isinstance(node, FeatureView):
            document["join_keys"] = [_join_key(k) for k in self.graph.join_keys(node)]
        document["lineage"] = self._neighbours(ref, visible)
        if isinstance(node, FeatureView):
            statistics = view_statistics(self.root, name)
            if statistics is not None:
                document["statistics"] = statistics
        document["generation"] = self.generation
        return document

    def lineage(self, grant: TokenGrant | None, page: Page, node: str | None) -> dict[str, Any]:
        visible = self.visibility(grant)
        members: Visibility | set[NodeRef] = visible
        if node is None:
            nodes = [ref for ref in self.lineage_nodes if ref in visible]
        else:  # the node, its ancestors and its descendants; edges only among them
            start = self._lineage_start(node, visible, grant)
            around = self.dependencies.closure([start], "up") | self.dependencies.closure([start], "down")
            members = {ref for ref in around if ref in self._order and ref in visible}
            nodes = sorted(members, key=self._order.__getitem__)
        chosen, described = page.of(nodes)
        edges = [{"from": str(parent), "to": str(ref)} for ref in chosen
                 for parent in self.dependencies.upstream.get(ref, ()) if parent in members
                 and parent.kind in LINEAGE_KINDS]
        return {"nodes": [self._lineage_node(ref) for ref in chosen], "edges": edges, **described,
                "generation": self.generation}

    # -- pieces -----------------------------------------------------------------------------------------

    def _neighbours(self, ref: NodeRef, visible: Visibility) -> dict[str, list[dict[str, str]]]:
        """What the view reads (sources, entities, input views) and what reads it (services, datasets,
        on-demand views), transitively, in the graph's order."""
        out = {}
        for direction in ("up", "down"):
            reached = [r for r in self.dependencies.closure([ref], direction) if r != ref and r in self._order
                       and r in visible]
            out["upstream" if direction == "up" else "downstream"] = [
                {"kind": r.kind, "name": r.name} for r in sorted(reached, key=self._order.__getitem__)]
        return out

    def _lineage_start(self, text: str, visible: Visibility, grant: TokenGrant | None) -> NodeRef:
        kind, dot, name = text.partition(".")
        if not dot or kind not in LINEAGE_KINDS or not name:
            raise _query_error(f"query parameter 'node' is not kind.name: '{text[:80]}'",
                               (did_you_mean(kind, LINEAGE_KINDS) if dot else None)
                               or f"kinds: {', '.join(LINEAGE_KINDS)} (as in feature_view.driver_stats)")
        ref = NodeRef(kind, name)
        if self.graph.get(kind, name) is None or ref not in visible:
            raise self._unknown(ref, visible, grant)
        return ref

    def _unknown(self, ref: NodeRef, visible: Visibility, grant: TokenGrant | None) -> Any:
        kinds = VIEW_KINDS if ref.kind in VIEW_KINDS else (ref.kind,)
        names = [n.name for k in kinds for n in self._by_kind[k] if NodeRef(k, n.name) in visible]
        word = ref.kind.replace("_", " ")
        if ref.kind in VIEW_KINDS:
            word = "feature view"
        hint = did_you_mean(ref.name, names) or known_names_hint(word, names)
        if grant is not None and not visible.everything:
            hint += f" (token '{grant.label}' sees only what it is granted)"
        code = _UNKNOWN_CODE.get(ref.kind, Code.API_UNKNOWN_NODE)
        return request_error(404, f"unknown {word} '{ref.name}'", hint, code)

    def _lineage_node(self, ref: NodeRef) -> dict[str, Any]:
        node = self.graph.get(ref.kind, ref.name)
        return {"id": str(ref), "kind": ref.kind, "name": ref.name, "description": node.description}

    def _summary(self, kind: str, node: Node) -> dict[str, Any]:
        out: dict[str, Any] = {"name": node.name, "kind": kind}
        if isinstance(node, Entity):
            out["join_keys"] = [_join_key(k) for k in node.join_keys]
        elif isinstance(node, FeatureView):
            out.update(entities=list(node.entities), source=node.source, push_source=node.push_source,
                       ttl_seconds=node.ttl.total_seconds() if node.ttl is not None else None, online=node.online,
                       feature_count=len(node.features), aggregated=node.aggregation_step is not None)
        elif isinstance(node, OnDemandView):
            out.update(inputs=list(node.inputs), feature_count=len(node.features))
        elif isinstance(node, FeatureService):
            out["features"] = _references(node.projections)
        elif isinstance(node, Dataset):
            out.update(service=node.service, features=_references(node.projections),
                       spine={"kind": node.spine.kind, "locator": node.spine.locator,
                              "timestamp_field": node.spine.timestamp_field},
                       output={"kind": node.output.kind, "locator": node.output.locator})
        out.update(description=node.description, owner=node.owner, tags=dict(node.tags),
                   location=self._location(node))
        return out

    def _location(self, node: Node) -> dict[str, Any] | None:
        where = node.location
        if where is None:
            return None
        path = self._paths.get(where.path)
        if path is None:
            path = os.path.relpath(where.path, self.root) if os.path.isabs(where.path) else where.path
            path = self._paths[where.path] = path.replace(os.sep, "/")
        return {"path": path, "line": where.line, "column": where.column}


def _view_kind(graph: FeatureGraph, name: str) -> str:
    return "on_demand_view" if graph.get("on_demand_view", name) is not None else "feature_view"


def _join_key(key: Any) -> dict[str, str]:
    return {"name": key.name, "dtype": str(key.dtype), "description": key.description}


def _references(projections: Iterable[Any]) -> list[str]:
    return [f"{p.view}:{f}" for p in projections for f in p.features]


def _feature(feature: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": feature.name, "dtype": str(feature.dtype), "description": feature.description}
    tags = getattr(feature, "tags", None)
    if tags is not None:
        out["tags"] = dict(tags)
    aggregation = getattr(feature, "aggregation", None)
    if aggregation is not None:
        out["aggregation"] = {"function": aggregation.function, "column": aggregation.column,
                              "window_seconds": aggregation.window.total_seconds()}
    expr = getattr(feature, "expr", None)
    if expr is not None:
        out["expr"] = expr
    return out


def encode(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)
