"""The typed feature graph: what the project means once parsed and resolved.

Frozen dataclasses in a stable order (by name), each node with a content hash. This is the only thing
the planner and later stages see; none of them reaches back into YAML.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Literal, Mapping

from fcompile.diagnostics import Position

Tags = tuple[tuple[str, str], ...]
Settings = tuple[tuple[str, Any], ...]

SCALAR_DTYPES = ("bool", "int32", "int64", "float32", "float64", "string", "bytes", "date", "timestamp")


@dataclass(frozen=True, order=True)
class DType:
    """A feature or key type: a scalar name, or `array` with an element type."""

    name: str
    element: DType | None = None

    def __str__(self) -> str:
        return f"array<{self.element}>" if self.element is not None else self.name

    @property
    def is_array(self) -> bool:
        return self.element is not None


class _HashedNode:
    """A graph node's identity for plan and diff: what it means, not where it is written."""

    @property
    def content_hash(self) -> str:
        return content_hash(self)


@dataclass(frozen=True)
class JoinKey:
    name: str
    dtype: DType
    description: str = ""


@dataclass(frozen=True)
class Entity(_HashedNode):
    name: str
    join_keys: tuple[JoinKey, ...]
    description: str = ""
    tags: Tags = ()
    owner: str = ""
    location: Position | None = field(default=None, compare=False)

    @property
    def join_key(self) -> str:
        """The name of the entity's join key (Feast's `Entity.join_key`); an entity with several has no
        single one: use `join_keys`."""
        if len(self.join_keys) != 1:
            raise AttributeError(f"entity '{self.name}' has {len(self.join_keys)} join keys: use .join_keys")
        return self.join_keys[0].name


SourceKind = Literal["path", "table", "query"]
# How a view is joined to a training spine, when its spec says (fcompile/planner/plans.py `JoinStrategy`).
StrategyName = Literal["range", "asof", "window"]


@dataclass(frozen=True)
class Source(_HashedNode):
    name: str
    kind: SourceKind
    locator: str  # the path (relative to the project), the table name, or the query text
    timestamp_field: str
    created_timestamp_field: str | None = None
    field_mapping: tuple[tuple[str, str], ...] = ()  # (column in source, name in fcompile)
    description: str = ""
    tags: Tags = ()
    owner: str = ""
    location: Position | None = field(default=None, compare=False)
    # Rows equal in event and created time go to this column's greatest value (then each feature takes the
    # greatest of the rows still tied): docs/concepts/point-in-time.md.
    tie_breaker: str | None = None
    # The tie_breaker's type, as the source's columns give it at parse time (a Parquet footer, a seed file), or
    # where they cannot be read, the dtype of a plain feature of that name (fcompile/parser/tie_breakers.py):
    # online tiles keep it beside each `last` value to order pushed rows. Left out of the plain form when None.
    tie_breaker_dtype: DType | None = field(default=None, metadata={"omit_if_none": True})
    # Where the spec writes the value of each field that names a column (timestamp_field,
    # created_timestamp_field, tie_breaker): diagnostics about that column point there. Kept out of the
    # manifest and the content hash, like `location`.
    _column_locations: tuple[tuple[str, Position], ...] = field(default=(), repr=False, compare=False)

    def column_location(self, field_name: str) -> Position | None:
        """Where the spec writes the value of `field_name` (a field naming a column), else the source's name."""
        return dict(self._column_locations).get(field_name, self.location)


@dataclass(frozen=True)
class PushSource(_HashedNode):
    """A source that rows are pushed to (SDK `push`, the server's `POST /push`). It holds no data of its
    own: its schema, timestamp fields and field mapping are those of `batch_source`, an ordinary source,
    which is also where rows pushed offline are appended."""

    name: str
    batch_source: str
    description: str = ""
    tags: Tags = ()
    owner: str = ""
    location: Position | None = field(default=None, compare=False)


