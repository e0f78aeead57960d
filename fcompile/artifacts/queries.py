"""What each node compiles to, and the file that holds it.

| node            | plan                                          | file                                   |
| --------------- | --------------------------------------------- | -------------------------------------- |
| feature view    | `LatestValues` in a bound [start, end] window | `<dialect>/materialize/<view>.sql`     |
| (aggregations only) | `LatestTiles`: its tiles in that window   | `<dialect>/materialize/<view>.sql`     |
| (and both)      | the `LatestValues`, then the `LatestTiles`    | `<dialect>/materialize/<view>.sql`     |
| feature service | `PointInTimeJoin` against `fcompile_spine`    | `<dialect>/retrieve/<service>.sql`     |
| (on-demand features) | `OnDemandJoin`: the join, then the expressions | `<dialect>/retrieve/<service>.sql` |
| dataset         | `BuildDataset` (CREATE TABLE AS / COPY TO)    | `<dialect>/datasets/<dataset>.sql`     |
| data test       | `DataTestPlan` (the failing rows or figure)   | `<dialect>/tests/<test>.sql`           |

Every file starts with comment lines naming fcompile's version, the node and the spec file and line it
came from, plus what a reader needs to run it (bound parameters, the spine relation). A view with both
plain features and aggregations holds the two queries `fcompile materialize` runs, in its order, the second
after comment lines of its own. Paths of file sources are written relative to the project folder, so the
output is the same on every machine.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Any

from sqlglot.errors import UnsupportedError

from fcompile.artifacts.compiled_files import (  # noqa: F401 - named here too, where they were first
    FOLDERS, KINDS_BY_FOLDER, compiled_path, node_of_path, produces_file, relative_spec_path,
)
from fcompile.artifacts.selection import NodeRef
from fcompile.control_characters import comment_line
from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.dialects import compile_sql
from fcompile.dialects.base import SqlDialect, staging_table
from fcompile.dialects.lowering import effective_strategy
from fcompile.graph import DataTest, Dataset, FeatureGraph, FeatureService, FeatureView, Node
from fcompile.planner.naming import FULL_NAMES_NOTE, uses_full_feature_names
from fcompile.planner.durations import format_duration
from fcompile.planner.on_demand import (
    OnDemandJoin, feature_view_projections, plan_training_join, request_fields,
)
from fcompile.planner.datasets import plan_build_dataset
from fcompile.planner.online_tiles import LatestTiles
from fcompile.planner.plans import AggregateJoin, BuildDataset, LatestValues, PointInTimeJoin, Relation, SpinePlan
from fcompile.version import __version__
from fcompile.planner.point_in_time import (
    dataset_spine, plan_latest_values,
)

SPINE_RELATION = "fcompile_spine"
SPINE_TIMESTAMP = "event_timestamp"
KIND_LABELS = {"feature_view": "feature view", "feature_service": "feature service", "dataset": "dataset",
               "test": "data test"}


@dataclass(frozen=True)
class CompiledQuery:
    ref: NodeRef
    dialect: str
    text: str  # the whole file: header comments, pretty SQL, final newline

    @property
    def path(self) -> str:
        return compiled_path(self.dialect, self.ref)


@dataclass(frozen=True)
class PlannedQuery:
    """A node's plan for one dialect (paths project-relative) and its file header, before any SQL."""

    ref: NodeRef
    dialect: str
    plan: Any
    header: str
    location: Position | None
    then: PlannedQuery | None = None  # a second query of the file (a view's tiles), its header its notes

    def file(self, sql: str) -> CompiledQuery:
        """The file of the node's SQL (`sql`: `body` where the node has a second query)."""
        return CompiledQuery(self.ref, self.dialect, self.header + sql + "\n")

    def body(self, sql: str, then_sql: str | None) -> str:
        """The SQL of the file: the plan's, then, where there is one, the second query's after its notes."""
        if self.then is None:
            return sql
        assert then_sql is not None
        return sql + ";\n\n" + self.then.header + then_sql

    def statements(self, dialect: SqlDialect) -> list[str]:
        """The statements of the file, in the order they run (`compile_statements` of each plan)."""
        from fcompile.dialects import compile_statements

        return compile_statements(self.plan, dialect) + (self.then.statements(dialect) if self.then else [])

    def in_context(self, error: DiagnosticError) -> DiagnosticError:
        """The error's diagnostics naming this node and placed at its spec, where they say nothing else."""
        return DiagnosticError([_in_context(d, self.ref, self.location) for d in error.diagnostics])


def compile_node(graph: FeatureGraph, ref: NodeRef, dialect: SqlDialect) -> CompiledQuery:
    """The file of one view, service or dataset in one dialect. Raises `DiagnosticError` (FC100 for a
    missing capability) naming the node and the dialect; never returns SQL the dialect cannot run."""
    planned = QueryPlanner(graph).plan(ref, dialect)
    try:
        then = render_plan(planned.then.plan, dialect) if planned.then is not None else None
        return planned.file(planned.body(render_plan(planned.plan, dialect), then))
    except DiagnosticError as exc:
        raise planned.in_context(exc) from None


