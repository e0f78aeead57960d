"""`fcompile profile --online --view V` (issue 18): training/serving skew. The values the online store holds
for a view's entities, set against the values a training set computes for the same entities at the same
time, feature by feature (docs/how-to/profiles.md).

1. Keys: the entity keys the store holds for the view (`OnlineStore.stored_keys`; a view with aggregations:
   the keys of its tiles too), all of them up to `limit`, a uniform random sample of `limit` beyond it
   (fcompile/online/key_samples.py: the same `seed` picks the same keys).
2. The time t: `at` when given, else the view's watermark - the time up to which `fcompile materialize` read
   its source. At the watermark, a store that materialization alone wrote holds what a training set
   computes; at a later time, rows that arrived since would show as skew that the next run removes.
3. Online: the regular online read of the keys at t (values outside the view's ttl at t are NULL; an
   aggregated feature is merged from its tiles for the windows ending at t).
4. Offline: one point-in-time training query on the target's engine, planned by the planner as for any
   training set, whose spine is the keys, each at t.
5. Per feature: the keys compared, those whose values differ (floats: by more than RELATIVE_TOLERANCE of the
   larger magnitude; NaN equals NaN), those with a value online and NULL or no row offline, and the other way
   round (NULL on both sides is equal), with a few of each as samples.

The report is written as JSON next to the view's profiles, `target/profiles/feature_view.<view>/skew-<UTC
time>.json`. Errors: FC196 for a `--view` that is no stored feature view (unknown, on-demand, `online:
false`), FC197 for a view never materialized into the store (without `--at`), FC198 for bad arguments.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, reference_hint
from fcompile.float32_text import float32_text
from fcompile.graph import DType, FeatureGraph, FeatureView, Projection
from fcompile.online.base import guard_store
from fcompile.online.values import as_utc
from fcompile.runners.base import Runner

if TYPE_CHECKING:
    from fcompile.online.base import OnlineStore

DEFAULT_LIMIT = 10_000        # keys compared: all of them up to this many, a random sample of this many beyond
RELATIVE_TOLERANCE = 1e-9     # two floats differ when |a - b| > RELATIVE_TOLERANCE * max(|a|, |b|)
SAMPLES_PER_FEATURE = 5       # differing keys shown per feature, with both values
SPINE_TIME = "event_timestamp"
UTC = dt.timezone.utc


@dataclass(frozen=True)
class DifferingKey:
    key: tuple[Any, ...]  # the join keys' values, in the view's order
    online: Any           # None: NULL, not found, or outside the ttl
    offline: Any          # None: NULL, or no row in the ttl


@dataclass(frozen=True)
class FeatureSkew:
    name: str
    dtype: DType
    compared: int
    values_differ: int  # a value on both sides, not equal
    online_only: int    # a value online; NULL or no row offline
    offline_only: int   # a value offline; NULL, not found or too old online
    samples: tuple[DifferingKey, ...]

    @property
    def differing(self) -> int:
        return self.values_differ + self.online_only + self.offline_only

    @property
    def share(self) -> float:
        return self.differing / self.compared if self.compared else 0.0


@dataclass(frozen=True)
class SkewReport:
    view: str
    at: dt.datetime
    at_basis: str                  # "--at", or "watermark"
    watermark: dt.datetime | None  # the view's, when it has one
    keys_held: int                 # keys the store listed for the view (exact when they all fit the limit)
    keys: tuple[str, ...]          # the join keys' names
    compared: int                  # keys compared (all held, or the sample)
    limit: int
    seed: int
    store: str                     # the online store's type
    dialect: str                   # the offline engine's
    features: tuple[FeatureSkew, ...]
    made_at: dt.datetime
    seconds: float
    # sampled keys that do not decode as the view's join keys (stored before their dtypes changed): not compared
    unreadable: int = 0

    @property
    def sampled(self) -> bool:
        return self.compared + self.unreadable < self.keys_held

    @property
    def worst_share(self) -> float:
        return max((f.share for f in self.features), default=0.0)


def check_skew_arguments(limit: int, max_mismatch: float | None, seed: int | None) -> None:
    """FC198 for a `--limit` below 1, a `--max-mismatch` outside [0, 1] or a negative `--seed`."""
    problems = []
    if limit < 1:
        problems.append(Diagnostic(Code.SKEW_ARGUMENT, f"--limit {limit}: the number of keys compared must be at "
                                   "least 1", None, f"e.g. --limit {DEFAULT_LIMIT} (the default)"))
    if max_mismatch is not None and not 0 <= max_mismatch <= 1:
        problems.append(Diagnostic(Code.SKEW_ARGUMENT, f"--max-mismatch {max_mismatch:g} is not a fraction between "
                                   "0 and 1", None, "e.g. --max-mismatch 0.01: fail when more than 1% of the keys "
                                   "differ in any feature"))
    if seed is not None and seed < 0:
        problems.append(Diagnostic(Code.SKEW_ARGUMENT, f"--seed {seed} is negative", None,
                                   "give a whole number from 0 up"))
    if problems:
        raise DiagnosticError(problems)


def skew_view(graph: FeatureGraph, name: str) -> FeatureView:
    """The feature view `--view` names. FC196 for an unknown name, an on-demand view (computed at request time,
    never stored) and a view with `online: false`."""
    if graph.get("on_demand_view", name) is not None:
        raise DiagnosticError([Diagnostic(
            Code.SKEW_VIEW, f"--view {name}: '{name}' is an on-demand view, computed when a request comes and never "
            "stored online, so there is nothing to compare", graph.on_demand_view(name).location,
            "compare the feature views it reads (its inputs) instead")])
    view = graph.get("feature_view", name)
    if view is None:
        known = [v.name for v in graph.feature_views if v.online]
        raise DiagnosticError([Diagnostic(Code.SKEW_VIEW, f"--view {name}: no feature view named '{name}'", None,
                                          reference_hint(name, "feature view", known))])
    if not view.online:  # type: ignore[union-attr]
        raise DiagnosticError([Diagnostic(
            Code.SKEW_VIEW, f"--view {name}: feature view '{name}' is not loaded into the online store (online: "
            "false)", view.location, "only views with `online: true` (the default) have online values to compare")])
    return view  # type: ignore[return-value]


def measure_skew(graph: FeatureGraph, runner: Runner, store: OnlineStore, view_name: str,
                 at: dt.datetime | None = None, limit: int = DEFAULT_LIMIT, seed: int | None = None) -> SkewReport:
    """The skew report of one view (see the module's docstring). Raises `DiagnosticError`: FC196-FC198, the
    store's FC113/FC114, the engine's errors."""
    from fcompile.online.key_samples import sample_keys
    from fcompile.online.keys import decode_key

    started = time.perf_counter()
    made_at = dt.datetime.now(UTC)
    check_skew_arguments(limit, None, seed)
    view = skew_view(graph, view_name)
    state = guard_store(store.get_state, view.name)
    watermark = as_utc(state.watermark) if state is not None and state.watermark is not None else None
    if at is None:
        if watermark is None:
            raise DiagnosticError([Diagnostic(
                Code.SKEW_NOT_MATERIALIZED, f"feature view '{view.name}' has not been materialized into the online "
                f"store of target '{graph.project.target.name}': it has no watermark to compare at", view.location,
                f"run `fcompile materialize --select {view.name}` first, or give the time to compare at with --at")])
        at, basis = watermark, "watermark"
    else:
        at, basis = as_utc(at), "--at"
    seed = secrets.randbits(32) if seed is None else seed
    join_keys = tuple((k.name, k.dtype) for k in graph.join_keys(view))
    sample = sample_keys(_stored_view_keys(graph, store, view), limit, seed)
    keys, unreadable = [], 0
    for key in sample.keys:
        try:
            keys.append(decode_key([d for _, d in join_keys], key))
        except (ValueError, IndexError, UnicodeDecodeError, struct.error):
            unreadable += 1
    names = tuple(f.name for f in view.features)
    online = _online_values(graph, store, view, join_keys, keys, at) if keys else {n: [] for n in names}
    offline = _offline_values(graph, runner, view, join_keys, keys, at) if keys else {n: [] for n in names}
    features = tuple(compare_feature(f.name, f.dtype, keys, online[f.name], offline[f.name]) for f in view.features)
    return SkewReport(view.name, at, basis, watermark, sample.listed, tuple(n for n, _ in join_keys), len(keys),
                      limit, seed, store.type_name, runner.dialect, features, made_at, time.perf_counter() - started,
                      unreadable)


def _stored_view_keys(graph: FeatureGraph, store: OnlineStore, view: FeatureView) -> Iterator[list[bytes]]:
    """The encoded keys the store holds for the view: its rows' (plain features), then those of its tiles
    (aggregated features) that have no row - each key once."""
    from fcompile.online import online_view, tile_spec
    from fcompile.online.keys import decode_key

    plain = online_view(graph, view) if view.plain_features else None
    if plain is not None:
        yield from guard_store(store.stored_keys, plain)
    if view.has_aggregations:
        tiles = tile_spec(graph, view).online_view
        dtypes = [d for _, d in tiles.keys]
        for chunk in guard_store(store.stored_keys, tiles):
            if plain is None:
                yield chunk
                continue
            rows = guard_store(store.read, plain, [decode_key(dtypes, key) for key in chunk], ())
            yield [key for key, row in zip(chunk, rows) if row is None]


def _online_values(graph: FeatureGraph, store: OnlineStore, view: FeatureView, join_keys: Sequence[tuple[str, DType]],
                   keys: list[tuple[Any, ...]], at: dt.datetime) -> dict[str, list]:
    """Each feature's online values for the keys at `at`, through the serving path's read (None where a value
    is NULL, not found or outside the ttl)."""
    from fcompile.online import online_view
    from fcompile.tasks.online_reads import plan_online_request, read_online_features

    names = tuple(f.name for f in view.features)
    request = plan_online_request(graph, (Projection(view.name, names),), True, lambda node: online_view(graph, node),
                                  f"the skew check of feature view '{view.name}'")
    entities = {name: [key[i] for key in keys] for i, (name, _) in enumerate(join_keys)}
    values = read_online_features(store, request, entities, now=at).values()
    return {name: values[f"{view.name}__{name}"] for name in names}


def _offline_values(graph: FeatureGraph, runner: Runner, view: FeatureView, join_keys: Sequence[tuple[str, DType]],
                    keys: list[tuple[Any, ...]], at: dt.datetime) -> dict[str, list]:
    """Each feature's values in a training set of the keys, each at `at`: one point-in-time query, planned as
    every training set is, on the target's engine."""
    import pyarrow as pa

    from fcompile.online.values import arrow_type
    from fcompile.runners.spines import SpineInput
    from fcompile.tasks.training import plan_training_query

    columns = {name: pa.array([key[i] for key in keys], arrow_type(dtype)) for i, (name, dtype) in enumerate(join_keys)}
    columns[SPINE_TIME] = pa.array([at] * len(keys), pa.timestamp("us", "UTC"))
    names = tuple(f.name for f in view.features)
    query = plan_training_query(graph, runner, SpineInput("arrow", pa.table(columns)), (Projection(view.name, names),),
                                True, SPINE_TIME, f"the skew check of feature view '{view.name}'", view.location)
    for statement in query.supply:
        runner.run_session_statement(statement)
    table = runner.to_arrow(query.plan, query.label, query.location)
    return {name: table.column(f"{view.name}__{name}").to_pylist() for name in names}


# -- comparing values ------------------------------------------------------------------------------------

def compare_feature(name: str, dtype: DType, keys: Sequence[tuple[Any, ...]], online: Sequence[Any],
                    offline: Sequence[Any]) -> FeatureSkew:
    """One feature's counts over the keys (online[i] and offline[i] are key i's values)."""
    differ = online_only = offline_only = 0
    samples: list[DifferingKey] = []
    for key, left, right in zip(keys, online, offline):
        if left is None and right is None:
            continue
        if left is None:
            offline_only += 1
        elif right is None:
            online_only += 1
        elif same_value(left, right):
            continue
        else:
            differ += 1
        if len(samples) < SAMPLES_PER_FEATURE:
            samples.append(DifferingKey(tuple(key), left, right))
    return FeatureSkew(name, dtype, len(keys), differ, online_only, offline_only, tuple(samples))


def same_value(a: Any, b: Any) -> bool:
    """Whether an online and an offline value are the same: floats within RELATIVE_TOLERANCE (NaN equal to
    NaN, an infinity only to itself), times as instants (a naive time is UTC), lists element by element."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool) or not _is_number(a) or not _is_number(b):
            return False
        x, y = float(a), float(b)
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        if math.isinf(x) or math.isinf(y):
            return x == y
        return abs(x - y) <= RELATIVE_TOLERANCE * max(abs(x), abs(y))
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return as_utc(a) == as_utc(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(x is None and y is None or x is not None and y is not None and same_value(x, y)
                                        for x, y in zip(a, b))
    if isinstance(a, (bytes, bytearray, memoryview)) and isinstance(b, (bytes, bytearray, memoryview)):
        return bytes(a) == bytes(b)
    return type(a) is type(b) and a == b


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


# -- the report, for people and as JSON ------------------------------------------------------------------

def skew_table(report: SkewReport) -> list[str]:
    """The report's per-feature table, a line a feature after a header."""
    width = max([len("feature")] + [len(f.name) for f in report.features])
    lines = [f"{'feature':<{width}}  {'compared':>9}  {'differing':>9}  {'share':>7}  {'values':>7}  "
             f"{'online only':>11}  {'offline only':>12}"]
    for f in report.features:
        lines.append(f"{f.name:<{width}}  {f.compared:>9,}  {f.differing:>9,}  {f.share:>7.2%}  {f.values_differ:>7,}  "
                     f"{f.online_only:>11,}  {f.offline_only:>12,}")
    return lines


def sample_lines(report: SkewReport) -> list[str]:
    """A few differing keys per feature, with both values."""
    lines = []
    for f in report.features:
        single = (f.dtype.element or f.dtype).name == "float32"
        for sample in f.samples:
            key = ", ".join(f"{name}={_shown(value)}" for name, value in zip(report.keys, sample.key))
            lines.append(f"{f.name} at {key}: online {_shown(sample.online, single)}, offline "
                         f"{_shown(sample.offline, single)}")
    return lines


def _shown(value: Any, single: bool = False) -> str:
    """A value for people; `single`: a float32 (widened to a double) by the shortest text that reads back as
    it (`fcompile.float32_text`)."""
    if value is None:
        return "NULL"
    if isinstance(value, dt.datetime):
        return _instant(value)
    if single and isinstance(value, float):
        return float32_text(value)
    if single and isinstance(value, list):
        return "[" + ", ".join(_shown(v, True) for v in value) + "]"
    return repr(value) if isinstance(value, (str, bytes)) else str(value)


def skew_document(report: SkewReport) -> dict[str, Any]:
    """The report as the JSON file holds it."""
    return {
        "kind": "online_skew",
        "view": report.view,
        "at": _instant(report.at),
        "at_basis": report.at_basis,
        "watermark": None if report.watermark is None else _instant(report.watermark),
        "made_at": _instant(report.made_at),
        "seconds": round(report.seconds, 3),
        "online_store": report.store,
        "offline_dialect": report.dialect,
        "keys_held": report.keys_held,
        "keys_compared": report.compared,
        "keys_unreadable": report.unreadable,
        "sampled": report.sampled,
        "limit": report.limit,
        "seed": report.seed,
        "relative_tolerance": RELATIVE_TOLERANCE,
        "join_keys": list(report.keys),
        "features": [{
            "name": f.name, "dtype": str(f.dtype), "compared": f.compared, "differing": f.differing,
            "share": f.share, "values_differ": f.values_differ, "online_only": f.online_only,
            "offline_only": f.offline_only,
            "samples": [{"key": dict(zip(report.keys, map(_json_safe, s.key))), "online": _json_safe(s.online),
                         "offline": _json_safe(s.offline)} for s in f.samples],
        } for f in report.features],
    }


def write_skew_report(report: SkewReport, project_root: str) -> str:
    """Write the report as `target/profiles/feature_view.<view>/skew-<UTC time>.json` (`-2`, `-3`... when that
    name is taken). Returns the path, relative to the project folder."""
    folder = os.path.join(project_root, "target", "profiles", f"feature_view.{report.view}")
    os.makedirs(folder, exist_ok=True)
    stem = "skew-" + report.made_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    name, number = stem, 1
    while os.path.exists(os.path.join(folder, name + ".json")):
        number += 1
        name = f"{stem}-{number}"
    path = os.path.join(folder, name + ".json")
    with open(path, "w", encoding="utf-8") as out:
        json.dump(skew_document(report), out, indent=2)
        out.write("\n")
    return os.path.relpath(path, project_root)


def _instant(moment: dt.datetime) -> str:
    utc = as_utc(moment)
    return f"{utc:%Y-%m-%dT%H:%M:%S}" + (f".{utc.microsecond:06d}Z" if utc.microsecond else "Z")


def _json_safe(value: Any) -> Any:
    import base64

    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dt.datetime):
        return _instant(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
