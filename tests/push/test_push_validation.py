"""Every way a push or a write can be wrong is a diagnostic whose message can be sent back as an HTTP 4xx
error, and a request that fails validation stores nothing - online or offline, in any view."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from push_projects import at, online_values, stats_rows, training_values

from fcompile import FeatureStore
from fcompile.diagnostics import DiagnosticError

GOOD = stats_rows([1, 8], [at(11), at(11)], [0.9, 0.8], [9, 8], ["n", "m"])

MODES_HINT = ("use 'online', 'offline' or 'online_and_offline' (--to on the command line, to= in the SDK and "
              "the HTTP body)")


def problems(call) -> list[tuple[str, str, str | None]]:
    with pytest.raises(DiagnosticError) as caught:
        call()
    return [(d.code.value, d.message, d.hint) for d in caught.value.diagnostics]


def assert_nothing_stored(fs, project) -> None:
    assert online_values(fs, "driver_stats", ["conv_rate"], [1, 8]) == {1: None, 8: None}
    assert training_values(fs, "driver_stats", "conv_rate", [1, 8], at(12)) == [0.1, None]
    assert [p.name for p in (project / "data" / "stats").iterdir()] == ["part-0.parquet"]
    ((events,),) = fs.runner.con.sql("SELECT count(*) FROM raw.events").fetchall()
    assert events == 2


@pytest.mark.parametrize("to", ["online", "offline", "online_and_offline"])
@pytest.mark.parametrize("case, rows, expected", [
    ("missing columns", {"driver_id": [1], "event_timestamp": [at(11)], "trips": [1]},
     [("FC121", "push source 'stats_push': the rows lack the columns 'conversion' (or 'conv_rate'), 'note' (they "
                "have: driver_id, event_timestamp, trips)", "rows are named as the columns of source 'stats': "
                "driver_id (int64), event_timestamp (timestamp), created (timestamp, optional), conversion or "
                "conv_rate (float64), trips (int64), note (string)")]),
    ("text for a number", {**GOOD, "conversion": [0.5, "high"]},
     [("FC122", "push source 'stats_push': column 'conversion' (feature 'conv_rate' of view 'driver_stats') must "
                "hold float64 values, but row 1 holds 'high', which does not have the type of the rows before it "
                "(float)", "send numbers")]),
    ("wrong kinds in several columns", {**GOOD, "driver_id": ["1", "8"], "event_timestamp": [1704106800, 0],
                                        "trips": [1.5, 2.0]},
     [("FC122", "push source 'stats_push': column 'driver_id' (join key 'driver_id') must hold int64 values, but "
                "row 0 holds '1', which is text", "send whole numbers"),
      ("FC122", "push source 'stats_push': column 'event_timestamp' (event timestamp) must hold timestamp values, "
                "but row 0 holds 1704106800, which is an integer",
       "send ISO 8601 text such as 2025-01-01T00:00:00Z (without a zone it is UTC) or datetimes"),
      ("FC122", "push source 'stats_push': column 'trips' (feature 'trips' of view 'driver_stats') must hold int64 "
                "values, but row 0 holds 1.5, which does not fit int64", "send whole numbers")]),
    ("a bad timestamp and an empty key", {**GOOD, "driver_id": [1, None], "event_timestamp": [at(11), "yesterday"]},
     [("FC122", "push source 'stats_push': column 'driver_id' (join key 'driver_id') is empty in row 1",
       "every row needs a value here: a row without one could never be read"),
      ("FC122", "push source 'stats_push': column 'event_timestamp' (event timestamp) must hold timestamp values, "
                "but row 1 holds 'yesterday', which is not an ISO 8601 timestamp",
       "send ISO 8601 text such as 2025-01-01T00:00:00Z (without a zone it is UTC) or datetimes")]),
    ("columns of different lengths", {**GOOD, "trips": [1]},
     [("FC123", "push source 'stats_push': the columns have different numbers of values ('driver_id' 2, "
                "'event_timestamp' 2, 'conversion' 2, 'trips' 1, 'note' 2)", "give every column one value per row")]),
    ("a column that is not a list", {**GOOD, "note": "n"},
     [("FC123", "push source 'stats_push': column 'note' must be a list of values, one per row, not str",
       'write {"driver_id": [1001, 1002], ...}')]),
    ("not a table", [GOOD],
     [("FC123", "push source 'stats_push': rows cannot be given as a list", "pass a pandas DataFrame, a pyarrow "
                "Table or RecordBatch, or a mapping of column name to a list of values")]),
])
def test_bad_rows_store_nothing(project, to, case, rows, expected):
    with FeatureStore(project) as fs:
        assert problems(lambda: fs.push("stats_push", rows, to=to)) == expected
        assert_nothing_stored(fs, project)


@pytest.mark.parametrize("name, to, expected", [
    ("stat_push", "online", [("FC031", "unknown push source 'stat_push'", "did you mean 'stats_push'?")]),
    ("nothing_like_it", "online", [("FC031", "unknown push source 'nothing_like_it'",
                                    "known push sources: 'events_push', 'profile_push', 'ranked_push', "
                                    "'stats_push', 'trips_push'")]),
    ("stats", "online", [("FC120", "source 'stats' is not a push source",
                          "push to 'stats_push', the push source whose batch source it is")]),
    ("stats_push", "onlin", [("FC123", "unknown push destination 'onlin'", "did you mean 'online'?")]),
    ("stats_push", "everywhere", [("FC123", "unknown push destination 'everywhere'",
                                   MODES_HINT)]),
    ("stats_push", None, [("FC123", "unknown push destination None", MODES_HINT)]),
])
def test_bad_names_and_destinations_store_nothing(project, name, to, expected):
    with FeatureStore(project) as fs:
        assert problems(lambda: fs.push(name, GOOD, to=to)) == expected
        assert_nothing_stored(fs, project)


def test_a_column_the_dataset_lacks_fails_the_offline_half_and_stores_nothing(project):
    with FeatureStore(project) as fs:
        extra = {**GOOD, "speed": [1.0, 2.0]}
        assert problems(lambda: fs.push("stats_push", extra, to="online_and_offline")) == [
            ("FC121", "push source 'stats_push': its batch source 'stats': its Parquet files have no column 'speed'",
             "push only the dataset's columns: driver_id, event_timestamp, created, conversion, trips, note")]
        assert_nothing_stored(fs, project)
        # online, a column no view reads is ignored
        assert fs.push("stats_push", extra).views_written == ("driver_stats",)


def test_a_value_the_dataset_cannot_hold_stores_nothing(project):
    """A column no view reads takes the type the dataset's files give it."""
    import pyarrow.parquet as pq

    part = project / "data" / "trips" / "part-0.parquet"
    pq.write_table(pq.read_table(part).append_column("zone", pa.array([3], pa.int32())), part)
    rows = {"driver_id": [1, 2], "ts": [at(11), at(11)], "distance": [7.0, 8.0], "zone": [4, 2**40]}
    with FeatureStore(project) as fs:
        assert problems(lambda: fs.push("trips_push", rows, to="online_and_offline")) == [
            ("FC122", "push source 'trips_push': its batch source 'trips': column 'zone' must hold int32, but row 1 "
                      "holds 1099511627776, which does not fit int32", "send values of the type the source's data has")]
        assert online_values(fs, "driver_trips", ["distance"], [1, 2]) == {1: None, 2: None}
        assert fs.push("trips_push", {**rows, "zone": [4, 5]}, to="online_and_offline").offline_rows == 2
        assert training_values(fs, "driver_trips", "distance", [1, 2], at(12)) == [7.0, 8.0]
    assert len(list((project / "data" / "trips").iterdir())) == 2


