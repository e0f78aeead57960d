"""Resolve request sources and on-demand views (issue 17) into graph nodes.

A request source lists typed fields. An on-demand view names its inputs (feature views, request sources,
other on-demand views) and each feature's `expr`, checked by fcompile/expressions/check.py against the
inputs' names: every problem points at the column inside the `expr` string where it is written. On-demand
views that read each other in a cycle are refused (FC145), naming the cycle.
"""

from __future__ import annotations

from typing import Any

from fcompile.diagnostics import Code, reference_hint
from fcompile.graph import DType, OnDemandFeature, OnDemandView, RequestField, RequestSource
from fcompile.parser.data_tests import _inside

# The resolver (fcompile/parser/resolve.py) and its spec items are passed in, typed Any: that module imports
# this one.
Resolver = SpecItem = Any

# The kinds an on-demand view's `inputs` may name, in the order a name is looked up.
INPUT_KINDS = ("feature_views", "request_sources", "on_demand_views")
# Names shared by the kinds a service or an input list refers to by name alone
SHARED_NAMESPACE = ("feature_views", "request_sources", "on_demand_views")


def check_shared_names(resolver: Resolver) -> None:
    """A feature view, request source and on-demand view may not share a name: inputs and `view:feature`
    references name them alone (FC020)."""
    owners: dict[str, SpecItem] = {}
    for kind in SHARED_NAMESPACE:
        for name, item in resolver.known[kind].items():
            first = owners.get(name)
            if first is not None:
                resolver.sink.error(Code.DUPLICATE_NAME, f"{item.label} has the name of {first.label}",
                                    item.at("name"), f"defined at {resolver._relative(first.at('name'))}; "
                                    "rename one of them: inputs and feature references name them alone")
                continue
            owners[name] = item


def resolve_request_source(resolver: Resolver, item: SpecItem) -> RequestSource | None:
    fields: list[RequestField] = []
    seen: set[str] = set()
    ok = True
    for i, raw in enumerate(item.data["fields"]):
        if raw["name"] in seen:
            resolver.sink.error(Code.DUPLICATE_MEMBER, f"{item.label} lists field '{raw['name']}' twice",
                                item.at("fields", i, "name"))
            ok = False
            continue
        seen.add(raw["name"])
        resolver._check_name(raw["name"], item, ("fields", i, "name"))
        dtype = resolver._dtype(raw["dtype"], item, ("fields", i, "dtype"))
        if dtype is None:
            ok = False
            continue
        fields.append(RequestField(raw["name"], dtype, raw.get("description", "")))
    if not ok:
        return None
    return RequestSource(item.data["name"], tuple(fields), **_common(item))


def resolve_on_demand_views(resolver: Resolver) -> dict[str, OnDemandView]:
    """Every valid on-demand view, each after the on-demand views it reads."""
    items = {name: item for name, item in resolver.known["on_demand_views"].items() if item.valid}
    built: dict[str, OnDemandView | None] = {}
    visiting: list[str] = []

    def build(name: str) -> OnDemandView | None:
        if name in built:
            return built[name]
        visiting.append(name)
        item = items[name]
        for i, input_name in enumerate(item.data["inputs"]):
            if input_name in visiting:
                cycle = visiting[visiting.index(input_name):] + [input_name]
                resolver.sink.error(Code.ON_DEMAND_CYCLE,
                                    f"{item.label} reads itself through a cycle: {' -> '.join(cycle)}",
                                    item.at("inputs", i), "remove one of these inputs")
                built[name] = None
            elif input_name in items and input_name not in built:
                build(input_name)
        visiting.pop()
        if name not in built:
            built[name] = _on_demand_view(resolver, item, built)
        return built[name]

    for name in sorted(items):
        build(name)
    return {name: view for name, view in built.items() if view is not None}


