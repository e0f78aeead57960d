"""`fcompile profile` (issue 18) through the command line on the seeded sample: the files it writes (the .pb
read with tensorflow-metadata's protos, the .pbtxt parsing to the same message, the JSON summary), row counts
and figures checked against the seed files read with pyarrow and numpy, a window, a built dataset, and the
diagnostics of bad arguments and of an install without tensorflow-metadata."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from seeded_sample import init_seeded_sample

from build.sample_projects import assert_clean, fcompile

statistics_pb2 = pytest.importorskip("tensorflow_metadata.proto.v0.statistics_pb2",
                                     reason="tensorflow-metadata is not installed (a dependency of fcompile)")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return init_seeded_sample(tmp_path_factory.mktemp("profiles") / "sample", scale=0.2)


def written(root: Path, done: subprocess.CompletedProcess, node: str) -> tuple[dict, object]:
    """The JSON summary and the statistics of the profile `done` printed for `node`."""
    line = next(line for line in done.stdout.splitlines() if line.startswith(node + ":"))
    binary = root / line.split(" -> ")[1].split(" ")[0]
    summary = json.loads(binary.with_suffix(".json").read_text())
    statistics = statistics_pb2.DatasetFeatureStatisticsList.FromString(binary.read_bytes())
    return summary, statistics


def test_profile_of_a_view_matches_its_seed_file(sample):
    done = fcompile("profile", "--select", "driver_hourly_stats", cwd=sample)
    assert_clean(done)
    assert done.returncode == 0, done.stdout + done.stderr
    summary, statistics = written(sample, done, "feature_view.driver_hourly_stats")
    seed = pq.read_table(sample / "seeds" / "driver_stats.parquet")
    assert summary["rows"] == seed.num_rows and statistics.datasets[0].num_examples == seed.num_rows
    assert summary["quantiles"] == "exact" and summary["dialect"] == "duckdb"
    conv = np.array(seed.column("conversion_rate").drop_null().to_numpy(), dtype=np.float64)  # field_mapping
    figures = summary["features"]["conv_rate"]
    assert figures["count"] == len(conv) and figures["min"] == conv.min() and figures["max"] == conv.max()
    assert figures["mean"] == pytest.approx(conv.mean(), rel=1e-12)
    assert figures["median"] == pytest.approx(float(np.median(conv)), rel=1e-12)
    features = {f.path.step[0]: f for f in statistics.datasets[0].features}
    assert set(features) == {"conv_rate", "acc_rate", "avg_daily_trips", "avg_rating"}
    assert features["conv_rate"].num_stats.std_dev == pytest.approx(conv.std(), rel=1e-9)
    # the text format holds the same message
    from google.protobuf import text_format

    text = (sample / summary["files"]["text"]).read_text()
    assert text_format.Parse(text, statistics_pb2.DatasetFeatureStatisticsList()) == statistics
    # a line per feature on the terminal
    assert "  conv_rate (float64): 0.0% NULL, min " in done.stdout


def test_profile_of_strings_times_and_dates(sample):
    done = fcompile("profile", "-s", "driver_lifetime_stats", "driver_onboarding", cwd=sample)
    assert done.returncode == 0, done.stdout + done.stderr
    summary, statistics = written(sample, done, "feature_view.driver_lifetime_stats")
    values = pq.read_table(sample / "seeds" / "driver_profile.parquet").column("vehicle_class").drop_null().to_pylist()
    classes = summary["features"]["vehicle_class"]
    features = {f.path.step[0]: f for f in statistics.datasets[0].features}
    top = [(t.value, int(t.frequency)) for t in features["vehicle_class"].string_stats.top_values]
    assert top == sorted(top, key=lambda vc: (-vc[1], vc[0])) and sum(c for _, c in top) == classes["count"]
    assert classes["distinct"] == len(top)
    assert dict(top) == {v: values.count(v) for v in set(values)}
    summary, _ = written(sample, done, "feature_view.driver_onboarding")
    onboarded = summary["features"]["onboarded_at"]
    assert onboarded["earliest"] < onboarded["latest"] and onboarded["earliest"].endswith("Z")


def test_a_window_keeps_the_rows_whose_event_time_it_holds(sample):
    seed = pq.read_table(sample / "seeds" / "driver_stats.parquet")
    times = seed.column("event_timestamp")
    start, end = pc.min(times).as_py(), pc.max(times).as_py()
    middle = start + (end - start) / 2
    iso = lambda t: t.replace(tzinfo=None).isoformat()  # noqa: E731 - naive: UTC, as the seeds hold them
    done = fcompile("profile", "-s", "driver_hourly_stats", "--start", iso(middle), "--end", iso(end), cwd=sample)
    assert done.returncode == 0, done.stdout + done.stderr
    summary, _ = written(sample, done, "feature_view.driver_hourly_stats")
    kept = pc.sum(pc.and_(pc.greater_equal(times, middle), pc.less_equal(times, end))).as_py()
    assert 0 < summary["rows"] == kept < seed.num_rows
    assert summary["window"]["start"].startswith(iso(middle)[:19])


def test_profile_of_a_built_dataset(sample):
    ran = fcompile("run", "--no-materialize", cwd=sample)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    done = fcompile("profile", "--dataset", "driver_ranking_training", cwd=sample)
    assert_clean(done)
    assert done.returncode == 0, done.stdout + done.stderr
    summary, statistics = written(sample, done, "dataset.driver_ranking_training")
    import duckdb

    with duckdb.connect(str(sample / ".fcompile" / "offline.duckdb"), read_only=True) as con:
        rows, nulls = con.execute("SELECT COUNT(*), COUNT(*) - COUNT(driver_recent__conv_rate) "
                              "FROM driver_ranking_training").fetchone()
        columns = [d[0] for d in con.execute("SELECT * FROM driver_ranking_training LIMIT 0").description]
    assert summary["rows"] == rows
    assert summary["features"]["driver_recent__conv_rate"]["missing"] == nulls > 0  # early orders find no values
    profiled = [f.path.step[0] for f in statistics.datasets[0].features]
    assert profiled == [c for c in columns if "__" in c]  # every feature column, in the dataset's order


@pytest.mark.parametrize("args, code, words", [
    (["--dataset", "driver_ranking_trainin"], "FC165", "did you mean 'driver_ranking_training'"),
    (["--start", "2025-01-02", "--end", "2025-01-01"], "FC166", "is after --end"),
    (["--dataset", "driver_ranking_training", "-s", "driver_hourly_stats"], "FC090", "one or the other"),
    (["--start", "yesterday"], "FC090", "not an ISO 8601 date or time"),
])
def test_bad_arguments_are_diagnostics(sample, args, code, words):
    done = fcompile("profile", *args, cwd=sample)
    assert_clean(done)
    assert done.returncode == 1 and code in done.stderr and words in done.stderr, done.stdout + done.stderr


def test_without_tensorflow_metadata_the_command_says_what_to_install(sample):
    """An install that lacks the package (a broken or --no-deps install): FC167 before any query runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPILE_")}
    code = ("import sys; sys.modules['tensorflow_metadata'] = None; "
            "from fcompile.entry_point import main; main(['profile'])")
    done = subprocess.run([sys.executable, "-c", code], cwd=sample, env=env, capture_output=True, text=True,
                          timeout=120)
    assert_clean(done)
    assert done.returncode == 1 and "FC167" in done.stderr and "pip install tensorflow-metadata" in done.stderr, \
        done.stdout + done.stderr


def test_a_selected_view_whose_features_are_all_aggregated_is_named_as_not_profiled(sample):
    unprofiled = ("feature_view.driver_trip_windows: not profiled: its 6 features are aggregated over windows "
                  "(no column of their own)")
    alone = fcompile("profile", "-s", "driver_trip_windows", cwd=sample)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert alone.stdout.splitlines() == [
        "nothing to profile: the selection holds no feature view with a plain feature", unprofiled]
    by_source = fcompile("profile", "-s", "trips", "driver_onboarding", cwd=sample)  # the source the view reads
    assert by_source.returncode == 0, by_source.stdout + by_source.stderr
    assert by_source.stdout.splitlines()[-1] == unprofiled
    assert by_source.stdout.splitlines()[0].startswith("feature_view.driver_onboarding: ")
    other = fcompile("profile", "-s", "driver_onboarding", cwd=sample)
    assert "not profiled" not in other.stdout
