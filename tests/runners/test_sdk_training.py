"""Training sets through the SDK: the point-in-time rules on a hand-made project whose answers are known, every
spine form giving the same rows, and the job's outputs."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from runner_projects import EXPECTED, spine_rows

from fcompile import FeatureStore
from fcompile.diagnostics import Code, DiagnosticError

FEATURES = ["stats:conv", "stats:trips", "recent:conv", "rider:rating"]
FULL_NAMES = ["stats__conv", "stats__trips", "recent__conv", "rider__rating"]


def spine_table() -> pa.Table:
    return pa.table(spine_rows())


def expected_rows(names=FULL_NAMES) -> list[dict]:
    rows = spine_table().to_pylist()
    for i, row in enumerate(rows):
        for name, key in zip(names, ("conv", "trips", "recent_conv", "rating")):
            row[name] = EXPECTED[key][i]
    return rows


@pytest.fixture
def store(small_project):
    with FeatureStore(small_project) as fs:
        yield fs


def test_one_row_per_spine_row_in_order_with_duplicates_kept(store):
    job = store.get_historical_features(spine_table(), features=FEATURES, full_feature_names=True)
    result = job.to_arrow()
    assert result.column_names == [*spine_table().column_names, *FULL_NAMES] == list(job.columns)
    assert result.to_pylist() == expected_rows()
    assert result.to_pylist()[0] == result.to_pylist()[6]  # the duplicate spine row stays a duplicate


def test_every_spine_form_gives_the_same_rows(store, tmp_path):
    data = spine_table()
    pq.write_table(data, tmp_path / "spine.parquet", row_group_size=2)
    pq.write_table(data.slice(0, 3), tmp_path / "part-0.parquet")
    pq.write_table(data.slice(3), tmp_path / "part-1.parquet")
    pcsv.write_csv(data, tmp_path / "spine.csv")
    forms = {
        "arrow": data,
        "arrow, several chunks": pa.concat_tables([data.slice(0, 2), data.slice(2, 4), data.slice(6)]),
        "pandas": data.to_pandas(),
        "reader": pa.RecordBatchReader.from_batches(data.schema, data.to_batches(max_chunksize=2)),
        "parquet str": str(tmp_path / "spine.parquet"),
        "parquet Path": tmp_path / "spine.parquet",
        "parquet glob": str(tmp_path / "part-*.parquet"),
        "csv": str(tmp_path / "spine.csv"),
        "table": "spine_table",
        "query": "SELECT * FROM spine_table ORDER BY label, driver_id",
    }
    wanted = expected_rows()
    for name, spine in forms.items():
        rows = store.get_historical_features(spine, features=FEATURES, full_feature_names=True).to_arrow().to_pylist()
        if name == "query":  # the query's own order
            wanted_here = sorted(wanted, key=lambda r: (r["label"], r["driver_id"]))
            assert [(r["label"], r["driver_id"]) for r in rows] == [(r["label"], r["driver_id"]) for r in wanted_here]
            assert sorted(map(repr, rows)) == sorted(map(repr, wanted)), name
        else:
            assert rows == wanted, name


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
def test_zoned_spine_timestamps_are_converted_naive_ones_read_as_utc(store, zone):
    """DuckDB with TimeZone=UTC compares TIMESTAMP and TIMESTAMPTZ as instants: a zoned spine gets the
    same features as the naive UTC one; the rider source's zoned event times are converted too."""
    naive = spine_table()
    zoned_ts = pa.compute.assume_timezone(naive["event_timestamp"], "UTC").cast(pa.timestamp("us", tz=zone))
    zoned = naive.set_column(2, "event_timestamp", zoned_ts)
    def features(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in row.items() if k in FULL_NAMES} for row in rows]

    def run(data: pa.Table) -> list[dict]:
        return features(store.get_historical_features(data, features=FEATURES, full_feature_names=True)
                        .to_arrow().to_pylist())

    assert run(zoned) == run(naive) == features(expected_rows())


