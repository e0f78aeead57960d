"""Profiles (issue 18) on every engine: the statistics each engine's runner computes for a view's rows, and
the TFDV file written from them (read back with `statistics_pb2`), agree with a reference computed in
Python with numpy over the same rows - exactly (within float rounding) where the engine computes exactly,
and within the stated approximation where it does not: quantile boundaries within a rank error, distinct
counts within 5%. The rows hold NULLs, zeros, negative numbers, a mapped column (field_mapping), a boolean,
strings of distinct frequencies and times; a window (--start/--end) keeps a part of them."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from fcompile.parser import parse_project
from fcompile.planner.profiles import plan_view_profile
from fcompile.tasks.profile_files import write_profile
from fcompile.tasks.profiles import profile_plan

from compiler.harness import Table

statistics_pb2 = pytest.importorskip("tensorflow_metadata.proto.v0.statistics_pb2",
                                     reason="tensorflow-metadata is not installed (a dependency of fcompile)")

TABLE = "profile_rows"
T0 = dt.datetime(2024, 3, 1)
COLUMNS = (("driver_id", "int64"), ("event_ts", "timestamp"), ("score_raw", "float64"), ("trips", "int64"),
           ("kind", "string"), ("premium", "bool"), ("seen_at", "timestamp"))
FEATURES = (("score", "float64"), ("trips", "int64"), ("kind", "string"), ("premium", "bool"),
            ("seen_at", "timestamp"))
# string values with distinct frequencies (no tie decides the top 10), 12 values: two are not in the top 10
KINDS = [f"k{i:02d}" + "x" * (i % 4) for i in range(12)]
WEIGHTS = [40, 33, 29, 25, 21, 18, 15, 12, 10, 8, 6, 3]


def make_rows(count: int = 400) -> list[dict]:
    rng = random.Random(18)
    kinds = [kind for kind, weight in zip(KINDS, WEIGHTS) for _ in range(weight)]
    rows = []
    for i in range(count):
        score = None if i % 17 == 0 else (0.0 if i % 13 == 0 else round(rng.gauss(0.3, 1.2), 6))
        rows.append({
            "driver_id": i % 37, "event_ts": T0 + dt.timedelta(hours=i),
            "score_raw": score, "trips": None if i % 11 == 0 else rng.randint(-5, 60),
            "kind": None if i % 19 == 0 else kinds[i % len(kinds)],
            "premium": None if i % 23 == 0 else rng.random() < 0.3,
            "seen_at": None if i % 29 == 0 else T0 - dt.timedelta(days=rng.randint(0, 900), seconds=rng.randint(0, 86399)),
        })
    return rows


ROWS = make_rows()
WINDOW = (T0 + dt.timedelta(hours=100), T0 + dt.timedelta(hours=250))  # both inclusive


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    root = tmp_path_factory.mktemp("profiles")
    (root / "fcompile_project.yml").write_text(yaml.safe_dump({
        "name": "profiles_engines", "default_target": "dev",
        "targets": {"dev": {"offline": {"type": "duckdb", "path": "x.duckdb"},
                            "online": {"type": "sqlite", "path": "x.db"}}}}))
    spec = {
        "entities": [{"name": "driver", "join_keys": [{"name": "driver_id", "dtype": "int64"}]}],
        "sources": [{"name": "rows_src", "table": TABLE, "timestamp_field": "event_ts",
                     "field_mapping": {"score_raw": "score"}}],
        "feature_views": [{"name": "profiled", "entities": ["driver"], "source": "rows_src",
                           "features": [{"name": n, "dtype": t} for n, t in FEATURES]}],
    }
    (root / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = parse_project(root, use_cache=False)
    assert result.ok, [d.render() for d in result.diagnostics]
    return result.graph


# -- the reference: numpy over the same rows ---------------------------------------------------------------

def reference(rows: list[dict]) -> dict:
    out = {"rows": len(rows)}
    for name, dtype in FEATURES:
        column = "score_raw" if name == "score" else name
        values = [r[column] for r in rows if r[column] is not None]
        entry = {"present": len(values), "missing": len(rows) - len(values)}
        if dtype in ("float64", "int64", "bool"):
            x = np.array([float(v) for v in values], dtype=np.float64)
            low, high = float(x.min()), float(x.max())
            width = (high - low) / 10
            if high == low:
                counts = [len(x)]
            else:
                offset = (x - low) / width
                index = np.where(offset >= 9, 9, np.floor(offset)).astype(int)
                counts = [int((index == i).sum()) for i in range(10)]
            entry.update(min=low, max=high, mean=float(x.mean()), std_dev=float(x.std()), zeros=int((x == 0).sum()),
                         quantiles=[float(q) for q in np.quantile(x, np.linspace(0, 1, 11), method="linear")],
                         histogram=counts, sorted=np.sort(x))
        elif dtype == "string":
            counts = Counter(values)
            entry.update(distinct=len(counts), avg_length=float(np.mean([len(v) for v in values])),
                         top=sorted(counts.items(), key=lambda vc: (-vc[1], vc[0]))[:10])
        else:
            entry.update(earliest=min(values).replace(tzinfo=dt.timezone.utc),
                         latest=max(values).replace(tzinfo=dt.timezone.utc))
        out[name] = entry
    return out


def test_the_reference_sees_what_the_checks_need():
    """The rows are not trivial: NULLs, zeros and negatives; more than 10 strings, so the top 10 leaves some out."""
    ref = reference(ROWS)
    assert ref["score"]["missing"] and ref["score"]["zeros"] and ref["score"]["min"] < 0
    assert ref["kind"]["distinct"] == 12 and len(ref["kind"]["top"]) == 10
    assert 0 < ref["premium"]["mean"] < 1 and ref["seen_at"]["missing"]
    windowed = reference([r for r in ROWS if WINDOW[0] <= r["event_ts"] <= WINDOW[1]])
    assert windowed["rows"] == 151 and windowed["score"]["mean"] != ref["score"]["mean"]


def _close(got: float, want: float, relative: float = 1e-9) -> bool:
    return abs(got - want) <= relative * max(1.0, abs(want))


def check_quantiles(got: list[float], want: dict, exact: bool) -> None:
    assert len(got) == 11
    if exact:
        assert all(_close(g, w) for g, w in zip(got, want["quantiles"])), (got, want["quantiles"])
        return
    # approximate: each boundary's rank among the values lies within 2% (+ one value) of its fraction
    x, n = want["sorted"], len(want["sorted"])
    slack = 0.02 + 1 / n
    for fraction, value in zip(np.linspace(0, 1, 11), got):
        below, at_or_below = np.searchsorted(x, value, "left") / n, np.searchsorted(x, value, "right") / n
        assert below - slack <= fraction <= at_or_below + slack, (fraction, value, below, at_or_below)
    assert got[0] >= want["min"] and got[-1] <= want["max"]


def check_profile(profile, want: dict, exact_quantiles: bool, exact_distinct: bool) -> None:
    assert profile.rows == want["rows"]
    by_name = {f.name: f for f in profile.features}
    for name, dtype in FEATURES:
        got, ref = by_name[name], want[name]
        assert (got.present, got.missing) == (ref["present"], ref["missing"]), name
        if dtype in ("float64", "int64", "bool"):
            n = got.numbers
            assert (n.min, n.max, n.zeros) == (ref["min"], ref["max"], ref["zeros"]), name
            assert _close(n.mean, ref["mean"]) and _close(n.std_dev, ref["std_dev"]), name
            assert [rows for _, _, rows in n.histogram] == ref["histogram"], name
            assert n.histogram[0][0] == ref["min"] and n.histogram[-1][1] == ref["max"]
            check_quantiles(list(n.quantiles), ref, exact_quantiles)
        elif dtype == "string":
            s = got.strings
            assert list(s.top_values) == ref["top"]
            assert _close(s.avg_length, ref["avg_length"])
            assert s.distinct == ref["distinct"] if exact_distinct else abs(s.distinct - ref["distinct"]) <= 0.05 * ref["distinct"] + 1
        else:
            assert (got.earliest, got.latest) == (ref["earliest"], ref["latest"])


def check_file(path: Path, want: dict, exact_quantiles: bool) -> None:
    """The .pb file, read with tensorflow-metadata's own protos, holds the reference's figures."""
    listing = statistics_pb2.DatasetFeatureStatisticsList.FromString(path.read_bytes())
    (dataset,) = listing.datasets
    assert dataset.name == "feature_view.profiled" and dataset.num_examples == want["rows"]
    features = {".".join(f.path.step): f for f in dataset.features}
    assert list(features) == [name for name, _ in FEATURES]
    score = features["score"]
    assert score.type == statistics_pb2.FeatureNameStatistics.FLOAT
    assert score.num_stats.common_stats.num_missing == want["score"]["missing"]
    assert score.num_stats.min == want["score"]["min"] and score.num_stats.max == want["score"]["max"]
    assert _close(score.num_stats.mean, want["score"]["mean"]) and score.num_stats.num_zeros == want["score"]["zeros"]
    standard, quantiles = score.num_stats.histograms
    assert standard.type == statistics_pb2.Histogram.STANDARD and quantiles.type == statistics_pb2.Histogram.QUANTILES
    assert [int(b.sample_count) for b in standard.buckets] == want["score"]["histogram"]
    assert sum(b.sample_count for b in quantiles.buckets) == pytest.approx(want["score"]["present"])
    check_quantiles([quantiles.buckets[0].low_value] + [b.high_value for b in quantiles.buckets], want["score"],
                    exact_quantiles)
    labels = {c.name: c.str for c in score.custom_stats}
    assert labels["quantiles"] == ("exact" if exact_quantiles else "approximate")
    assert features["trips"].type == features["premium"].type == statistics_pb2.FeatureNameStatistics.INT
    kind = features["kind"]
    assert kind.type == statistics_pb2.FeatureNameStatistics.STRING
    assert [(t.value, int(t.frequency)) for t in kind.string_stats.top_values] == want["kind"]["top"]
    seen = {c.name: c.str for c in features["seen_at"].custom_stats}
    assert seen["earliest"] == want["seen_at"]["earliest"].isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("window", [False, True], ids=["all_rows", "window"])
def test_profile_matches_the_numpy_reference(engine, graph, window, tmp_path):
    runner = engine.runner()
    engine.load(runner, Table(TABLE, COLUMNS, ROWS))
    start, end = WINDOW if window else (None, None)
    plan = plan_view_profile(graph, graph.feature_view("profiled"), start, end)
    profile = profile_plan(runner, plan)
    rows = [r for r in ROWS if WINDOW[0] <= r["event_ts"] <= WINDOW[1]] if window else ROWS
    want = reference(rows)
    check_profile(profile, want, profile.exact_quantiles, profile.exact_distinct_count)
    assert profile.exact_quantiles == (engine.name in ("duckdb", "postgres"))
    files = write_profile(profile, str(tmp_path), "dev")
    check_file(tmp_path / files["binary"], want, profile.exact_quantiles)


def test_a_window_without_rows_profiles_none(engine, graph, tmp_path):
    """No row in the window: every count is 0, no figure is made up, and the file still loads."""
    runner = engine.runner()
    engine.load(runner, Table(TABLE, COLUMNS, ROWS))
    after = max(r["event_ts"] for r in ROWS) + dt.timedelta(days=1)
    profile = profile_plan(runner, plan_view_profile(graph, graph.feature_view("profiled"), after, None))
    assert profile.rows == 0
    assert [(f.present, f.missing, f.numbers, f.strings, f.earliest) for f in profile.features] == \
        [(0, 0, None, None, None)] * len(FEATURES)
    files = write_profile(profile, str(tmp_path), "dev")
    listing = statistics_pb2.DatasetFeatureStatisticsList.FromString((tmp_path / files["binary"]).read_bytes())
    assert listing.datasets[0].num_examples == 0 and len(listing.datasets[0].features) == len(FEATURES)
