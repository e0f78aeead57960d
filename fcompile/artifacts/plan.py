"""`fcompile plan --state DIR`: what merging the project as it is would change, compared with an earlier build.

The plan is data (`Plan`): the changed nodes, each with its change class and the reason per changed field
(`fcompile/artifacts/changes.py`), the compact SQL diff of its compiled files per dialect, and what
`fcompile materialize` has to do next. `fcompile/artifacts/plan_report.py` prints it as text, markdown or JSON.
"""

from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from fcompile.artifacts.changes import (
    BREAKING, CLASSES, COMPATIBLE, METADATA, RECOMPUTE, REMOVAL_BREAKS, FieldChange, most_serious, spec_changes,
    value_text,
)
from fcompile.artifacts.compiled_files import compiled_path, produces_file
from fcompile.artifacts.selection import DependencyGraph, NodeRef, select_nodes
from fcompile.artifacts.state import (
    CurrentBuild, PreviousBuild, changed_files, compile_current, modified_nodes, sql_body,
)
from fcompile.diagnostics import DiagnosticError, Severity
from fcompile.graph import KINDS, FeatureGraph

DIFF_CONTEXT = 2     # unchanged lines around each change in a SQL diff
DIFF_MAX_LINES = 40  # lines of one file's diff shown; the rest is counted ("... N more lines")
KIND_ORDER = list(KINDS)


@dataclass(frozen=True)
class Reason:
    """A changed field of a node, classified, with what it means for what was built from the node."""

    change: FieldChange
    summary: str  # "ttl 2h → 3h"
    effect: str   # "values change; training sets built before differ; ..."

    @property
    def text(self) -> str:
        return f"{self.summary}: {self.effect}"


@dataclass(frozen=True)
class SqlDiff:
    """One compiled file of a changed node: `changed`, `added` or `removed`, its unified diff cut to
    `DIFF_MAX_LINES` lines, and how many lines were cut."""

    dialect: str
    path: str  # relative to the target folder: compiled/<dialect>/<folder>/<name>.sql
    status: str
    lines: tuple[str, ...]
    more_lines: int


@dataclass(frozen=True)
class NodePlan:
    ref: NodeRef
    status: str  # added, removed, changed (its definition), sql (only its compiled SQL)
    change_class: str
    reasons: tuple[Reason, ...]
    sql: tuple[SqlDiff, ...]
    location: Mapping[str, Any] | None


@dataclass(frozen=True)
class RowEstimate:
    """About how many source rows a full refresh of a view reads (`fcompile plan --estimate`)."""

    view: str
    rows: int | None                # None: it could not be counted (see `note`)
    since: dt.datetime | None       # the window's start; None: the source's earliest row
    note: str | None = None


@dataclass(frozen=True)
class MaterializeNext:
    """What `fcompile materialize` must be told, or will do by itself, after the merge."""

    full_refresh: tuple[str, ...]  # online views whose stored rows no longer match their definition
    first_load: tuple[str, ...]    # new online views: the next run loads their first-run window
    left_behind: tuple[str, ...]   # views removed or taken offline: their rows stay in the online store
    estimates: tuple[RowEstimate, ...] = ()  # with --estimate: per view of full_refresh
    estimate_note: str | None = None         # with --estimate: why there are no figures (engine unreachable)
    estimated: bool = False                  # whether --estimate was asked for

    @property
    def command(self) -> str | None:
        if not self.full_refresh:
            return None
        return "fcompile materialize --full-refresh --select " + " ".join(self.full_refresh)


@dataclass(frozen=True)
class Plan:
    project: str
    state: str
    dialects: tuple[str, ...]
    state_has_files: bool
    nodes: tuple[NodePlan, ...]
    materialize: MaterializeNext
    unchanged: int

    @property
    def breaking(self) -> bool:
        return any(node.change_class == BREAKING for node in self.nodes)

    @property
    def exit_code(self) -> int:
        return 2 if self.breaking else 0

    def count(self, change_class: str) -> int:
        return sum(node.change_class == change_class for node in self.nodes)


