"""Schemas as part of feature definitions (issue 18): the distances against hand-computed values, the checks
of statistics against a schema, the parse-time diagnostics of a view's `schema:`, `fcompile profile
--infer-schema`, and `fcompile test` on a copy of the seeded sample whose data breaks the sample's schema (the
sample itself passes: tests/data_tests/test_data_test_cli.py)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import duckdb
import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from fcompile.diagnostics import Code
from fcompile.parser import parse_project
from fcompile.tasks.schema_checks import check_statistics, jensen_shannon, l_infinity

from build.sample_projects import assert_clean, fcompile
from seeded_sample import init_seeded_sample


# -- the distances -------------------------------------------------------------------------------------------

def test_jensen_shannon_against_hand_computed_values():
    assert jensen_shannon([(0, 1, 10), (1, 2, 0)], [(0, 1, 3), (1, 2, 0)]) == 0.0  # same shape, other counts
    assert jensen_shannon([(0, 1, 10)], [(1, 2, 10)]) == pytest.approx(1.0)         # nothing in common
    # P = (1, 0), Q = (1/2, 1/2), M = (3/4, 1/4): (log2(4/3) + 1/2 log2(2/3) + 1/2 log2(2)) / 2
    expected = (math.log2(4 / 3) + 0.5 * math.log2(2 / 3) + 0.5) / 2
    assert jensen_shannon([(0, 1, 4), (1, 2, 0)], [(0, 1, 2), (1, 2, 2)]) == pytest.approx(expected)
    # the same, with Q one bucket over [0, 2): cut at 1, each half gets half of its rows
    assert jensen_shannon([(0, 1, 4)], [(0, 2, 8)]) == pytest.approx(expected)
    # a bucket of no width (every value 5) against a spread over [0, 10): nothing in common
    assert jensen_shannon([(5, 5, 3)], [(0, 10, 3)]) == pytest.approx(1.0)
    assert jensen_shannon([(5, 5, 3)], [(5, 5, 9)]) == 0.0


def test_l_infinity_against_hand_computed_values():
    # shares a .75 / .25, b .25 / .25, c 0 / .5: a and c differ by .5, a first in byte order
    assert l_infinity({"a": 3, "b": 1}, {"a": 1, "b": 1, "c": 2}) == (0.5, "a")
    assert l_infinity({"x": 5}, {"x": 1}) == (0.0, "")


# -- statistics against a schema ------------------------------------------------------------------------------

SCHEMA = """
feature { name: "rate" type: FLOAT presence { min_fraction: 0.9 min_count: 1 } float_domain { min: 0 max: 1 }
          drift_comparator { jensen_shannon_divergence { threshold: 0.3 } } }
