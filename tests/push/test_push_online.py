"""Pushing online, on every online store (SQLite, Redis, PostgreSQL): the rows are served at once, newer
wins against what is stored, only the online views that name the push source are written, and the
materialization watermark stays where it was. `write_to_online_store` writes one view the same way."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest
from push_projects import at, online_values, stats_rows

from fcompile import FeatureStore
from fcompile.diagnostics import DiagnosticError
from fcompile.tasks.materialize import materialize_views
from fcompile.tasks.push import PushResult

FEATURES = ["conv_rate", "trips", "note"]


def test_pushed_rows_are_served_at_once(online_project):
    with FeatureStore(online_project) as fs:
        result = fs.push("stats_push", stats_rows([1, 3], ["2024-01-01T11:00:00Z", "2024-01-01T09:30:00"],
                                                  [0.5, 0.7], [5, 7], ["x", None]))
        assert result == PushResult(rows=2, views_written=("driver_stats",), offline_rows=0)
        assert online_values(fs, "driver_stats", FEATURES, [1, 2, 3]) == {
            1: ({"conv_rate": 0.5, "trips": 5, "note": "x"}, "2024-01-01T11:00:00Z"),
            2: None,  # nothing pushed, nothing materialized
            3: ({"conv_rate": 0.7, "trips": 7, "note": None}, "2024-01-01T09:30:00Z"),  # naive text is UTC
        }


def test_an_older_push_does_not_overwrite_a_newer_value(online_project):
    with FeatureStore(online_project) as fs:
        fs.push("stats_push", stats_rows([1], [at(11)], [0.5], [5]))
        # older by event time: kept out
        result = fs.push("stats_push", stats_rows([1], [at(10, 59)], [0.1], [1]))
        assert result.views_written == ("driver_stats",)
        assert online_values(fs, "driver_stats", ["conv_rate"], [1]) == {1: ({"conv_rate": 0.5}, "2024-01-01T11:00:00Z")}
        # equal in both times (no created time either side): the incoming row replaces the stored one
        fs.push("stats_push", stats_rows([1], [at(11)], [0.6], [6]))
        assert online_values(fs, "driver_stats", ["conv_rate"], [1]) == {1: ({"conv_rate": 0.6}, "2024-01-01T11:00:00Z")}
        # a later created time breaks the tie at the same event time
        fs.push("stats_push", {**stats_rows([1], [at(11)], [0.9], [9]), "created": [at(12)]})
        assert online_values(fs, "driver_stats", ["conv_rate"], [1]) == {1: ({"conv_rate": 0.9}, "2024-01-01T11:00:00Z")}
        fs.push("stats_push", {**stats_rows([1], [at(11)], [0.3], [3]), "created": [at(11, 30)]})
        assert online_values(fs, "driver_stats", ["conv_rate"], [1])[1][0] == {"conv_rate": 0.9}
        fs.push("stats_push", stats_rows([1], [at(12)], [0.6], [6]))  # newer: replaces
        assert online_values(fs, "driver_stats", ["conv_rate"], [1]) == {1: ({"conv_rate": 0.6}, "2024-01-01T12:00:00Z")}


def test_the_newest_of_one_push_wins(online_project):
    with FeatureStore(online_project) as fs:
        fs.push("stats_push", stats_rows([4, 4, 4], [at(9), at(11), at(10)], [0.9, 0.1, 0.5]))
        assert online_values(fs, "driver_stats", ["conv_rate"], [4]) == {4: ({"conv_rate": 0.1}, "2024-01-01T11:00:00Z")}


def test_a_push_after_materialization_keeps_the_watermark_and_newer_wins(online_project):
    with FeatureStore(online_project) as fs:
        views = [fs.graph.feature_view("driver_stats")]
        (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, views, at(12))
        assert result.ok, [d.render() for d in result.diagnostics]
        before = fs.online_store.get_state("driver_stats")
        fs.push("stats_push", stats_rows([1, 2], [at(9), at(11)], [0.9, 0.8]))
        assert fs.online_store.get_state("driver_stats") == before
        served = online_values(fs, "driver_stats", ["conv_rate"], [1, 2])
        assert served == {1: ({"conv_rate": 0.1}, "2024-01-01T10:00:00Z"),  # materialized 10:00 beats pushed 09:00
                          2: ({"conv_rate": 0.8}, "2024-01-01T11:00:00Z")}


def test_only_online_views_naming_the_push_source_are_written(online_project):
    with FeatureStore(online_project) as fs:
        assert fs.push("stats_push", stats_rows([7], [at(11)], [0.5], [5])).views_written == ("driver_stats",)
        assert online_values(fs, "driver_stats_direct", ["trips"], [7]) == {7: None}  # reads `stats` directly
        with pytest.raises(DiagnosticError) as caught:  # driver_stats_archive is offline only: never in the store
            fs.get_online_features({"driver_id": [7]}, ["driver_stats_archive:trips"])
        assert [d.code.value for d in caught.value.diagnostics] == ["FC118"]


@pytest.mark.parametrize("form", ["pandas_naive", "pandas_zoned", "arrow_table", "record_batch", "mapping_of_datetimes"])
def test_every_form_of_rows_is_taken(online_project, form):
    zoned = dt.datetime(2024, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 11:00 UTC
    naive = dt.datetime(2024, 1, 1, 9, 30)  # UTC
    rows = stats_rows([1, 3], [zoned, naive], [0.5, 0.7], [5, 7], ["x", "y"])
    if form == "pandas_naive":
        given = pd.DataFrame({**rows, "event_timestamp": pd.to_datetime(["2024-01-01 11:00", "2024-01-01 09:30"])})
    elif form == "pandas_zoned":
        stamps = pd.to_datetime(["2024-01-01T13:00:00+02:00", "2024-01-01T09:30:00+00:00"], utc=True)
        given = pd.DataFrame({**rows, "event_timestamp": stamps.tz_convert("America/New_York")})
    elif form in ("arrow_table", "record_batch"):
        table = pa.table({**rows, "event_timestamp": pa.array([zoned, naive.replace(tzinfo=dt.timezone.utc)],
                                                              pa.timestamp("ns", "Europe/Berlin"))})
        given = table if form == "arrow_table" else table.to_batches()[0]
    else:
        given = rows
    with FeatureStore(online_project) as fs:
        assert fs.push("stats_push", given).rows == 2
        assert online_values(fs, "driver_stats", ["trips"], [1, 3]) == {
            1: ({"trips": 5}, "2024-01-01T11:00:00Z"), 3: ({"trips": 7}, "2024-01-01T09:30:00Z")}


def test_write_to_online_store_writes_one_view_newer_wins(online_project):
    with FeatureStore(online_project) as fs:
        rows = {"driver_id": [1, 2], "event_timestamp": ["2024-01-01T11:00:00Z"] * 2, "conversion": [0.5, 0.6],
                "trips": [5, 6], "note": ["p", "q"]}
        assert fs.write_to_online_store("driver_stats", rows) == 2
        older = {**rows, "event_timestamp": ["2024-01-01T10:00:00Z"] * 2, "conversion": [0.0, 0.0]}
        assert fs.write_to_online_store("driver_stats", older) == 2
        assert online_values(fs, "driver_stats", FEATURES, [1, 2]) == {
            1: ({"conv_rate": 0.5, "trips": 5, "note": "p"}, "2024-01-01T11:00:00Z"),
            2: ({"conv_rate": 0.6, "trips": 6, "note": "q"}, "2024-01-01T11:00:00Z")}
        # a view that reads its batch source directly takes rows the same way
        assert fs.write_to_online_store("driver_stats_direct", {"driver_id": [9], "event_timestamp": [at(8)],
                                                                "trips": [99]}) == 1
        assert online_values(fs, "driver_stats_direct", ["trips"], [9]) == {9: ({"trips": 99}, "2024-01-01T08:00:00Z")}


def test_a_store_that_fails_mid_push_says_which_views_were_written():
    """The store's own failure (FC113/FC114), or a driver error it did not expect (FC114 by guard_store),
    says which views of the push were written: none (a transaction), or - Redis, where a command inside
    MULTI/EXEC can fail without undoing the others - the ones it names. (A real failing store for every
    view at once: test_push_several_views.py.)"""
    from fcompile.diagnostics import Code, Diagnostic
    from fcompile.online.base import OnlineView, StoreFailure
    from fcompile.tasks.push import _write_views

    class Failing:
        def __init__(self, error):
            self.error = error

        def write_batches(self, writes):
            raise self.error

    batches = [(OnlineView(name, (), (), False), None) for name in ("driver_profile", "driver_stats")]
    refused = StoreFailure([Diagnostic(Code.ONLINE_STORE_UNREACHABLE, "cannot reach the store", None, None)])
    for error, code in ((refused, Code.ONLINE_STORE_UNREACHABLE), (RuntimeError("boom"), Code.ONLINE_STORE_ERROR)):
        with pytest.raises(StoreFailure) as raised:
            _write_views(Failing(error), batches)
        (found,) = raised.value.diagnostics
        assert found.code is code and found.message.endswith(
            "; none of the views driver_profile, driver_stats was written (they are written together, all or none)")
        with pytest.raises(StoreFailure) as alone:
            _write_views(Failing(error), batches[:1])
        assert alone.value.diagnostics[0].message in ("cannot reach the store", "the online store failed "
                                                      "unexpectedly: RuntimeError: boom")
    partly = StoreFailure([Diagnostic(Code.ONLINE_STORE_ERROR, "OOM", None, None)], written=("driver_stats",))
    with pytest.raises(StoreFailure) as raised:
        _write_views(Failing(partly), batches)
    assert raised.value.diagnostics[0].message == ("OOM; written: views driver_stats; not written: views "
                                                   "driver_profile")
    assert raised.value.written == ("driver_stats",)
