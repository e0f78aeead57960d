"""A view's statistics checked against its schema (issue 18): what `fcompile test` does for a view with
`schema:`, on the tensorflow-metadata protos (no TFDV in the process), with TFDV's names for the anomalies.

Per feature of the schema, against a profile (`DatasetFeatureStatistics`) of the view:
- presence: the share of rows with a value below `presence.min_fraction` (FEATURE_TYPE_LOW_FRACTION_PRESENT),
  fewer rows with a value than `presence.min_count` (FEATURE_TYPE_LOW_NUMBER_PRESENT);
- type: statistics of another type than the schema's (UNEXPECTED_DATA_TYPE; a STRING feature's statistics
  fit a BYTES feature, as TFDV writes strings);
- string domain: a value among the profile's most frequent values that the domain lacks
  (ENUM_TYPE_UNEXPECTED_STRING_VALUES). As with TFDV, only the values the statistics list are seen: a rare
  value beyond the 10 most frequent is not;
- value range: a min below `int_domain.min`/`float_domain.min` or a max above the max (INT_TYPE_SMALL_INT,
  INT_TYPE_BIG_INT, FLOAT_TYPE_SMALL_FLOAT, FLOAT_TYPE_BIG_FLOAT);
- drift, against the previous profile of the same view, when the feature has a `drift_comparator`:
  L-infinity distance of the two most-frequent-values distributions above `infinity_norm.threshold`
  (COMPARATOR_L_INFTY_HIGH), Jensen-Shannon divergence of the two histograms above
  `jensen_shannon_divergence.threshold` (COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH);
- a feature of the schema with no statistics (SCHEMA_MISSING_COLUMN), and statistics of a feature the schema
  lacks (SCHEMA_NEW_COLUMN).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Iterable

NO_FEATURE = ""  # the feature name of anomalies of the whole dataset


@dataclass(frozen=True)
class Anomaly:
    feature: str
    kind: str         # TFDV's AnomalyInfo.Type name
    description: str


def check_statistics(schema: Any, current: Any, previous: Any | None = None) -> dict[str, list[Anomaly]]:
    """Anomalies of `current` (a `DatasetFeatureStatistics`) against `schema`, by feature: every feature of
    the schema and of the statistics is a key (an empty list: no anomaly)."""
    stats = {_name(f): f for f in current.features}
    before = {_name(f): f for f in previous.features} if previous is not None else {}
    found: dict[str, list[Anomaly]] = {}
    for feature in schema.feature:
        got = stats.get(feature.name)
        if got is None:
            found[feature.name] = [Anomaly(feature.name, "SCHEMA_MISSING_COLUMN",
                                           "the schema has this feature; the statistics do not")]
            continue
        found[feature.name] = list(_check_feature(schema, feature, got, current.num_examples,
                                                  before.get(feature.name)))
    for name in stats:
        if name not in found:
            found[name] = [Anomaly(name, "SCHEMA_NEW_COLUMN", "the statistics have this feature; the schema does "
                                   "not (infer the schema again, or add it)")]
    return found


def _name(feature: Any) -> str:
    return ".".join(feature.path.step) if feature.path.step else feature.name


def _common(feature: Any) -> Any:
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind else None


def _check_feature(schema: Any, feature: Any, stats: Any, rows: int, previous: Any | None) -> Iterable[Anomaly]:
    from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

    name = feature.name
    common = _common(stats)
    present = common.num_non_missing if common is not None else 0
    if feature.HasField("presence"):
        wanted = feature.presence
        if rows and wanted.min_fraction and present / rows < wanted.min_fraction:
            yield Anomaly(name, "FEATURE_TYPE_LOW_FRACTION_PRESENT",
                          f"{present / rows:.2%} of rows have a value; the schema wants at least "
                          f"{wanted.min_fraction:.2%}")
        if wanted.min_count and present < wanted.min_count:
            yield Anomaly(name, "FEATURE_TYPE_LOW_NUMBER_PRESENT",
                          f"{present:,} rows have a value; the schema wants at least {wanted.min_count:,}")
    kinds = statistics_pb2.FeatureNameStatistics
    got_type = {kinds.INT: schema_pb2.INT, kinds.FLOAT: schema_pb2.FLOAT, kinds.STRING: schema_pb2.BYTES,
                kinds.BYTES: schema_pb2.BYTES}.get(stats.type)
    if feature.type != schema_pb2.TYPE_UNKNOWN and got_type is not None and got_type != feature.type:
        yield Anomaly(name, "UNEXPECTED_DATA_TYPE", f"the statistics are of type "
                      f"{kinds.Type.Name(stats.type)}; the schema says {schema_pb2.FeatureType.Name(feature.type)}")
        return  # the other checks would compare figures of another type
    domain = _string_domain(schema, feature)
    if domain is not None and stats.HasField("string_stats"):
        allowed = set(domain)
        outside = [(b.label, b.sample_count) for b in stats.string_stats.rank_histogram.buckets
                   if b.label not in allowed] or \
                  [(t.value, t.frequency) for t in stats.string_stats.top_values if t.value not in allowed]
        if outside:
            listed = ", ".join(f"'{v}' ({int(c):,} rows)" for v, c in outside[:5])
            yield Anomaly(name, "ENUM_TYPE_UNEXPECTED_STRING_VALUES", f"values outside the domain: {listed}")
    if stats.HasField("num_stats") and present:
        numbers = stats.num_stats
        kind = feature.WhichOneof("domain_info")
        if kind in ("int_domain", "float_domain"):
            bounds = getattr(feature, kind)
            prefix = "INT_TYPE" if kind == "int_domain" else "FLOAT_TYPE"
            small, big = ("SMALL_INT", "BIG_INT") if kind == "int_domain" else ("SMALL_FLOAT", "BIG_FLOAT")
            if bounds.HasField("min") and numbers.min < bounds.min:
                yield Anomaly(name, f"{prefix}_{small}", f"min {_short(numbers.min)} is below the schema's min "
                              f"{_short(bounds.min)}")
            if bounds.HasField("max") and numbers.max > bounds.max:
                yield Anomaly(name, f"{prefix}_{big}", f"max {_short(numbers.max)} is above the schema's max "
                              f"{_short(bounds.max)}")
    if previous is not None and feature.HasField("drift_comparator"):
        yield from _drift(feature, stats, previous)


def _drift(feature: Any, stats: Any, previous: Any) -> Iterable[Anomaly]:
    comparator = feature.drift_comparator
    name = feature.name
    if comparator.HasField("infinity_norm") and stats.HasField("string_stats") and \
            previous.HasField("string_stats"):
        threshold = comparator.infinity_norm.threshold
        distance, value = l_infinity(_frequencies(previous), _frequencies(stats))
        if distance > threshold:
            yield Anomaly(name, "COMPARATOR_L_INFTY_HIGH", f"L-infinity distance {distance:.4f} from the previous "
                          f"profile (value '{value}') is above the threshold {threshold}")
    if comparator.HasField("jensen_shannon_divergence") and stats.HasField("num_stats") and \
            previous.HasField("num_stats"):
        threshold = comparator.jensen_shannon_divergence.threshold
        before, after = standard_histogram(previous), standard_histogram(stats)
        if before and after:
            divergence = jensen_shannon(before, after)
            if divergence > threshold:
                yield Anomaly(name, "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH", f"Jensen-Shannon divergence "
                              f"{divergence:.4f} from the previous profile is above the threshold {threshold}")


def _string_domain(schema: Any, feature: Any) -> list[str] | None:
    kind = feature.WhichOneof("domain_info")
    if kind == "string_domain":
        return list(feature.string_domain.value)
    if kind == "domain":
        for domain in schema.string_domain:
            if domain.name == feature.domain:
                return list(domain.value)
    return None


def _frequencies(stats: Any) -> dict[str, float]:
    buckets = [(b.label, b.sample_count) for b in stats.string_stats.rank_histogram.buckets] or \
              [(t.value, t.frequency) for t in stats.string_stats.top_values]
    return {label: count for label, count in buckets}


def l_infinity(before: dict[str, float], after: dict[str, float]) -> tuple[float, str]:
    """The largest difference between the two distributions' shares of one value (each normalized by its own
    total), and that value (the first in byte order on a tie)."""
    total_before, total_after = sum(before.values()), sum(after.values())
    best, where = 0.0, ""
    for value in sorted(set(before) | set(after), key=lambda v: v.encode()):
        share_before = before.get(value, 0.0) / total_before if total_before else 0.0
        share_after = after.get(value, 0.0) / total_after if total_after else 0.0
        if abs(share_before - share_after) > best:
            best, where = abs(share_before - share_after), value
    return best, where


def standard_histogram(stats: Any) -> list[tuple[float, float, float]]:
    """A number's equal-width histogram as (low, high, rows)."""
    for histogram in stats.num_stats.histograms:
        if histogram.type == histogram.STANDARD:
            return [(b.low_value, b.high_value, b.sample_count) for b in histogram.buckets]
    return []


