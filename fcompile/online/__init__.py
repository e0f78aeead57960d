"""Online stores: the newest feature values per entity, for serving (docs/concepts/materialization.md).

`connect_online_store` opens the store of a project's target (`online: {type: sqlite | redis | postgres}`);
`online_view` describes how a feature view is stored. The store modules import their drivers only when
connected, so a project that uses SQLite never imports redis or psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError

if TYPE_CHECKING:
    from fcompile.graph import FeatureGraph, FeatureView, ProjectInfo
    from fcompile.online.base import OnlineStore, OnlineView
    from fcompile.online.tiles import TileSpec

ONLINE_TYPES = ("sqlite", "redis", "postgres")


def online_store_class(online_type: str) -> type[OnlineStore]:
    if online_type == "sqlite":
        from fcompile.online.sqlite import SqliteOnlineStore

        return SqliteOnlineStore
    if online_type == "redis":
        from fcompile.online.redis import RedisOnlineStore

        return RedisOnlineStore
    if online_type == "postgres":
        from fcompile.online.postgres import PostgresOnlineStore

        return PostgresOnlineStore
    raise DiagnosticError([Diagnostic(Code.ONLINE_STORE_UNREACHABLE, f"unknown online store type '{online_type}'",
                                      None, f"online types: {', '.join(ONLINE_TYPES)}")])


def connect_online_store(project: ProjectInfo) -> OnlineStore:
    """The project's target's online store, connected. Raises `DiagnosticError` (FC113) when it cannot be
    reached, naming the target."""
    settings = dict(project.target.online)
    try:
        return online_store_class(str(settings.get("type"))).connect(settings, project.name, project.root)
    except DiagnosticError as error:
        raise type(error)([_in_target(d, project.target.name) for d in error.diagnostics]) from None


def online_view(graph: FeatureGraph, view: FeatureView | str) -> OnlineView:
    """How a feature view (or its name) is stored: its join keys, features, created timestamp and ttl."""
    from fcompile.online.base import OnlineView

    node = graph.feature_view(view) if isinstance(view, str) else view
    source = graph.source(node.source)
    return OnlineView(
        name=node.name,
        keys=tuple((k.name, k.dtype) for k in graph.join_keys(node)),
        features=tuple((f.name, f.dtype) for f in node.plain_features),  # aggregated ones: `tile_spec`
        has_created=source.created_timestamp_field is not None,
        ttl_seconds=int(node.ttl.total_seconds()) if node.ttl is not None else None,
    )


def tile_spec(graph: FeatureGraph, view: FeatureView | str) -> TileSpec:
    """How a view with aggregations keeps its tiles (fcompile/online/tiles.py)."""
    from fcompile.online.tiles import TileSpec
    from fcompile.planner.online_tiles import plan_latest_tiles

    node = graph.feature_view(view) if isinstance(view, str) else view
    return TileSpec(plan_latest_tiles(graph, node), tuple((k.name, k.dtype) for k in graph.join_keys(node)))


def _in_target(diagnostic: Diagnostic, target: str) -> Diagnostic:
    from dataclasses import replace

    return replace(diagnostic, message=f"target '{target}': {diagnostic.message}")
