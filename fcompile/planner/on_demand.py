"""On-demand features in a training set (issue 17), as a plan: the point-in-time join of every feature view
feature they read (requested or not), then each on-demand feature computed from those values and the spine's
request-field columns. No SQL here: fcompile/dialects/on_demand.py lowers it.

`plan_training_join` is what every training entry point plans with (a service's retrieve file, a dataset,
`get-historical-features`, the SDK): a plain `PointInTimeJoin` when no on-demand feature is asked for, an
`OnDemandJoin` otherwise. An `OnDemandJoin` answers `spine`, `joins`, `location` and `feature_names` as a
`PointInTimeJoin` does, so runners register, check and name its output the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence, Union

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.graph import DType, FeatureGraph, Projection
from fcompile.planner.plans import JoinStrategy, PointInTimeJoin, SpinePlan

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

    @property
    def spine(self) -> SpinePlan:
        return self.query.spine

    @property
    def joins(self):
        return self.query.joins

    @property
    def location(self) -> Position | None:
        return self.query.location

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.outputs)

    @property
    def output_dtypes(self) -> dict[str, str]:
        """Output name -> dtype of each requested feature view feature (computed ones are never arrays)."""
        return {name: source[2] for name, source in self.outputs if not isinstance(source, OnDemandOutput)}


def is_on_demand(graph: FeatureGraph, projection: Projection) -> bool:
    return graph.get("on_demand_view", projection.view) is not None


def _inputs_read(graph: FeatureGraph, projections: Sequence[Projection]) -> list[tuple[str, str]]:
    """(input, name) of every feature view feature and request field the projections' on-demand features read,
    through other on-demand views too, each once, in first-use order."""
    found: dict[tuple[str, str], None] = {}
    seen: set[tuple[str, str]] = set()

    def visit(view_name: str, feature_name: str) -> None:
        if (view_name, feature_name) in seen:
            return
        seen.add((view_name, feature_name))
        feature = graph.on_demand_view(view_name).feature(feature_name)
        assert feature is not None
        for read in feature.reads:
            source, name = read.split(".", 1)
            if graph.get("on_demand_view", source) is not None:
                visit(source, name)
            else:
                found.setdefault((source, name))

    for projection in projections:
        if is_on_demand(graph, projection):
            for feature in projection.features:
                visit(projection.view, feature)
    return list(found)


def request_fields(graph: FeatureGraph, projections: Sequence[Projection]) -> list[tuple[str, DType]]:
    """The request fields the projections' on-demand features read (through other on-demand views too), each
    once, in first-use order, with its declared dtype."""
    fields: dict[str, DType] = {}
    for source, name in _inputs_read(graph, projections):
        if graph.get("request_source", source) is not None and name not in fields:
            field = graph.request_source(source).field(name)
            if field is not None:
                fields[name] = field.dtype
    return list(fields.items())


def feature_view_projections(graph: FeatureGraph, projections: Sequence[Projection]) -> list[Projection]:
    """The feature views a request reads, each with the features it reads: its own projections of feature
    views as they are, then for its on-demand features the feature view features they read (what the spine's
    join keys and the sources' files are checked against)."""
    plain = [p for p in projections if not is_on_demand(graph, p)]
    read: dict[str, list[str]] = {}
    for source, name in _inputs_read(graph, projections):
        if graph.get("feature_view", source) is not None:
            read.setdefault(source, []).append(name)
    return plain + [Projection(view, tuple(features)) for view, features in read.items()]


def plan_training_join(graph: FeatureGraph, spine: SpinePlan, projections: Sequence[Projection],
                       full_feature_names: bool = False,
                       strategy: JoinStrategy | Mapping[str, JoinStrategy] | None = None,
                       location: Position | None = None) -> PointInTimeJoin | OnDemandJoin:
    """A training set's plan: the point-in-time join alone when no projection is of an on-demand view, else the
    on-demand join, its outputs named as the point-in-time join would name them (`full_feature_names`,
    aliases) in request order."""
    from fcompile.planner.point_in_time import plan_point_in_time_join

    if not any(is_on_demand(graph, p) for p in projections):
        return plan_point_in_time_join(graph, spine, projections, full_feature_names, strategy, location)
    requests = [(p.view, feature, output) for p in projections
                for feature, output in zip(p.features, p.output_names(full_feature_names))]
    return plan_on_demand_join(graph, spine, requests, location, strategy)


def plan_on_demand_join(graph: FeatureGraph, spine: SpinePlan, requests: Sequence[tuple[str, ...]],
                        location: Position | None = None,
                        strategy: JoinStrategy | Mapping[str, JoinStrategy] | None = None) -> OnDemandJoin:
    """`requests`: (view, feature) pairs, the view a feature view or an on-demand view, output under the
    feature's name, or (view, feature, output name) triples. Request fields are read from the spine's columns:
    FC146 names the ones it lacks, when its columns are known (when they are not, the SQL reads them by name
    and the engine says so when one is missing)."""
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
                if spine.columns is not None and name not in spine.columns and name not in missing:
                    missing.append(name)
                field = graph.request_source(source).field(name)
                inputs.append((read, ("spine", name, str(field.dtype) if field else "string")))
        return OnDemandOutput(feature_name, feature.node, tuple(inputs))

    outputs: list[tuple[str, Any]] = []
    for request in requests:
        view, feature = request[0], request[1]
        output = request[2] if len(request) > 2 else feature
        value = computed(view, feature) if graph.get("on_demand_view", view) is not None else joined(view, feature)
        outputs.append((output, value))
    if missing:
        raise DiagnosticError([Diagnostic(
            Code.REQUEST_FIELDS_MISSING, f"the spine has no column for the request field"
            f"{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}", location,
            "add the request fields to the spine: its rows hold the values each request would carry")])
    taken = set(spine.columns or ())
    names = [n for n, _ in outputs]
    clashes = [name for name in names if name in taken or names.count(name) > 1]
    if clashes:
        other = "the spine" if clashes[0] in taken else "another requested feature"
        raise DiagnosticError([Diagnostic(
            Code.FEATURE_NAME_COLLISION, f"output column '{clashes[0]}' collides with {other}", location,
            "use full_feature_names, or alias a view ({view: ..., features: [...], alias: ...})")])
    from fcompile.planner.point_in_time import plan_point_in_time_join

    projections = [Projection(view, tuple(features)) for view, features in needed.items()]
    query = plan_point_in_time_join(graph, spine, projections, full_feature_names=True, strategy=strategy,
                                    location=location)
    return OnDemandJoin(query, tuple(outputs))
