"""Deleting entity keys from the online store: `fcompile online delete` and the SDK's `delete_online`
(docs/concepts/push.md).

The keys are given as for an online read - `{join_key: [values]}` (or Feast's entity rows), one value per
entity for every join key of the view, each checked against its key's dtype (FC117) - and the view's rows
of those keys are deleted in one commit. Its watermark stays: a materialization that reads the key's
rows again (a `--start` before them, or `--full-refresh`) loads the key again, and so does a push. A row
stored with a far-future event time wins over every real value of its key (newer wins); deleting its
key is how it is got rid of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, reference_hint
from fcompile.graph import FeatureGraph, FeatureView

if TYPE_CHECKING:
    from fcompile.online.base import OnlineStore, OnlineView


@dataclass(frozen=True)
class OnlineDeletion:
    """What a delete did: the keys (tuples in `key_names` order, each once, in the order given) whose rows
    were deleted, and those of which nothing was stored."""

    view: str
    key_names: tuple[str, ...]
    deleted: tuple[tuple[Any, ...], ...]
    not_found: tuple[tuple[Any, ...], ...]


def delete_online_keys(graph: FeatureGraph, view_name: Any, entities: Any, online_store: Callable[[], OnlineStore],
                       online_view: Callable[[FeatureView], OnlineView]) -> OnlineDeletion:
    """Delete the view's rows of the entities' keys (and, for a view with aggregations, their tiles: two
    commits, each idempotent). Everything is checked before the store is connected:
    FC032 for an unknown view, FC118 for one with `online: false`, FC117 for entities that do not fit."""
    from fcompile.online.base import guard_store
    from fcompile.tasks.online_reads import OnlineRequest, check_entities, entity_rows_as_columns

    view = online_feature_view(graph, view_name)
    stored = online_view(view)
    request = OnlineRequest(stored.keys, (), (), f"feature view '{view.name}'")
    columns = check_entities(request, entity_rows_as_columns(entities))
    keys = list(dict.fromkeys(zip(*columns))) if columns else []
    found = guard_store(online_store().delete_keys, stored, keys) if keys else []
    if keys and view.has_aggregations:  # and its tiles (an entity without tiles reads as one without rows)
        from fcompile.online import tile_spec

        tiles = guard_store(online_store().delete_keys, tile_spec(graph, view).online_view, keys)
        found = [plain or tiled for plain, tiled in zip(found, tiles)]
    return OnlineDeletion(view.name, request.key_names, tuple(k for k, f in zip(keys, found) if f),
                          tuple(k for k, f in zip(keys, found) if not f))


def online_feature_view(graph: FeatureGraph, name: Any) -> FeatureView:
    """The online feature view named `name`: FC032 when there is none, FC118 when it is `online: false`."""
    if not isinstance(name, str):
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"a feature view is named by text, not "
                                          f"{type(name).__name__}", None, "give the feature view's name as a string")])
    view = graph.get("feature_view", name)
    if not isinstance(view, FeatureView):
        names = [v.name for v in graph.feature_views]
        raise DiagnosticError([Diagnostic(Code.UNKNOWN_VIEW, f"unknown feature view '{name}'", None,
                                          reference_hint(name, "feature view", names))])
    if not view.online:
        raise DiagnosticError([Diagnostic(Code.VIEW_NOT_ONLINE, f"feature view '{name}' has no rows in the online "
                                          "store (online: false)", view.location,
                                          "online views: " + (", ".join(v.name for v in graph.feature_views
                                                                       if v.online) or "none"))])
    return view


def key_text(names: tuple[str, ...], key: tuple[Any, ...]) -> str:
    """A key as the command line gives it, `driver_id=1001 city=Paris`, on one line (control characters
    escaped, each value clipped)."""
    from fcompile.control_characters import escape_controls
    from fcompile.diagnostics import clipped

    return " ".join(f"{name}={escape_controls(clipped(_value_text(value)))}" for name, value in zip(names, key))


def _value_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)