# The functions a windowed aggregation may compute (docs/concepts/aggregations.md). count_distinct is not
# one: an exact distinct count cannot be merged from per-step partial results without their value sets.
AGGREGATE_FUNCTIONS = ("count", "sum", "avg", "min", "max", "stddev", "variance", "last")
# Functions over numbers only, and whose result is a float64 whatever the input.
NUMERIC_FUNCTIONS = frozenset({"sum", "avg", "stddev", "variance"})
FLOAT_RESULT_FUNCTIONS = frozenset({"avg", "stddev", "variance"})
NUMERIC_DTYPES = frozenset({"int32", "int64", "float32", "float64"})


def aggregate_dtype(function: str, column_dtype: DType | None) -> DType | None:
    """The dtype an aggregation yields: count int64; avg, stddev, variance float64; sum int64 over integers and
    float64 over floats; min, max and last the column's. None when it depends on a column of unknown type."""
    if function == "count":
        return DType("int64")
    if function in FLOAT_RESULT_FUNCTIONS:
        return DType("float64")
    if column_dtype is None:
        return None
    if function == "sum":
        return DType("int64") if column_dtype.name in ("int32", "int64") else DType("float64")
    return column_dtype


@dataclass(frozen=True)
class Aggregation:
    """How an aggregated feature is computed: `function` over `column` (None: count rows) of the source rows
    of an entity with `e - window <= event time < e`, where `e` is the request time floored to the view's
    step (`FeatureView.aggregation_step`)."""

    function: str
    column: str | None
    window: dt.timedelta


DRIFT_METRICS = ("max_psi", "max_js", "max_linf", "max_null_fraction_diff")


@dataclass(frozen=True)
class DriftThresholds:
    """The drift a feature may show between a profile and a reference profile before `fcompile profile
    --compare` fails (issue 18): each threshold the spec writes, None where it writes none. `severity` None:
    the spec does not say (error, unless the view's `drift:` says warn)."""

    max_psi: float | None = None                 # population stability index (numbers, booleans)
    max_js: float | None = None                  # Jensen-Shannon divergence, base 2 (numbers, booleans)
    max_linf: float | None = None                # L-infinity distance of the top values' shares (strings)
    max_null_fraction_diff: float | None = None  # |NULL fraction - the reference's| (every feature)
    severity: Literal["error", "warn"] | None = None

    def thresholds(self) -> tuple[tuple[str, float], ...]:
        """(metric, threshold) of each threshold written, in DRIFT_METRICS order."""
        return tuple((name, getattr(self, name)) for name in DRIFT_METRICS if getattr(self, name) is not None)

    def over(self, base: DriftThresholds | None) -> DriftThresholds:
        """These thresholds on top of `base` (a view's): each one written here wins, the others are `base`'s."""
        if base is None:
            return self
        return DriftThresholds(*(getattr(self, name) if getattr(self, name) is not None else getattr(base, name)
                                 for name in (*DRIFT_METRICS, "severity")))


def drift_metrics_for(dtype: DType) -> tuple[str, ...]:
    """The drift thresholds that apply to a feature of `dtype`, as `fcompile profile` profiles it: numbers and
    booleans have a histogram (PSI, Jensen-Shannon), strings top values (L-infinity); every feature a NULL
    fraction. Arrays, bytes, times and dates: the NULL fraction only."""
    if not dtype.is_array and (dtype.name in NUMERIC_DTYPES or dtype.name == "bool"):
        return ("max_psi", "max_js", "max_null_fraction_diff")
    if not dtype.is_array and dtype.name == "string":
        return ("max_linf", "max_null_fraction_diff")
    return ("max_null_fraction_diff",)


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: DType
    description: str = ""
    tags: Tags = ()
    # Set for a feature declared under the view's `aggregations:`; None for a column looked up as it is.
    # Left out of the plain form (manifest, hashes) when None, so plain views read as before.
    aggregation: Aggregation | None = field(default=None, metadata={"omit_if_none": True})
    # The feature's own `drift:` thresholds (its view's apply too: `FeatureView.drift_of`); left out of the
    # plain form when None.
    drift: DriftThresholds | None = field(default=None, metadata={"omit_if_none": True})