def test_a_naive_local_time_is_not_shifted(store):
    """10:30 naive is 10:30 UTC: a spine at 10:30+01:00 (09:30 UTC) comes before driver 1's first row."""
    spine = pa.table({"driver_id": [1, 1], "event_timestamp": [dt.datetime(2024, 1, 1, 10, 30)] * 2})
    local = dt.datetime(2024, 1, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    zoned = spine.set_column(1, "event_timestamp", pa.array([local] * 2, pa.timestamp("us", tz="+01:00")))
    assert store.get_historical_features(spine, features=["stats:conv"]).to_arrow()["conv"].to_pylist() == [0.1, 0.1]
    assert store.get_historical_features(zoned, features=["stats:conv"]).to_arrow()["conv"].to_pylist() == [None, None]


def test_service_and_its_feature_list_give_the_same_rows(store):
    by_service = store.get_historical_features(spine_table(), service="driver_v1").to_arrow()
    by_list = store.get_historical_features(spine_table(), features=["stats:conv", "stats:trips"]).to_arrow()
    assert by_service.equals(by_list)
    assert by_service.column_names[-2:] == ["conv", "trips"]
    assert by_service["conv"].to_pylist() == EXPECTED["conv"]


def test_full_feature_names_and_request_order(store):
    job = store.get_historical_features(spine_table(), features=["rider:rating", "stats:trips", "stats:conv"],
                                        full_feature_names=True)
    assert job.to_arrow().column_names[-3:] == ["rider__rating", "stats__trips", "stats__conv"]
    plain = store.get_historical_features(spine_table(), features=["stats:*"]).to_arrow()
    assert plain.column_names[-2:] == ["conv", "trips"]


def test_job_outputs(store, tmp_path):
    job = store.get_historical_features(spine_table(), features=FEATURES, full_feature_names=True)
    assert "__fc_spine_row" in job.sql and job.sql.rstrip().endswith(";")
    frame = job.to_pandas()
    assert list(frame.columns) == job.to_arrow().column_names and len(frame) == 7
    reader = job.to_batches()
    assert isinstance(reader, pa.RecordBatchReader)
    assert reader.read_all().to_pylist() == expected_rows()
    assert job.to_parquet(tmp_path / "out" / "training.parquet") == 7
    assert pq.read_table(tmp_path / "out" / "training.parquet").to_pylist() == expected_rows()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["training.parquet"]  # no temporary file left


def test_a_path_that_cannot_be_written_is_fc135_and_keeps_what_is_there(store, tmp_path):
    from fcompile.diagnostics import Code, DiagnosticError

    job = store.get_historical_features(spine_table(), features=FEATURES, full_feature_names=True)
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    (tmp_path / "folder.parquet").mkdir()
    (tmp_path / "a-file").write_text("kept")
    for path, reason in ((tmp_path / "folder.parquet", "Is a directory"),
                         (tmp_path / "a-file" / "x.parquet", f"{tmp_path / 'a-file'} is a file, not a folder")):
        with pytest.raises(DiagnosticError) as raised:
            job.to_parquet(path)
        (found,) = raised.value.diagnostics
        assert found.code is Code.OUTPUT_UNWRITABLE and found.message.startswith(f"cannot write {path}: ")
        assert reason in found.message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "folder.parquet"]
    assert (tmp_path / "a-file").read_text() == "kept" and not any((tmp_path / "folder.parquet").iterdir())


def test_job_sql_is_what_runs(store, small_project):
    from_file = store.get_historical_features(small_project / "data" / "stats.parquet", features=["stats:conv"],
                                              full_feature_names=True, timestamp_column="ts")
    assert "READ_PARQUET(" in from_file.sql and '"file_row_number" AS "__fc_row_id"' in from_file.sql
    from_query = store.get_historical_features("SELECT * FROM spine_table", features=["stats:conv"])
    assert from_query.sql.startswith("CREATE TEMPORARY TABLE") and '"rowid" AS "__fc_row_id"' in from_query.sql


def test_a_reader_spine_runs_once(store):
    data = spine_table()
    job = store.get_historical_features(pa.RecordBatchReader.from_batches(data.schema, data.to_batches()),
                                        features=["stats:conv"])
    assert job.to_arrow().num_rows == 7
    with pytest.raises(DiagnosticError) as caught:
        job.to_arrow()
    assert caught.value.diagnostics[0].code is Code.BAD_ARGUMENT and "read only once" in str(caught.value)


def test_the_timestamp_column_is_found_or_named(store):
    rows = spine_rows()
    renamed = pa.table({"driver_id": rows["driver_id"], "at": rows["event_timestamp"]})
    assert store.get_historical_features(renamed, features=["stats:conv"]).to_arrow()["conv"].to_pylist() == \
        EXPECTED["conv"]
    two = renamed.append_column("seen", renamed["at"])
    assert store.get_historical_features(two, features=["stats:conv"], timestamp_column="at").to_arrow().num_rows == 7


def test_memory_target_and_empty_spine(small_project):
    with FeatureStore(small_project, target="memory") as fs:
        empty = spine_table().slice(0, 0).drop_columns(["rider_id"])
        result = fs.get_historical_features(empty, features=["stats:conv", "stats:trips"]).to_arrow()
        assert result.num_rows == 0
        assert result.column_names == ["driver_id", "event_timestamp", "label", "conv", "trips"]


def test_sample_project_spines_agree(sample_project):
    import pandas as pd

    orders = sample_project / "seeds" / "orders.parquet"
    with FeatureStore(sample_project) as fs:
        from_file = fs.get_historical_features(orders, service="driver_ranking_v2", full_feature_names=True).to_arrow()
        frame = pd.read_parquet(orders)
        from_frame = fs.get_historical_features(frame, service="driver_ranking_v2", full_feature_names=True).to_arrow()
        # float sums and means of windowed aggregations: their last bits depend on the order DuckDB adds in
        summed = {f"{p.view}__{name}" for p in fs.graph.get("feature_service", "driver_ranking_v2").projections
                  for name in p.features
                  if (a := fs.graph.feature_view(p.view).feature(name).aggregation) is not None
                  and a.function in ("sum", "avg", "stddev", "variance")}
    assert summed and from_file.schema == from_frame.schema
    for name in from_file.column_names:
        if name not in summed:
            assert from_file[name].equals(from_frame[name]), name
            continue
        pairs = list(zip(from_file[name].to_pylist(), from_frame[name].to_pylist()))
        assert all(a is None and b is None or a is not None and b is not None
                   and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in pairs), name
    assert from_file["order_id"].to_pylist() == pq.read_table(orders)["order_id"].to_pylist()
    assert from_file.num_rows == len(frame) and from_file.column_names[:len(frame.columns)] == list(frame.columns)
    assert from_file["driver_recent__conv_rate"].null_count < from_file.num_rows  # features were found


