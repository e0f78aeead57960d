"""Online reads: feature values of entities from the online store, with a status and an event time each
(docs/concepts/materialization.md; over HTTP, docs/reference/http-api.md).

A request (features or a service, and full_feature_names) is planned once into an `OnlineRequest`: which
views to read, with which keys, and where each value goes in the response. The SDK caches plans, so a call
costs the entity checks, the store's reads (one per view, made together: `OnlineStore.read_many`) and the
response's lists. A read runs in two halves around the store's: `plan_store_reads` and `finish_online_read`.

Statuses: `PRESENT`; `NOT_FOUND` when the store holds nothing for the key (a NULL key never matches);
`OUTSIDE_MAX_AGE` when `now - event_ts > ttl`. An outside-max-age value is returned as None (its event time
is kept): a training set computes NULL for it at that time, and a model must not be served what it was not
trained on (docs/concepts/point-in-time.md, consistency). The response mirrors Feast's: `to_dict()` is its SDK form, and
`to_http_dict()` its feature server's body, join keys first, then the features, column by column.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import numbers
import time
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, NamedTuple, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Severity, clipped, did_you_mean
from fcompile.graph import DType, FeatureGraph, FeatureView, Projection
from fcompile.online.statuses import NOT_FOUND, OUTSIDE_MAX_AGE, PRESENT, worst
from fcompile.online.tiles import TILES_FEATURE, StaleTiles, stale_tiles
from fcompile.online.values import datetime_from_micros, micros

if TYPE_CHECKING:
    from fcompile.online.base import OnlineStore, OnlineView

# How the surface a request came through writes an entity's values, for the examples hints give: the SDK's
# `entity_rows=[{...}]`, the CLI's `-e name=value`, the HTTP body's `"entities": {...}`.
Spelling = Literal["sdk", "cli", "http"]
NO_TIMESTAMP = "1970-01-01T00:00:00Z"  # Feast's event time for join keys and values not found
TIMESTAMP_SUFFIX = "__ts"  # to_dict(include_event_timestamps=True): each value's event time, as Feast names it
_UTC = dt.timezone.utc


@dataclass(frozen=True)
class ViewRead:
    """One store read per view: the keys it needs (positions in the request's keys) and its features."""

    view: OnlineView
    key_positions: tuple[int, ...]
    features: tuple[str, ...]                  # store names, each once
    max_age: dt.timedelta | None
    # a view's aggregated features (`view` then names them and their dtypes): how its tiles are kept and merged
    # (fcompile/online/tiles.py), and the merge of the requested features; None for plain features
    tiles: Any = None
    merge: Any = None
    window_us: int = 0  # the longest window of the requested aggregated features, in microseconds
    # one key, whose request column is checked as the view's own key dtype: its values are read as they are
    key_as_checked: bool = False
    max_age_us: int | None = field(init=False)  # max_age in microseconds, for the integer compare of a read

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_age_us", None if self.max_age is None else
                           self.max_age // dt.timedelta(microseconds=1))


@dataclass(frozen=True)
class Computed:
    """One on-demand feature the request computes (an output, or an input of one), after the store reads.
    `sources`, one per name its expression reads: ("read", read index, the feature's slot in the read's rows
    (`OnlineRequest.slots`)), ("field", request
    field name) or ("computed", index of an earlier `Computed`)."""

    column: Any  # fcompile.expressions.on_demand.OnDemandColumn: compiled once, on first use, then kept
    sources: tuple[tuple[Any, ...], ...]
    names: tuple[str, ...] = field(init=False)  # the name each source is read under, as `column.inputs` has it

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(name for name, _, _ in self.column.inputs))


@dataclass(frozen=True)
class OnlineRequest:
    keys: tuple[tuple[str, DType], ...]        # every join key the request needs, in order of first use
    reads: tuple[ViewRead, ...]
    # (output name, read index, stored feature), in request order; an on-demand feature's read index is
    # -1 - its index in `computed`, and its stored feature is its name
    outputs: tuple[tuple[str, int, str], ...]
    label: str
    fields: tuple[tuple[str, DType], ...] = ()  # request fields the on-demand features read (not join keys)
    computed: tuple[Computed, ...] = ()         # in evaluation order: a feature after those it reads
    # the project's other request fields: a request may send them (as a client sends one set of fields for
    # every model); they are not read
    other_fields: frozenset[str] = frozenset()
    key_names: tuple[str, ...] = field(init=False)
    feature_names: tuple[str, ...] = field(init=False)  # the features' output names
    field_names: frozenset[str] = field(init=False)
    # positions in a response's results (join keys first) of the features that hold floats or float arrays
    float_results: tuple[int, ...] = field(init=False)
    # per output, where its value sits in a row its read returns: (event time, values of the read's
    # features...), so 1 + the feature's index there; 0 for an on-demand feature
    slots: tuple[int, ...] = field(init=False)
    # the one join key of a request without request fields, and the check of its values: `check_entities`'
    # short way for entities that give just that key, every value already of its type
    single_key: tuple[str, Callable[[Any], Any]] | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "single_key", (self.keys[0][0], _CHECKS.get(self.keys[0][1].name, _accept))
                           if len(self.keys) == 1 and not self.fields else None)
        object.__setattr__(self, "key_names", tuple(name for name, _ in self.keys))
        object.__setattr__(self, "slots", tuple(0 if read < 0 else 1 + self.reads[read].features.index(feature)
                                                for _, read, feature in self.outputs))
        object.__setattr__(self, "feature_names", tuple(name for name, _, _ in self.outputs))
        object.__setattr__(self, "field_names", frozenset(name for name, _ in self.fields))
        dtypes = [dict(read.view.features) for read in self.reads]

        def floats(read: int, feature: str) -> bool:
            if read < 0:
                return self.computed[-1 - read].column.node.dtype == "float64"
            dtype = dtypes[read][feature]
            return (dtype.element or dtype).name in ("float32", "float64")

        object.__setattr__(self, "float_results", tuple(
            len(self.keys) + i for i, (_, read, feature) in enumerate(self.outputs) if floats(read, feature)))