class QueryPlanner:
    """Plans nodes for dialects, each node once: a plan knows no dialect, except that a dataset's spine
    columns may be known in one dialect's parse of a spine query and not in another's."""

    def __init__(self, graph: FeatureGraph) -> None:
        self.graph = graph
        self._memo: dict[tuple[NodeRef, tuple[str, ...] | None], tuple[Any, list[str]]] = {}

    def plan(self, ref: NodeRef, dialect: SqlDialect) -> PlannedQuery:
        """Raises `DiagnosticError` naming the node when it cannot be planned."""
        graph = self.graph
        node = graph.get(ref.kind, ref.name)
        if node is None or not produces_file(ref):
            raise ValueError(f"{ref} produces no SQL file")
        try:
            columns = known_spine_columns(graph, node, dialect) if isinstance(node, Dataset) else None
            memo_key = (ref, columns)
            if memo_key not in self._memo:
                plan, notes = plan_node(graph, node, columns)
                self._memo[memo_key] = (project_relative(plan, graph.project.root), notes)
        except DiagnosticError as exc:
            raise DiagnosticError([_in_context(d, ref, node.location) for d in exc.diagnostics]) from None
        plan, notes = self._memo[memo_key]
        lines = [comment_line(f"fcompile {__version__} · {KIND_LABELS[ref.kind]} {ref.name} · "
                              f"{_spec_place(graph.project.root, node.location)}")]
        notes = _dialect_notes(plan, dialect) + notes + replacement_notes(plan, dialect) + join_notes(plan, dialect)
        lines += [comment_line(note) for note in notes]
        then = None
        if isinstance(node, FeatureView) and isinstance(plan, LatestValues) and node.has_aggregations:
            tiles_key = (NodeRef("tiles", ref.name), None)  # the view's second query: its tiles
            if tiles_key not in self._memo:
                from fcompile.planner.online_tiles import plan_latest_tiles

                self._memo[tiles_key] = (project_relative(plan_latest_tiles(graph, node), graph.project.root), [])
            tiles = self._memo[tiles_key][0]
            tile_notes = _dialect_notes(tiles, dialect, again=True) + [TILES_NOTE]
            tile_lines = [comment_line(note) for note in tile_notes]
            then = PlannedQuery(ref, dialect.name, tiles, "\n".join(tile_lines) + "\n", node.location)
        return PlannedQuery(ref, dialect.name, plan, "\n".join(lines) + "\n", node.location, then)


def render_plan(plan: Any, dialect: SqlDialect, templates=None) -> str:
    """The plan's SQL; what sqlglot cannot express in the dialect is an FC100 diagnostic, not SQL.
    `templates` carries compiled shapes from one call to the next (see `compile_statements`)."""
    try:
        return compile_sql(plan, dialect, templates=templates)
    except UnsupportedError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DiagnosticError([Diagnostic(
            Code.UNSUPPORTED_BY_DIALECT, f"dialect '{dialect.name}' cannot express the query: {reason}", None,
            "compile this node for another dialect, or exclude it with --exclude")]) from None


def plan_node(graph: FeatureGraph, node: Node, spine_columns: tuple[str, ...] | None = None) -> tuple[Any, list[str]]:
    """The node's plan and the header notes that explain how to run its SQL (in any dialect)."""
    if isinstance(node, FeatureView):
        notes = []
        if not node.online:
            notes.append("offline-only view (online: false): compiled for review, not loaded into the online store")
        if node.has_aggregations and not node.plain_features:  # the query materialization runs for it
            from fcompile.planner.online_tiles import plan_latest_tiles

            notes.append(TILES_NOTE)
            return plan_latest_tiles(graph, node), notes
        if node.has_aggregations:  # QueryPlanner adds the tile query, which materialization runs second
            notes.append("the view's plain features; its aggregated features are loaded online as tiles by the "
                         "second query, below")
        return plan_latest_values(graph, node), notes
    if isinstance(node, FeatureService):
        return _plan_retrieval(graph, node)
    if isinstance(node, Dataset):
        plan = plan_build_dataset(graph, node, spine_columns)
        output = node.output
        return plan, [f"writes {output.kind} {output.locator}" + (" (replaced)" if output.kind == "table" else "")]
    if isinstance(node, DataTest):  # issue 18
        from fcompile.planner.data_tests import describe_test, plan_data_test

        plan = plan_data_test(graph, node)
        return plan, [describe_test(plan), f"severity: {node.severity}"]
    raise TypeError(f"no SQL for {type(node).__name__}")