def make_plan(graph: FeatureGraph, previous: PreviousBuild, select: Sequence[str] = (),
              exclude: Sequence[str] = ()) -> Plan:
    """Compare the project with the build in `previous`. Raises `DiagnosticError` when a node does not
    compile (the plan cannot say what its SQL would be) or a selector is wrong."""
    current = compile_current(graph, previous)
    errors = [d for d in current.diagnostics if d.severity is Severity.ERROR]
    if errors:
        raise DiagnosticError(errors)
    before, after = previous.nodes, current.nodes
    shown: set[NodeRef] | None = None
    if select or exclude:
        shown = set(select_nodes(graph, select, exclude, lambda: modified_nodes(graph, previous, current)))
    deps = DependencyGraph.of(graph)
    defined: dict[NodeRef, list[FieldChange]] = {}
    for ref in sorted(set(before) | set(after)):
        old, new = before.get(ref), after.get(ref)
        if old is not None and new is not None and old.get("content_hash") != new["content_hash"]:
            changes = spec_changes(ref.kind, old["spec"], new["spec"], _online(ref, new))
            if changes:  # another hash of the same spec (another fcompile) is no change of definition
                defined[ref] = changes
    nodes = []
    for ref in sorted(set(before) | set(after)):
        if shown is not None and ref not in shown:
            continue
        node = _node_plan(ref, before.get(ref), after.get(ref), defined, deps, previous, current)
        if node is not None:
            nodes.append(node)
    nodes.sort(key=lambda n: (-CLASSES.index(n.change_class), _kind_rank(n.ref.kind), n.ref.name))
    listed = {n.ref for n in nodes}
    return Plan(graph.project.name, str(previous.folder), current.dialects, bool(previous.files), tuple(nodes),
                _materialize_next(nodes, after, before, deps),
                sum(ref not in listed for ref in after if shown is None or ref in shown))


def _kind_rank(kind: str) -> int:
    """Kinds in the graph's order; one this fcompile does not know (in a newer state) last."""
    return KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)


def _online(ref: NodeRef, entry: Mapping[str, Any] | None) -> bool:
    return ref.kind == "feature_view" and entry is not None and bool(entry["spec"].get("online", True))


def _node_plan(ref: NodeRef, old, new, defined: dict[NodeRef, list[FieldChange]], deps: DependencyGraph,
               previous: PreviousBuild, current: CurrentBuild) -> NodePlan | None:
    location = (new or old or {}).get("location")
    if old is None or new is None:
        status = "added" if old is None else "removed"
        change_class = COMPATIBLE if old is None or ref.kind not in REMOVAL_BREAKS else BREAKING
        reason = Reason(FieldChange("", None, None, change_class, False, status), f"{ref.label} {status}",
                        _node_effect(ref, status, new))
        return NodePlan(ref, status, change_class, (reason,), _sql_diffs(ref, previous, current), location)
    files = changed_files(previous, current, ref)
    online = _online(ref, new)
    own: tuple[Reason, ...] = ()
    if ref in defined:
        readers = _readers(ref, deps, current.nodes)
        own = tuple(Reason(c, _summary(c), _effect(ref, c, online, readers)) for c in defined[ref])
    through = _sql_reason(ref, online, defined, deps) if files else None
    if through is not None and own and not through.significant:
        through = None  # its own change explains its new SQL
    reasons = own + ((through.reason,) if through is not None else ())
    if not reasons:
        return None
    return NodePlan(ref, "changed" if own else "sql", most_serious(r.change.change_class for r in reasons), reasons,
                    _sql_diffs(ref, previous, current, files), location)


@dataclass(frozen=True)
class _SqlReason:
    reason: Reason
    significant: bool  # it names upstream changes that can change SQL (not only descriptions or tags)


