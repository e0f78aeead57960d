"""The windowed aggregations fcompile cannot serve online yet: `min`, `max` and `last` of a string (or bytes)
column. Online tiles (fcompile/online/tiles.py) keep numbers, booleans, dates and timestamps; materializing,
pushing online or reading online a view with such a feature is refused (FC159) before anything runs, rather
than serving values that are not what a training set gives. Every other aggregation is served online.
"""

from __future__ import annotations

from typing import Iterable

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.graph import FeatureView

SERVED_KINDS = frozenset({"int32", "int64", "float32", "float64", "bool", "date", "timestamp"})


def online_aggregation_problems(views: Iterable[FeatureView], doing: str) -> list[Diagnostic]:
    """FC159 for each aggregated feature of these views that online tiles cannot keep, placed at its column.
    `doing`: what was asked ("materialize", "read online", ...)."""
    problems = []
    for view in views:
        for feature in view.aggregated_features:
            aggregation = feature.aggregation
            assert aggregation is not None
            if aggregation.function not in ("min", "max", "last"):
                continue
            if not feature.dtype.is_array and feature.dtype.name in SERVED_KINDS:
                continue
            problems.append(Diagnostic(
                Code.AGGREGATES_NOT_ONLINE,
                f"feature view '{view.name}': aggregated feature '{feature.name}' takes {aggregation.function} of "
                f"'{aggregation.column}' ({feature.dtype}), which fcompile cannot {doing} yet: online tiles keep "
                "numbers, booleans, dates and timestamps", view.aggregation_location(feature.name, "column"),
                "set `online: false` on the view (its features stay available to datasets and "
                "get_historical_features), or move the feature to a view of its own with `online: false`"))
    return problems


def refuse_online_aggregations(views: Iterable[FeatureView], doing: str) -> None:
    problems = online_aggregation_problems(views, doing)
    if problems:
        raise DiagnosticError(problems)