feature { name: "trips" type: INT presence { min_count: 50 } int_domain { min: 0 } }
feature { name: "kind" type: BYTES domain: "kind" drift_comparator { infinity_norm { threshold: 0.2 } } }
feature { name: "label" type: INT }
feature { name: "gone" type: INT }
string_domain { name: "kind" value: "a" value: "b" }
"""


def stats(rows: int, features: dict) -> statistics_pb2.DatasetFeatureStatistics:
    dataset = statistics_pb2.DatasetFeatureStatistics(num_examples=rows)
    for name, (kind, present, figures) in features.items():
        feature = dataset.features.add(type=kind)
        feature.path.step.append(name)
        if kind == statistics_pb2.FeatureNameStatistics.STRING:
            feature.string_stats.common_stats.num_non_missing = present
            for value, count in figures:
                feature.string_stats.rank_histogram.buckets.add(label=value, sample_count=count)
        else:
            numbers = feature.num_stats
            numbers.common_stats.num_non_missing = present
            numbers.min, numbers.max = figures[0][0], figures[-1][1]
            histogram = numbers.histograms.add(type=statistics_pb2.Histogram.STANDARD)
            for low, high, count in figures:
                histogram.buckets.add(low_value=low, high_value=high, sample_count=count)
    return dataset


T = statistics_pb2.FeatureNameStatistics


def test_statistics_checked_against_a_schema_name_each_anomaly_per_feature():
    schema = text_format.Parse(SCHEMA, schema_pb2.Schema())
    previous = stats(100, {"rate": (T.FLOAT, 100, [(0, 0.5, 100), (0.5, 1, 0)]),
                           "kind": (T.STRING, 100, [("a", 60), ("b", 40)])})
    current = stats(100, {
        "rate": (T.FLOAT, 80, [(0, 0.5, 40), (0.5, 1.5, 40)]),     # 80% present, max 1.5, drifted
        "trips": (T.INT, 40, [(-2, 3, 40)]),                       # 40 < min_count 50, min -2 < 0
        "kind": (T.STRING, 100, [("a", 30), ("b", 30), ("c", 40)]),  # c outside; shares .3/.3/.4
        "label": (T.FLOAT, 100, [(0, 1, 100)]),                    # FLOAT statistics of an INT feature
        "extra": (T.INT, 100, [(0, 1, 100)]),                      # not in the schema
    })
    found = {name: [a.kind for a in anomalies] for name, anomalies in check_statistics(schema, current,
                                                                                     previous).items()}
    # rate: before all in [0, .5); after, cut at .5 and 1: (.5, .25, .25). JSD by hand:
    p, q = (1.0, 0.0, 0.0), (0.5, 0.25, 0.25)
    jsd = sum(x / 2 * math.log2(x / ((x + y) / 2)) for x, y in zip(p, q) if x) + \
        sum(y / 2 * math.log2(y / ((x + y) / 2)) for x, y in zip(p, q) if y)
    assert jsd > 0.3
    assert found == {
        "rate": ["FEATURE_TYPE_LOW_FRACTION_PRESENT", "FLOAT_TYPE_BIG_FLOAT",
                 "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"],
        "trips": ["FEATURE_TYPE_LOW_NUMBER_PRESENT", "INT_TYPE_SMALL_INT"],
        # L-infinity: a .6 -> .3, b .4 -> .3, c 0 -> .4: .4 > .2
        "kind": ["ENUM_TYPE_UNEXPECTED_STRING_VALUES", "COMPARATOR_L_INFTY_HIGH"],
        "label": ["UNEXPECTED_DATA_TYPE"],
        "gone": ["SCHEMA_MISSING_COLUMN"],
        "extra": ["SCHEMA_NEW_COLUMN"],
    }
    described = {a.kind: a.description for anomalies in check_statistics(schema, current, previous).values()
                 for a in anomalies}
    assert described["COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"].startswith(f"Jensen-Shannon divergence {jsd:.4f}")
    assert described["COMPARATOR_L_INFTY_HIGH"].startswith("L-infinity distance 0.4000 ")
    assert described["ENUM_TYPE_UNEXPECTED_STRING_VALUES"] == "values outside the domain: 'c' (40 rows)"
    # without a previous profile no drift is measured; within every bound nothing is reported
    assert check_statistics(schema, previous, None)["kind"] == []
    fine = stats(100, {"rate": (T.FLOAT, 95, [(0, 0.5, 90), (0.5, 1, 5)]), "trips": (T.INT, 60, [(0, 3, 60)]),
                       "kind": (T.STRING, 100, [("a", 55), ("b", 45)]), "label": (T.INT, 1, [(0, 1, 1)]),
                       "gone": (T.INT, 1, [(0, 1, 1)])})
    assert all(not anomalies for anomalies in check_statistics(schema, fine, previous).values())


# -- the spec's schema: at parse time --------------------------------------------------------------------------

SPEC = """
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - {name: rows_src, table: rows, timestamp_field: event_ts}
feature_views:
  - name: profiled
    entities: [driver]
    source: rows_src
    schema: schemas/profiled.pbtxt
    features:
      - {name: rate, dtype: float64}
      - {name: kind, dtype: string}