def plan_online_request(graph: FeatureGraph, projections: Sequence[Projection], full_feature_names: bool,
                        online_view: Callable[[FeatureView], OnlineView], label: str = "the request") -> OnlineRequest:
    """Raises `DiagnosticError`: FC118 for a view that is not online, FC070 for colliding output names,
    FC184 for a request field that cannot take its value from the request's rows.

    An on-demand feature (docs/concepts/on-demand-features.md) reads the feature view features its expression
    needs (requested or not: one store read per view all the same), the request fields from the request's
    rows, and other on-demand features, each computed once per request."""
    problems: list[Diagnostic] = []
    keys: dict[str, DType] = {}
    per_view: dict[tuple[str, bool], list[str]] = {}  # (view, aggregated) -> features
    wanted: list[tuple[str, Any, str]] = []  # (output name, (view, aggregated) or computed index, feature)
    fields: dict[str, tuple[DType, str]] = {}  # request field -> (dtype, request source)
    computed: list[tuple[Any, list[tuple[Any, ...]]]] = []  # (OnDemandColumn, sources naming slots)
    computed_index: dict[tuple[str, str], int] = {}
    refused: set[str] = set()

    def served(view: FeatureView, reader: str | None) -> bool:
        """Whether the view can be read online; its join keys join the request's."""
        if view.name in refused:
            return False
        why = "" if reader is None else f" (on-demand feature '{reader}' reads it)"
        if not view.online:
            refused.add(view.name)
            problems.append(Diagnostic(
                Code.VIEW_NOT_ONLINE, f"{label}: feature view '{view.name}' is not loaded into the online store "
                f"(online: false){why}", view.location, "set `online: true` and run `fcompile materialize`, or "
                "read it offline with get_historical_features"))
            return False
        for key in graph.join_keys(view):
            keys.setdefault(key.name, key.dtype)
        return True

    def slot_of(view: FeatureView, feature: str) -> tuple[str, bool]:
        node = view.feature(feature)
        slot = (view.name, node is not None and node.aggregation is not None)
        features = per_view.setdefault(slot, [])
        if feature not in features:
            features.append(feature)
        return slot

    def compute(view_name: str, feature_name: str) -> int | None:
        """The index of the on-demand feature in `computed`, planned with what it reads (None: refused)."""
        found = computed_index.get((view_name, feature_name), -1)
        if found != -1:
            return found
        from fcompile.expressions.on_demand import OnDemandColumn

        view = graph.on_demand_view(view_name)
        feature = view.feature(feature_name)
        assert feature is not None  # the resolver checked the reference
        reader = f"{view_name}:{feature_name}"
        sources: list[tuple[Any, ...]] = []
        inputs: list[tuple[str, str, str]] = []
        usable = True
        for read in feature.reads:
            source, name = read.split(".", 1)
            if graph.get("feature_view", source) is not None:
                input_view = graph.feature_view(source)
                if not served(input_view, reader):
                    usable = False
                    continue
                sources.append(("read", slot_of(input_view, name), name))
                dtype = str(input_view.feature(name).dtype)  # type: ignore[union-attr]
            elif graph.get("on_demand_view", source) is not None:
                index = compute(source, name)
                if index is None:
                    usable = False
                    continue
                sources.append(("computed", index))
                dtype = computed[index][0].node.dtype
            else:
                request_field = graph.request_source(source).field(name)
                assert request_field is not None
                known = fields.setdefault(name, (request_field.dtype, source))
                if known[0] != request_field.dtype:
                    problems.append(Diagnostic(
                        Code.REQUEST_FIELD_CONFLICT, f"{label}: request field '{name}' is {known[0]} in request "
                        f"source '{known[1]}' and {request_field.dtype} in '{source}', and a request's rows give "
                        "one value", view.location, "rename one of the two fields"))
                    usable = False
                    continue
                sources.append(("field", name))
                dtype = str(request_field.dtype)
            inputs.append((read, read, dtype))
        if not usable:
            computed_index[(view_name, feature_name)] = None  # type: ignore[assignment]
            return None
        computed_index[(view_name, feature_name)] = len(computed)
        computed.append((OnDemandColumn(feature_name, feature.node, tuple(inputs)), sources))
        return len(computed) - 1

    for projection in projections:
        if graph.get("on_demand_view", projection.view) is not None:
            for feature, output in zip(projection.features, projection.output_names(full_feature_names)):
                index = compute(projection.view, feature)
                if index is not None:
                    wanted.append((output, index, feature))
            continue
        view = graph.feature_view(projection.view)
        if not served(view, None):
            continue
        for feature, output in zip(projection.features, projection.output_names(full_feature_names)):
            wanted.append((output, slot_of(view, feature), feature))
    for name, (dtype, source) in fields.items():
        if name in keys and keys[name] != dtype:
            problems.append(Diagnostic(
                Code.REQUEST_FIELD_CONFLICT, f"{label}: request field '{name}' of '{source}' is {dtype}, but the "
                f"join key '{name}' it is named like is {keys[name]}", graph.request_source(source).location,
                "a request field named like a join key takes the key's value: give both one dtype, or rename "
                "the field"))
    owners: dict[str, str] = {name: "a join key" for name in keys}
    for output, slot, feature in wanted:
        view_name = _on_demand_view_of(computed_index, slot) if isinstance(slot, int) else slot[0]
        if output in owners:
            problems.append(Diagnostic(
                Code.FEATURE_NAME_COLLISION, f"{label}: output column '{output}' of '{view_name}:{feature}' "
                f"collides with {owners[output]}", None, "use full_feature_names, or alias a view in a service"))
        owners[output] = f"'{view_name}:{feature}'"
    if problems:
        raise DiagnosticError(problems)
    key_index = {name: i for i, name in enumerate(keys)}
    reads, read_index = [], {}
    for slot, features in per_view.items():
        view = graph.feature_view(slot[0])
        read_index[slot] = len(reads)
        join_keys = graph.join_keys(view)
        positions = tuple(key_index[k.name] for k in join_keys)
        if slot[1]:
            reads.append(_tile_read(graph, view, positions, tuple(features)))
        else:
            named = online_view(view)
            as_checked = len(positions) == 1 and keys[join_keys[0].name] == named.keys[0][1]
            reads.append(ViewRead(named, positions, tuple(features), view.ttl, key_as_checked=as_checked))
    planned = tuple(Computed(column, tuple(("read", read_index[s[1]], 1 + per_view[s[1]].index(s[2]))
                                           if s[0] == "read" else s for s in sources))
                    for column, sources in computed)
    outputs = tuple((output, -1 - slot if isinstance(slot, int) else read_index[slot], feature)
                    for output, slot, feature in wanted)
    request_fields = tuple((name, dtype) for name, (dtype, _) in fields.items() if name not in keys)
    others = frozenset(f.name for source in graph.request_sources for f in source.fields) - set(fields) - set(keys)
    return OnlineRequest(tuple(keys.items()), tuple(reads), outputs, label, request_fields, planned, others)


