"""Drift thresholds checked (issue 18): what `fcompile profile --compare REF` does with the `drift:` a feature
view and its features declare, after it has measured each feature's drift (fcompile/tasks/profile_compare.py).

A check per (view, feature, threshold) that applies to the feature's kind, named
`<view>__<feature>__drift_<metric>` (metric: psi, js, linf, null_fraction_diff):
- pass: the figure is at most the threshold;
- fail (severity error) or warn (severity warn): the figure exceeds it;
- skip: no figure to compare (the reference has no such feature, or one side has no histogram or top values,
  as when every value is NULL).
The NULL-fraction figure is the change either way, |now - reference|. Results are data-test results: they go
to target/run_results.json and target/test_results.json as `fcompile test`'s do (fcompile/tasks/data_tests.py),
with `kind`, `parent`, `column`, `metric`, `figure` and `threshold` beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from fcompile.graph import FeatureGraph, FeatureView, drift_metrics_for

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
SHORT_NAMES = {"max_psi": "psi", "max_js": "js", "max_linf": "linf", "max_null_fraction_diff": "null_fraction_diff"}
FIGURE_WORDS = {"max_psi": "PSI", "max_js": "Jensen-Shannon", "max_linf": "L-infinity",
                "max_null_fraction_diff": "NULL fraction change"}


@dataclass(frozen=True)
class DriftCheck:
    view: str
    feature: str
    metric: str            # a key of DriftThresholds: max_psi, max_js, max_linf, max_null_fraction_diff
    threshold: float
    severity: str          # error or warn
    figure: float | None   # None: nothing to compare (status skip)
    status: str            # pass, warn, fail or skip
    reason: str = ""       # why there is no figure

    @property
    def name(self) -> str:
        return drift_check_name(self.view, self.feature, self.metric)

    @property
    def blocks(self) -> bool:
        return self.status == FAIL

    @property
    def message(self) -> str:
        if self.figure is None:
            return f"{FIGURE_WORDS[self.metric]}: {self.reason}"
        relation = "<=" if self.status == PASS else ">"
        return f"{FIGURE_WORDS[self.metric]} {self.figure:.4f} {relation} {self.metric} {_threshold_text(self.threshold)}"


def drift_check_name(view: str, feature: str, metric: str) -> str:
    return f"{view}__{feature}__drift_{SHORT_NAMES[metric]}"


def declared_checks(view: FeatureView) -> list[tuple[str, str, float, str]]:
    """(feature, metric, threshold, severity) of each threshold that applies to one of the view's plain features,
    in feature order, then DRIFT_METRICS order."""
    out = []
    for feature in view.plain_features:
        thresholds = view.drift_of(feature.name)
        if thresholds is None:
            continue
        applies = drift_metrics_for(feature.dtype)
        for metric, threshold in thresholds.thresholds():
            if metric in applies:
                out.append((feature.name, metric, threshold, thresholds.severity or "error"))
    return out


def check_drift(view: FeatureView, drifts: Iterable[Any]) -> list[DriftCheck]:
    """The view's declared thresholds against `drifts` (the `FeatureDrift`s of a profile of the view from its
    reference)."""
    by_feature = {d.feature: d for d in drifts}
    checks = []
    for feature, metric, threshold, severity in declared_checks(view):
        drift = by_feature.get(feature)
        figure, reason = _figure(drift, metric)
        if figure is None:
            status = SKIP
        elif figure <= threshold:
            status = PASS
        else:
            status = FAIL if severity == "error" else WARN
        checks.append(DriftCheck(view.name, feature, metric, threshold, severity, figure, status, reason))
    return checks


def _figure(drift: Any, metric: str) -> tuple[float | None, str]:
    if drift is None:
        return None, "the reference profile has no such feature"
    if metric == "max_null_fraction_diff":
        change = drift.null_fraction_change
        return (abs(change), "") if change is not None else (None, "a profile with no rows")
    value = {"max_psi": drift.psi, "max_js": drift.jensen_shannon, "max_linf": drift.l_infinity}[metric]
    if value is None:
        what = "top values" if metric == "max_linf" else "histogram"
        return None, f"no {what} on one side (no value that is not NULL, or another type in the reference)"
    return value, ""


def drift_result_entries(checks: Sequence[DriftCheck], seconds: float = 0.0) -> list[dict]:
    """`run_results.json` entries of drift checks: a data test's fields, plus what the check compared."""
    return [{
        "node": f"test.{c.name}",
        "status": c.status,
        "severity": c.severity,
        "failures": None if c.figure is None else int(c.status in (FAIL, WARN)),
        "seconds": round(seconds, 3),
        "message": c.message,
        "stored_in": None,
        "sample": [],
        "kind": "drift",
        "parent": f"feature_view.{c.view}",
        "column": c.feature,
        "metric": c.metric,
        "figure": c.figure,
        "threshold": c.threshold,
    } for c in checks]


def drift_result_names(graph: FeatureGraph) -> set[str]:
    """The names the project's drift checks give their results (test_results.json keeps these)."""
    return {drift_check_name(view.name, feature, metric)
            for view in graph.feature_views for feature, metric, _, _ in declared_checks(view)}


def _threshold_text(value: float) -> str:
    return f"{value:g}"
