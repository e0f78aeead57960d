"""Node selection for `fcompile build --select/--exclude`: which nodes a selector names.

Syntax (dbt's, reduced to what a feature graph needs):

    name            every node of that name (any kind)
    tag:key         nodes with a tag `key` (any value)
    tag:key=value   nodes tagged exactly key=value
    state:modified  nodes new or changed since the build in `--state DIR` (fcompile/artifacts/state.py)
    +atom           the atom and everything upstream of it
    atom+           the atom and everything downstream of it
    a,b             intersection (no spaces around the comma)
    a b             union: several values (`-s a b`, as dbt takes them), one quoted value with spaces
                    (`-s "a b"`), or several --select options (`-s a -s b`)

Edges run from what a node reads to the node: source -> feature view, entity -> feature view,
batch source -> push source -> the feature views that name it, feature view -> feature service, feature service or view -> dataset, spine source -> dataset, view or source -> its data tests,
feature view, request source or on-demand view -> the on-demand views that take it as an input.
Every problem in a selector is a diagnostic (FC090), with a did-you-mean hint for unknown names.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Collection, Iterable, Mapping, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, did_you_mean, known_names_hint
from fcompile.graph import (
    DataTest, Dataset, FeatureGraph, FeatureService, FeatureView, Node, OnDemandView, PushSource,
)


@dataclass(frozen=True, order=True)
class NodeRef:
    """A node of the graph by kind and name; `feature_view.driver_hourly_stats` in the manifest."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.name}"

    @property
    def label(self) -> str:
        return f"{self.kind.replace('_', ' ')} '{self.name}'"


def node_refs(graph: FeatureGraph) -> list[NodeRef]:
    """Every node in the graph's stable order (by kind, then name)."""
    return [NodeRef(kind, node.name) for kind, nodes in graph.by_kind() for node in nodes]


def direct_dependencies(graph: FeatureGraph, node: Node) -> tuple[NodeRef, ...]:
    """What a node reads, sorted. A dataset built from a service depends on the service (and through
    it on the views); one built from a feature list depends on the views directly."""
    found: set[NodeRef] = set()
    if isinstance(node, FeatureView):
        found.add(NodeRef("push_source", node.push_source) if node.push_source else NodeRef("source", node.source))
        found.update(NodeRef("entity", e) for e in node.entities)
    elif isinstance(node, PushSource):
        found.add(NodeRef("source", node.batch_source))
    elif isinstance(node, FeatureService):
        found.update(_input_ref(graph, p.view) for p in node.projections)
    elif isinstance(node, Dataset):
        if node.service:
            found.add(NodeRef("feature_service", node.service))
        else:
            found.update(_input_ref(graph, p.view) for p in node.projections)
        if node.spine.kind == "source":
            found.add(NodeRef("source", node.spine.locator))
    elif isinstance(node, DataTest):
        found.add(NodeRef(node.parent_kind, node.parent))
    elif isinstance(node, OnDemandView):
        found.update(_input_ref(graph, name) for name in node.inputs)
    return tuple(sorted(found))


def _input_ref(graph: FeatureGraph, name: str) -> NodeRef:
    """An on-demand view's input by the kind that has the name (the parser keeps the names distinct)."""
    kind = next((k for k in ("feature_view", "request_source", "on_demand_view") if graph.get(k, name)),
                "feature_view")
    return NodeRef(kind, name)


@dataclass(frozen=True)
class DependencyGraph:
    upstream: Mapping[NodeRef, tuple[NodeRef, ...]]
    downstream: Mapping[NodeRef, tuple[NodeRef, ...]]

    @classmethod
    def of(cls, graph: FeatureGraph) -> DependencyGraph:
        upstream = {NodeRef(kind, node.name): direct_dependencies(graph, node)
                    for kind, nodes in graph.by_kind() for node in nodes}
        downstream: dict[NodeRef, list[NodeRef]] = defaultdict(list)
        for node, parents in upstream.items():
            for parent in parents:
                downstream[parent].append(node)
        return cls(upstream, {n: tuple(sorted(c)) for n, c in downstream.items()})

    def closure(self, start: Iterable[NodeRef], direction: str) -> set[NodeRef]:
        edges = self.upstream if direction == "up" else self.downstream
        seen = set(start)
        stack = list(seen)
        while stack:
            for nxt in edges.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return seen


@dataclass(frozen=True)
class Atom:
    text: str          # as written, for messages
    method: str        # "name", "tag" or "state"
    value: str
    tag_value: str | None = None
    upstream: bool = False
    downstream: bool = False


def parse_selector(spec: str) -> tuple[list[list[Atom]], list[Diagnostic]]:
    """A selector string as a union of intersections of atoms, plus its syntax problems."""
    groups: list[list[Atom]] = []
    problems: list[Diagnostic] = []
    for term in spec.split():
        group = []
        for part in term.split(","):
            atom = _parse_atom(part, term)
            if isinstance(atom, Diagnostic):
                problems.append(atom)
            else:
                group.append(atom)
        groups.append(group)
    return groups, problems


