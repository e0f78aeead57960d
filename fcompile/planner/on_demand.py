"""On-demand features in a training set (issue 17), as a plan: the point-in-time join of every feature view
feature they read (requested or not), then each on-demand feature computed from those values and the spine's
request-field columns. No SQL here: fcompile/dialects/on_demand.py lowers it. Not yet reachable from spec
files, services or requests (the resolver refuses on-demand features there); this is the training half they
will use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, Union

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.graph import FeatureGraph, Projection
from fcompile.planner.plans import PointInTimeJoin, SpinePlan

# Where an expression's input comes from: a column of the join's output, a spine column (a request field),
# or another on-demand feature's expression.
InputColumn = tuple[str, str, str]  # ("join", inner output name, dtype) or ("spine", column, dtype)


@dataclass(frozen=True)
class OnDemandOutput:
    """One on-demand feature: its checked expression (fcompile/expressions/tree.py) and, for each name it reads
    (`input.name`), where the value comes from."""

    name: str
    node: Any
    inputs: tuple[tuple[str, Union[InputColumn, "OnDemandOutput"]], ...]


@dataclass(frozen=True)
class OnDemandJoin:
    """A training set with on-demand features: `query` joins every feature view feature read, under inner names
    (`view__feature`); the output is the spine's columns, then `outputs` in request order, each either a
    joined feature (`("join", inner name)`) or a computed one."""

    query: PointInTimeJoin
    outputs: tuple[tuple[str, Union[InputColumn, OnDemandOutput]], ...]


def plan_on_demand_join(graph: FeatureGraph, spine: SpinePlan, requests: Sequence[tuple[str, str]],
                        location: Position | None = None) -> OnDemandJoin:
    """`requests`: (view, feature) pairs, the view a feature view or an on-demand view, output under the
    feature's name. The spine's columns must be known: request fields are read from them (FC146 names the
    ones missing)."""
    if spine.columns is None:
        raise ValueError("on-demand features need the spine's columns")
    needed: dict[str, list[str]] = {}  # feature view -> features read, in first-use order
    missing: list[str] = []

    def joined(view: str, feature: str) -> InputColumn:
        features = needed.setdefault(view, [])
        if feature not in features:
            features.append(feature)
        dtype = graph.feature_view(view).feature(feature).dtype  # type: ignore[union-attr]
        return ("join", f"{view}__{feature}", str(dtype))

    def computed(view_name: str, feature_name: str) -> OnDemandOutput:
        view = graph.on_demand_view(view_name)
        feature = view.feature(feature_name)
        assert feature is not None
        inputs = []
        for read in feature.reads:
            source, name = read.split(".", 1)
            if graph.get("feature_view", source) is not None:
                inputs.append((read, joined(source, name)))
            elif graph.get("on_demand_view", source) is not None:
                inputs.append((read, computed(source, name)))
            else:  # a request field: a spine column of its name
                if name not in spine.columns and name not in missing:
                    missing.append(name)
                field = graph.request_source(source).field(name)
                inputs.append((read, ("spine", name, str(field.dtype) if field else "string")))
        return OnDemandOutput(feature_name, feature.node, tuple(inputs))

    outputs: list[tuple[str, Any]] = []
    for view, feature in requests:
        value = computed(view, feature) if graph.get("on_demand_view", view) is not None else joined(view, feature)
        outputs.append((feature, value))
    if missing:
        raise DiagnosticError([Diagnostic(
            Code.REQUEST_FIELDS_MISSING, f"the spine has no column for the request field"
            f"{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}", location,
            "add the request fields to the spine: its rows hold the values each request would carry")])
    taken = set(spine.columns)
    clashes = [name for name, _ in outputs if name in taken or [n for n, _ in outputs].count(name) > 1]
    if clashes:
        raise DiagnosticError([Diagnostic(Code.FEATURE_NAME_COLLISION,
                                          f"output column '{clashes[0]}' is taken twice", location,
                                          "request features of distinct names")])
    from fcompile.planner.point_in_time import plan_point_in_time_join

    projections = [Projection(view, tuple(features)) for view, features in needed.items()]
    query = plan_point_in_time_join(graph, spine, projections, full_feature_names=True, location=location)
    return OnDemandJoin(query, tuple(outputs))
