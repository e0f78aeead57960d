"""A profile (fcompile/tasks/profiles.py) as TFDV reads statistics: a `DatasetFeatureStatisticsList` of the
`tensorflow-metadata` protos, written in binary (`.pb`) and text format (`.pbtxt`) under
`target/profiles/<node>/<UTC time>.pb`, with a small JSON summary beside them (`.json`).

How fcompile's statistics map onto the proto:
- numbers (int32, int64: INT; float32, float64: FLOAT; bool: INT, as 0 and 1): `num_stats` with mean, std_dev
  (population), num_zeros, min, median (the 0.5 quantile), max, and two histograms: STANDARD (10 equal-width
  buckets between min and max) and QUANTILES (10 equal-mass buckets, each a tenth of the non-NULL values);
- strings: `string_stats` with unique (distinct values), avg_length (characters), top_values and a rank
  histogram of the 10 most frequent values;
- times and dates (INT): `num_stats` with min and max as microseconds (times, UTC) or days (dates) since the
  Unix epoch, and the same as ISO text in `custom_stats` (`earliest`, `latest`);
- every feature: `common_stats` (non-missing and missing counts; one value per row), and `custom_stats`
  saying whether its quantiles and distinct count are exact or approximate on the engine that made them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.tasks.profiles import FeatureProfile, Profile

PROFILES_DIR = "profiles"
INSTALL_HINT = "pip install tensorflow-metadata (a dependency of fcompile: reinstall it with its dependencies)"


def statistics_protos():
    """`tensorflow_metadata.proto.v0.statistics_pb2`, or FC167 saying how to install it."""
    try:
        from tensorflow_metadata.proto.v0 import statistics_pb2
    except ImportError as error:
        raise DiagnosticError([Diagnostic(
            Code.PROFILE_PROTOS_MISSING, f"fcompile profile writes TFDV statistics protos, and the "
            f"tensorflow-metadata package that defines them cannot be imported ({error})", None, INSTALL_HINT)]) from None
    return statistics_pb2


def to_statistics(profiles: list[Profile]) -> Any:
    """The profiles as one `DatasetFeatureStatisticsList`, a dataset per profile."""
    pb = statistics_protos()
    listing = pb.DatasetFeatureStatisticsList()
    for profile in profiles:
        dataset = listing.datasets.add()
        dataset.name = profile.node
        dataset.num_examples = profile.rows
        for feature in profile.features:
            _feature(pb, profile, feature, dataset.features.add())
    return listing


def _feature(pb, profile: Profile, feature: FeatureProfile, out) -> None:
    out.path.step.append(feature.name)
    kind, dtype = feature.kind, feature.dtype
    element = dtype.element.name if dtype.element is not None else dtype.name
    if kind == "string" or (kind == "other" and element == "string"):
        out.type = pb.FeatureNameStatistics.STRING
        stats = out.string_stats
    elif kind == "other" and element == "bytes":
        out.type = pb.FeatureNameStatistics.BYTES
        stats = out.bytes_stats
    else:
        out.type = pb.FeatureNameStatistics.FLOAT if element in ("float32", "float64") else pb.FeatureNameStatistics.INT
        stats = out.num_stats
    common = stats.common_stats
    common.num_non_missing = feature.present
    common.num_missing = feature.missing
    common.tot_num_values = feature.present
    if feature.present and not dtype.is_array:
        common.min_num_values = common.max_num_values = 1
        common.avg_num_values = 1.0
    numbers, strings = feature.numbers, feature.strings
    if numbers is not None:
        stats.mean, stats.std_dev, stats.num_zeros = numbers.mean, numbers.std_dev, numbers.zeros
        stats.min, stats.max = numbers.min, numbers.max
        stats.median = numbers.quantiles[len(numbers.quantiles) // 2]
        standard = stats.histograms.add()
        standard.type = pb.Histogram.STANDARD
        for low, high, rows in numbers.histogram:
            bucket = standard.buckets.add()
            bucket.low_value, bucket.high_value, bucket.sample_count = low, high, rows
        quantiles = stats.histograms.add()
        quantiles.type = pb.Histogram.QUANTILES
        share = feature.present / (len(numbers.quantiles) - 1)
        for low, high in zip(numbers.quantiles, numbers.quantiles[1:]):
            bucket = quantiles.buckets.add()
            bucket.low_value, bucket.high_value, bucket.sample_count = low, high, share
        _label(out, "quantiles", "exact" if profile.exact_quantiles else "approximate")
    if strings is not None:
        stats.unique = strings.distinct
        stats.avg_length = strings.avg_length
        for rank, (value, count) in enumerate(strings.top_values):
            top = stats.top_values.add()
            top.value, top.frequency = value, count
            bucket = stats.rank_histogram.buckets.add()
            bucket.low_rank = bucket.high_rank = rank
            bucket.label, bucket.sample_count = value, count
        _label(out, "distinct_count", "exact" if profile.exact_distinct_count else "approximate")
    if feature.earliest is not None and feature.latest is not None:
        stats.min, stats.max = _epoch_number(feature.earliest), _epoch_number(feature.latest)
        _label(out, "unit", "microseconds since the Unix epoch (UTC)" if kind == "time" else "days since the Unix epoch")
        _label(out, "earliest", iso(feature.earliest))
        _label(out, "latest", iso(feature.latest))


def _label(out, name: str, text: str) -> None:
    custom = out.custom_stats.add()
    custom.name, custom.str = name, text


def _epoch_number(value: dt.datetime | dt.date) -> int:
    if isinstance(value, dt.datetime):
        delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return (value - dt.date(1970, 1, 1)).days


def iso(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def summary(profile: Profile, target: str, files: dict[str, str]) -> dict:
    """The small JSON summary: what was profiled, when and where, and a line of figures per feature."""
    features = {}
    for feature in profile.features:
        entry: dict[str, Any] = {"dtype": str(feature.dtype), "count": feature.present, "missing": feature.missing}
        if feature.numbers is not None:
            n = feature.numbers
            entry.update(min=n.min, max=n.max, mean=n.mean, std_dev=n.std_dev, zeros=n.zeros,
                         median=n.quantiles[len(n.quantiles) // 2])
        if feature.strings is not None:
            entry.update(distinct=feature.strings.distinct, avg_length=feature.strings.avg_length,
                         top_values=[[v, c] for v, c in feature.strings.top_values[:3]])
        if feature.earliest is not None:
            entry.update(earliest=iso(feature.earliest), latest=iso(feature.latest))
        features[feature.name] = entry
    return {
        "node": profile.node, "target": target, "dialect": profile.dialect,
        "profiled_at": iso(profile.profiled_at),
        "window": {"start": iso(profile.start), "end": iso(profile.end)},
        "rows": profile.rows,
        "quantiles": "exact" if profile.exact_quantiles else "approximate",
        "distinct_count": "exact" if profile.exact_distinct_count else "approximate",
        "not_profiled": list(profile.skipped),
        "files": files,
        "features": features,
    }


def write_profile(profile: Profile, project_root: str, target: str) -> dict[str, str]:
    """Write a profile's `.pb`, `.pbtxt` and `.json` under target/profiles/<node>/, named by the time it was
    made (UTC, to the second; `-2`, `-3`... when that name is taken). Returns the paths, relative to the
    project folder."""
    from google.protobuf import text_format

    statistics = to_statistics([profile])
    folder = os.path.join(project_root, "target", PROFILES_DIR, profile.node)
    os.makedirs(folder, exist_ok=True)
    stem = profile.profiled_at.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    name, number = stem, 1
    while os.path.exists(os.path.join(folder, name + ".pb")):
        number += 1
        name = f"{stem}-{number}"
    base = os.path.join(folder, name)
    files = {kind: os.path.relpath(base + suffix, project_root)
             for kind, suffix in (("binary", ".pb"), ("text", ".pbtxt"), ("summary", ".json"))}
    with open(base + ".pb", "wb") as out:
        out.write(statistics.SerializeToString(deterministic=True))
    with open(base + ".pbtxt", "w", encoding="utf-8") as out:
        out.write(text_format.MessageToString(statistics))
    with open(base + ".json", "w", encoding="utf-8") as out:
        json.dump(summary(profile, target, files), out, indent=2)
        out.write("\n")
    return files


def latest_profile_path(project_root: str, node: str) -> str | None:
    """The newest `.pb` under target/profiles/<node>/ (by the time in its name, then its number), or None: the
    one reader of that folder's order, fcompile/artifacts/profiles.py."""
    from fcompile.artifacts.profiles import latest_profile

    kind, name = node.split(".", 1)
    path = latest_profile(project_root, kind, name)
    return str(path) if path is not None else None