"""


def project(root: Path, schema: str | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fcompile_project.yml").write_text(
        "name: schemas\ndefault_target: dev\ntargets:\n  dev:\n    offline: {type: duckdb, path: x.duckdb}\n"
        "    online: {type: sqlite, path: x.db}\n")
    (root / "spec.yml").write_text(SPEC)
    if schema is not None:
        (root / "schemas").mkdir(exist_ok=True)
        (root / "schemas" / "profiled.pbtxt").write_text(schema)
    return root


def test_a_schema_naming_a_feature_the_view_lacks_is_a_warning_at_its_line(tmp_path):
    result = parse_project(project(tmp_path, 'feature {\n  name: "rate"\n}\nfeature {\n  name: "rates"\n}\n'),
                           use_cache=False)
    assert result.graph is not None
    [problem] = result.diagnostics
    assert problem.code is Code.SCHEMA_FEATURE and problem.severity.value == "warning"
    assert "its schema names feature 'rates', which the view does not have" in problem.message
    assert (Path(problem.position.path).name, problem.position.line, problem.position.column) == \
        ("profiled.pbtxt", 5, 3)


def test_a_view_names_its_schema_and_the_manifest_keeps_it(tmp_path):
    result = parse_project(project(tmp_path, 'feature { name: "rate" type: FLOAT }\n'), use_cache=False)
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.graph.feature_view("profiled").schema == "schemas/profiled.pbtxt"
    from fcompile.artifacts.manifest import build_manifest, manifest_problems

    manifest = build_manifest(result.graph, {})
    assert manifest["nodes"]["feature_view"]["profiled"]["spec"]["schema"] == "schemas/profiled.pbtxt"
    assert manifest_problems(json.loads(json.dumps(manifest))) == []


@pytest.mark.parametrize("schema, code, line, column, words", [
    (None, Code.SCHEMA_FILE, 10, 13, "schema file not found: schemas/profiled.pbtxt"),
    ('feature { name: "rate" type: FLOAT }\nfeature { name: "kind" typ: BYTES }\n', Code.SCHEMA_FILE, 2, 24,
     "is not a TFDV Schema in text format"),
])
def test_a_schema_that_cannot_be_used_is_a_positioned_diagnostic(tmp_path, schema, code, line, column, words):
    result = parse_project(project(tmp_path, schema), use_cache=False)
    assert not result.ok and result.graph is None
    [problem] = result.diagnostics
    assert problem.code is code and words in problem.message, problem.render()
    assert (problem.position.line, problem.position.column) == (line, column), problem.render()
    expected = "spec.yml" if schema is None else "profiled.pbtxt"
    assert Path(problem.position.path).name == expected


# -- fcompile profile --infer-schema and fcompile test, on the seeded sample ------------------------------------

@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return init_seeded_sample(tmp_path_factory.mktemp("schemas") / "sample", scale=0.2)


def test_infer_schema_writes_what_the_profile_saw(sample, tmp_path):
    out = tmp_path / "lifetime.pbtxt"
    done = fcompile("profile", "-s", "driver_lifetime_stats", "--infer-schema", "--value-ranges", "--output",
                    str(out), cwd=sample)
    assert_clean(done)
    assert done.returncode == 0, done.stdout + done.stderr
    schema = text_format.Parse(out.read_text(), schema_pb2.Schema())
    with duckdb.connect(str(sample / ".fcompile" / "offline.duckdb"), read_only=True) as con:
        low, high = con.execute("SELECT min(lifetime_trip_count), max(lifetime_trip_count) "
                                "FROM driver_profile").fetchone()
        classes = sorted(v for (v,) in con.execute("SELECT DISTINCT vehicle_class FROM driver_profile").fetchall())
    features = {f.name: f for f in schema.feature}
    assert {n: schema_pb2.FeatureType.Name(f.type) for n, f in features.items()} == \
        {"lifetime_trip_count": "INT", "is_premium": "INT", "vehicle_class": "BYTES"}
    assert (features["lifetime_trip_count"].int_domain.min, features["lifetime_trip_count"].int_domain.max) == \
        (low, high)
    assert features["is_premium"].HasField("bool_domain")
    assert features["vehicle_class"].domain == "vehicle_class"
    assert [(d.name, list(d.value)) for d in schema.string_domain] == [("vehicle_class", classes)]
    assert all(f.presence.min_fraction == 1.0 for f in schema.feature)
    several = fcompile("profile", "--infer-schema", "--output", str(out), cwd=sample)
    assert several.returncode == 1 and "error[FC191]: --output names one schema file" in several.stderr


def test_data_that_breaks_the_sample_schema_fails_fcompile_test(sample, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns("target"))
    first = fcompile("test", "-s", "driver_lifetime_stats", cwd=root)  # the first profile: nothing to drift from
    assert first.returncode == 0, first.stdout + first.stderr
    database = str(root / ".fcompile" / "offline.duckdb")
    with duckdb.connect(database) as con:
        before = dict(con.execute("SELECT vehicle_class, count(*) FROM driver_profile GROUP BY 1").fetchall())
        con.execute("UPDATE driver_profile SET vehicle_class = 'limo' WHERE driver_id % 5 = 0")
        con.execute("UPDATE driver_profile SET lifetime_trip_count = NULL WHERE driver_id % 10 = 1")
        after = dict(con.execute("SELECT vehicle_class, count(*) FROM driver_profile GROUP BY 1").fetchall())
        rows, present = con.execute("SELECT count(*), count(lifetime_trip_count) FROM driver_profile").fetchone()
    shares = lambda counts: {k: v / sum(counts.values()) for k, v in counts.items()}  # noqa: E731
    b, a = shares(before), shares(after)
    distance = max(abs(b.get(k, 0) - a.get(k, 0)) for k in set(a) | set(b))
    assert distance > 0.1 and present < rows
    done = fcompile("test", "-s", "driver_lifetime_stats", cwd=root)
    assert_clean(done)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith("FAIL  driver_lifetime_stats__vehicle_class__accepted_values")
    trips = lines.index(next(line for line in lines if line.startswith(
        "FAIL  driver_lifetime_stats__lifetime_trip_count__schema: 1 anomaly: FEATURE_TYPE_LOW_FRACTION_PRESENT (")))
    assert lines[trips + 1] == (f"      anomaly=FEATURE_TYPE_LOW_FRACTION_PRESENT, description={present / rows:.2%} of "
                                "rows have a value; the schema wants at least 100.00%")
    classes = lines.index(next(line for line in lines if line.startswith(
        "FAIL  driver_lifetime_stats__vehicle_class__schema: 2 anomalies: ENUM_TYPE_UNEXPECTED_STRING_VALUES, "
        "COMPARATOR_L_INFTY_HIGH (")))
    assert lines[classes + 1] == ("      anomaly=ENUM_TYPE_UNEXPECTED_STRING_VALUES, description=values outside the "
                                  f"domain: 'limo' ({after['limo']:,} rows)")
    assert lines[classes + 2] == (f"      anomaly=COMPARATOR_L_INFTY_HIGH, description=L-infinity distance "
                                  f"{distance:.4f} from the previous profile (value 'limo') is above the threshold 0.1")
    assert any(line.startswith("PASS  driver_lifetime_stats__is_premium__schema") for line in lines)
    assert lines[-1] == ("1 passed, 0 warned, 3 failed, 0 errors (4 tests: 1 data test, 3 schema checks); "
                         "wrote target/run_results.json")
    recorded = {e["node"]: e for e in json.loads((root / "target" / "run_results.json").read_text())["results"]}
    entry = recorded["test.driver_lifetime_stats__vehicle_class__schema"]
    assert entry["status"] == "fail" and entry["failures"] == 2
    assert [s["anomaly"] for s in entry["sample"]] == ["ENUM_TYPE_UNEXPECTED_STRING_VALUES", "COMPARATOR_L_INFTY_HIGH"]


# -- fcompile profile --compare ---------------------------------------------------------------------------------

def test_population_stability_index_against_a_hand_computed_value():
    from fcompile.tasks.profile_compare import PSI_FLOOR, population_stability_index

    # reference shares (1, 0 -> the floor), current (1/2, 1/2)
    expected = (0.5 - 1) * math.log(0.5 / 1) + (0.5 - PSI_FLOOR) * math.log(0.5 / PSI_FLOOR)
    assert population_stability_index([(0, 1, 4), (1, 2, 0)], [(0, 1, 2), (1, 2, 2)]) == pytest.approx(expected)
    assert population_stability_index([(0, 2, 8)], [(0, 1, 3), (1, 2, 3)]) == pytest.approx(0.0)


def test_compare_prints_the_drift_from_a_reference_profile(sample, tmp_path):
    root = tmp_path / "compared"
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns("target"))
    first = fcompile("profile", "-s", "driver_lifetime_stats", cwd=root)
    assert first.returncode == 0, first.stdout + first.stderr
    [reference] = (root / "target" / "profiles" / "feature_view.driver_lifetime_stats").glob("*.pb")
    with duckdb.connect(str(root / ".fcompile" / "offline.duckdb")) as con:
        before = dict(con.execute("SELECT vehicle_class, count(*) FROM driver_profile GROUP BY 1").fetchall())
        con.execute("UPDATE driver_profile SET vehicle_class = 'limo' WHERE driver_id % 5 = 0")
        con.execute("UPDATE driver_profile SET lifetime_trip_count = NULL WHERE driver_id % 10 = 1")
        after = dict(con.execute("SELECT vehicle_class, count(*) FROM driver_profile GROUP BY 1").fetchall())
        rows, present = con.execute("SELECT count(*), count(lifetime_trip_count) FROM driver_profile").fetchone()
    b = {k: v / rows for k, v in before.items()}
    a = {k: v / rows for k, v in after.items()}
    distance = max(abs(b.get(k, 0) - a.get(k, 0)) for k in set(a) | set(b))
    done = fcompile("profile", "-s", "driver_lifetime_stats", "--compare", str(reference), cwd=root)
    assert_clean(done)
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout.splitlines()[-4:]
    assert table[0].split() == ["feature", "nulls", "psi", "js", "linf"]
    cells = {line.split()[0]: line.split()[1:] for line in table[1:]}
    assert cells["vehicle_class"] == ["+0.0000", "-", "-", f"{distance:.4f}"]
    assert cells["lifetime_trip_count"][0] == f"{(rows - present) / rows:+.4f}"
    assert float(cells["lifetime_trip_count"][1]) > 0 and float(cells["lifetime_trip_count"][2]) > 0
    assert cells["is_premium"] == ["+0.0000", "0.0000", "0.0000", "-"]
    latest = fcompile("profile", "-s", "driver_lifetime_stats", "--compare", "feature_view:driver_lifetime_stats",
                      cwd=root)
    assert latest.stdout.splitlines()[-1].split() == ["vehicle_class", "+0.0000", "-", "-", "0.0000"]
    missing = fcompile("profile", "--compare", "dataset:driver_ranking_training", cwd=root)
    assert missing.returncode == 1
    assert "error[FC192]: --compare dataset:driver_ranking_training: dataset 'driver_ranking_training' has no " \
        "profile under target/profiles/" in missing.stderr


@pytest.mark.parametrize("given, message, hint", [
    ("feature_view:driver_lifetime_stat", "no feature view named 'driver_lifetime_stat'",
     "did you mean 'feature_view:driver_lifetime_stats'?"),
    ("feature_view:", "names no feature view", "write the name after the colon, e.g. feature_view:"),
    ("dataset:nope", "no dataset named 'nope'", "known datasets: 'driver_ranking_training'"),
    ("feature_view.driver_lifetime_stats", "no such file",
     "for the latest profile of the feature view 'driver_lifetime_stats', write feature_view:driver_lifetime_stats"),
    ("driver_lifetime_stats", "no such file", "write feature_view:driver_lifetime_stats"),
    ("features", "is a folder, not a profile file", "give one of the .pb files in it"),
    ("fcompile_project.yml", "not a profile: the file does not hold the feature statistics",
     "give a .pb (or .pbtxt) file fcompile profile wrote"),
])
def test_a_compare_reference_that_cannot_be_used_says_what_to_write(sample, given, message, hint):
    done = fcompile("profile", "-s", "driver_lifetime_stats", "--compare", given, cwd=sample)
    assert_clean(done)
    assert done.returncode == 1 and done.stdout == "", done.stdout + done.stderr
    assert f"error[FC192]: --compare {given}: {message}" in done.stderr
    assert f"hint: {hint}" in done.stderr or f"{hint}\n" in done.stderr
    assert "Wire format" not in done.stderr and "--select \n" not in done.stderr


def test_compare_says_when_the_reference_has_none_of_a_views_features_and_previous_compares_each_view(
        sample, tmp_path):
    root = tmp_path / "previous"
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns("target"))
    first = fcompile("profile", "-s", "driver_lifetime_stats", "--compare", "previous", cwd=root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "  drift from previous: no earlier profile of feature_view.driver_lifetime_stats to compare with" \
        in first.stdout.splitlines()
    fcompile("profile", "-s", "driver_onboarding", cwd=root)
    with duckdb.connect(str(root / ".fcompile" / "offline.duckdb")) as con:
        con.execute("UPDATE driver_profile SET vehicle_class = 'limo' WHERE driver_id % 5 = 0")
    again = fcompile("profile", "-s", "driver_lifetime_stats", "-s", "driver_onboarding", "--compare", "previous",
                     cwd=root)
    assert again.returncode == 0, again.stdout + again.stderr
    lines = again.stdout.splitlines()
    assert lines.count("  drift from previous:") == 2
    vehicle = next(line.split() for line in lines if line.startswith("    vehicle_class "))
    assert float(vehicle[-1]) > 0  # against its own earlier profile, before the update
    # a .pbtxt reference of another view: a line per view instead of an empty table
    text = sorted((root / "target" / "profiles" / "feature_view.driver_onboarding").glob("*.pbtxt"))[0]
    other = fcompile("profile", "-s", "driver_lifetime_stats", "--compare", str(text), cwd=root)
    assert other.returncode == 0, other.stdout + other.stderr
    assert (f"  drift from {text}: the reference (feature_view.driver_onboarding) has none of this view's features"
            in other.stdout.splitlines())
    assert "feature  nulls" not in other.stdout
