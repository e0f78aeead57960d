"""On-demand features resolve in services, datasets and requests (issue 17), but training sets and online
reads do not compute them yet: each entry point that plans from projections refuses them here, with a
diagnostic, rather than failing on a view that is not a feature view."""

from __future__ import annotations

from typing import Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.graph import FeatureGraph, Projection


def refuse_on_demand(graph: FeatureGraph, projections: Sequence[Projection], where: str,
                     location: Position | None) -> None:
    names = [p.view for p in projections if graph.get("on_demand_view", p.view) is not None]
    if names:
        raise DiagnosticError([Diagnostic(
            Code.UNKNOWN_VIEW, f"on-demand view '{names[0]}' cannot be read {where} yet", location,
            "request features of feature views")])