def _on_demand_view_of(index: dict[tuple[str, str], int | None], position: int) -> str:
    return next(view for (view, _), at in index.items() if at == position)


def _tile_read(graph: FeatureGraph, view: FeatureView, positions: tuple[int, ...], features: tuple[str, ...]) -> ViewRead:
    """The read of a view's aggregated features: its tiles, merged per request (fcompile/online/tiles.py)."""
    from fcompile.online import tile_spec
    from fcompile.online.base import OnlineView

    spec = tile_spec(graph, view)
    named = OnlineView(view.name, spec.online_view.keys, tuple((f, view.feature(f).dtype) for f in features),  # type: ignore[union-attr]
                       has_created=False)
    window_us = max(spec.features[f].window_steps for f in features) * spec.step_us
    return ViewRead(named, positions, features, view.ttl, spec, spec.reader(features), window_us)


def _tiles_fresh(store: OnlineStore, read: ViewRead, at: int, replay: bool) -> int | None:
    """The step of the view's watermark (None before its first materialization), for a read of its
    aggregated features at `at` (microseconds since the epoch). `replay`: `at` was given (not the current
    time), and may be earlier than the tiles the store keeps (FC183)."""
    state = store.cached_state(read.view.name)  # the watermark, re-read at most once a second
    fresh = None if state is None or state.watermark is None else _step_of(state.watermark, read.tiles.step_us)
    if replay and fresh is not None:
        _check_tiles_kept(read, at, fresh)
    return fresh


def _tile_rows(read: ViewRead, stored: list, fresh: int | None, at: int) -> list:
    """The requested aggregated features of each entity at `at`, from its stored tiles (`stored`, rows of
    the tiles' view), as rows of `OnlineStore.read_values`' form whose event time is the newest materialized
    step (`fresh`, the step of the view's watermark, or the entity's newest tile if later); an entity without
    tiles holds the values of an empty window once the view has been materialized, and is not found before."""
    spec, merge, features = read.tiles, read.merge, read.features
    ordered = _in_order(features)
    empty = None
    rows: list = []
    for row in stored:
        if row is None:
            if fresh is None:
                rows.append(None)
                continue
            if empty is None:
                empty = (fresh, *ordered(spec.empty_values(features)))
            rows.append(empty)
            continue
        try:
            tiles = spec.stored(row[1]) if row[1] else None
        except StaleTiles:
            raise stale_tiles(read.view.name) from None
        newest = fresh
        if tiles is not None and tiles.n:
            last = tiles.rows.item(0, tiles.n - 1)
            if newest is None or last > newest:
                newest = last
        values = merge(tiles, at) if tiles is not None and tiles.n else spec.empty_values(features)
        rows.append((newest if newest is not None else at, *ordered(values)))
    return rows


def _check_tiles_kept(read: ViewRead, at: int, fresh: int) -> None:
    """FC183 when the windows of the requested aggregated features at `at` reach before the tiles the store
    keeps: those of windows ending at or after `fresh`, the step of the view's watermark (its newest
    materialization drops older ones, tasks/materialize_tiles.py), so the merge would silently miss rows."""
    spec = read.tiles
    kept = spec.oldest_needed(fresh)  # the rule the materialization drops tiles by
    needed = at // spec.step_us * spec.step_us - read.window_us
    if needed >= kept:
        return
    shown = lambda us: datetime_from_micros(us).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    raise DiagnosticError([Diagnostic(
        Code.TILES_NOT_KEPT, f"feature view '{read.view.name}': a read as of {shown(at)} needs the tiles from "
        f"{shown(needed)}, and the online store keeps those from {shown(kept)} (what windows ending at or after its "
        f"newest materialization, {shown(fresh)}, read)", None,
        f"read as of {shown(fresh)} or later, or compute values for earlier times with a training set "
        "(fcompile get-historical-features)")])


@functools.lru_cache(maxsize=256)
def _in_order(features: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple]:
    """A function from a mapping of the features' values to the tuple of them, in `features` order."""
    if len(features) == 1:
        only = features[0]
        return lambda values: (values[only],)
    return itemgetter(*features)


@functools.lru_cache(maxsize=256)
def _step_of(moment: dt.datetime, step_us: int) -> int:
    """The first microsecond of the step holding `moment` (remembered: a view's watermark, read call after call)."""
    return micros(moment) // step_us * step_us


_NOW_SEEN: list = [None, 0]  # the last `now` given and its microseconds: a caller passes one `now` call after call


def _now_us(now: dt.datetime | None) -> int:
    """`now` (default: the current time) in microseconds since the epoch; a naive time is UTC."""
    if now is None:
        return time.time_ns() // 1000
    if now is _NOW_SEEN[0]:
        return _NOW_SEEN[1]
    found = micros(now)
    _NOW_SEEN[:] = now, found
    return found


