"""`drift:` thresholds on a feature view and its features (issue 18), checked into `DriftThresholds`.

```yaml
feature_views:
  - name: driver_hourly_stats
    drift: {max_js: 0.2, max_null_fraction_diff: 0.05}   # each plain feature of a kind it applies to
    features:
      - {name: conv_rate, dtype: float64, drift: {max_psi: 0.25, severity: warn}}  # over the view's
      - {name: vehicle_class, dtype: string, drift: {max_linf: 0.1}}
```

Problems, each at the key or value it is about: a key that is no threshold, a view's drift naming no threshold
(FC193), a threshold that is not a
finite number from 0, one above 1 for a figure that stops at 1, a severity other than error or warn (FC194),
a threshold that does not apply to the feature's kind, or (on a view) to any of its plain features (FC195).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from fcompile.diagnostics import Code, DiagnosticSink, a_or_an, did_you_mean
from fcompile.graph import DRIFT_METRICS, DriftThresholds, Feature, drift_metrics_for

# `SpecItem` (fcompile/parser/resolve.py, which calls in here) is named in quotes only: no import
SpecItem = Any

DRIFT_KEYS = (*DRIFT_METRICS, "severity")
BOUNDED = ("max_js", "max_linf", "max_null_fraction_diff")  # figures from 0 to 1
_KIND_WORDS = {"max_psi": "numbers and booleans", "max_js": "numbers and booleans", "max_linf": "strings",
               "max_null_fraction_diff": "every feature"}
_EXAMPLE = "write drift: {max_js: 0.1, max_null_fraction_diff: 0.05}"


def feature_drift(item: SpecItem, sink: DiagnosticSink, index: int, feature: Feature) -> tuple[bool, DriftThresholds | None]:
    """The `drift:` of the view's `features[index]` (None when it has none), and whether it is free of problems."""
    raw = item.data["features"][index]
    if "drift" not in raw:
        return True, None
    path = ("features", index, "drift")
    where = f"{item.label}: feature '{feature.name}'"
    thresholds = _thresholds(item, sink, path, raw["drift"], where, needs_threshold=False)
    if thresholds is None:
        return False, None
    applies = drift_metrics_for(feature.dtype)
    ok = True
    for metric, _ in thresholds.thresholds():
        if metric not in applies:
            sink.error(Code.DRIFT_KIND, f"{where}: {metric} applies to {_KIND_WORDS[metric]}, not to a feature of "
                       f"dtype {feature.dtype}", _key_at(item, path, metric),
                       f"{a_or_an(str(feature.dtype))} feature takes {', '.join(applies)}")
            ok = False
    return ok, thresholds if ok else None


def view_drift(item: SpecItem, sink: DiagnosticSink, plain: Sequence[Feature]) -> tuple[bool, DriftThresholds | None]:
    """The view's own `drift:` (None when it has none), and whether it is free of problems. Each threshold must
    apply to one of the view's plain features at least (aggregated features are not profiled)."""
    if "drift" not in item.data:
        return True, None
    thresholds = _thresholds(item, sink, ("drift",), item.data["drift"], item.label, needs_threshold=True)
    if thresholds is None:
        return False, None
    applies = {metric for f in plain for metric in drift_metrics_for(f.dtype)}
    ok = True
    for metric, _ in thresholds.thresholds():
        if metric not in applies:
            kinds = ", ".join(f"{f.name} ({f.dtype})" for f in plain) or "none: its features are aggregated, " \
                "which fcompile profile does not profile"
            sink.error(Code.DRIFT_KIND, f"{item.label}: drift: {metric} applies to {_KIND_WORDS[metric]}, and none "
                       f"of the view's profiled features is one (they are: {kinds})", _key_at(item, ("drift",), metric),
                       "remove it, or put a threshold that applies on the feature itself")
            ok = False
    return ok, thresholds if ok else None


def _thresholds(item: SpecItem, sink: DiagnosticSink, path: tuple, value: Any, where: str,
                needs_threshold: bool) -> DriftThresholds | None:
    """The thresholds written at `path`, or None after reporting a problem. A view's drift must name a threshold;
    a feature's may say only `severity` (its view's thresholds, another severity)."""
    if not isinstance(value, dict):
        sink.error(Code.DRIFT_KEY, f"{where}: drift must be a mapping of thresholds, not {_what(value)}",
                   item.at(*path), _EXAMPLE)
        return None
    ok = True
    found: dict[str, Any] = {}
    for key, given in value.items():
        if key not in DRIFT_KEYS:
            sink.error(Code.DRIFT_KEY, f"{where}: unknown drift key {str(key)!r}", _key_at(item, path, key),
                       did_you_mean(str(key), DRIFT_KEYS) or f"drift takes {', '.join(DRIFT_KEYS)}")
            ok = False
        elif key == "severity":
            if given not in ("error", "warn"):
                sink.error(Code.DRIFT_THRESHOLD, f"{where}: drift severity {given!r} is not error or warn",
                           item.at(*path, key), did_you_mean(str(given), ("error", "warn")) or "use error or warn")
                ok = False
            found[key] = given
        elif isinstance(given, bool) or not isinstance(given, (int, float)) or not math.isfinite(given) or given < 0:
            sink.error(Code.DRIFT_THRESHOLD, f"{where}: drift {key} must be a finite number from 0, not "
                       f"{_what(given)}", item.at(*path, key), f"write {key}: 0.1")
            ok = False
        elif key in BOUNDED and given > 1:
            sink.error(Code.DRIFT_THRESHOLD, f"{where}: drift {key} is {given}, and the figure never exceeds 1: "
                       "the check could never fail", item.at(*path, key), f"write a share from 0 to 1, such as {key}: 0.1")
            ok = False
        else:
            found[key] = float(given)
    if ok and needs_threshold and not any(key in found for key in DRIFT_METRICS):
        sink.error(Code.DRIFT_KEY, f"{where}: drift names no threshold", item.at(*path),
                   f"{_EXAMPLE} ({', '.join(DRIFT_METRICS)})")
        return None
    return DriftThresholds(**found) if ok else None


def _key_at(item: SpecItem, path: tuple, key: Any):
    return item.doc.key_position((*item.path, *path, key))


def _what(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, (bool, int, float)):
        return repr(value).lower() if isinstance(value, bool) else repr(value)
    return f"{type(value).__name__} {value!r}" if isinstance(value, str) else f"a {type(value).__name__}"