def test_write_to_online_store_refusals_store_nothing(project):
    with FeatureStore(project) as fs:
        assert problems(lambda: fs.write_to_online_store("driver_stat", GOOD)) == [
            ("FC032", "unknown feature view 'driver_stat'", "did you mean 'driver_stats'?")]
        assert problems(lambda: fs.write_to_online_store("driver_stats_archive", GOOD)) == [
            ("FC118", "feature view 'driver_stats_archive' is not in the online store (online: false)",
             "set online: true on the view to serve it online")]
        assert problems(lambda: fs.write_to_online_store("driver_stats", {**GOOD, "trips": ["a", "b"]})) == [
            ("FC122", "feature view 'driver_stats': column 'trips' (feature 'trips' of view 'driver_stats') must "
                      "hold int64 values, but row 0 holds 'a', which is text", "send whole numbers")]
        assert problems(lambda: fs.write_to_online_store("driver_stats", {"driver_id": [1]}))[0][:2] == (
            "FC121", "feature view 'driver_stats': the rows lack the columns 'conversion' (or 'conv_rate'), "
                     "'event_timestamp', 'note', 'trips' (they have: driver_id)")
        assert_nothing_stored(fs, project)


def test_one_bad_view_among_several_stores_nothing(project):
    """Two views read one column as different dtypes; a value that fits one and not the other fails the push
    before either view is written."""
    spec = project / "features.yml"
    spec.write_text(spec.read_text() + """\
  - name: driver_stats_small
    entities: [driver]
    source: stats_push
    features: [{name: trips, dtype: int32}]
""")
    with FeatureStore(project) as fs:
        rows = {**GOOD, "trips": [1, 2**40]}
        assert problems(lambda: fs.push("stats_push", rows)) == [
            ("FC122", "push source 'stats_push': column 'trips' (feature 'trips' of view 'driver_stats_small') must "
                      "hold int32 values, but row 1 holds 1099511627776, which does not fit int32",
             "send whole numbers that fit in 32 bits")]
        assert_nothing_stored(fs, project)
        assert online_values(fs, "driver_stats_small", ["trips"], [1, 8]) == {1: None, 8: None}


def test_an_empty_push_writes_nothing_and_succeeds(project):
    with FeatureStore(project) as fs:
        empty = {name: [] for name in GOOD}
        result = fs.push("stats_push", empty, to="online_and_offline")
        assert (result.rows, result.offline_rows) == (0, 0)
        assert fs.write_to_online_store("driver_stats", pd.DataFrame(GOOD).iloc[:0]) == 0
        assert fs.push("stats_push", pa.table(pd.DataFrame(GOOD)).slice(0, 0)).rows == 0
        assert_nothing_stored(fs, project)