class PlannedRead(NamedTuple):
    """An online read up to its store reads (`plan_store_reads`): the entities checked, and `reads`, what it
    asks the store, in `OnlineStore.read_many`'s form; `finish_online_read` makes the response from the
    rows they return. The feature server plans the small reads that arrive together, reads all their store
    reads at once (one round trip on Redis), then finishes each."""

    request: OnlineRequest
    columns: list[list]        # the join keys' checked values, in request.keys order
    field_columns: list[list]  # the request fields' checked values, in request.fields order
    count: int                 # entities
    now_us: int | None         # the read's time (when a ttl or a window needs it)
    reads: list[tuple]         # per view read: (view, keys, features, of_key)
    # per view read: None when its rows are the response's as they come, else (the positions asked, None for
    # every entity; the tile view's watermark step)
    places: list[tuple | None]


def plan_store_reads(store: OnlineStore, request: OnlineRequest, entities: Mapping[str, Sequence[Any]],
                     now: dt.datetime | None = None, spelling: Spelling = "sdk") -> PlannedRead:
    """The first half of `read_online_features`: raises its diagnostics for the entities, and FC183 for a
    window that reaches before the tiles kept. Asks the store only for a tile view's state (its watermark,
    cached)."""
    columns = check_entities(request, entities, spelling)
    count = len(columns[0]) if columns else 0
    field_columns: list[list] = []
    if request.fields:
        columns, field_columns = columns[:len(request.keys)], columns[len(request.keys):]
    now_us = None
    reads: list[tuple] = []
    places: list[tuple | None] = []
    for read in request.reads:
        fresh = None
        if read.tiles is not None:
            if now_us is None:
                now_us = _now_us(now)
            fresh = _tiles_fresh(store, read, now_us, now is not None)
            view, features = read.tiles.online_view, (TILES_FEATURE,)
        else:
            view, features = read.view, read.features
            if now_us is None and read.max_age_us is not None:
                now_us = _now_us(now)
        positions = read.key_positions
        if len(positions) == 1:
            column = columns[positions[0]]
            if read.key_as_checked and None not in column:  # the common read (plain): the key's values as they are
                reads.append((view, column, features, True))
                places.append(None)
                continue
            keys = [(column[0],)] if count == 1 else list(zip(column))  # 1-tuples, made in C
        else:
            keys = list(zip(*(columns[p] for p in positions)))
        asked = None
        if any(None in key for key in keys):  # a NULL key never matches (docs/concepts/point-in-time.md)
            asked = [i for i, key in enumerate(keys) if None not in key]  # ask only for the others
            keys = [keys[i] for i in asked]
        reads.append((view, keys, features, False))
        places.append(None if asked is None and read.tiles is None else (asked, fresh))
    return PlannedRead(request, columns, field_columns, count, now_us, reads, places)


def finish_online_read(planned: PlannedRead, fetched: Sequence[list]) -> OnlineResponse:
    """The second half of `read_online_features`: the response from the rows `planned.reads` returned."""
    request, columns, field_columns, count, now_us, _, places = planned
    per_read = []
    for read, rows, place in zip(request.reads, fetched, places):
        if place is not None:
            asked, fresh = place
            if read.tiles is not None:
                rows = _tile_rows(read, rows, fresh, now_us)
            if asked is not None:
                scattered = [None] * count
                for i, row in zip(asked, rows):
                    scattered[i] = row
                rows = scattered
        per_read.append((rows, None if read.max_age_us is None else _aged(rows, now_us - read.max_age_us)))
    if not request.computed:
        return OnlineResponse(request, columns, per_read)
    given = dict(zip(request.key_names, columns))
    if request.fields:
        given.update(zip((name for name, _ in request.fields), field_columns))
    return OnlineResponse(request, columns, per_read, _compute(request, per_read, given, count))


def read_online_features(store: OnlineStore, request: OnlineRequest, entities: Mapping[str, Sequence[Any]],
                         now: dt.datetime | None = None, spelling: Spelling = "sdk") -> OnlineResponse:
    """The request's features for the entities (`{join_key: [values]}`, every needed key, equal lengths).
    This is the serving path: the store's reads at once (one per view; `OnlineStore.read_many`) and no more
    Python per value than needed. `spelling`: how the examples of hints write entities (the surface the
    request came through)."""
    planned = plan_store_reads(store, request, entities, now, spelling)
    return finish_online_read(planned, store.read_many(planned.reads))


def _compute(request: OnlineRequest, per_read: list, given: dict[str, list], count: int) -> list:
    """Each on-demand feature's values and statuses, in `request.computed` order, vectorized over the
    entities (fcompile/expressions/on_demand.py): a feature view input that is not PRESENT enters as NULL;
    an on-demand input enters with its value (its expression is inlined in the training SQL, so a value
    computed from NULLs is a value there too) and passes its status on."""
    evaluate = _EVALUATION or _evaluation()
    compute_online, online_input, overflow = evaluate
    results: list[tuple[list, list[str]]] = []
    for item in request.computed:
        inputs = {}
        upstream = None
        for name, source in zip(item.names, item.sources):
            kind = source[0]
            if kind == "read":  # ("read", read index, slot in its rows)
                rows, aged = per_read[source[1]]
                inputs[name] = online_input(_column(rows, aged, source[2]), _statuses(rows, aged))
            elif kind == "field":
                inputs[name] = online_input(given[source[1]])
            else:
                values, statuses = results[source[1]]
                inputs[name] = online_input(values)
                if statuses.count(PRESENT) != len(statuses):
                    upstream = statuses if upstream is None else worst(upstream, statuses)
        try:
            values, statuses = compute_online(item.column, inputs, count)
        except overflow:
            raise DiagnosticError([Diagnostic(
                Code.EXPRESSION_OVERFLOW, f"{request.label}: on-demand feature '{item.column.name}' overflows "
                "int64 for these inputs (the training SQL fails on them too)", None,
                "CAST an operand to DOUBLE, or bound the inputs with LEAST/GREATEST")]) from None
        results.append((values, statuses if upstream is None else worst(statuses, upstream)))
    return results


_EVALUATION: tuple = ()


def _evaluation() -> tuple:
    """compute_online, OnlineInput and ExpressionOverflow, imported on first use (pyarrow is behind them) and
    kept: no import statement per request."""
    global _EVALUATION
    from fcompile.expressions.evaluate import ExpressionOverflow
    from fcompile.expressions.on_demand import OnlineInput, compute_online

    _EVALUATION = (compute_online, OnlineInput, ExpressionOverflow)
    return _EVALUATION