def _on_demand_view(resolver: Resolver, item: SpecItem, built: dict) -> OnDemandView | None:
    qualified: dict[str, str] = {}
    bare: dict[str, list[str]] = {}
    ok = True
    duplicate = False
    for i, name in enumerate(item.data["inputs"]):
        if name in item.data["inputs"][:i]:
            resolver.sink.error(Code.DUPLICATE_MEMBER, f"{item.label} lists input '{name}' twice",
                                item.at("inputs", i))
            duplicate = True  # its features are checked all the same: the scope is complete
            continue
        kind = next((k for k in INPUT_KINDS if name in resolver.known[k]), None)
        if kind is None:
            known = [n for k in INPUT_KINDS for n in resolver.known[k]]
            resolver.sink.error(Code.UNKNOWN_VIEW, f"{item.label} refers to unknown input '{name}'",
                                item.at("inputs", i),
                                reference_hint(name, "feature view, request source or on-demand view", known))
            ok = False
            continue
        node = {"feature_views": resolver.views, "request_sources": resolver.request_sources,
                "on_demand_views": built}[kind].get(name)
        if node is None:
            ok = False  # it has errors of its own, already reported
            continue
        members = node.fields if kind == "request_sources" else node.features
        for member in members:
            qualified[f"{name}.{member.name}"] = str(member.dtype)
            bare.setdefault(member.name, []).append(f"{name}.{member.name}")
    if not ok:
        return None
    scope = (tuple(qualified.items()), tuple((k, tuple(v)) for k, v in bare.items()))  # in the inputs' order
    features: list[OnDemandFeature] = []
    seen: set[str] = set()
    for i, raw in enumerate(item.data["features"]):
        name = raw["name"]
        if name in seen:
            resolver.sink.error(Code.DUPLICATE_MEMBER, f"{item.label} lists feature '{name}' twice",
                                item.at("features", i, "name"))
            ok = False
            continue
        seen.add(name)
        resolver._check_name(name, item, ("features", i, "name"))
        dtype = resolver._dtype(raw["dtype"], item, ("features", i, "dtype"))
        if dtype is None:
            ok = False
            continue
        text = raw["expr"]
        node = resolver.remembered(("expression", text, scope, _declared(dtype)),
                                   lambda: _checked(resolver, item, i, name, text, scope, _declared(dtype)))
        if node is None:
            ok = False
            continue
        from fcompile.expressions.tree import columns

        features.append(OnDemandFeature(name, dtype, text, tuple(sorted(set(columns(node)))),
                                        raw.get("description", ""), _node=node))
    if not ok or duplicate:
        return None
    return OnDemandView(item.data["name"], tuple(item.data["inputs"]), tuple(features), **_common(item))


def _checked(resolver: Resolver, item: SpecItem, i: int, name: str, text: str, scope: tuple,
             declared: str) -> Any:
    """The feature's expression as a typed tree over the inputs `scope` lists (qualified names and their
    dtypes, bare names and what they may mean), or None after reporting each problem. The checker parses
    with sqlglot: an unchanged expression over unchanged inputs is remembered instead (parser/cache.py)."""
    from fcompile.expressions.check import ExpressionProblems, Scope, check_expression

    qualified, bare = scope
    try:
        return check_expression(text, Scope(dict(qualified), dict(bare)), declared)
    except ExpressionProblems as problems:
        for problem in problems.problems:
            resolver.sink.error(problem.code, f"{item.label}: feature '{name}': {problem.message}",
                                _inside(item.doc.path, item.at("features", i, "expr"), text, problem.offset),
                                problem.hint)
        return None


def _common(item: SpecItem) -> dict[str, Any]:
    data = item.data
    tags = tuple(sorted((str(k), str(v).lower() if isinstance(v, bool) else str(v))
                        for k, v in (data.get("tags") or {}).items()))
    return {"description": data.get("description", ""), "tags": tags, "owner": data.get("owner", ""),
            "location": item.at("name")}


def _declared(dtype: DType) -> str:
    """The dtype an expression must produce: its own name (an array or a date is refused by the checker)."""
    return str(dtype)
