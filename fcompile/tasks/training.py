"""A training set: a spine and a feature request, checked and planned into what a runner executes.

Everything a user can get wrong is reported before anything runs, all at once: a source file that is
missing, a spine without the join keys or with keys of the wrong type, a timestamp column that cannot
be chosen. The SDK's `get_historical_features` and `fcompile run` both come through here.

A training set asked for by a feature service runs the service's compiled retrieve file as it is, where
it can: the runner supplies the spine as the relation the file reads (`fcompile_spine`, a temporary view)
and executes the file's statements byte for byte. Where it cannot (the spine has other columns than the
file's, the target changes the SQL, ...), the request is planned for the spine it has by the same planner
and renderer, and the query says why it is not the file (`mismatch`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from fcompile.artifacts.queries import SPINE_RELATION
from fcompile.artifacts.selection import NodeRef
from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position, did_you_mean
from fcompile.graph import FeatureGraph, Projection
from fcompile.planner.on_demand import OnDemandJoin, feature_view_projections, plan_training_join
from fcompile.planner.plans import PointInTimeJoin
from fcompile.runners.base import RegisteredSpine, Runner
from fcompile.runners.spines import SpineInput
from fcompile.tasks.compiled import CompiledFile, compiled_file, statements_differ, unreadable_paths

DEFAULT_TIMESTAMP = "event_timestamp"


@dataclass(frozen=True, eq=False)
class TrainingQuery:
    plan: PointInTimeJoin | OnDemandJoin  # the latter with on-demand features (fcompile/planner/on_demand.py)
    spine: RegisteredSpine
    statements: tuple[str, ...]  # what runs for the rows (one SELECT on every runner so far)
    label: str                   # how messages name it: "the request", "dataset 'x'"
    location: Position | None = None
    compiled: CompiledFile | None = None  # the compiled file of the node asked for (a feature service), if any
    supply: tuple[str, ...] = ()          # run before each execution: the spine supplied as the file reads it
    mismatch: str | None = None           # why `statements` are not the compiled file's; None when they are

    @property
    def matches_compiled_file(self) -> bool:
        return self.compiled is not None and self.mismatch is None

    @property
    def setup(self) -> tuple[str, ...]:
        """What runs before the query: the spine's registration (if it ran any) and its supply."""
        return (*self.spine.setup_sql, *self.supply)

    @property
    def sql(self) -> str:
        """Every statement that runs, in order: the spine's registration and supply, then the query."""
        return ";\n\n".join((*self.setup, *self.statements)) + ";\n"


def plan_training_query(graph: FeatureGraph, runner: Runner, spine: SpineInput, projections: Sequence[Projection],
                        full_feature_names: bool = False, timestamp_column: str | None = None,
                        label: str = "the request", location: Position | None = None,
                        service: str | None = None) -> TrainingQuery:
    """Register the spine, check it and the sources against the request, and plan the join; for a feature
    `service`, its compiled file where the runner can run it as it is. Raises `DiagnosticError` with every
    problem found."""
    read = feature_view_projections(graph, projections)  # on-demand features: the feature views they read
    problems = missing_source_files(graph, read)
    try:
        registered = runner.register_spine(spine)
    except DiagnosticError as error:
        raise DiagnosticError([*problems, *error.diagnostics]) from None
    timestamp = choose_timestamp_column(runner, registered, timestamp_column, problems)
    problems += check_join_keys(graph, runner, registered, read)
    if problems:
        raise DiagnosticError(problems)
    plan = plan_training_join(graph, registered.plan(timestamp), projections, full_feature_names,
                              location=location)
    query = TrainingQuery(plan, registered, tuple(runner.statements(plan)), label, location)
    if service is None:
        return query
    return as_compiled(graph, runner, query, service, full_feature_names)


def as_compiled(graph: FeatureGraph, runner: Runner, query: TrainingQuery, service: str,
                full_feature_names: bool) -> TrainingQuery:
    """The service's training set by its compiled file for the runner's dialect, the spine supplied as the
    relation the file reads; else `query` as planned, with the reason."""
    compiled = compiled_file(graph, NodeRef("feature_service", service), runner.dialect)
    reason = compiled.problem or _not_as_compiled(runner, query, compiled, full_feature_names)
    if reason is not None:
        return replace(query, compiled=compiled, mismatch=reason)
    statements = tuple(runner.statements(compiled.plan))
    if statements != compiled.statements:
        return replace(query, compiled=compiled, mismatch=statements_differ(runner))
    supply = (*runner.compiled_file_setup(compiled.plan),
              *runner.spine_view_statements(query.spine, SPINE_RELATION, compiled.plan.spine.columns))
    return replace(query, plan=compiled.plan, statements=statements, compiled=compiled, supply=supply)