@dataclass(frozen=True)
class FeatureView(_HashedNode):
    name: str
    entities: tuple[str, ...]
    source: str  # the ordinary source it reads (a push source named in the spec: its batch source)
    features: tuple[Feature, ...]
    ttl: dt.timedelta | None = None  # None = unbounded look-back
    online: bool = True
    lateness: dt.timedelta = dt.timedelta(0)  # incremental materialization restarts this long before the watermark
    push_source: str | None = None  # the push source the spec names as `source`, if it names one
    strategy: StrategyName | None = None  # the declared join strategy; None: the planner chooses by ttl
    description: str = ""
    tags: Tags = ()
    owner: str = ""
    location: Position | None = field(default=None, compare=False)
    # The step of the view's `aggregations:` (windows end on its multiples, counted from the Unix epoch in
    # UTC); None for a view without aggregated features. Left out of the plain form when None.
    aggregation_step: dt.timedelta | None = field(default=None, metadata={"omit_if_none": True})
    # Where the spec writes each aggregated feature's function, column and window, by feature name and field:
    # diagnostics about them point there. Kept out of the manifest and the content hash, like `location`.
    _aggregation_locations: tuple[tuple[str, str, Position], ...] = field(default=(), repr=False, compare=False)
    # The TFDV Schema (text proto) the spec names, relative to the project folder (issue 18); left out of the
    # plain form when None.
    schema: str | None = field(default=None, metadata={"omit_if_none": True})
    # The view's `drift:` thresholds, for each of its plain features of a kind they apply to (issue 18); left
    # out of the plain form when None.
    drift: DriftThresholds | None = field(default=None, metadata={"omit_if_none": True})

    def feature(self, name: str) -> Feature | None:
        return next((f for f in self.features if f.name == name), None)

    def drift_of(self, name: str) -> DriftThresholds | None:
        """The drift thresholds of feature `name`: its own over the view's (None when neither writes any)."""
        feature = self.feature(name)
        own = feature.drift if feature is not None else None
        return own.over(self.drift) if own is not None else self.drift

    @property
    def has_aggregations(self) -> bool:
        return self.aggregation_step is not None

    @property
    def plain_features(self) -> tuple[Feature, ...]:
        """The features looked up as they are in the source (not aggregated)."""
        return tuple(f for f in self.features if f.aggregation is None)

    @property
    def aggregated_features(self) -> tuple[Feature, ...]:
        return tuple(f for f in self.features if f.aggregation is not None)

    def aggregation_location(self, feature: str, field_name: str) -> Position | None:
        """Where the spec writes `field_name` (function, column, window, dtype, name) of an aggregated feature,
        else the view's name."""
        for name, key, position in self._aggregation_locations:
            if (name, key) == (feature, field_name):
                return position
        return self.location

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)


@dataclass(frozen=True)
class Projection:
    """Features taken from one view, in request order, optionally under another view name."""

    view: str
    features: tuple[str, ...]
    alias: str | None = None

    @property
    def prefix(self) -> str:
        return self.alias or self.view

    def output_names(self, full_feature_names: bool) -> tuple[str, ...]:
        if full_feature_names:
            return tuple(f"{self.prefix}__{f}" for f in self.features)
        return self.features


@dataclass(frozen=True)
class FeatureService(_HashedNode):
    name: str
    projections: tuple[Projection, ...]
    description: str = ""
    tags: Tags = ()
    owner: str = ""
    location: Position | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Spine:
    """The entity rows of a training set: a named source, or an inline path/table/query."""

    kind: Literal["source", "path", "table", "query"]
    locator: str
    timestamp_field: str = "event_timestamp"


@dataclass(frozen=True)
class DatasetOutput:
    kind: Literal["table", "path"]
    locator: str


@dataclass(frozen=True)
class Dataset(_HashedNode):
    name: str
    spine: Spine
    output: DatasetOutput
    service: str | None = None
    projections: tuple[Projection, ...] = ()  # resolved from `service` or `features`
    full_feature_names: bool = False
    description: str = ""
    tags: Tags = ()
    owner: str = ""
    location: Position | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Target:
    name: str
    offline: Settings
    online: Settings

    @property
    def offline_type(self) -> str:
        return dict(self.offline)["type"]


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    root: str
    target: Target
    target_names: tuple[str, ...]
    location: Position | None = field(default=None, compare=False)


