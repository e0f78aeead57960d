"""Resolve structurally valid spec items into the typed, frozen `FeatureGraph`.

Checks that need more than one item live here: duplicate names across files, references between
kinds, identifier safety, ttl, and feature-name collisions. Items that failed the structural checks are
left out of the graph but their names stay known, so one typo does not cascade into many errors.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TypeVar

from fcompile.diagnostics import (
    Code, Diagnostic, DiagnosticError, DiagnosticSink, Position, display_path, reference_hint,
)
from fcompile.graph import (
    Dataset, DatasetOutput, Entity, Feature, FeatureGraph, FeatureService, FeatureView, JoinKey,
    OnDemandView, ProjectInfo, Projection, PushSource, RequestSource, Source, Spine, Tags,
)
from fcompile.parser.aggregations import resolve_aggregations
from fcompile.parser.drift import feature_drift, view_drift
from fcompile.parser.positioned_yaml import PathKey, YamlDocument
from fcompile.parser.structure import LIST_LABELS
from fcompile.parser.values import ValueProblem, identifier_problems, parse_dtype, parse_duration

if TYPE_CHECKING:
    from fcompile.parser.cache import ParseCache

T = TypeVar("T")


@dataclass(frozen=True)
class SpecItem:
    """One entry of a spec list, with the document it came from and its path inside it."""

    kind: str  # the list name: entities, sources, ...
    data: dict
    doc: YamlDocument
    path: PathKey
    valid: bool

    @property
    def name(self) -> str | None:
        name = self.data.get("name") if isinstance(self.data, dict) else None
        return name if isinstance(name, str) else None

    def at(self, *sub: str | int) -> Position:
        return self.doc.position(self.path + sub)

    @property
    def label(self) -> str:
        return f"{LIST_LABELS[self.kind]} '{self.name}'"


def iter_items(doc: YamlDocument, invalid_paths: set[PathKey]) -> Iterator[SpecItem]:
    if not isinstance(doc.data, dict):
        return
    for kind in LIST_LABELS:
        items = doc.data.get(kind)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            path = (kind, i)
            yield SpecItem(kind, item if isinstance(item, dict) else {}, doc, path, path not in invalid_paths)


@dataclass(frozen=True)
class RequestItem(SpecItem):
    """A feature list that comes from outside the spec files (an SDK call, the command line)."""

    request_label: str = "the request"

    @property
    def label(self) -> str:
        return self.request_label


# A source's fields that name one of its columns: their values' positions are kept on the Source
SOURCE_COLUMN_FIELDS = ("timestamp_field", "created_timestamp_field", "tie_breaker")
FEATURE_REF_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*:([A-Za-z_][A-Za-z0-9_]*|\*)")


def resolve_feature_references(graph: FeatureGraph, references: Sequence[str],
                               label: str = "the request") -> tuple[Projection, ...]:
    """`view:feature` (or `view:*`) references, resolved as a feature service's `features:` list is:
    request order kept, consecutive references to one view merged. Raises `DiagnosticError` with every
    problem (FC090 malformed, FC032 unknown view, FC033 unknown feature, FC021 requested twice)."""
    problems = [Diagnostic(Code.BAD_ARGUMENT, f"{label}: {ref!r} is not a feature reference", None,
                           "write view:feature, or view:* for every feature of a view")
                for ref in references if not isinstance(ref, str) or not FEATURE_REF_RE.fullmatch(ref)]
    if not references:
        problems.append(Diagnostic(Code.BAD_ARGUMENT, f"{label} names no feature", None,
                                   "pass features=['view:feature', ...] or service='name'"))
    sink = DiagnosticSink()
    wellformed = [ref for ref in references if isinstance(ref, str) and FEATURE_REF_RE.fullmatch(ref)]
    data = {"name": label, "features": wellformed}
    item = RequestItem("feature_services", data, YamlDocument("", data), (), True, label)
    projections = Resolver.over_graph(graph, sink)._projections(item, ("features",))
    # positions and "first requested at line ..." hints point into no file: drop them
    problems += [replace(d, position=None, hint=None if d.code is Code.DUPLICATE_MEMBER else d.hint)
                 for d in sink.items]
    if projections is None or problems:
        raise DiagnosticError(problems)
    return projections


class Resolver:
    def __init__(self, project: ProjectInfo, items: list[SpecItem], sink: DiagnosticSink,
                 unread_files: tuple[str, ...] = (), cache: ParseCache | None = None):
        """`unread_files`: spec files (relative paths) that could not be read (not YAML, not UTF-8); the hint
        of an unknown reference names them, as they may define what it names. `cache`: where the results of
        checks that load a large library are remembered between parses."""
        self.project = project
        self.cache = cache
        self.sink = sink
        self.unread_files = unread_files
        self.items = items
        self.known: dict[str, dict[str, SpecItem]] = {kind: {} for kind in LIST_LABELS}
        self.entities: dict[str, Entity] = {}
        self.sources: dict[str, Source] = {}
        self.push_sources: dict[str, PushSource] = {}
        self.views: dict[str, FeatureView] = {}
        self.services: dict[str, FeatureService] = {}
        self.datasets: dict[str, Dataset] = {}
        self.request_sources: dict[str, RequestSource] = {}
        self.on_demand_views: dict[str, OnDemandView] = {}

    def remembered(self, key: tuple, compute: Callable[[], T | None]) -> T | None:
        """`compute()`, or its result kept from an earlier parse (fcompile/parser/cache.py)."""
        return compute() if self.cache is None else self.cache.remembered(key, compute)

    @classmethod
    def over_graph(cls, graph: FeatureGraph, sink: DiagnosticSink) -> Resolver:
        """A resolver that knows a finished graph's views and services, to resolve references made
        outside the spec files the way references inside them are."""
        resolver = cls(graph.project, [], sink)
        resolver.views = {v.name: v for v in graph.feature_views}
        resolver.services = {s.name: s for s in graph.feature_services}
        resolver.known["feature_views"] = resolver.views  # type: ignore[assignment]  # only names are read
        resolver.known["feature_services"] = resolver.services  # type: ignore[assignment]
        resolver.known["on_demand_views"] = {v.name: v for v in graph.on_demand_views}  # type: ignore[misc]
        resolver.on_demand_views = {v.name: v for v in graph.on_demand_views}
        return resolver

    # -- entry point ---------------------------------------------------------------------------

    def resolve(self) -> FeatureGraph:
        self._register_names()
        self._build("entities", self._entity, self.entities)
        self._build("sources", self._source, self.sources, lambda item: not _is_push(item))
        self._build("sources", self._push_source, self.push_sources, _is_push)  # after the sources they name
        self._build("feature_views", self._feature_view, self.views)
        from fcompile.parser.on_demand_views import (  # issue 17
            check_shared_names, resolve_on_demand_views, resolve_request_source,
        )

        check_shared_names(self)
        self._build("request_sources", lambda item: resolve_request_source(self, item), self.request_sources)
        self.on_demand_views.update(resolve_on_demand_views(self))
        self._build("feature_services", self._feature_service, self.services)
        self._build("datasets", self._dataset, self.datasets)
        from fcompile.parser.data_tests import resolve_data_tests  # issue 18

        tests = resolve_data_tests(self)
        return FeatureGraph(
            project=self.project,
            entities=_sorted(self.entities),
            sources=_sorted(self.sources),
            push_sources=_sorted(self.push_sources),
            feature_views=_sorted(self.views),
            feature_services=_sorted(self.services),
            datasets=_sorted(self.datasets),
            tests=tests,
            request_sources=_sorted(self.request_sources),
            on_demand_views=_sorted(self.on_demand_views),
        )

    def _register_names(self) -> None:
        for item in self.items:
            name = item.name
            if name is None:
                continue
            first = self.known[item.kind].get(name)
            if first is not None:
                self.sink.error(Code.DUPLICATE_NAME, f"{item.label} is defined twice",
                                item.at("name"), f"first defined at {self._relative(first.at('name'))}; "
                                "rename one of them")
                continue
            self.known[item.kind][name] = item
            if item.valid:
                self._check_name(item.name, item, ("name",))

    def _build(self, kind: str, build: Callable[[SpecItem], Any], into: dict[str, Any],
               accept: Callable[[SpecItem], bool] = lambda item: True) -> None:
        for name, item in self.known[kind].items():
            if item.valid and accept(item):
                node = build(item)
                if node is not None:
                    into[name] = node

    # -- per kind ------------------------------------------------------------------------------

    def _entity(self, item: SpecItem) -> Entity | None:
        keys: list[JoinKey] = []
        seen: set[str] = set()
        for i, raw in enumerate(item.data["join_keys"]):
            if raw["name"] in seen:
                self.sink.error(Code.DUPLICATE_MEMBER, f"{item.label} lists join key '{raw['name']}' twice",
                                item.at("join_keys", i, "name"))
                continue
            seen.add(raw["name"])
            self._check_name(raw["name"], item, ("join_keys", i, "name"))
            dtype = self._dtype(raw["dtype"], item, ("join_keys", i, "dtype"))
            if dtype is not None:
                if dtype.is_array:
                    self.sink.error(Code.BAD_DTYPE, f"{item.label}: join key '{raw['name']}' cannot be an array",
                                    item.at("join_keys", i, "dtype"), "join keys are scalars: int64, string, ...")
                keys.append(JoinKey(raw["name"], dtype, raw.get("description", "")))
        return Entity(item.data["name"], tuple(keys), **_common(item))

    def _source(self, item: SpecItem) -> Source:
        data = item.data
        kind = next(k for k in ("path", "table", "query") if k in data)
        mapping = data.get("field_mapping") or {}
        for column, target in mapping.items():
            self._check_name(target, item, ("field_mapping", column))
        return Source(
            name=data["name"], kind=kind, locator=data[kind],
            timestamp_field=data["timestamp_field"],
            created_timestamp_field=data.get("created_timestamp_field"),
            field_mapping=tuple(sorted(mapping.items())),
            tie_breaker=data.get("tie_breaker"),
            _column_locations=tuple((name, item.at(name)) for name in SOURCE_COLUMN_FIELDS if name in data),
            **_common(item),
        )

    def _push_source(self, item: SpecItem) -> PushSource | None:
        """A push source names an ordinary source as its batch source (where its rows are kept)."""
        batch_name = item.data["push"]["batch_source"]
        where = ("push", "batch_source")
        target = self.known["sources"].get(batch_name)
        if target is None:
            ordinary = [name for name, other in self.known["sources"].items() if not _is_push(other)]
            self.sink.error(Code.UNKNOWN_SOURCE, f"{item.label}: its batch_source '{batch_name}' is not a source",
                            item.at(*where), reference_hint(batch_name, "source", ordinary))
            return None
        if _is_push(target):
            hint = "name an ordinary source (one with path, table or query), where pushed rows are kept"
            behind = target.data.get("push") if isinstance(target.data.get("push"), dict) else {}
            if isinstance(behind.get("batch_source"), str) and behind["batch_source"] != item.name:
                hint = f"did you mean '{behind['batch_source']}', the batch source of '{batch_name}'?"
            self.sink.error(Code.PUSH_SOURCE_KIND, f"{item.label}: its batch_source '{batch_name}' is a push source",
                            item.at(*where), hint)
            return None
        return PushSource(item.data["name"], batch_name, **_common(item))

    def _readable_source(self, name: str) -> tuple[str, str | None]:
        """The ordinary source a reference reads, and the push source it named (None if it named none).
        A broken push source stays as named: the graph is not built then."""
        push = self.push_sources.get(name)
        return (push.batch_source, name) if push is not None else (name, None)

    def _feature_view(self, item: SpecItem) -> FeatureView | None:
        data = item.data
        ok = True
        key_names: dict[str, str] = {}
        for i, entity_name in enumerate(data["entities"]):
            if entity_name in data["entities"][:i]:
                self.sink.error(Code.DUPLICATE_MEMBER, f"{item.label} lists entity '{entity_name}' twice",
                                item.at("entities", i))
                ok = False
                continue
            entity = self._reference("entities", entity_name, item, ("entities", i))
            if entity is None:
                ok = False
                continue
            for key in (entity.join_keys if isinstance(entity, Entity) else ()):
                if key.name in key_names:
                    self.sink.error(Code.DUPLICATE_MEMBER,
                                    f"{item.label}: entities '{key_names[key.name]}' and '{entity_name}' "
                                    f"both have join key '{key.name}'", item.at("entities", i),
                                    "a view's entities need distinct join key names")
                    ok = False
                key_names[key.name] = entity_name
        if self._reference("sources", data["source"], item, ("source",)) is None:
            ok = False
        ttl = None
        if "ttl" in data:
            try:
                ttl = parse_duration(data["ttl"])
            except ValueProblem as problem:
                self._problem(problem, item.at("ttl"), item)
                ok = False
            else:
                if ttl.total_seconds() <= 0:
                    self.sink.error(Code.NON_POSITIVE_TTL, f"{item.label}: ttl must be positive, got '{data['ttl']}'",
                                    item.at("ttl"), "omit ttl for an unbounded look-back")
                    ok = False
                elif ttl.microseconds:
                    self.sink.error(Code.BAD_DURATION,
                                    f"{item.label}: ttl must be a whole number of seconds, got '{data['ttl']}'",
                                    item.at("ttl"), "warehouses compare ttl bounds in whole seconds")
                    ok = False
        lateness = self._lateness(item)
        ok = ok and lateness is not None
        features: list[Feature] = []
        seen: dict[str, int] = {}  # each feature's name: the line it is first listed at
        if "features" not in data and "aggregations" not in data:
            self.sink.error(Code.AGGREGATE_FEATURES, f"{item.label} has neither features nor aggregations",
                            item.at("name"), "add 'features:' (columns of the source), 'aggregations:', or both")
            ok = False
        for i, raw in enumerate(data.get("features") or ()):
            name = raw["name"]
            if name in seen:
                self.sink.error(Code.DUPLICATE_MEMBER, f"{item.label} lists feature '{name}' twice",
                                item.at("features", i, "name"),
                                f"it is first listed at line {seen[name]}; rename or remove one of them")
                ok = False
                continue
            seen[name] = item.at("features", i, "name").line
            if name in key_names:
                self.sink.error(Code.DUPLICATE_MEMBER,
                                f"{item.label}: feature '{name}' has the name of a join key",
                                item.at("features", i, "name"),
                                "rename the feature, or map the source column with field_mapping")
                ok = False
            self._check_name(name, item, ("features", i, "name"))
            dtype = self._dtype(raw["dtype"], item, ("features", i, "dtype"))
            if dtype is None:
                ok = False
                continue
            feature = Feature(name, dtype, raw.get("description", ""), _tags(raw))
            drift_ok, drift = feature_drift(item, self.sink, i, feature)
            ok = ok and drift_ok
            features.append(replace(feature, drift=drift) if drift is not None else feature)
        aggregated = None
        if "aggregations" in data:
            taken = {**{k: f"join key '{k}'" for k in key_names},
                     **{f.name: f"feature '{f.name}' (line {seen[f.name]})" for f in features}}
            aggregated = resolve_aggregations(item, self.sink, taken, {f.name: f.dtype for f in features})
            ok = ok and aggregated is not None
        view_drift_ok, drift = view_drift(item, self.sink, features)
        ok = ok and view_drift_ok
        schema = data.get("schema")
        if schema is not None and features:
            ok = self._feature_schema(item, schema, [f.name for f in features]) and ok
        if not ok:
            return None
        if data.get("strategy") == "range" and ttl is None:
            self.sink.warning(Code.UNBOUNDED_RANGE_JOIN,
                              f"{item.label}: strategy 'range' without a ttl makes every earlier row of a key a "
                              "candidate for each spine point", item.at("strategy"),
                              "set a ttl, or use strategy asof or window (what fcompile picks without a ttl)")
        source, push_source = self._readable_source(data["source"])
        return FeatureView(
            name=data["name"], entities=tuple(data["entities"]), source=source,
            features=tuple(features) + (aggregated.features if aggregated else ()), ttl=ttl,
            online=data.get("online", True),
            lateness=lateness or dt.timedelta(0), push_source=push_source, strategy=data.get("strategy"),
            aggregation_step=aggregated.step if aggregated else None,
            _aggregation_locations=aggregated.locations if aggregated else (),
            schema=schema, drift=drift,
            **_common(item),
        )

    def _feature_schema(self, item: SpecItem, given: str, feature_names: list[str]) -> bool:
        """Check the view's `schema:` file: it exists and is a TFDV Schema text proto (errors), and names only
        the view's features (warnings). A readable file's warnings are remembered by its content (reading
        it loads tensorflow-metadata)."""
        from fcompile.parser.feature_schemas import check_schema_features, read_feature_schema, schema_file_digest
        from fcompile.user_paths import resolve_path

        absolute = resolve_path(given, self.project.root)
        errors: list[Diagnostic] = []

        def check() -> tuple[Diagnostic, ...] | None:
            schema, problems = read_feature_schema(self.project.root, given, item.at("schema"))
            errors.extend(problems)
            if schema is None:
                return None
            # a feature the view no longer has: a warning, so that removing a feature is one change (and
            # `fcompile test` reports it as SCHEMA_MISSING_COLUMN until the schema follows)
            return tuple(check_schema_features(schema, feature_names, absolute, item.label))

        digest = schema_file_digest(absolute)
        warnings = check() if digest is None else self.remembered(
            ("feature schema", absolute, digest, given, item.at("schema"), tuple(feature_names), item.label), check)
        for problem in errors:
            self.sink.error(problem.code, problem.message, problem.position, problem.hint)
        for problem in warnings or ():
            self.sink.warning(problem.code, problem.message, problem.position, problem.hint)
        return warnings is not None

    def _lateness(self, item: SpecItem) -> dt.timedelta | None:
        """The view's `lateness` (0 when omitted), or None after reporting why it is invalid. Durations
        have no sign, so a negative one is an invalid duration, as a negative ttl is."""
        text = item.data.get("lateness")
        if text is None:
            return dt.timedelta(0)
        try:
            return parse_duration(text)
        except ValueProblem as problem:
            self._problem(problem, item.at("lateness"), item)
            return None

    def _feature_service(self, item: SpecItem) -> FeatureService | None:
        projections = self._projections(item, ("features",))
        if projections is None:
            return None
        if not self._check_collisions(item, projections, ("features",), full_feature_names=None):
            return None
        return FeatureService(item.data["name"], projections, **_common(item))

    def _dataset(self, item: SpecItem) -> Dataset | None:
        data = item.data
        spine_raw = data["spine"]
        if isinstance(spine_raw, str):
            if self._reference("sources", spine_raw, item, ("spine",)) is None:
                return None
            source_name, _ = self._readable_source(spine_raw)
            spine = Spine("source", source_name, self._source_timestamp(source_name))
        else:
            kind = next(k for k in ("path", "table", "query") if k in spine_raw)
            spine = Spine(kind, spine_raw[kind], spine_raw.get("timestamp_field", "event_timestamp"))
        full = bool(data.get("full_feature_names", False))
        service = data.get("service")
        if service is not None:
            node = self._reference("feature_services", service, item, ("service",))
            if node is None:
                return None
            if not isinstance(node, FeatureService):
                return None  # the service itself has errors, already reported
            projections = node.projections
            if not self._check_collisions(item, projections, ("service",), full_feature_names=full):
                return None
        else:
            projections = self._projections(item, ("features",))
            if projections is None or not self._check_collisions(item, projections, ("features",), full):
                return None
        out_kind = "table" if "table" in data["output"] else "path"
        return Dataset(
            name=data["name"], spine=spine, output=DatasetOutput(out_kind, data["output"][out_kind]),
            service=service, projections=projections, full_feature_names=full, **_common(item),
        )

    # -- shared pieces -------------------------------------------------------------------------

    def _projections(self, item: SpecItem, field: PathKey) -> tuple[Projection, ...] | None:
        """Resolve feature references in request order; consecutive refs to one view merge."""
        refs: list[tuple[str, str, str | None, PathKey]] = []  # view, feature, alias, sub-path
        ok = True
        for i, raw in enumerate(item.data[field[0]]):
            if isinstance(raw, str):
                view_name, feature = raw.split(":", 1)
                wanted, alias = ([] if feature == "*" else [feature]), None
            else:
                view_name, wanted, alias = raw["view"], list(raw.get("features") or []), raw.get("alias")
                if alias is not None:
                    self._check_name(alias, item, (*field, i, "alias"))
            view = self._reference("feature_views", view_name, item, (*field, i))
            if not isinstance(view, (FeatureView, OnDemandView)):
                ok = False
                continue
            for j, feature in enumerate(wanted or list(view.feature_names)):
                if view.feature(feature) is None:
                    at = item.at(*field, i, "features", j) if isinstance(raw, dict) else item.at(*field, i)
                    self.sink.error(Code.UNKNOWN_FEATURE,
                                    f"{item.label}: feature view '{view_name}' has no feature '{feature}'", at,
                                    reference_hint(feature, "feature", view.feature_names))
                    ok = False
                    continue
                refs.append((view_name, feature, alias, (*field, i)))
        if not ok:
            return None
        seen: dict[tuple[str, str, str | None], PathKey] = {}
        merged: list[Projection] = []
        for view_name, feature, alias, where in refs:
            key = (view_name, feature, alias)
            if key in seen:
                self.sink.error(Code.DUPLICATE_MEMBER,
                                f"{item.label} requests '{view_name}:{feature}' twice", item.at(*where),
                                f"first requested at line {item.at(*seen[key]).line}")
                ok = False
                continue
            seen[key] = where
            last = merged[-1] if merged else None
            if last is not None and (last.view, last.alias) == (view_name, alias):
                merged[-1] = Projection(view_name, last.features + (feature,), alias)
            else:
                merged.append(Projection(view_name, (feature,), alias))
        return tuple(merged) if ok else None

    def _check_collisions(self, item: SpecItem, projections: tuple[Projection, ...], field: PathKey,
                          full_feature_names: bool | None) -> bool:
        """Output column names must be unique. A service (full_feature_names=None) may leave plain
        names colliding only where every colliding projection is aliased (it is then meant for full
        feature names); a dataset checks the names it will really produce."""
        modes = [True, False] if full_feature_names is None else [full_feature_names]
        ok = True
        for full in modes:
            owners: dict[str, list[Projection]] = {}
            for projection in projections:
                for name in projection.output_names(full):
                    owners.setdefault(name, []).append(projection)
            for name, owning in owners.items():
                if len(owning) < 2:
                    continue
                if full_feature_names is None and not full and all(p.alias for p in owning):
                    continue
                views = " and ".join(f"'{p.view}'" + (f" (alias '{p.alias}')" if p.alias else "") for p in owning)
                hint = ("alias the views ({view: ..., features: [...], alias: ...}) and use full_feature_names"
                        if not full else "give one of the projections a distinct alias")
                self.sink.error(Code.FEATURE_NAME_COLLISION,
                                f"{item.label}: output column '{name}' comes from both {views}",
                                item.at(*field), hint)
                ok = False
            if not ok:
                break
        return ok

    def _reference(self, kind: str, name: str, item: SpecItem, sub: PathKey) -> Any:
        """The referenced node if it resolved; True-ish marker if it exists but is broken; else None."""
        target = self.known[kind].get(name)
        if target is None and kind == "feature_views" and name in self.known.get("on_demand_views", {}):
            # a service, dataset or request takes an on-demand view's features as it takes a feature view's
            return self.on_demand_views.get(name, _BROKEN)
        if target is None:
            code = {"entities": Code.UNKNOWN_ENTITY, "sources": Code.UNKNOWN_SOURCE,
                    "feature_views": Code.UNKNOWN_VIEW, "feature_services": Code.UNKNOWN_SERVICE}[kind]
            label = LIST_LABELS[kind]
            candidates = list(self.known[kind])
            if kind == "feature_views":  # a feature reference may name an on-demand view too
                candidates += list(self.known.get("on_demand_views", {}))
            hint = reference_hint(name, label, candidates)
            if self.unread_files:  # the name may be defined there: say so before listing what is known
                unread = ", ".join(self.unread_files[:3]) + (", ..." if len(self.unread_files) > 3 else "")
                its = "its error" if len(self.unread_files) == 1 else "their errors"
                hint = f"{unread} could not be read (see {its}) and may define it; {hint}"
            self.sink.error(code, f"{item.label} refers to unknown {label} '{name}'", item.at(*sub), hint)
            return None
        built = {"entities": self.entities, "sources": self.sources, "feature_views": self.views,
                 "feature_services": self.services}[kind].get(name)
        if built is None and kind == "sources":
            built = self.push_sources.get(name)
        return built if built is not None else _BROKEN

    def _source_timestamp(self, name: str) -> str:
        source = self.sources.get(name)
        return source.timestamp_field if source else "event_timestamp"

    def _dtype(self, text: str, item: SpecItem, sub: PathKey):
        try:
            return parse_dtype(text)
        except ValueProblem as problem:
            self._problem(problem, item.at(*sub), item)
            return None

    def _relative(self, position: Position) -> str:
        return str(Position(display_path(position.path, self.project.root), position.line, position.column))

    def _check_name(self, name: str, item: SpecItem, sub: PathKey) -> None:
        for problem in identifier_problems(name):
            self.sink.error(problem.code, f"name {problem.message}", item.at(*sub), problem.hint)

    def _problem(self, problem: ValueProblem, where: Position, item: SpecItem) -> None:
        self.sink.error(problem.code, f"{item.label}: {problem.message}", where, problem.hint)


_BROKEN = object()  # a reference to a node that exists but failed its own checks (already reported)


def _is_push(item: SpecItem) -> bool:
    return "push" in item.data


def _tags(data: dict) -> Tags:
    raw = data.get("tags")
    if not raw:
        return ()
    return tuple(sorted((str(k), _tag_text(v)) for k, v in raw.items()))


def _tag_text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _common(item: SpecItem) -> dict[str, Any]:
    data = item.data
    return {"description": data.get("description", ""), "tags": _tags(data),
            "owner": data.get("owner", ""), "location": item.at("name")}


def _sorted(nodes: dict[str, Any]) -> tuple:
    return tuple(nodes[name] for name in sorted(nodes))