def test_import_fcompile_stays_light():
    code = ("import sys, fcompile; assert 'duckdb' not in sys.modules and 'pyarrow' not in sys.modules; "
            "from fcompile import FeatureStore; print(FeatureStore.__name__)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "FeatureStore", result.stderr


def _service_spine(*columns: str) -> pa.Table:
    return spine_table().select(list(columns))


def test_a_service_with_the_compiled_spine_runs_its_compiled_file_in_every_spine_form(store, tmp_path):
    """driver_v1's compiled file reads fcompile_spine(driver_id, event_timestamp): a spine of those columns, as
    Arrow, pandas (datetime64[ns]), a reader, Parquet or CSV, runs that file, and its rows are the planned
    request's. The file reads data/stats.parquet relative to the project folder, from a working directory
    elsewhere."""
    data = _service_spine("driver_id", "event_timestamp")
    pq.write_table(data, tmp_path / "spine.parquet")
    pcsv.write_csv(data, tmp_path / "spine.csv")
    wanted = [{**row, "conv": conv, "trips": trips}
              for row, conv, trips in zip(data.to_pylist(), EXPECTED["conv"], EXPECTED["trips"])]
    forms = {"arrow": data, "pandas": data.to_pandas(), "parquet": str(tmp_path / "spine.parquet"),
             "csv": str(tmp_path / "spine.csv"),
             "reader": pa.RecordBatchReader.from_batches(data.schema, data.to_batches(max_chunksize=2))}
    for form, spine in forms.items():
        job = store.get_historical_features(spine, service="driver_v1")
        assert job.matches_compiled_file and job.mismatch is None, (form, job.mismatch)
        assert job.compiled_file == "compiled/duckdb/retrieve/driver_v1.sql"
        assert 'FROM "fcompile_spine" AS "spine_source"' in job.sql
        assert job.to_arrow().to_pylist() == wanted, form


def test_jobs_of_a_service_each_read_their_own_spine(store, tmp_path):
    """The spine is supplied as the view fcompile_spine again before each run: a job planned before another
    still reads its own rows, and to_parquet streams the file's rows."""
    first = store.get_historical_features(_service_spine("driver_id", "event_timestamp"), service="driver_v1")
    other = _service_spine("driver_id", "event_timestamp").slice(3, 2)
    second = store.get_historical_features(other, service="driver_v1")
    assert second.to_arrow().num_rows == 2
    assert first.to_arrow().column("conv").to_pylist() == EXPECTED["conv"]
    assert first.to_parquet(tmp_path / "first.parquet") == 7
    assert pq.read_table(tmp_path / "first.parquet").column("trips").to_pylist() == EXPECTED["trips"]
    assert second.to_arrow().column("driver_id").to_pylist() == [2, 3]


@pytest.mark.parametrize("columns, arguments, reason", [
    (("driver_id", "event_timestamp", "label"), {},
     "the spine has columns the compiled file's fcompile_spine(driver_id, event_timestamp) has not (label): the "
     "SQL is planned for its own columns"),
    (("event_timestamp", "driver_id"), {},
     "the spine's columns are in another order (event_timestamp, driver_id) than the compiled file's "
     "fcompile_spine(driver_id, event_timestamp)"),
    (("driver_id", "event_timestamp"), {"full_feature_names": True},
     "full_feature_names was asked for, and the compiled file names the features without their views"),
])
def test_a_service_request_that_is_not_its_compiled_file_says_why(store, columns, arguments, reason):
    job = store.get_historical_features(_service_spine(*columns), service="driver_v1", **arguments)
    assert not job.matches_compiled_file and job.mismatch.startswith(reason)
    assert job.compiled_file == "compiled/duckdb/retrieve/driver_v1.sql"
    assert "fcompile_spine" not in job.sql
    names = ("stats__conv", "stats__trips") if arguments else ("conv", "trips")
    got = job.to_arrow()
    assert got.column_names == [*columns, *names]
    assert got.column(names[0]).to_pylist() == EXPECTED["conv"]


def test_a_feature_list_has_no_compiled_file(store):
    job = store.get_historical_features(_service_spine("driver_id", "event_timestamp"),
                                        features=["stats:conv", "stats:trips"])
    assert job.compiled_file is None and job.compiled_sha256 is None
    assert not job.matches_compiled_file and job.mismatch is None