TestSeverity = Literal["error", "warn"]


@dataclass(frozen=True)
class DataTest(_HashedNode):
    """A data test (issue 18): a check on a feature view's or a source's rows, compiled to a query that returns
    the failing rows (or the failing figure), named `<parent>__[<column>__]<kind>` by the parser."""

    name: str
    kind: str                 # not_null, range, accepted_values, unique, unique_key_time, freshness, row_count, ...
    parent_kind: Literal["feature_view", "source"]
    parent: str
    column: str | None = None  # the feature (or, for null_fraction, the feature) the test is on
    arguments: Settings = ()   # sorted (name, value): min, max, values, warn_after/error_after (seconds), expression
    severity: TestSeverity = "error"
    where: str | None = None   # a boolean filter over the parent's columns (fcompile/parser/data_tests.py)
    tags: Tags = ()            # none of their own: `fcompile test -s tag:x` runs the tests of the nodes tagged x
    description: str = ""
    owner: str = ""
    location: Position | None = field(default=None, compare=False)
    # Where the spec writes the `expression` argument and the `where` filter (by those names): diagnostics about
    # them point inside the text. Kept out of the manifest and the content hash, like `location`.
    _text_locations: tuple[tuple[str, Position], ...] = field(default=(), repr=False, compare=False)
    # The `expression` and `where` texts checked and typed (fcompile/expressions: `tree.Node`), by those names;
    # set by the parser once the source's columns are known, read by the planner.
    _nodes: tuple[tuple[str, Any], ...] = field(default=(), repr=False, compare=False)

    def argument(self, name: str, default: Any = None) -> Any:
        return dict(self.arguments).get(name, default)

    def text_location(self, name: str) -> Position | None:
        """Where the spec writes `expression` or `where` (else the test's own location)."""
        return dict(self._text_locations).get(name, self.location)

    def checked(self, name: str) -> Any:
        """The typed tree of `expression` or `where`, or None (none written, or not checked)."""
        return dict(self._nodes).get(name)


@dataclass(frozen=True)
class RequestField:
    name: str
    dtype: DType
    description: str = ""


@dataclass(frozen=True)
class RequestSource(_HashedNode):
    """Values the caller sends with each online request, and a training spine holds as columns (issue 17)."""

    name: str
    fields: tuple[RequestField, ...]
    description: str = ""
    tags: Tags = ()
    owner: str = ""
    location: Position | None = field(default=None, compare=False)

    def field(self, name: str) -> RequestField | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class OnDemandFeature:
    """A feature computed when asked, by `expr` (fcompile/expressions/) over its view's inputs. `reads`: the
    names the expression reads, each `input.name` (a feature of a view, or a field of a request source)."""

    name: str
    dtype: DType
    expr: str
    reads: tuple[str, ...] = ()
    description: str = ""
    # The checked expression (fcompile/expressions/tree.py), its columns named as in `reads`. Kept out of the
    # manifest and the content hash: `expr` says what it means.
    _node: Any = field(default=None, repr=False, compare=False)

    @property
    def node(self) -> Any:
        return self._node


@dataclass(frozen=True)
class OnDemandView(_HashedNode):
    """Features computed from other views' features and request fields (issue 17); `inputs` names feature
    views, request sources and other on-demand views."""

    name: str
    inputs: tuple[str, ...]
    features: tuple[OnDemandFeature, ...]
    description: str = ""
    tags: Tags = ()
    owner: str = ""
    location: Position | None = field(default=None, compare=False)

    def feature(self, name: str) -> OnDemandFeature | None:
        return next((f for f in self.features if f.name == name), None)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)


Node = (Entity | Source | PushSource | FeatureView | FeatureService | Dataset | DataTest | RequestSource
        | OnDemandView)