def _not_as_compiled(runner: Runner, query: TrainingQuery, compiled: CompiledFile,
                     full_feature_names: bool) -> str | None:
    """Why the runner cannot run the compiled file for this request; None when it can."""
    wanted, spine = compiled.plan.spine, query.plan.spine
    file_spine = f"the compiled file's {SPINE_RELATION}({', '.join(wanted.columns)})"
    extra = [c for c in spine.columns or () if c not in wanted.columns]
    if extra:
        return (f"the spine has columns {file_spine} has not ({', '.join(extra)}): the SQL is planned for its own "
                "columns, which the training set carries through")
    if spine.timestamp_column != wanted.timestamp_column:
        return f"the spine's time is {spine.timestamp_column}, {file_spine}'s is {wanted.timestamp_column}"
    if spine.columns != wanted.columns:
        return (f"the spine's columns are in another order ({', '.join(spine.columns or ())}) than {file_spine}: "
                "the SQL is planned for its own order")
    if query.plan.feature_names != compiled.plan.feature_names:
        return "full_feature_names was asked for, and the compiled file names the features without their views" \
            if full_feature_names else "the request names its features otherwise than the compiled file"
    if query.spine.not_as_compiled:
        return query.spine.not_as_compiled
    if not runner.supplies_named_spine:
        return (f"the {runner.dialect} runner does not supply the spine as the relation {SPINE_RELATION} (its "
                "engine keeps no row order through a view): it reads the spine where it registered it")
    return unreadable_paths(runner, compiled.plan)


def missing_source_files(graph: FeatureGraph, projections: Sequence[Projection]) -> list[Diagnostic]:
    """FC062 for every requested view whose `path:` source matches no file (a warning when parsing,
    an error once the data is needed)."""
    from fcompile.parser.source_schema import source_files, source_path
    from fcompile.user_paths import looked_for

    problems, seen = [], set()
    for projection in projections:
        source = graph.source(graph.feature_view(projection.view).source)
        if source.kind != "path" or source.name in seen:
            continue
        seen.add(source.name)
        if not source_files(graph.project.root, source):
            where = looked_for(source.locator, source_path(graph.project.root, source))
            problems.append(Diagnostic(Code.SOURCE_FILE_NOT_FOUND, f"source '{source.name}' (feature view "
                                       f"'{projection.view}'): no file matches '{source.locator}'{where}",
                                       source.location, "paths are relative to the project folder; generate or "
                                       "copy the data there"))
    return problems


def choose_timestamp_column(runner: Runner, spine: RegisteredSpine, requested: str | None,
                            problems: list[Diagnostic]) -> str:
    """`requested`, else `event_timestamp`, else the spine's only timestamp-typed column."""
    columns = spine.columns
    if requested is not None or DEFAULT_TIMESTAMP in columns:
        name = requested or DEFAULT_TIMESTAMP
        if name not in columns:
            problems.append(Diagnostic(Code.MISSING_COLUMN, f"{spine.description} has no timestamp column "
                                       f"'{name}'", None, _columns_hint(name, spine)))
        elif not runner.is_timestamp_type(spine.types[name]):
            problems.append(Diagnostic(Code.SPINE_TIMESTAMP, f"{spine.description}: timestamp column '{name}' is "
                                       f"{spine.type_text(name)}, not a timestamp", None,
                                       "convert it to a timestamp (naive timestamps are read as UTC)"))
        return name
    stamps = [c for c in columns if runner.is_timestamp_type(spine.types[c])]
    if len(stamps) == 1:
        return stamps[0]
    if stamps:
        problems.append(Diagnostic(Code.SPINE_TIMESTAMP, f"{spine.description} has no '{DEFAULT_TIMESTAMP}' column "
                                   f"and several timestamp columns: {', '.join(stamps)}", None,
                                   "name the one to use: timestamp_column=... (--timestamp-column)"))
    else:
        problems.append(Diagnostic(Code.SPINE_TIMESTAMP, f"{spine.description} has no timestamp column: it needs "
                                   f"'{DEFAULT_TIMESTAMP}' or a single column of a timestamp type", None,
                                   _columns_hint(DEFAULT_TIMESTAMP, spine, with_types=True)))
    return DEFAULT_TIMESTAMP


def check_join_keys(graph: FeatureGraph, runner: Runner, spine: RegisteredSpine,
                    projections: Sequence[Projection]) -> list[Diagnostic]:
    """Every join key the requested views need is a spine column of a type that fits its dtype."""
    problems: list[Diagnostic] = []
    seen: set[str] = set()
    keys = {k.name for p in projections for k in graph.join_keys(graph.feature_view(p.view))}
    for projection in projections:
        view = graph.feature_view(projection.view)
        for entity_name in view.entities:
            for key in graph.entity(entity_name).join_keys:
                if key.name in seen:
                    continue
                seen.add(key.name)
                if key.name not in spine.columns:
                    problems.append(Diagnostic(
                        Code.MISSING_COLUMN, f"{spine.description} has no column '{key.name}' (join key of entity "
                        f"'{entity_name}', needed by feature view '{view.name}')", None,
                        _columns_hint(key.name, spine, exclude=keys)))
                elif not runner.key_type_fits(key.dtype, spine.types[key.name]):
                    problems.append(Diagnostic(
                        Code.JOIN_KEY_DTYPE_MISMATCH, f"{spine.description}: join key column '{key.name}' is "
                        f"{spine.type_text(key.name)}, but entity '{entity_name}' declares it {key.dtype}", None,
                        f"convert the column to {runner.engine_type(key.dtype)}, or fix the entity's dtype"))
    return problems


def _columns_hint(name: str, spine: RegisteredSpine, with_types: bool = False,
                  exclude: frozenset[str] | set[str] = frozenset()) -> str:
    """Did-you-mean among the spine's columns (not those that are already something else), and the list."""
    close = did_you_mean(name, [c for c in spine.columns if c not in exclude])
    listed = ", ".join(f"{c} ({spine.types[c]})" if with_types else c for c in spine.columns) or "none"
    return f"{close + ' ' if close else ''}the spine's columns: {listed}"
