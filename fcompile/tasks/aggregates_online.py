"""Windowed aggregations are computed by training sets only, for now: nothing puts them in the online
store yet, so materializing, pushing online or reading online a view that has them is refused (FC159)
rather than writing or serving values that are not what a training set gives."""

from __future__ import annotations

from typing import Iterable

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.graph import FeatureView


def online_aggregation_problems(views: Iterable[FeatureView], doing: str) -> list[Diagnostic]:
    """FC159 for each view with aggregations, placed at its `aggregations:` key. `doing`: what was asked
    ("materialize", "read online", ...)."""
    return [Diagnostic(Code.AGGREGATES_NOT_ONLINE,
                       f"feature view '{view.name}' has aggregations, which fcompile cannot {doing} yet: they are "
                       "computed in training sets only", view.aggregation_location("", "aggregations"),
                       "set `online: false` on the view (its features stay available to datasets and "
                       "get_historical_features), or move its plain features to a view of their own")
            for view in views if view.has_aggregations]


def refuse_online_aggregations(views: Iterable[FeatureView], doing: str) -> None:
    problems = online_aggregation_problems(views, doing)
    if problems:
        raise DiagnosticError(problems)
