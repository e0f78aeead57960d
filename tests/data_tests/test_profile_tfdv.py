"""Profiles (issue 18) read by TensorFlow Data Validation itself: TFDV runs in a virtualenv of its own,
`.venv-tfdv` (`make test` builds it: TFDV pins a tensorflow and a protobuf of its own), as a separate process
given the `.pb` files fcompile wrote. It loads them (`load_stats_binary`), infers a schema from a first
profile (`infer_schema`), finds no anomaly in that profile (`validate_statistics`), and finds the ones a
second profile holds: a string value the first did not have, and NULLs in a feature that had none."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from fcompile.parser import parse_project
from fcompile.planner.profiles import plan_view_profile
from fcompile.tasks.profile_files import write_profile
from fcompile.tasks.profiles import profile_plan

from compiler.harness import Table, load_duckdb

TFDV_VENV = Path(__file__).resolve().parents[2] / ".venv-tfdv"
T0 = dt.datetime(2024, 3, 1)
COLUMNS = (("driver_id", "int64"), ("event_ts", "timestamp"), ("rate", "float64"), ("trips", "int64"),
           ("kind", "string"), ("premium", "bool"))

# TFDV's side: each .pb loaded; a schema inferred from the first; each validated against it
TFDV_SCRIPT = """
import json, sys
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2
first, second = (tfdv.load_stats_binary(path) for path in sys.argv[1:3])
schema = tfdv.infer_schema(first)
def anomalies(stats):
    found = tfdv.validate_statistics(stats, schema)
    return {name: sorted(schema_pb2.Schema.DESCRIPTOR.file.pool.FindEnumTypeByName(
        "tensorflow.metadata.v0.AnomalyInfo.Type").values_by_number[r.type].name for r in info.reason)
        for name, info in found.anomaly_info.items()}
features = {f.name: {"type": schema_pb2.FeatureType.Name(f.type), "domain": f.WhichOneof("domain_info"),
                     "presence": f.presence.min_fraction} for f in schema.feature}
domains = {d.name: sorted(d.value) for d in schema.string_domain}
print(json.dumps({"features": features, "domains": domains, "first": anomalies(first), "second": anomalies(second)}))
"""


def tfdv_missing() -> str | None:
    if not (TFDV_VENV / ".installed").exists():
        return f"TensorFlow Data Validation is not installed in {TFDV_VENV.name}: `make test` builds it"
    return None


def rows(kinds: list[str], null_rates: bool) -> list[dict]:
    return [{"driver_id": i % 7, "event_ts": T0 + dt.timedelta(hours=i), "rate": None if null_rates and i % 3 == 0
             else i / 40, "trips": i % 9, "kind": kinds[i % len(kinds)], "premium": i % 4 == 0} for i in range(40)]


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfdv")
    (root / "fcompile_project.yml").write_text(yaml.safe_dump({
        "name": "tfdv_profiles", "default_target": "dev",
        "targets": {"dev": {"offline": {"type": "duckdb", "path": "x.duckdb"},
                            "online": {"type": "sqlite", "path": "x.db"}}}}))
    (root / "spec.yml").write_text(yaml.safe_dump({
        "entities": [{"name": "driver", "join_keys": [{"name": "driver_id", "dtype": "int64"}]}],
        "sources": [{"name": "rows_src", "table": "tfdv_rows", "timestamp_field": "event_ts"}],
        "feature_views": [{"name": "profiled", "entities": ["driver"], "source": "rows_src", "features": [
            {"name": "rate", "dtype": "float64"}, {"name": "trips", "dtype": "int64"},
            {"name": "kind", "dtype": "string"}, {"name": "premium", "dtype": "bool"}]}],
    }, sort_keys=False))
    result = parse_project(root, use_cache=False)
    assert result.ok, [d.render() for d in result.diagnostics]
    return result.graph


def profile_file(graph, data: list[dict], folder: Path) -> Path:
    from fcompile.runners.duckdb import DuckDBRunner

    with DuckDBRunner() as runner:
        load_duckdb(runner.con, Table("tfdv_rows", COLUMNS, data))
        profile = profile_plan(runner, plan_view_profile(graph, graph.feature_view("profiled")))
    return folder / write_profile(profile, str(folder), "dev")["binary"]


def test_tfdv_infers_a_schema_from_a_profile_and_validates_profiles_against_it(graph, tmp_path):
    missing = tfdv_missing()
    if missing:
        pytest.skip(missing)
    first = profile_file(graph, rows(["economy", "comfort", "xl"], null_rates=False), tmp_path / "first")
    second = profile_file(graph, rows(["economy", "comfort", "xl", "limo"], null_rates=True), tmp_path / "second")
    done = subprocess.run([str(TFDV_VENV / "bin" / "python"), "-c", TFDV_SCRIPT, str(first), str(second)],
                          capture_output=True, text=True, timeout=600, env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    features = found["features"]
    assert {name: f["type"] for name, f in features.items()} == \
        {"rate": "FLOAT", "trips": "INT", "kind": "BYTES", "premium": "INT"}
    assert features["kind"]["domain"] == "domain" and found["domains"] == {"kind": ["comfort", "economy", "xl"]}
    assert features["premium"]["domain"] == "bool_domain"  # TFDV reads an INT feature of 0 and 1 as a boolean
    assert all(f["presence"] == 1.0 for f in features.values())
    assert found["first"] == {}
    # a feature always present with one value gets a fixed shape in the schema: NULLs break it too
    assert found["second"] == {"kind": ["ENUM_TYPE_UNEXPECTED_STRING_VALUES"],
                               "rate": ["FEATURE_TYPE_LOW_FRACTION_PRESENT", "INVALID_FEATURE_SHAPE"]}


# TFDV's side of the schema checks: fcompile's schema file loaded, the second profile validated against it
# with the first as the previous statistics (drift)
TFDV_VALIDATE = """
import json, sys
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2
schema = tfdv.load_schema_text(sys.argv[1])
first, second = (tfdv.load_stats_binary(path) for path in sys.argv[2:4])
found = tfdv.validate_statistics(second, schema, previous_statistics=first)
print(json.dumps({name: sorted(anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason)
                  for name, info in found.anomaly_info.items()}))