def jensen_shannon(before: list[tuple[float, float, float]], after: list[tuple[float, float, float]]) -> float:
    """The Jensen-Shannon divergence (base 2: from 0, the same, to 1, nothing in common) of two histograms,
    each bucket's rows taken as spread evenly across it: both are cut at the union of their bucket edges.
    A bucket of no width (every value the same) is a point, which only the same point matches."""
    edges = sorted({x for low, high, _ in before + after if high > low for x in (low, high)})
    p, q = _masses(before, edges), _masses(after, edges)
    total_p, total_q = sum(p.values()), sum(q.values())
    if not total_p or not total_q:
        return 0.0
    divergence = 0.0
    for key in set(p) | set(q):
        a, b = p.get(key, 0.0) / total_p, q.get(key, 0.0) / total_q
        middle = (a + b) / 2
        if a:
            divergence += a / 2 * math.log2(a / middle)
        if b:
            divergence += b / 2 * math.log2(b / middle)
    return max(0.0, min(1.0, divergence))


def _masses(histogram: list[tuple[float, float, float]], edges: list[float]) -> dict[tuple, float]:
    """Rows per piece: ("point", x) for a bucket of no width; for the others, each bucket's rows shared among
    the pieces between consecutive `edges` it covers, in proportion to their width."""
    masses: dict[tuple, float] = {}
    for low, high, rows in histogram:
        if not rows:
            continue
        if high <= low:
            masses[("point", low)] = masses.get(("point", low), 0.0) + rows
            continue
        for left, right in zip(edges, edges[1:]):
            overlap = min(high, right) - max(low, left)
            if overlap > 0:
                masses[("span", left, right)] = masses.get(("span", left, right), 0.0) + rows * overlap / (high - low)
    return masses