def _sql_reason(ref: NodeRef, online: bool, defined: dict[NodeRef, list[FieldChange]],
                deps: DependencyGraph) -> _SqlReason:
    """Why a node's compiled SQL changed: the changes of what it reads (their most serious class), or, with
    none, something else (another fcompile version: recompute)."""
    upstream = sorted(r for r in deps.closure([ref], "up") if r in defined and r != ref)
    # a description or tag cannot change SQL: name the upstream changes that can, when there are some
    significant = [r for r in upstream if most_serious(c.change_class for c in defined[r]) != METADATA]
    upstream = significant or upstream
    if upstream:
        change_class = most_serious([COMPATIBLE, *(c.change_class for r in upstream for c in defined[r])])
        summary = f"compiled SQL changed through {', '.join(str(r) for r in upstream)}"
    else:
        change_class = RECOMPUTE
        summary = "compiled SQL changed with no change to its definition (another fcompile version?)"
    refresh = online and change_class in (RECOMPUTE, BREAKING)
    reason = Reason(FieldChange("sql", None, None, change_class, refresh, "changed"), summary,
                    _sql_effect(ref, change_class, online))
    return _SqlReason(reason, bool(significant))


def _readers(ref: NodeRef, deps: DependencyGraph, nodes) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The feature views that read a source, push source or entity (directly or through a push source), and
    the online ones among them."""
    views = sorted(r for r in deps.closure([ref], "down") if r.kind == "feature_view" and r != ref)
    return tuple(r.name for r in views), tuple(r.name for r in views if _online(r, nodes.get(r)))


def _refresh_text(views: Sequence[str]) -> str:
    return f"the online store needs `fcompile materialize --full-refresh --select {' '.join(views)}`"


def _summary(change: FieldChange) -> str:
    field = change.field
    if field.startswith("features.") and change.what in ("added", "removed") and field.count(".") == 1:
        name = field.split(".", 1)[1]
        dtype = (change.after or {}).get("dtype") if isinstance(change.after, dict) else None
        return f"feature {name} {change.what}" + (f" ({dtype})" if dtype else "")
    if field.startswith("join_keys.") and change.what in ("added", "removed") and field.count(".") == 1:
        return f"join key {field.split('.', 1)[1]} {change.what}"
    if change.what == "added" and change.before is None:
        return f"{field} set to {value_text(field, change.after)}"
    if change.what == "removed" and change.after is None:
        return f"{field} {value_text(field, change.before)} removed"
    return f"{field} {value_text(field, change.before)} → {value_text(field, change.after)}"


def _effect(ref: NodeRef, change: FieldChange, online: bool, readers: tuple[tuple[str, ...], tuple[str, ...]]
            ) -> str:
    """What a changed field means for what was built from the node, in words."""
    c, field, kind, name = change.change_class, change.field, ref.kind, ref.name
    readers, online_readers = readers
    if c == METADATA:
        return "metadata only; nothing to recompute"
    refresh = f"; {_refresh_text([name])}" if change.full_refresh else ""
    if kind == "feature_view":
        if field.startswith("features.") and change.what == "removed":
            return f"requests, services and datasets that name {name}:{field.split('.', 1)[1]} fail"
        if field.startswith("features.") and change.what == "added":
            return ("a new feature; training sets built before lack it" +
                    (f"; online rows written before read it as NULL until `fcompile materialize --full-refresh "
                     f"--select {name}`" if online else ""))
        if field.endswith(".dtype"):
            return f"readers get another type; rows written before are not converted{refresh}"
        if field == "entities":
            return f"the view is keyed anew: reads by the old keys find nothing{refresh}"
        if field == "online":
            return ("online reads of it fail; its rows stay in the online store" if c == BREAKING
                    else "the next `fcompile materialize` loads its first-run window")
        if field == "strategy":
            return "the join is computed another way; its results are the same"
        if field == "lateness":
            return (f"incremental runs restart {value_text('lateness', change.after)} before the watermark; "
                    "training values do not change")
        if field.endswith("(order)"):
            return f"`{name}:*` lists its features in the new order"
        return f"values change; training sets built before differ{refresh}"
    if kind in ("source", "push_source"):
        views = ", ".join(readers) or "no feature view reads it"
        online_note = f"; {_refresh_text(online_readers)}" if online_readers else ""
        return f"values of the views that read it change ({views}); training sets built before differ{online_note}"
    if kind == "entity":
        views = ", ".join(readers) or "no feature view"
        return (f"every view keyed by it is keyed anew ({views}): reads by the old keys find nothing"
                + (f"; {_refresh_text(online_readers)}" if online_readers else ""))
    if kind in ("feature_service", "dataset"):
        lose, gain, name_them, order = (
            ("requests of the service lose", "requests of the service get", "requests of the service name",
             "requests of the service list") if kind == "feature_service" else
            ("its training set loses", "its training set gets", "its training set names",
             "its training set lists"))
        if field.startswith("features.") and change.what == "removed":
            return f"{lose} the column {field.split('.', 1)[1]}"
        if field.startswith("features.") and change.what == "added":
            return f"{gain} a new column"
        if field.endswith(".alias") or field == "full_feature_names":
            return f"{name_them} their columns differently"
        if field.endswith("(order)"):
            return f"{order} the columns in the new order"
        if field == "spine":
            return f"its rows change; `fcompile run --select {name}` builds it anew"
        if field == "output":
            return "the next run writes elsewhere; readers of the old output no longer get new rows"
        if field == "service":
            return "it takes its features from another service"
    return "values change; what was built from it before differs"


def _sql_effect(ref: NodeRef, change_class: str, online: bool) -> str:
    if change_class in (METADATA, COMPATIBLE):
        return "the SQL reads differently; its results are the same"
    if ref.kind == "feature_view":
        return "values change; training sets built before differ" + (f"; {_refresh_text([ref.name])}" if online else "")
    if ref.kind == "feature_service":
        return "training sets retrieved with it before differ"
    return f"its rows change; `fcompile run --select {ref.name}` builds it anew"


def _node_effect(ref: NodeRef, status: str, new) -> str:
    if status == "added":
        if ref.kind == "feature_view" and _online(ref, new):
            return "the next `fcompile materialize` loads its first-run window"
        return "nothing that exists changes"
    return {"feature_view": "requests, services and datasets that name it fail; its online rows stay in the store",
            "feature_service": "requests of the service fail",
            "push_source": "pushes to it fail",
            "dataset": f"`fcompile run --select {ref.name}` fails; its last output stays as it was",
            }.get(ref.kind, "nothing in the project reads it any more")


def _sql_diffs(ref: NodeRef, previous: PreviousBuild, current: CurrentBuild,
               files: Sequence[str] | None = None) -> tuple[SqlDiff, ...]:
    if not produces_file(ref):
        return ()
    paths = files if files is not None else [compiled_path(d, ref) for d in current.dialects]
    diffs = []
    for path in paths:
        old, new = previous.files.get(path), current.files.get(path)
        if old is None and new is None:
            continue
        if old is not None and new is not None and sql_body(old) == sql_body(new):
            continue
        status = "added" if old is None else "removed" if new is None else "changed"
        lines = list(difflib.unified_diff(
            (old or b"").decode("utf-8", "replace").splitlines(), (new or b"").decode("utf-8", "replace").splitlines(),
            f"a/compiled/{path}" if old is not None else "/dev/null",
            f"b/compiled/{path}" if new is not None else "/dev/null", n=DIFF_CONTEXT, lineterm=""))
        if old is None and not previous.files and path in previous.sha256:
            lines = []  # the state holds only its manifest: the file changed, its old text is unknown
            status = "changed"
        diffs.append(SqlDiff(path.split("/", 1)[0], f"compiled/{path}", status, tuple(lines[:DIFF_MAX_LINES]),
                             max(0, len(lines) - DIFF_MAX_LINES)))
    return tuple(diffs)


def _materialize_next(nodes: Sequence[NodePlan], after, before, deps: DependencyGraph) -> MaterializeNext:
    refresh, first, left = set(), set(), set()
    for node in nodes:
        ref = node.ref
        if ref.kind == "feature_view":
            now_online, was_online = _online(ref, after.get(ref)), _online(ref, before.get(ref))
            if now_online and not was_online:
                first.add(ref.name)
            elif was_online and not now_online:
                left.add(ref.name)
            elif now_online and any(r.change.full_refresh for r in node.reasons):
                refresh.add(ref.name)
        elif ref.kind in ("source", "push_source", "entity") and node.change_class in (RECOMPUTE, BREAKING):
            refresh.update(r.name for r in deps.closure([ref], "down")
                           if r.kind == "feature_view" and _online(r, after.get(r)))
    refresh -= first
    return MaterializeNext(tuple(sorted(refresh)), tuple(sorted(first)), tuple(sorted(left)))