"""


def test_tfdv_reads_fcompiles_schema_and_finds_the_anomalies_fcompile_finds(graph, tmp_path):
    """fcompile's inferred schema, with a value range and drift thresholds added as a user would, checked by
    fcompile (fcompile/tasks/schema_checks.py) and by TFDV's validate_statistics: the same anomaly kinds."""
    missing = tfdv_missing()
    if missing:
        pytest.skip(missing)
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from fcompile.runners.duckdb import DuckDBRunner
    from fcompile.tasks.feature_schemas import infer_schema
    from fcompile.tasks.schema_checks import check_statistics

    first = profile_file(graph, rows(["economy", "comfort", "xl"], null_rates=False), tmp_path / "first")
    second_rows = rows(["economy", "comfort", "xl", "limo", "limo", "limo"], null_rates=True)
    for row in second_rows:
        row["trips"] = row["trips"] * 3  # 0 to 24 instead of 0 to 8: another spread
    second = profile_file(graph, second_rows, tmp_path / "second")
    with DuckDBRunner() as runner:
        load_duckdb(runner.con, Table("tfdv_rows", COLUMNS, rows(["economy", "comfort", "xl"], null_rates=False)))
        made = profile_plan(runner, plan_view_profile(graph, graph.feature_view("profiled")))
    schema = infer_schema(made, value_ranges=True)
    for feature in schema.feature:
        if feature.name == "kind":
            feature.drift_comparator.infinity_norm.threshold = 0.1
        if feature.name == "trips":
            feature.drift_comparator.jensen_shannon_divergence.threshold = 0.1
    path = tmp_path / "profiled.pbtxt"
    path.write_text(text_format.MessageToString(schema))
    load = lambda p: statistics_pb2.DatasetFeatureStatisticsList.FromString(p.read_bytes()).datasets[0]  # noqa: E731
    ours = {name: sorted(a.kind for a in anomalies)
            for name, anomalies in check_statistics(schema, load(second), load(first)).items() if anomalies}
    done = subprocess.run([str(TFDV_VENV / "bin" / "python"), "-c", TFDV_VALIDATE, str(path), str(first),
                           str(second)], capture_output=True, text=True, timeout=600, env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert ours == {"kind": ["COMPARATOR_L_INFTY_HIGH", "ENUM_TYPE_UNEXPECTED_STRING_VALUES"],
                    "rate": ["FEATURE_TYPE_LOW_FRACTION_PRESENT"],
                    "trips": ["COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH", "INT_TYPE_BIG_INT"]}
    assert theirs == ours
