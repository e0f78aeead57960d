"""`fcompile profile` (issue 18): per-feature statistics computed in the warehouse.

Each profiled view or dataset takes two queries on the target's engine (fcompile/dialects/profiles.py), each
one scan of its rows: the aggregates, then - with each number's min and max - the histogram buckets and the
most frequent string values. The result is a `Profile`, which fcompile/tasks/profile_files.py writes as a
TFDV `DatasetFeatureStatisticsList` and a JSON summary.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Sequence

from fcompile.artifacts.selection import NodeRef, select_nodes
from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, did_you_mean
from fcompile.graph import DType, FeatureGraph
from fcompile.planner.profiles import QUANTILE_BUCKETS, ProfilePlan
from fcompile.runners.base import Runner

QUERIES_PER_PROFILE = 2  # aggregates, then histograms and top values: each one scan of the rows


@dataclass(frozen=True)
class NumberStats:
    min: float
    max: float
    mean: float
    std_dev: float
    zeros: int
    quantiles: tuple[float, ...]                      # QUANTILE_BUCKETS + 1 boundaries, 0 to 1
    histogram: tuple[tuple[float, float, int], ...]   # equal-width buckets: (low, high, rows)


@dataclass(frozen=True)
class StringStats:
    distinct: int
    avg_length: float
    top_values: tuple[tuple[str, int], ...]           # most frequent first, ties in byte order


@dataclass(frozen=True)
class FeatureProfile:
    name: str
    dtype: DType
    kind: str
    present: int
    missing: int
    numbers: NumberStats | None = None
    strings: StringStats | None = None
    earliest: dt.datetime | dt.date | None = None     # times (UTC) and dates
    latest: dt.datetime | dt.date | None = None


@dataclass(frozen=True)
class Profile:
    node: str
    name: str
    dialect: str
    rows: int
    features: tuple[FeatureProfile, ...]
    profiled_at: dt.datetime
    exact_quantiles: bool
    exact_distinct_count: bool
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    skipped: tuple[str, ...] = ()
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)


def select_profiled(graph: FeatureGraph, select: Sequence[str] = (), exclude: Sequence[str] = (),
                    datasets: Sequence[str] = ()) -> list[tuple[str, str]]:
    """What `fcompile profile` profiles, as ("feature_view" | "dataset", name): the named datasets when
    `datasets` is given (FC165 for an unknown one), else the selected feature views and the views reading a
    selected source (every view without a selection); views with no plain feature are left out."""
    if datasets:
        known = {d.name for d in graph.datasets}
        unknown = [name for name in datasets if name not in known]
        if unknown:
            raise DiagnosticError([Diagnostic(
                Code.PROFILE_TARGET, f"--dataset: no dataset named '{name}'", None,
                did_you_mean(name, known) or f"datasets: {', '.join(sorted(known)) or 'none'}") for name in unknown])
        return [("dataset", name) for name in dict.fromkeys(datasets)]
    refs = set(select_nodes(graph, select, exclude))
    sources = {r.name for r in refs if r.kind == "source"}
    return [("feature_view", v.name) for v in graph.feature_views
            if (NodeRef("feature_view", v.name) in refs or v.source in sources) and v.plain_features]


def select_unprofiled(graph: FeatureGraph, select: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[str]:
    """The feature views a selection names (as `select_profiled` reads it) that have no plain feature: their
    features are all aggregated over windows, which have no column to profile."""
    refs = set(select_nodes(graph, select, exclude))
    sources = {r.name for r in refs if r.kind == "source"}
    return [v.name for v in graph.feature_views
            if (NodeRef("feature_view", v.name) in refs or v.source in sources) and not v.plain_features]


def plan_profile(graph: FeatureGraph, kind: str, name: str, start: dt.datetime | None,
                 end: dt.datetime | None) -> ProfilePlan:
    from fcompile.planner.profiles import plan_dataset_profile, plan_view_profile

    if kind == "dataset":
        return plan_dataset_profile(graph, graph.dataset(name), start, end)
    return plan_view_profile(graph, graph.feature_view(name), start, end)


def profile_plan(runner: Runner, plan: ProfilePlan, now: dt.datetime | None = None) -> Profile:
    """Run a profile plan's two queries on `runner`. Raises `DiagnosticError` (the engine's error)."""
    from fcompile.dialects import get_dialect, session_statements
    from fcompile.dialects.profiles import Bounds, lower_profile_aggregates, lower_profile_distributions

    started = time.perf_counter()
    dialect = get_dialect(runner.dialect)
    label = f"profile of {plan.node.replace('_', ' ').replace('.', ' ')}"
    for statement in session_statements(dialect):
        runner.run_session_statement(statement)
    aggregates = lower_profile_aggregates(dialect, plan)
    _, rows = runner.query_rows(dialect.generate(aggregates.select, pretty=False), label, plan.location)
    row = rows[0]
    total = int(row[0])
    found: dict[int, dict[str, Any]] = {i: {"quantiles": []} for i in range(len(plan.columns))}
    for (index, statistic), value in zip(aggregates.columns, row[1:]):
        if statistic == "quantiles":
            found[index]["quantiles"] += [_number(v) for v in (value if isinstance(value, (list, tuple)) else [value])]
        else:
            found[index][statistic] = value
    bounds = {i: Bounds(float(_number(f["min"])), float(_number(f["max"])))
              for i, f in found.items() if plan.columns[i].numeric and f.get("min") is not None}
    buckets: dict[int, dict[int, int]] = {}
    tops: dict[int, list[tuple[str, int]]] = {}
    distributions = lower_profile_distributions(dialect, plan, bounds)
    if distributions is not None:
        _, grouped = runner.query_rows(dialect.generate(distributions.select, pretty=False), label, plan.location)
        for result in grouped:
            index, kind = distributions.sets[int(result[0])]
            value, counted = result[1 + int(result[0])], int(result[-1])
            if kind == "histogram":
                buckets.setdefault(index, {})[int(value)] = counted
            else:
                tops.setdefault(index, []).append((str(value), counted))
    features = []
    for index, column in enumerate(plan.columns):
        stats = found[index]
        present = int(stats["present"])
        profile = FeatureProfile(column.name, column.dtype, column.kind, present, total - present)
        if column.numeric and present:
            edges = bounds[index].edges()
            histogram = tuple((low, high, buckets.get(index, {}).get(i, 0)) for i, (low, high) in enumerate(edges))
            quantiles = tuple(float(q) for q in stats["quantiles"])
            if len(quantiles) != QUANTILE_BUCKETS + 1:
                raise DiagnosticError([Diagnostic(Code.PROFILE_FAILED, f"{label}: {len(quantiles)} quantile boundaries "
                                                  f"of '{column.name}', not {QUANTILE_BUCKETS + 1}", plan.location)])
            profile = _replace(profile, numbers=NumberStats(
                float(_number(stats["min"])), float(_number(stats["max"])), float(_number(stats["mean"])),
                float(_number(stats["std_dev"]) or 0.0), int(stats["zeros"] or 0), quantiles, histogram))
        elif column.kind == "string" and present:
            ranked = sorted(tops.get(index, []), key=lambda vc: (-vc[1], vc[0].encode()))
            profile = _replace(profile, strings=StringStats(int(stats["distinct"]), float(_number(stats["avg_length"])),
                                                            tuple(ranked)))
        elif column.kind == "time" and present:
            profile = _replace(profile, earliest=_from_micros(stats["min"]), latest=_from_micros(stats["max"]))
        elif column.kind == "date" and present:
            profile = _replace(profile, earliest=_as_date(stats["min"]), latest=_as_date(stats["max"]))
        features.append(profile)
    window = plan.window
    return Profile(plan.node, plan.name, dialect.name, total, tuple(features),
                   now or dt.datetime.now(dt.timezone.utc), dialect.EXACT_QUANTILES, dialect.EXACT_DISTINCT_COUNT,
                   window.start if window else None, window.end if window else None, plan.skipped,
                   time.perf_counter() - started)


def _replace(profile: FeatureProfile, **changes: Any) -> FeatureProfile:
    from dataclasses import replace

    return replace(profile, **changes)


def _number(value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str):  # a driver that returns numbers of some types as text (BigQuery's NUMERIC over REST)
        return float(value)
    return value


def _from_micros(value: Any) -> dt.datetime:
    micros = int(_number(value))  # type: ignore[arg-type]
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=micros)


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value


def describe_feature(feature: FeatureProfile) -> str:
    """A feature's profile on one line, for people: its type, NULLs and the figures of its kind."""
    total = feature.present + feature.missing
    nulls = f"{feature.missing / total:.1%} NULL" if total else "no rows"
    text = f"{feature.name} ({feature.dtype}): {nulls}"
    if feature.numbers is not None:
        n = feature.numbers
        text += (f", min {_short(n.min)}, median {_short(n.quantiles[len(n.quantiles) // 2])}, max {_short(n.max)}, "
                 f"mean {_short(n.mean)}, std {_short(n.std_dev)}")
    elif feature.strings is not None:
        top = ", ".join(f"{v} ({c:,})" for v, c in feature.strings.top_values[:3])
        text += f", {feature.strings.distinct:,} distinct, top: {top}"
    elif feature.earliest is not None:
        text += f", {_moment(feature.earliest)} to {_moment(feature.latest)}"
    return text


def _short(value: float) -> str:
    return f"{value:.4g}"


def _moment(value: dt.datetime | dt.date | None) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    return "" if value is None else value.isoformat()