def _statuses(rows: list, aged: list[bool] | None) -> list[str] | None:
    """Per row of a view read, its status; None when every row is PRESENT."""
    if None not in rows and aged is None:
        return None
    if aged is None:
        return [NOT_FOUND if row is None else PRESENT for row in rows]
    return [NOT_FOUND if row is None else OUTSIDE_MAX_AGE if old else PRESENT for row, old in zip(rows, aged)]


def _aged(rows: list, oldest_us: int) -> list[bool] | None:
    """Per row whether it is older than the view's ttl (its event time before `oldest_us`: `now - event_ts >
    ttl`); None when none is."""
    if len(rows) == 1:
        row = rows[0]
        return [True] if row is not None and row[0] < oldest_us else None
    if rows and None not in rows and min(map(_FIRST, rows)) >= oldest_us:  # the common read: C loops
        return None
    aged = [row is not None and row[0] < oldest_us for row in rows]
    return aged if True in aged else None


_FIRST = itemgetter(0)
_STAMPS: dict[int, str] = {}


def _stamp(event_us: int) -> str:
    """An event time (microseconds since the epoch) in RFC 3339, UTC with a Z, as Feast's feature server
    writes event times (remembered: the same event times come back call after call)."""
    text = _STAMPS.get(event_us)
    if text is None:
        if len(_STAMPS) >= 65536:
            _STAMPS.clear()
        utc = datetime_from_micros(event_us)
        text = f"{utc:%Y-%m-%dT%H:%M:%S}" + (f".{utc.microsecond:06d}Z" if utc.microsecond else "Z")
        _STAMPS[event_us] = text
    return text


def _seconds(event_us: int) -> int:
    """Whole seconds since the epoch, truncated toward zero as `int(datetime.timestamp())` is."""
    return event_us // 1_000_000 if event_us >= 0 else -(-event_us // 1_000_000)


class OnlineResponse:
    """The values of one online read, join keys first, then the features in request order.

    `to_dict()` is Feast's SDK form, `{name: [value per entity]}`; `to_http_dict()` is the feature server's
    (and Feast's server's) response body, `{"metadata": {"feature_names": [...]}, "results": [{"values",
    "statuses", "event_timestamps"}, ...]}`, one result per name, with a status and an event time per value."""

    __slots__ = ("_request", "_keys", "_per_read", "_computed")

    def __init__(self, request: OnlineRequest, keys: list[list], per_read: list, computed: list = ()) -> None:
        self._request = request
        self._keys = keys
        self._per_read = per_read  # per view read: (stored rows or None, per row outside max age or None)
        # per on-demand feature: (values, statuses). Its value is returned whatever its status (what the
        # expression gives with NULL inputs is what the training SQL gives); its event time is Feast's none.
        self._computed = computed

    @property
    def feature_names(self) -> list[str]:
        return [*self._request.key_names, *self._request.feature_names]

    @property
    def key_names(self) -> tuple[str, ...]:
        """The join keys, the first columns of every form of the response."""
        return tuple(self._request.key_names)

    @property
    def float_results(self) -> tuple[int, ...]:
        """Positions in `to_http_dict()["results"]` of the features that hold floats (or arrays of them): the
        only ones that can hold NaN or an infinity (planned once per request shape)."""
        return self._request.float_results

    @property
    def float32_results(self) -> tuple[int, ...]:
        """Positions in `to_http_dict()["results"]` of the float32 features (or arrays of them), whose values
        are float32s widened to doubles: `fcompile.float32_text` prints them for people."""
        request = self._request
        found = []
        for i, (_, read, feature) in enumerate(request.outputs):
            dtype = dict(request.reads[read].view.features)[feature] if read >= 0 else None
            if dtype is not None and (dtype.element or dtype).name == "float32":
                found.append(len(request.keys) + i)
        return tuple(found)

    def to_dict(self, include_event_timestamps: bool = False) -> dict[str, list]:
        """Feast's `OnlineResponse.to_dict()`: `{name: [value per entity]}`, join keys first, then the features
        (None where a value is not PRESENT). With `include_event_timestamps`, each name is followed by
        `name__ts`: the event time of each value in whole seconds since the epoch (0 where there is none: join
        keys, and values not found)."""
        values = self.values()
        if not include_event_timestamps:
            return values
        seconds = [[0] * len(values[name]) for name in self._request.key_names]
        for _, read, _ in self._request.outputs:
            if read < 0:
                seconds.append([0] * len(self._computed[-1 - read][0]))
                continue
            rows, _ = self._per_read[read]
            seconds.append([0 if row is None else _seconds(row[0]) for row in rows])
        out: dict[str, list] = {}
        for (name, column), stamps in zip(values.items(), seconds):
            out[name] = column
            out[name + TIMESTAMP_SUFFIX] = stamps
        return out

    def to_http_dict(self) -> dict[str, Any]:
        """The feature server's response body. Feature values keep their Python types (a timestamp feature
        is a datetime); event times are RFC 3339 text. `to_http_json()` gives the same as JSON."""
        count = self._count()
        if count == 1:
            return self._one_entity()
        results = [{"values": list(values), "statuses": [PRESENT] * count, "event_timestamps": [NO_TIMESTAMP] * count}
                   for values in self._keys]
        columns = [_columns(rows, aged) for rows, aged in self._per_read]
        for (_, read, _), slot in zip(self._request.outputs, self._request.slots):
            if read < 0:
                values, statuses = self._computed[-1 - read]
                results.append({"values": list(values), "statuses": list(statuses),
                                "event_timestamps": [NO_TIMESTAMP] * count})
                continue
            statuses, stamps, stored, complete = columns[read]
            if complete:  # every entity PRESENT: one C loop
                values = list(map(itemgetter(slot), stored))
            else:
                values = [None if row is None else row[slot] for row in stored]
            results.append({"values": values, "statuses": statuses[:], "event_timestamps": stamps[:]})
        return {"metadata": {"feature_names": self.feature_names}, "results": results}

    def _one_entity(self) -> dict[str, Any]:
        """`to_http_dict()` for the common serving call, a single entity, without a loop per entity."""
        results = [{"values": [values[0]], "statuses": [PRESENT], "event_timestamps": [NO_TIMESTAMP]}
                   for values in self._keys]
        per_read = []
        for rows, aged in self._per_read:
            row = rows[0]
            if row is None:
                per_read.append((NOT_FOUND, NO_TIMESTAMP, None))
            elif aged is not None and aged[0]:
                per_read.append((OUTSIDE_MAX_AGE, _stamp(row[0]), None))
            else:
                per_read.append((PRESENT, _stamp(row[0]), row))
        for (_, read, _), slot in zip(self._request.outputs, self._request.slots):
            if read < 0:
                values, statuses = self._computed[-1 - read]
                results.append({"values": [values[0]], "statuses": [statuses[0]], "event_timestamps": [NO_TIMESTAMP]})
                continue
            status, stamp, stored = per_read[read]
            results.append({"values": [None if stored is None else stored[slot]], "statuses": [status],
                            "event_timestamps": [stamp]})
        return {"metadata": {"feature_names": self.feature_names}, "results": results}

    def _count(self) -> int:
        if self._keys:
            return len(self._keys[0])
        return len(self._computed[0][0]) if self._computed else 0  # on-demand features of request fields only

    def to_http_json(self, **dumps: Any) -> str:
        """`to_http_dict()` as JSON: dates and timestamps as ISO 8601, bytes as base64."""
        import json

        return json.dumps(self.to_http_dict(), default=_json_value, **dumps)

    def values(self) -> dict[str, list]:
        """`{name: [value per entity]}`: join keys, then the features (None where not PRESENT)."""
        request = self._request
        out = {name: list(values) for name, values in zip(request.key_names, self._keys)}
        per_read = self._per_read
        if self._count() == 1:  # the common call: no loop per entity
            for (name, read, _), slot in zip(request.outputs, request.slots):
                if read < 0:
                    out[name] = list(self._computed[-1 - read][0])
                    continue
                rows, aged = per_read[read]
                row = rows[0]
                out[name] = [None if row is None or aged is not None else row[slot]]
            return out
        transposed: list = [None] * len(per_read)  # per read whose every row is PRESENT: its columns
        for (name, read, _), slot in zip(request.outputs, request.slots):
            if read < 0:
                out[name] = list(self._computed[-1 - read][0])
                continue
            rows, aged = per_read[read]
            if aged is None and None not in rows:
                columns = transposed[read]
                if columns is None:
                    columns = transposed[read] = list(zip(*rows))
                out[name] = list(columns[slot])
            else:
                out[name] = _column(rows, aged, slot)
        return out

    def to_pandas(self, include_event_timestamps: bool = False):
        """One row per entity: the join keys, then the features (NULL where not PRESENT); the columns of
        `to_dict(include_event_timestamps)`."""
        try:
            import pandas as pd
        except ImportError:
            raise ModuleNotFoundError("to_pandas() needs pandas: pip install 'fcompile[pandas]'") from None
        return pd.DataFrame(self.to_dict(include_event_timestamps))

    to_df = to_pandas  # Feast's name

    def __repr__(self) -> str:
        count = self._count()
        return f"<OnlineResponse {count} entities x {len(self._request.outputs)} features>"