KINDS: dict[str, str] = {
    "entity": "entities",
    "source": "sources",
    "push_source": "push_sources",
    "feature_view": "feature_views",
    "feature_service": "feature_services",
    "dataset": "datasets",
    "test": "tests",
    "request_source": "request_sources",
    "on_demand_view": "on_demand_views",
}


@dataclass(frozen=True)
class FeatureGraph:
    project: ProjectInfo
    entities: tuple[Entity, ...] = ()
    sources: tuple[Source, ...] = ()
    push_sources: tuple[PushSource, ...] = ()
    feature_views: tuple[FeatureView, ...] = ()
    feature_services: tuple[FeatureService, ...] = ()
    datasets: tuple[Dataset, ...] = ()
    tests: tuple[DataTest, ...] = ()
    request_sources: tuple[RequestSource, ...] = ()
    on_demand_views: tuple[OnDemandView, ...] = ()
    _index: Mapping[tuple[str, str], Node] = field(default=None, init=False, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        index = {(kind, node.name): node for kind, nodes in self.by_kind() for node in nodes}
        object.__setattr__(self, "_index", index)

    def by_kind(self) -> Iterator[tuple[str, tuple[Node, ...]]]:
        for kind, attr in KINDS.items():
            yield kind, getattr(self, attr)

    def get(self, kind: str, name: str) -> Node | None:
        return self._index.get((kind, name))

    def entity(self, name: str) -> Entity:
        return self._index[("entity", name)]  # type: ignore[return-value]

    def source(self, name: str) -> Source:
        return self._index[("source", name)]  # type: ignore[return-value]

    def push_source(self, name: str) -> PushSource:
        return self._index[("push_source", name)]  # type: ignore[return-value]

    def push_views(self, push_source: str) -> tuple[FeatureView, ...]:
        """The feature views whose spec names this push source as their source, by name."""
        return tuple(v for v in self.feature_views if v.push_source == push_source)

    def feature_view(self, name: str) -> FeatureView:
        return self._index[("feature_view", name)]  # type: ignore[return-value]

    def feature_service(self, name: str) -> FeatureService:
        return self._index[("feature_service", name)]  # type: ignore[return-value]

    def dataset(self, name: str) -> Dataset:
        return self._index[("dataset", name)]  # type: ignore[return-value]

    def request_source(self, name: str) -> RequestSource:
        return self._index[("request_source", name)]  # type: ignore[return-value]

    def on_demand_view(self, name: str) -> OnDemandView:
        return self._index[("on_demand_view", name)]  # type: ignore[return-value]

    def join_keys(self, view: FeatureView) -> tuple[JoinKey, ...]:
        """The view's join keys, entity by entity, in declaration order."""
        return tuple(k for e in view.entities for k in self.entity(e).join_keys)


def to_plain(value: Any) -> Any:
    """A JSON-ready form of a graph value (used for hashes, the manifest and `ls --json`)."""
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, DType):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Position):
        return {"path": value.path, "line": value.line, "column": value.column}
    if hasattr(value, "__dataclass_fields__"):
        omitted = _omitted_if_none(type(value))
        return {name: to_plain(getattr(value, name)) for name in _public_fields(type(value))
                if not (name in omitted and getattr(value, name) is None)}
    if isinstance(value, (tuple, list)):
        return [to_plain(v) for v in value]
    return value


@functools.lru_cache(maxsize=None)
def _public_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if not f.name.startswith("_"))


@functools.lru_cache(maxsize=None)
def _omitted_if_none(cls: type) -> frozenset[str]:
    """Fields left out of the plain form when None: added after the manifest's shape was set, so that nodes
    that do not use them keep their plain form and content hash."""
    return frozenset(f.name for f in fields(cls) if f.metadata.get("omit_if_none"))


def content_hash(node: Any) -> str:
    """A hash of what a node means: stable across runs, blind to where it is written."""
    plain = to_plain(node)
    plain.pop("location", None)
    return hash_plain(plain)


def hash_plain(plain: dict) -> str:
    """The content hash of a node already in plain form, without its location."""
    blob = json.dumps(plain, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