TILES_NOTE = ("the view's aggregated features are loaded online as tiles: the partial aggregates per key and step "
              "of the rows in the window, merged at read time")


def _dialect_notes(plan: Any, dialect: SqlDialect, again: bool = False) -> list[str]:
    """`again`: the notes of a file's second query (a view's tiles), which sets the time zone again."""
    notes = [_window_note(type(dialect), plan.start_parameter, plan.end_parameter, isinstance(plan, LatestTiles))] \
        if isinstance(plan, (LatestValues, LatestTiles)) else []
    if dialect.SESSION_TIME_ZONE and again:
        notes.append("its first statement sets the session's time zone to UTC again, as materialization runs each "
                     "query with its own")
    elif dialect.SESSION_TIME_ZONE:
        notes.append("the first statement sets the session's time zone to UTC, for this statement and the rest of the "
                     "session: a naive time compared with a zoned one is read in the session's time zone")
    return notes


def replacement_notes(plan: Any, dialect: SqlDialect) -> list[str]:
    """For a dataset table: what its readers see while the file replaces it, and after a failure."""
    if not isinstance(plan, BuildDataset) or plan.output.kind != "table":
        return []
    if dialect.SUPPORTS_CREATE_OR_REPLACE_TABLE:
        return ["replaced atomically by CREATE OR REPLACE TABLE: a failed build leaves the old table"]
    staged = f"built as {staging_table(dialect.table(plan.output.locator)).name}, then "
    if dialect.TRANSACTIONAL_DDL:
        return [staged + "swapped in within one transaction: readers see the old table or the new one"]
    return [staged + "swapped in by DROP and RENAME: a failed build leaves the old table, but between those two "
            "statements there is none"]


def join_notes(plan: Any, dialect: SqlDialect) -> list[str]:
    """One line per view a point-in-time join reads: the strategy the SQL uses in this dialect, and why
    (an ASOF join is lowered to the window plan where the dialect has none)."""
    query = plan.query if isinstance(plan, BuildDataset) else plan
    if not isinstance(query, (PointInTimeJoin, OnDemandJoin)):
        return []
    notes = []
    for view in query.joins:
        if isinstance(view, AggregateJoin):
            notes.append(f"join {view.view}: windowed aggregations, step {format_duration(view.step_seconds)} "
                         "(partial aggregates per key and step, combined per spine point)")
            continue
        used = effective_strategy(dialect, view)
        why = view.strategy_reason
        if used is not view.strategy:
            why = f"{view.strategy.value}: {why}; {dialect.name} has no ASOF join"
        notes.append(f"join {view.view}: {used.value} ({why})")
    return notes


@functools.lru_cache(maxsize=64)
def _window_note(dialect_class: type[SqlDialect], start_name: str, end_name: str, tiles: bool = False) -> str:
    """The same for every view of a dialect: worked out once (spelling a parameter is a trip through
    sqlglot's generator, which was a quarter of planning a thousand views)."""
    dialect = dialect_class()
    start, end = (dialect.parameter(name).sql(dialect=dialect.sqlglot_name) for name in (start_name, end_name))
    where = (f"{start} and {end} are bound parameters" if start != end
             else f"the two {start} are bound parameters, in order: {start_name}, {end_name}")
    if tiles:
        return (f"{where}: the event-time window, both ends inclusive, the start on a multiple of the step (so "
                "each tile is whole); the tiles of every entity key and step in it")
    return f"{where}: the event-time window, both ends inclusive; the newest row per entity key in it"


def retrieval_spine(graph: FeatureGraph, service: FeatureService) -> SpinePlan:
    """The placeholder spine of a service's retrieve query: its join keys in order, then the time, then the
    request fields its on-demand features read (in first-use order)."""
    columns: list[str] = []
    for projection in feature_view_projections(graph, service.projections):
        for key in graph.join_keys(graph.feature_view(projection.view)):
            if key.name not in columns:
                columns.append(key.name)
    if SPINE_TIMESTAMP not in columns:
        columns.append(SPINE_TIMESTAMP)
    columns += [name for name, _ in request_fields(graph, service.projections) if name not in columns]
    return SpinePlan(Relation("placeholder", SPINE_RELATION), SPINE_TIMESTAMP, tuple(columns))


def _plan_retrieval(graph: FeatureGraph, service: FeatureService) -> tuple[PointInTimeJoin | OnDemandJoin, list[str]]:
    spine = retrieval_spine(graph, service)
    notes = [f"spine: the relation {SPINE_RELATION}({', '.join(spine.columns or ())}), one row per entity "
             "and point in time, supplied when the query runs"]
    fields = request_fields(graph, service.projections)
    if fields:
        notes.append(f"request fields: {', '.join(f'{name} ({dtype})' for name, dtype in fields)} are columns of "
                     f"{SPINE_RELATION}, the values each request would carry; the on-demand features are computed "
                     "from them and the joined features")
    full = uses_full_feature_names(service.projections, False, service=True)
    plan = plan_training_join(graph, spine, service.projections, full, location=service.location)
    return plan, notes + ([FULL_NAMES_NOTE] if full else [])