def _column(rows: list, aged: list[bool] | None, slot: int) -> list:
    """One feature's values (`slot`: its place in the read's rows): None where nothing is stored or the value
    is outside max age."""
    if aged is None:
        return [None if row is None else row[slot] for row in rows]
    return [None if row is None or old else row[slot] for row, old in zip(rows, aged)]


def _columns(rows: list, aged: list[bool] | None) -> tuple[list[str], list[str], list, bool]:
    """Per entity of one view read: the status, the event time, and the stored row (None where the
    status is not PRESENT); and whether every entity is PRESENT."""
    if aged is None and None not in rows:
        return [PRESENT] * len(rows), [_stamp(row[0]) for row in rows], rows, True
    statuses, stamps, stored = [], [], []
    for i, row in enumerate(rows):
        if row is None:
            statuses.append(NOT_FOUND)
            stamps.append(NO_TIMESTAMP)
            stored.append(None)
        else:
            old = aged is not None and aged[i]
            statuses.append(OUTSIDE_MAX_AGE if old else PRESENT)
            stamps.append(_stamp(row[0]))
            stored.append(None if old else row)
    return statuses, stamps, stored, False


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return _stamp(micros(value))  # naive: UTC
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# -- entity values ---------------------------------------------------------------------------------------

def check_entities(request: OnlineRequest, entities: Mapping[str, Sequence[Any]],
                   spelling: Spelling = "sdk") -> list[list]:
    """The request's key columns from `entities`, in `request.keys` order, each value checked against its
    key's dtype (numpy scalars become Python values). Raises FC117 naming the key, for every problem."""
    single = request.single_key
    if single is not None and type(entities) is dict and len(entities) == 1:
        given = entities.get(single[0])
        if type(given) is list:
            check = single[1]
            if len(given) > 1 and check is _INT64:  # a list of ints alone, in range: checked in C loops
                if set(map(type, given)) == _INTS and _INT64_LOW <= min(given) and max(given) <= _INT64_HIGH:
                    return [given[:]]
            else:
                for value in given:
                    if check(value) is not value:  # None, a value to convert, or one that does not fit
                        break
                else:
                    return [given[:]]
    if type(entities) is not dict and not isinstance(entities, Mapping):
        raise DiagnosticError([Diagnostic(Code.ENTITY_VALUE, f"entities must be a mapping of join key to a list "
                                          f"of values, not a {type(entities).__name__}", None,
                                          "e.g. entities={'driver_id': [1001, 1002]}")])
    problems: list[Diagnostic] = []
    columns: list[list] = []
    lengths: dict[str, int] = {}
    for name, dtype in request.keys:
        given = entities.get(name)
        if given is None:
            problems.append(Diagnostic(Code.ENTITY_VALUE, f"{request.label} needs join key '{name}' ({dtype}), "
                                       "which the entities do not give", None, _keys_hint(name, request, entities)))
            continue
        values = _checked_values(name, given, dtype, Code.ENTITY_VALUE, "join key", problems)
        if values is None:
            continue
        lengths[name] = len(values)
        columns.append(values)
    if request.fields:
        _check_fields(request, entities, columns, lengths, problems, spelling)
    extra = [name for name in entities if name not in request.key_names and name not in request.field_names
             and name not in request.other_fields] if len(entities) > len(columns) else ()
    for name in extra:
        if request.fields:
            wanted = [k for k, _ in request.keys] + [f for f, _ in request.fields]
            problems.append(Diagnostic(Code.ENTITY_VALUE, f"{request.label} takes no join key or request field "
                                       f"'{name}'", None, did_you_mean(name, wanted)
                                       or f"its join keys and request fields: {', '.join(wanted)}"))
            continue
        problems.append(Diagnostic(Code.ENTITY_VALUE, f"{request.label} takes no join key '{name}': none of its "
                                   "features is keyed by it", None,
                                   did_you_mean(name, [k for k, _ in request.keys])
                                   or f"its join keys: {', '.join(k for k, _ in request.keys)}"))
    if len(lengths) > 1 and len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}: {count}" for name, count in lengths.items())
        problems.append(Diagnostic(Code.ENTITY_VALUE, f"the join keys have different numbers of values ({shown})",
                                   None, "give one value per entity for every join key"))
    if problems:
        raise DiagnosticError(problems)
    return columns


