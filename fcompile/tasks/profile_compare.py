"""`fcompile profile --compare REF` (issue 18): per-feature drift between a profile and a reference profile.

Both are `DatasetFeatureStatistics` (the `.pb` files `fcompile profile` writes). Per feature present in both:
- numbers: the population stability index (PSI) and the Jensen-Shannon divergence (base 2) of their
  equal-width histograms, both cut at the union of their bucket edges, each bucket's rows spread evenly over
  it (fcompile/tasks/schema_checks.py); for PSI a piece's share below `PSI_FLOOR` counts as `PSI_FLOOR`, so
  that a piece empty on one side gives a large, finite figure;
- strings: the L-infinity distance of the shares of their most frequent values;
- every feature: the NULL fraction now minus the NULL fraction of the reference.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Iterable

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, did_you_mean, known_names_hint
from fcompile.tasks.schema_checks import _masses, jensen_shannon, l_infinity, standard_histogram

PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    null_fraction_change: float | None
    psi: float | None = None
    jensen_shannon: float | None = None
    l_infinity: float | None = None


def population_stability_index(reference: list[tuple[float, float, float]],
                               current: list[tuple[float, float, float]]) -> float:
    """PSI = sum over pieces of (current share - reference share) * ln(current share / reference share)."""
    edges = sorted({x for low, high, _ in reference + current if high > low for x in (low, high)})
    before, after = _masses(reference, edges), _masses(current, edges)
    total_before, total_after = sum(before.values()), sum(after.values())
    if not total_before or not total_after:
        return 0.0
    index = 0.0
    for key in set(before) | set(after):
        e = max(before.get(key, 0.0) / total_before, PSI_FLOOR)
        a = max(after.get(key, 0.0) / total_after, PSI_FLOOR)
        index += (a - e) * math.log(a / e)
    return index


def compare_statistics(reference: Any, current: Any) -> list[FeatureDrift]:
    """The drift of each feature of `current` that `reference` also has, in `current`'s order."""
    from fcompile.tasks.schema_checks import _common, _frequencies, _name

    known = {_name(f): f for f in reference.features}
    drifts = []
    for feature in current.features:
        name = _name(feature)
        before = known.get(name)
        if before is None:
            continue
        nulls = None
        now_common, then_common = _common(feature), _common(before)
        if now_common is not None and then_common is not None and current.num_examples and reference.num_examples:
            nulls = now_common.num_missing / current.num_examples - then_common.num_missing / reference.num_examples
        psi = js = linf = None
        if feature.HasField("num_stats") and before.HasField("num_stats"):
            then, now = standard_histogram(before), standard_histogram(feature)
            if then and now:
                psi, js = population_stability_index(then, now), jensen_shannon(then, now)
        elif feature.HasField("string_stats") and before.HasField("string_stats"):
            linf = l_infinity(_frequencies(before), _frequencies(feature))[0]
        drifts.append(FeatureDrift(name, nulls, psi, js, linf))
    return drifts


PREVIOUS = "previous"  # `--compare previous`: each profile against the newest earlier profile of its node
HINT = ("give a .pb (or .pbtxt) file fcompile profile wrote, feature_view:NAME or dataset:NAME for that node's "
        "latest profile, or previous for each view's own earlier profile")


def _compare_error(given: str, message: str, hint: str | None = HINT) -> DiagnosticError:
    return DiagnosticError([Diagnostic(Code.PROFILE_COMPARE, f"--compare {given}: {message}", None, hint)])


def read_statistics(path: str, given: str) -> Any:
    """The first dataset of the `DatasetFeatureStatisticsList` in the profile at `path` (binary `.pb`, or the
    text format of a `.pbtxt`); FC192 when it cannot be read as one."""
    from google.protobuf import text_format

    from fcompile.tasks.profile_files import statistics_protos

    pb = statistics_protos()
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise _compare_error(given, f"cannot read {path} ({error.strerror or error})") from None
    try:
        if path.endswith(".pbtxt"):
            listing = text_format.Parse(data.decode("utf-8"), pb.DatasetFeatureStatisticsList())
        else:
            listing = pb.DatasetFeatureStatisticsList.FromString(data)
    except Exception:  # a DecodeError or ParseError of protobuf, or text that is not UTF-8
        listing = None
    if listing is None or not listing.datasets or not any(d.features for d in listing.datasets):
        raise _compare_error(given, "not a profile: the file does not hold the feature statistics "
                             "(a DatasetFeatureStatisticsList) that fcompile profile writes")
    return listing.datasets[0]


def reference_path(root: str, given: str, names: dict[str, Iterable[str]]) -> str:
    """Where `--compare` finds its reference: `kind:NAME` (dataset, feature_view) is that node's latest
    profile under target/profiles/; anything else a profile file (relative to the current directory).
    `names` holds the project's node names per kind ("feature_view", "dataset"), for the messages."""
    from fcompile.tasks.profile_files import latest_profile_path
    from fcompile.user_paths import resolve_path

    kind, colon, name = given.partition(":")
    if colon and kind in ("dataset", "feature_view"):
        words = kind.replace("_", " ")
        known = sorted(names.get(kind, ()))
        example = f"{kind}:{known[0]}" if known else None
        if not name:
            raise _compare_error(given, f"names no {words}",
                                 f"write the name after the colon, e.g. {example}" if example
                                 else f"the project has no {words}")
        if name not in known:
            raise _compare_error(given, f"no {words} named '{name}'",
                                 did_you_mean(given, [f"{kind}:{k}" for k in known])
                                 or known_names_hint(words, known))
        path = latest_profile_path(root, f"{kind}.{name}")
        if path is None:
            raise _compare_error(given, f"{words} '{name}' has no profile under target/profiles/",
                                 f"profile it first: fcompile profile "
                                 f"{'--dataset' if kind == 'dataset' else '--select'} {name}")
        return path
    path = resolve_path(given)
    if os.path.isdir(path):
        raise _compare_error(given, "is a folder, not a profile file",
                             "give one of the .pb files in it (their names are the times they were made), or "
                             "feature_view:NAME / dataset:NAME for that node's latest profile")
    if not os.path.isfile(path):
        dotted_kind, dot, dotted_name = given.partition(".")
        for kind, candidate in ((dotted_kind, dotted_name) if dot else (None, None), ("feature_view", given),
                                ("dataset", given)):
            if kind in ("feature_view", "dataset") and candidate in set(names.get(kind, ())):
                raise _compare_error(given, "no such file", f"for the latest profile of the {kind.replace('_', ' ')}"
                                     f" '{candidate}', write {kind}:{candidate}")
        raise _compare_error(given, "no such file")
    return path


def drift_table(drifts: list[FeatureDrift]) -> list[str]:
    """The drifts as lines of a table: feature, NULL fraction change, PSI, Jensen-Shannon, L-infinity."""
    def figure(value: float | None, signed: bool = False) -> str:
        return "-" if value is None else (f"{value:+.4f}" if signed else f"{value:.4f}")

    rows = [("feature", "nulls", "psi", "js", "linf")] + [
        (d.feature, figure(d.null_fraction_change, True), figure(d.psi), figure(d.jensen_shannon),
         figure(d.l_infinity)) for d in drifts]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return ["  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(r)).rstrip()
            for r in rows]