def known_spine_columns(graph: FeatureGraph, dataset: Dataset, dialect: SqlDialect) -> tuple[str, ...] | None:
    """A dataset spine's columns when they can be known without running anything: a query spine whose
    select list names every column, or a table spine that is one of the project's seeds (the seed file's
    columns). Otherwise None (the SQL then selects `spine.*`, where it can)."""
    spine = dataset.spine
    if spine.kind == "source":
        source = graph.source(spine.locator)
        kind, text, where = source.kind, source.locator, source.location
    else:
        kind, text, where = spine.kind, spine.locator, dataset.location
    if kind == "table":
        columns = _seed_columns(graph, text)
        if columns is None:
            return None
        what = f"the seed file {columns[1]}, which the spine table '{text}' is loaded from, has no column"
        hint = "add the join keys and the timestamp field to the seed file"
        columns = columns[0]
    elif kind == "query":
        query = dialect.parse_query(text, where)
        if any(s.is_star for s in query.selects) or not all(query.named_selects):
            return None
        columns = tuple(query.named_selects)
        what = "the spine query does not select"
        hint = "select the join keys and the timestamp field in the spine query"
    else:
        return None
    timestamp = dataset_spine(graph, dataset).timestamp_column
    read = feature_view_projections(graph, dataset.projections)
    needed = [k.name for p in read for k in graph.join_keys(graph.feature_view(p.view))]
    present = {c.lower() for c in columns}
    missing = sorted({c for c in needed + [timestamp] if c.lower() not in present})
    problems = []
    if missing:
        problems.append(Diagnostic(Code.MISSING_COLUMN, f"{what} {', '.join(repr(m) for m in missing)}", where, hint))
    fields = [name for name, _ in request_fields(graph, dataset.projections) if name.lower() not in present]
    if fields:
        problems.append(Diagnostic(
            Code.REQUEST_FIELDS_MISSING, f"{what} {', '.join(repr(f) for f in fields)}: request field"
            f"{'s' if len(fields) > 1 else ''} the dataset's on-demand features read", where,
            "add the request fields to the spine: its rows hold the values each request would carry"))
    if problems:
        raise DiagnosticError(problems)
    return columns


def _seed_columns(graph: FeatureGraph, table: str) -> tuple[tuple[str, ...], str] | None:
    """The columns of the seed a spine table names, and the seed file as messages name it; None when the
    table is no seed of the project."""
    from fcompile.parser.seeds import find_seeds, seed_columns

    seed = find_seeds(graph.project.root).get(table)
    if seed is None:
        return None
    return tuple(seed_columns(seed)), seed.relative


def project_relative(plan: Any, root: str) -> Any:
    """The plan with file paths inside the project written relative to it (the planner makes them
    absolute so runners can read them; compiled SQL must not depend on where the project lives)."""
    if isinstance(plan, BuildDataset):
        return replace(plan, query=project_relative(plan.query, root))
    if isinstance(plan, OnDemandJoin):
        return replace(plan, query=project_relative(plan.query, root))
    if isinstance(plan, PointInTimeJoin):
        spine = replace(plan.spine, relation=_relative(plan.spine.relation, root))
        joins = tuple(replace(j, relation=_relative(j.relation, root)) for j in plan.joins)
        return replace(plan, spine=spine, joins=joins)
    if isinstance(plan, (LatestValues, LatestTiles)):
        return replace(plan, relation=_relative(plan.relation, root))
    if hasattr(plan, "relation"):  # a data test's plan (issue 18)
        return replace(plan, relation=_relative(plan.relation, root))
    raise TypeError(f"not a plan: {type(plan).__name__}")


def _relative(relation: Relation, root: str) -> Relation:
    prefix = root.rstrip(os.sep) + os.sep
    if relation.kind != "path" or not relation.locator.startswith(prefix):
        return relation  # a path the user wrote as absolute stays theirs
    return replace(relation, locator=PurePath(os.path.relpath(relation.locator, root)).as_posix())


def _spec_place(root: str, location: Position | None) -> str:
    """The node's spec file, without its line: a line added above a node would otherwise rewrite the file of
    every node below it (manifest.json keeps the line)."""
    if location is None:
        return "(no spec file)"
    return relative_spec_path(root, location.path)


@functools.lru_cache(maxsize=4096)
def _in_context(diagnostic: Diagnostic, ref: NodeRef, location: Position | None) -> Diagnostic:
    message = diagnostic.message
    if not message.startswith(ref.label):
        message = f"{ref.label}: {message}"
    return replace(diagnostic, message=message, position=diagnostic.position or location)