def _checked_values(name: str, given: Any, dtype: DType, code: Code, what: str,
                    problems: list[Diagnostic]) -> list | None:
    """The values given for a join key or a request field (`what`) as a list, each fitted to `dtype`; None,
    with a problem (`code`) added, when they are not a list or one does not fit."""
    if type(given) is list or isinstance(given, (list, tuple)):
        values = list(given)
    elif hasattr(given, "tolist") and not isinstance(given, (str, bytes)):  # numpy array, pandas Series
        values = given.tolist()
    else:
        problems.append(Diagnostic(code, f"the values of {what} '{name}' must be a list, not a "
                                   f"{type(given).__name__}", None, f"e.g. {{'{name}': [{given!r}]}}"))
        return None
    check = _CHECKS.get(dtype.name, _accept)
    for i, value in enumerate(values):
        if value is None:
            continue
        fitted = check(value)
        if fitted is _MISFIT:
            subject = "entity value" if what == "join key" else "value"
            problems.append(Diagnostic(
                code, f"{subject} {value!r} of {what} '{name}' has type {type(value).__name__}, but the "
                f"{what.split()[-1]} is {dtype}", None, _dtype_hint(name, dtype)))
            return values  # reported once per column; the rest of the request is still checked
        if fitted is not value:
            values[i] = fitted
    return values


def _check_fields(request: OnlineRequest, entities: Mapping[str, Any], columns: list[list],
                  lengths: dict[str, int], problems: list[Diagnostic], spelling: Spelling) -> None:
    """The request fields' columns, appended to `columns` in `request.fields` order and checked against their
    dtypes as keys are: FC146 naming every field missing, FC185 for a value that does not fit."""
    missing = []
    for name, dtype in request.fields:
        given = entities.get(name)
        if given is None:
            missing.append(f"'{name}' ({dtype})")
            continue
        values = _checked_values(name, given, dtype, Code.REQUEST_FIELD_VALUE, "request field", problems)
        if values is None:
            continue
        lengths[name] = len(values)
        columns.append(values)
    if missing:
        problems.append(Diagnostic(
            Code.REQUEST_FIELDS_MISSING, f"{request.label} computes on-demand features from the request field"
            f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which the entities do not give", None,
            f"give each entity its request fields{' beside its join keys' if request.keys else ''}, e.g. "
            + _entity_example([*request.key_names, *(name for name, _ in request.fields)], entities, spelling)))


def _entity_example(names: Sequence[str], entities: Mapping[str, Any], spelling: Spelling) -> str:
    """One entity with values for `names`, as the surface writes it: the first value given for a name,
    else `...`."""
    import json

    def given(name: str) -> Any:
        values = entities.get(name)
        return values[0] if isinstance(values, (list, tuple)) and values and values[0] is not None else ...

    values = [(name, given(name)) for name in names]
    if spelling == "cli":
        return " ".join(f"-e {name}={'...' if value is ... else value}" for name, value in values)
    if spelling == "http":
        shown = (f"{json.dumps(name)}: [{'...' if value is ... else json.dumps(value, default=str)}]"
                 for name, value in values)
        return '{"entities": {' + ", ".join(shown) + "}, ...}"
    return "entity_rows=[{" + ", ".join(f"{name!r}: {'...' if value is ... else repr(value)}"
                                        for name, value in values) + "}]"


def entity_rows_as_columns(rows: Any) -> Mapping[str, Any]:
    """Feast's `entity_rows`, one mapping of join key to value per entity (`[{"driver_id": 1001}, ...]`),
    as entity columns (`{"driver_id": [1001, ...]}`); a mapping of columns is returned as it is. FC117
    when the rows are not mappings or do not all name the same keys."""
    if isinstance(rows, Mapping):
        return rows
    example = "e.g. entity_rows=[{'driver_id': 1001}, {'driver_id': 1002}]"
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise DiagnosticError([Diagnostic(Code.ENTITY_VALUE, f"entity_rows must be a list of mappings of join key "
                                          f"to value, not a {type(rows).__name__}", None, example)])
    columns: dict[str, list] | None = None  # keys from the first row that is a mapping
    first = 0
    problems: list[Diagnostic] = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            problems.append(Diagnostic(Code.ENTITY_VALUE, f"entity row {i} is a {type(row).__name__}, not a mapping "
                                       "of join key to value", None, example))
            continue
        if columns is None:
            columns, first = {name: [value] for name, value in row.items()}, i
            continue
        if row.keys() != columns.keys():
            shown = ", ".join(map(str, columns)) or "none"
            problems.append(Diagnostic(Code.ENTITY_VALUE, f"entity row {i} names the keys "
                                       f"{', '.join(map(str, row)) or 'none'}, but row {first} names {shown}", None,
                                       "give every entity row the same join keys"))
            continue
        for name, value in row.items():
            columns[name].append(value)
    if problems:
        raise DiagnosticError(problems[:10])  # the first few: a long list says no more
    return columns or {}


