"""The server's JSON encoding of online responses: non-finite floats as protobuf's JSON strings, looked
for only where the plan says floats are."""

from __future__ import annotations

import datetime as dt
import json
import math

from serving_helpers import write_project

from fcompile import FeatureStore
from fcompile.serving.encoding import encode_online


def test_the_float_results_are_the_float_features_after_the_join_keys(tmp_path):
    write_project(tmp_path, {"type": "sqlite"})
    with FeatureStore(tmp_path) as fs:
        response = fs.get_online_features({"driver_id": [1, 2], "shift_day": [dt.date(2024, 5, 2)] * 2},
                                          features=["driver_stats:trips", "driver_stats:conv_rate",
                                                    "driver_stats:city", "shift_stats:demand"])
        # results: driver_id, shift_day, then trips, conv_rate, city, demand
        assert response.float_results == (3, 5)


def document(*columns: list) -> dict:
    return {"metadata": {"feature_names": [f"c{i}" for i in range(len(columns))]},
            "results": [{"values": values, "statuses": [], "event_timestamps": []} for values in columns]}


def strict(body: bytes) -> dict:
    def refuse(constant):
        raise AssertionError(f"not strict JSON: {constant}")

    return json.loads(body, parse_constant=refuse)


def test_non_finite_floats_are_written_as_strings_where_floats_are():
    doc = document([1, None], [math.nan, None], [[1.0, math.inf], None])
    assert strict(encode_online(doc, (1, 2)))["results"][1:] == [
        {"values": ["NaN", None], "statuses": [], "event_timestamps": []},
        {"values": [[1.0, "Infinity"], None], "statuses": [], "event_timestamps": []}]
    assert strict(encode_online(doc))["results"][2]["values"] == [[1.0, "Infinity"], None]


def test_columns_that_hold_no_floats_are_not_looked_at():
    """Only the float results are scanned: a NaN put where the plan says no float can be is not (it cannot
    come from a store), so the document is written once, as orjson writes it."""
    doc = document([math.nan, None], [0.5, None])
    assert json.loads(encode_online(doc, (1,)))["results"][0]["values"] == [None, None]
    assert strict(encode_online(doc, None))["results"][0]["values"] == ["NaN", None]


def test_non_finite_floats_are_found_among_numbers_arrays_and_overflowing_sums():
    assert strict(encode_online(document([math.inf, None, 1]), (0,)))["results"][0]["values"] == \
        ["Infinity", None, 1]
    assert strict(encode_online(document([math.inf, None, -math.inf]), (0,)))["results"][0]["values"] == \
        ["Infinity", None, "-Infinity"]  # their sum is NaN
    assert strict(encode_online(document([None, 2], [[0.5, None], None, [-math.inf]]), (0, 1)))["results"][1][
        "values"] == [[0.5, None], None, ["-Infinity"]]
    big = document([1e308, 1e308, None])  # a sum that overflows: written again, unchanged
    assert json.loads(encode_online(big, (0,)))["results"][0]["values"] == [1e308, 1e308, None]
    assert strict(encode_online(document([True, 0.25, None]), (0,)))["results"][0]["values"] == [True, 0.25, None]