def _parse_atom(text: str, term: str) -> Atom | Diagnostic:
    core = text
    upstream = core.startswith("+")
    core = core[1:] if upstream else core
    downstream = core.endswith("+")
    core = core[:-1] if downstream else core
    if not core or "+" in core:
        return Diagnostic(Code.BAD_ARGUMENT, f"selector '{term}': '{text}' is not a node name, tag:key or "
                          "tag:key=value", None, "write name, +name, name+, tag:key or tag:key=value; "
                          "separate alternatives by spaces and intersect with commas (no spaces)")
    method, sep, rest = core.partition(":")
    if not sep:
        return Atom(text, "name", core, None, upstream, downstream)
    if method == "state":
        if rest != "modified":
            return Diagnostic(Code.BAD_ARGUMENT, f"selector '{term}': unknown state selector '{core}'", None,
                              "the state selector is state:modified (with --state DIR)")
        return Atom(text, "state", rest, None, upstream, downstream)
    if method != "tag" or not rest:
        hint = did_you_mean(method, ["tag", "state"]) or "the selector methods are tag: (tag:key or tag:key=value) " \
            "and state:modified"
        return Diagnostic(Code.BAD_ARGUMENT, f"selector '{term}': unknown selector method '{method}:'",
                          None, hint)
    key, eq, value = rest.partition("=")
    if not key or (eq and not value):
        return Diagnostic(Code.BAD_ARGUMENT, f"selector '{term}': '{text}' needs a tag key, and a value after '='",
                          None, "write tag:key or tag:key=value")
    return Atom(text, "tag", key, value if eq else None, upstream, downstream)


# The nodes `state:modified` names, asked for only when a selector holds it (it compiles the project).
ModifiedNodes = Callable[[], Collection[NodeRef]]


def select_nodes(graph: FeatureGraph, select: Sequence[str] = (), exclude: Sequence[str] = (),
                 state: ModifiedNodes | None = None) -> list[NodeRef]:
    """The nodes `select` names (every node when it is empty) minus those `exclude` names, in the
    graph's order. Raises `DiagnosticError` with every problem of every selector. `state` gives the
    modified nodes for `state:modified` (None: no `--state` was given)."""
    deps = DependencyGraph.of(graph)
    problems: list[Diagnostic] = []
    chosen = _evaluate(graph, deps, select, problems, state) if _has_terms(select) else set(node_refs(graph))
    dropped = _evaluate(graph, deps, exclude, problems, state)
    if problems:
        raise DiagnosticError(problems)
    return [ref for ref in node_refs(graph) if ref in chosen and ref not in dropped]


def _has_terms(specs: Sequence[str]) -> bool:
    return any(spec.split() for spec in specs)


def _evaluate(graph: FeatureGraph, deps: DependencyGraph, specs: Sequence[str],
              problems: list[Diagnostic], state: ModifiedNodes | None = None) -> set[NodeRef]:
    result: set[NodeRef] = set()
    for spec in specs:
        groups, syntax = parse_selector(spec)
        problems.extend(syntax)
        for group in groups:
            sets = [_evaluate_atom(graph, deps, atom, problems, state) for atom in group]
            if sets and len(sets) == len(group):
                result |= set.intersection(*sets)
    return result


def _evaluate_atom(graph: FeatureGraph, deps: DependencyGraph, atom: Atom,
                   problems: list[Diagnostic], state: ModifiedNodes | None = None) -> set[NodeRef]:
    refs = node_refs(graph)
    if atom.method == "state":
        if state is None:
            problems.append(Diagnostic(Code.BAD_ARGUMENT, f"selector '{atom.text}' needs --state DIR", None,
                                       "give --state the target/ folder of the build to compare with "
                                       "(e.g. main's, downloaded by CI)"))
        base = set(state()) & set(refs) if state is not None else set()
    elif atom.method == "name":
        base = {r for r in refs if r.name == atom.value}
        if not base:
            names = [r.name for r in refs]
            problems.append(Diagnostic(Code.BAD_ARGUMENT, f"selector '{atom.text}': no node is named '{atom.value}'",
                                       None, did_you_mean(atom.value, names) or known_names_hint("node", names)))
    else:
        base = _tagged(graph, atom, problems)
    result = set(base)
    if atom.upstream:
        result |= deps.closure(base, "up")
    if atom.downstream:
        result |= deps.closure(base, "down")
    return result


def _tagged(graph: FeatureGraph, atom: Atom, problems: list[Diagnostic]) -> set[NodeRef]:
    values: dict[str, set[str]] = defaultdict(set)
    found: set[NodeRef] = set()
    for kind, nodes in graph.by_kind():
        for node in nodes:
            tags = dict(node.tags)
            for key, value in tags.items():
                values[key].add(value)
            if atom.value in tags and (atom.tag_value is None or tags[atom.value] == atom.tag_value):
                found.add(NodeRef(kind, node.name))
    if found:
        return found
    if atom.value not in values:
        by_value = sorted(f"tag:{k}={v}" for k, vs in values.items() for v in vs if v == atom.value)
        hint = (f"'{atom.value}' is a tag value: did you mean '{by_value[0]}'?" if by_value
                else did_you_mean(atom.value, values) or known_names_hint("tag key", list(values)))
        problems.append(Diagnostic(Code.BAD_ARGUMENT, f"selector '{atom.text}': no node has a tag '{atom.value}'",
                                   None, hint))
    else:
        known = sorted(values[atom.value])
        close = did_you_mean(atom.tag_value or "", known)
        hint = (close.replace("'", f"'tag:{atom.value}=", 1) if close
                else known_names_hint(f"value of tag '{atom.value}'", known))
        problems.append(Diagnostic(Code.BAD_ARGUMENT, f"selector '{atom.text}': no node is tagged "
                                   f"{atom.value}={atom.tag_value}", None, hint))
    return found

