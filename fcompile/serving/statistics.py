"""The latest statistics of a feature view, for `GET /api/v1/feature_views/{name}` (metadata.py).

`fcompile profile` keeps one TFDV `DatasetFeatureStatisticsList` per run under
`target/profiles/<node>/<UTC time>.pb`, where `<node>` is `feature_view.<name>` (or the view's name
alone). The newest of them (by the time in its name, then the number a second one in the same second
gets: `-2`, `-3`, ...) is read with tensorflow-metadata's protos and summed up as JSON: per dataset its
name and row count, per feature its type, counts, and the numeric (min, max, mean, standard deviation,
zeros, median, histograms) or string (distinct values, top values, average length) statistics the file
holds, and custom statistics.

No profile: no statistics (the endpoint leaves the field out). A profile that cannot be read
(tensorflow-metadata not installed, a damaged file) is reported in the field instead, as `{"path",
"error": {"code": "FC173", ...}}`: the rest of the answer stands. A file read once is kept, by path,
modification time and size, so that asking again costs a `stat`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from fcompile.diagnostics import Code

PROFILES_DIR = ("target", "profiles")
_cache: dict[tuple[str, int, int], dict[str, Any]] = {}
_CACHE_LIMIT = 256


def latest_profile(root: str, view: str) -> Path | None:
    """The newest `.pb` profile of `view` under the project's `target/profiles/`, or None."""
    base = Path(root).joinpath(*PROFILES_DIR)
    for folder in (base / f"feature_view.{view}", base / view):
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


def view_statistics(root: str, view: str) -> dict[str, Any] | None:
    """The JSON summary of the view's newest profile, None without one (see the module's docstring)."""
    path = latest_profile(root, view)
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
    try:
        from tensorflow_metadata.proto.v0 import statistics_pb2
    except ImportError:
        return _unreadable(shown, "the profile cannot be read: tensorflow-metadata is not installed",
                           "pip install tensorflow-metadata (the package `fcompile profile` writes with)")
    try:
        message = statistics_pb2.DatasetFeatureStatisticsList.FromString(path.read_bytes())
    except Exception as error:  # protobuf's DecodeError, or an OSError
        return _unreadable(shown, f"the profile cannot be read: {type(error).__name__}: {error}",
                           "run `fcompile profile` again to write a new one")
    summary = {"path": shown, "datasets": [_dataset(d) for d in message.datasets]}
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()
    _cache[key] = summary
    return summary


def _unreadable(path: str, message: str, hint: str) -> dict[str, Any]:
    return {"path": path, "error": {"code": Code.PROFILE_UNREADABLE.value, "message": message, "hint": hint}}


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
