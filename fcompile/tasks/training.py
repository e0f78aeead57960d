"""A training set: a spine and a feature request, checked and planned into what a runner executes.

Everything a user can get wrong is reported before anything runs, all at once: a source file that is
missing, a spine without the join keys or with keys of the wrong type, a timestamp column that cannot
be chosen. The SDK's `get_historical_features` and `fcompile run` both come through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position, did_you_mean
from fcompile.graph import FeatureGraph, Projection
from fcompile.planner.plans import PointInTimeJoin
from fcompile.planner.point_in_time import plan_point_in_time_join
from fcompile.runners.base import RegisteredSpine, Runner
from fcompile.runners.spines import SpineInput

DEFAULT_TIMESTAMP = "event_timestamp"


@dataclass(frozen=True, eq=False)
class TrainingQuery:
    plan: PointInTimeJoin
    spine: RegisteredSpine
    statements: tuple[str, ...]  # what runs for the rows (one SELECT on every runner so far)
    label: str                   # how messages name it: "the request", "dataset 'x'"
    location: Position | None = None

    @property
    def sql(self) -> str:
        """Every statement that runs, in order: the spine's registration (if it ran any), then the query."""
        return ";\n\n".join((*self.spine.setup_sql, *self.statements)) + ";\n"


def plan_training_query(graph: FeatureGraph, runner: Runner, spine: SpineInput, projections: Sequence[Projection],
                        full_feature_names: bool = False, timestamp_column: str | None = None,
                        label: str = "the request", location: Position | None = None) -> TrainingQuery:
    """Register the spine, check it and the sources against the request, and plan the join. Raises
    `DiagnosticError` with every problem found."""
    problems = missing_source_files(graph, projections)
    try:
        registered = runner.register_spine(spine)
    except DiagnosticError as error:
        raise DiagnosticError([*problems, *error.diagnostics]) from None
    timestamp = choose_timestamp_column(runner, registered, timestamp_column, problems)
    problems += check_join_keys(graph, runner, registered, projections)
    if problems:
        raise DiagnosticError(problems)
    plan = plan_point_in_time_join(graph, registered.plan(timestamp), projections, full_feature_names,
                                   location=location)
    return TrainingQuery(plan, registered, tuple(runner.statements(plan)), label, location)


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