def _keys_hint(name: str, request: OnlineRequest, entities: Mapping[str, Any]) -> str:
    close = did_you_mean(name, [str(k) for k in entities])
    needed = ", ".join(k for k, _ in request.keys)
    return f"{close} the features asked for need the join keys: {needed}" if close \
        else f"the features asked for need the join keys: {needed}"


def _dtype_hint(name: str, dtype: DType) -> str:
    examples = {"int32": "an int", "int64": "an int", "float32": "a float", "float64": "a float",
                "string": "a str", "bool": "a bool", "bytes": "bytes", "date": "a datetime.date",
                "timestamp": "a datetime.datetime"}
    return f"pass {examples.get(dtype.name, 'a value of that type')} for each value of '{name}'"


_MISFIT = object()


def _integer(bits: int) -> Callable[[Any], Any]:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def check(value: Any) -> Any:
        if type(value) is not int:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                return _MISFIT
            value = int(value)
        return value if low <= value <= high else _MISFIT

    return check


def _float(value: Any) -> Any:
    if type(value) is float:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return _MISFIT
    return float(value)


def _exact(*types: type) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        return value if isinstance(value, types) else _MISFIT

    return check


def _bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    return bool(value) if type(value).__name__ == "bool_" else _MISFIT  # numpy.bool_


def _date(value: Any) -> Any:
    return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else _MISFIT


def _timestamp(value: Any) -> Any:
    if not isinstance(value, dt.datetime):
        return _MISFIT
    return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)


def _accept(value: Any) -> Any:
    return value


_INT64 = _integer(64)
_INTS = {int}
_INT64_LOW, _INT64_HIGH = -(1 << 63), (1 << 63) - 1
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "int32": _integer(32), "int64": _INT64, "float32": _float, "float64": _float, "string": _exact(str),
    "bytes": _exact(bytes), "bool": _bool, "date": _date, "timestamp": _timestamp,
}


def parse_entity_text(graph: FeatureGraph, pairs: Sequence[str]) -> dict[str, list]:
    """`key=value` pairs from the command line as entity columns, each value read as its key's dtype."""
    dtypes = {k.name: k.dtype for e in graph.entities for k in e.join_keys}
    keys = set(dtypes)  # a request field named like a join key takes the key's value (and type)
    for source in graph.request_sources:  # request fields, for on-demand features: -e order_amount=10.5
        for request_field in source.fields:
            dtypes.setdefault(request_field.name, request_field.dtype)
    columns: dict[str, list] = {}
    problems: list[Diagnostic] = []
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            problems.append(Diagnostic(Code.BAD_ARGUMENT, f"-e {pair!r} is not key=value", None,
                                       "e.g. -e driver_id=1001 (repeat -e for more entities)"))
            continue
        dtype = dtypes.get(name)
        if dtype is None:
            problems.append(Diagnostic(Code.ENTITY_VALUE, f"no entity has a join key '{name}', nor a request source "
                                       "a field of that name", None,
                                       did_you_mean(name, dtypes) or f"join keys and request fields: "
                                       f"{', '.join(sorted(dtypes))}"))
            continue
        try:
            columns.setdefault(name, []).append(_from_text(text, dtype))
        except ValueError:
            code, what = (Code.ENTITY_VALUE, "join key") if name in keys else (Code.REQUEST_FIELD_VALUE,
                                                                                "request field")
            problems.append(Diagnostic(code, f"-e {pair!r}: '{text}' is not a valid {dtype} for {what} '{name}'",
                                       None, _text_hint(dtype)))
    if problems:
        raise DiagnosticError(problems)
    return columns


def _from_text(text: str, dtype: DType) -> Any:
    name = dtype.name
    if name in ("int32", "int64"):
        return int(text)
    if name in ("float32", "float64"):
        return float(text)
    if name == "bool":
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return lowered in ("true", "1")
    if name == "date":
        return dt.date.fromisoformat(text)
    if name == "timestamp":
        return dt.datetime.fromisoformat(text)
    if name == "bytes":
        return text.encode("utf-8")
    return text


def _text_hint(dtype: DType) -> str:
    return {"int32": "an integer, e.g. 1001", "int64": "an integer, e.g. 1001", "float32": "a number",
            "float64": "a number", "bool": "true or false", "date": "a date, e.g. 2024-01-31",
            "timestamp": "an ISO 8601 time, e.g. 2024-01-31T12:00:00Z"}.get(dtype.name, "a value of that type")


def never_materialized(store: OnlineStore, views: Iterable[str], settings: Mapping[str, Any]) -> Diagnostic | None:
    """A warning (FC182) naming those of `views` (feature view names) that the online store has no state for -
    never materialized into it, so every value of theirs reads as NOT_FOUND - or None when there are none.
    `settings`: the target's online settings, to say which store it is (and, for SQLite, its path)."""
    never = [name for name in dict.fromkeys(views) if store.get_state(name) is None]
    if not never:
        return None
    from fcompile.online.base import views_text

    named = views_text(never)
    kind = str(settings.get("type") or "sqlite")
    path = settings.get("path") if kind == "sqlite" else None
    where = f" ({kind}{', ' + clipped(path) if path else ''})"
    return Diagnostic(Code.NOT_MATERIALIZED, f"{named} {'has' if len(never) == 1 else 'have'} never been materialized "
                      f"into this online store{where}: every value of {'it' if len(never) == 1 else 'them'} reads as "
                      "NOT_FOUND", None, "run `fcompile materialize`, or check the target's online store settings "
                      "(a SQLite path that does not exist yet is a new, empty database)", Severity.WARNING)
