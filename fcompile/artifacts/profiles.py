"""The latest statistics of a feature view or dataset: the profile reader the metadata API
(`GET /api/v1/feature_views/{name}`, fcompile/serving/metadata.py) and the catalog site (fcompile/catalog/)
share.

`fcompile profile` keeps one TFDV `DatasetFeatureStatisticsList` per run under
`target/profiles/<node>/<UTC time>.pb`, where `<node>` is `feature_view.<name>` or `dataset.<name>` (a view's
name alone is looked at too). The newest of them (by the time in its name, then the number a second one in
the same second gets: `-2`, `-3`, ...) is read with tensorflow-metadata's protos and summed up as JSON: the
file's path and the time in its name (`profiled_at`), per dataset its name and row count, per feature its
type, counts, and the numeric (min, max, mean, standard deviation, zeros, median, histograms) or string
(distinct values, top values, average length) statistics the file holds, and custom statistics (among them
whether quantiles and distinct counts are exact or approximate on the engine that made them).

`fcompile profile --online` writes its training/serving skew reports in the same folder, as
`skew-<UTC time>.json` (fcompile/tasks/online_skew.py); they are not profiles, and nothing here reads them.

No profile: no statistics (None). A profile that cannot be read (tensorflow-metadata not installed, a damaged
file) is reported instead, as `{"path", "profiled_at", "error": {"code": "FC173", ...}}`: whatever shows it
goes on. A file read once is kept, by path, modification time and size, so that asking again costs a `stat`.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from fcompile.diagnostics import Code

PROFILES_DIR = ("target", "profiles")
_cache: dict[tuple[str, int, int], dict[str, Any]] = {}
_CACHE_LIMIT = 256
_TIME_IN_NAME = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


def latest_profile(root: str, kind: str, name: str) -> Path | None:
    """The newest `.pb` profile of node `kind`.`name` under the project's `target/profiles/`, or None."""
    base = Path(root).joinpath(*PROFILES_DIR)
    folders = [base / f"{kind}.{name}"] + ([base / name] if kind == "feature_view" else [])
    for folder in folders:
        try:
            names = [entry.name for entry in os.scandir(folder) if entry.name.endswith(".pb") and entry.is_file()]
        except OSError:
            continue
        if names:
            return folder / max(names, key=_written_order)
    return None


def _written_order(name: str) -> tuple[str, int]:
    """`20240502T100000Z.pb` before `20240502T100000Z-2.pb` before `...-10.pb` (a second profile within the
    same second gets a number)."""
    stem = name[:-len(".pb")]
    base, dash, number = stem.rpartition("-")
    if dash and number.isdigit():
        return base, int(number)
    return stem, 1


def profiled_at(path: Path) -> str | None:
    """The UTC time `fcompile profile` put in the file's name, as ISO 8601 (`2024-05-02T10:00:00Z`), or None."""
    found = _TIME_IN_NAME.match(path.name)
    if found is None:
        return None
    year, month, day, hour, minute, second = found.groups()
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}Z"


def view_statistics(root: str, view: str) -> dict[str, Any] | None:
    """The JSON summary of a feature view's newest profile, None without one (see the module's docstring)."""
    return node_statistics(root, "feature_view", view)


def node_statistics(root: str, kind: str, name: str) -> dict[str, Any] | None:
    """The JSON summary of the newest profile of a feature view or dataset, None without one."""
    path = latest_profile(root, kind, name)
    if path is None:
        return None
    shown = Path(os.path.relpath(path, root)).as_posix()
    try:
        stat = os.stat(path)
    except OSError:  # removed since it was listed
        return None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    when = profiled_at(path)
    try:
        from tensorflow_metadata.proto.v0 import statistics_pb2
    except ImportError:
        return _unreadable(shown, when, "the profile cannot be read: tensorflow-metadata is not installed",
                           "pip install tensorflow-metadata (the package `fcompile profile` writes with)")
    try:
        message = statistics_pb2.DatasetFeatureStatisticsList.FromString(path.read_bytes())
    except Exception as error:  # protobuf's DecodeError, or an OSError
        return _unreadable(shown, when, f"the profile cannot be read: {type(error).__name__}: {error}",
                           "run `fcompile profile` again to write a new one")
    summary = {"path": shown, "profiled_at": when, "datasets": [_dataset(d) for d in message.datasets]}
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[key] = summary
    return summary


def _unreadable(path: str, when: str | None, message: str, hint: str) -> dict[str, Any]:
    return {"path": path, "profiled_at": when, "error": {"code": Code.PROFILE_UNREADABLE.value, "message": message, "hint": hint}}


def _dataset(dataset: Any) -> dict[str, Any]:
    return {"name": dataset.name, "num_examples": dataset.num_examples,
            "features": [_feature(f) for f in dataset.features]}


def _feature(feature: Any) -> dict[str, Any]:
    from tensorflow_metadata.proto.v0 import statistics_pb2

    name = ".".join(feature.path.step) if feature.HasField("path") else feature.name
    out: dict[str, Any] = {"name": name, "type": statistics_pb2.FeatureNameStatistics.Type.Name(feature.type)}
    kind = feature.WhichOneof("stats")
    if kind == "num_stats":
        stats = feature.num_stats
        out.update(_common(stats.common_stats), min=_number(stats.min), max=_number(stats.max),
                   mean=_number(stats.mean), std_dev=_number(stats.std_dev), num_zeros=stats.num_zeros,
                   median=_number(stats.median), histograms=[_histogram(h) for h in stats.histograms])
    elif kind == "string_stats":
        stats = feature.string_stats
        out.update(_common(stats.common_stats), unique=stats.unique, avg_length=_number(stats.avg_length),
                   top_values=[{"value": v.value, "frequency": _number(v.frequency)} for v in stats.top_values])
    elif kind is not None:  # bytes or struct statistics: their counts
        out.update(_common(getattr(feature, kind).common_stats))
    if feature.custom_stats:
        out["custom_stats"] = {c.name: _custom(c) for c in feature.custom_stats}
    return out


def _common(common: Any) -> dict[str, Any]:
    return {"num_non_missing": common.num_non_missing, "num_missing": common.num_missing}


def _histogram(histogram: Any) -> dict[str, Any]:
    return {"type": type(histogram).HistogramType.Name(histogram.type), "num_nan": histogram.num_nan,
            "buckets": [{"low": _number(b.low_value), "high": _number(b.high_value),
                         "count": _number(b.sample_count)} for b in histogram.buckets]}


def _custom(custom: Any) -> Any:
    kind = custom.WhichOneof("val")
    if kind == "num":
        return _number(custom.num)
    if kind == "str":
        return custom.str
    return None  # histograms and other kinds: in the .pb file


def _number(value: float) -> float | str:
    """A float as JSON can hold it: NaN and the infinities as the strings the online answers use."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