def _short(value: float) -> str:
    return f"{value:.6g}"


# -- fcompile test: each view with a schema profiled and checked --------------------------------------------

def views_with_schema(graph: Any, select: Iterable[str] = (), exclude: Iterable[str] = (), state=None) -> list[Any]:
    """The views `fcompile test` checks against their schema: those with `schema:` that the selection names,
    or whose source it names (every one without a selection). `state`: what `state:modified` names."""
    from fcompile.artifacts.selection import NodeRef, select_nodes

    refs = set(select_nodes(graph, tuple(select), tuple(exclude), state))
    sources = {r.name for r in refs if r.kind == "source"}
    return [v for v in graph.feature_views if v.schema is not None
            and (NodeRef("feature_view", v.name) in refs or v.source in sources)]


def run_schema_checks(graph: Any, runner: Any, views: Iterable[Any], on_done=lambda r: None) -> list[Any]:
    """Profile each view (the profile is written under target/profiles/, as `fcompile profile` writes it) and
    check it against the view's schema and, for drift, the view's previous profile: a test result per feature
    of the schema or the profile, named `<view>__<feature>__schema` (fail: its anomalies), or one error result
    `<view>__schema` when the schema cannot be read or the profile cannot be made."""
    import time

    from fcompile.diagnostics import DiagnosticError
    from fcompile.parser.feature_schemas import read_feature_schema
    from fcompile.planner.profiles import plan_view_profile
    from fcompile.tasks.data_tests import ERROR, FAIL, PASS, DataTestResult
    from fcompile.tasks.profile_files import latest_profile_path, statistics_protos, to_statistics, write_profile
    from fcompile.tasks.profiles import profile_plan

    root = graph.project.root
    results = []
    for view in views:
        started = time.perf_counter()
        plan = plan_view_profile(graph, view)
        previous_path = latest_profile_path(root, plan.node)
        checked = {"kind": "schema", "parent": f"feature_view.{view.name}"}
        schema, problems = read_feature_schema(root, view.schema, view.location)
        try:
            if problems:
                raise DiagnosticError(problems)
            pb = statistics_protos()
            previous = None
            if previous_path is not None:
                with open(previous_path, "rb") as handle:
                    listing = pb.DatasetFeatureStatisticsList.FromString(handle.read())
                previous = listing.datasets[0] if listing.datasets else None
            profile = profile_plan(runner, plan)
        except DiagnosticError as error:
            result = DataTestResult(f"{view.name}__schema", ERROR, "error", None,
                                    seconds=time.perf_counter() - started, message=error.diagnostics[0].message,
                                    diagnostics=tuple(error.diagnostics), **checked)
            on_done(result)
            results.append(result)
            continue
        except Exception as error:  # a previous profile that is not a statistics proto
            from fcompile.diagnostics import Code, Diagnostic

            problem = Diagnostic(Code.PROFILE_FAILED, f"schema check of {view.name}: the previous profile "
                                 f"{os.path.relpath(previous_path or '', root)} cannot be read ({error})",
                                 view.location, "remove it: the next check compares with the one before it")
            result = DataTestResult(f"{view.name}__schema", ERROR, "error", None, message=problem.message,
                                    diagnostics=(problem,), **checked)
            on_done(result)
            results.append(result)
            continue
        write_profile(profile, root, graph.project.target.name)
        current = to_statistics([profile]).datasets[0]
        seconds = time.perf_counter() - started
        found = check_statistics(schema, current, previous)
        for feature, anomalies in found.items():
            status = FAIL if anomalies else PASS
            message = None
            if anomalies:
                message = f"{len(anomalies)} {'anomaly' if len(anomalies) == 1 else 'anomalies'}: " + \
                    ", ".join(a.kind for a in anomalies)  # described one a line, as the sample
            elif previous is None and _has_drift_comparator(schema, feature):
                message = "no previous profile to compare drift with (this one is the first)"
            result = DataTestResult(f"{view.name}__{feature}__schema", status, "error", len(anomalies),
                                    ("anomaly", "description"), tuple((a.kind, a.description) for a in anomalies),
                                    seconds=seconds / max(len(found), 1), message=message, **checked,
                                    column=feature)
            on_done(result)
            results.append(result)
    return results


def _has_drift_comparator(schema: Any, name: str) -> bool:
    return any(f.name == name and f.HasField("drift_comparator") for f in schema.feature)


def schema_result_names(graph: Any) -> set[str]:
    """The names the schema checks of the project's views can give their results."""
    return {name for v in graph.feature_views if v.schema is not None
            for name in (f"{v.name}__schema", *(f"{v.name}__{f.name}__schema" for f in v.features))}
