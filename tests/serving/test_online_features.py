"""POST /get-online-features on SQLite and Redis: Feast's request and response, column by column."""

from __future__ import annotations

import datetime as dt
import json
import re

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")
EPOCH = "1970-01-01T00:00:00Z"


def test_service_response_has_feasts_shape(served):
    reply = served.online({"driver_id": [1001, 1002, 4242]}, feature_service="driver_v1")
    assert reply.status == 200, reply
    assert reply.headers["content-type"] == "application/json"
    document = reply.json
    assert set(document) == {"metadata", "results"}
    assert document["metadata"] == {"feature_names": ["driver_id", "conv_rate", "trips", "city"]}
    for result in document["results"]:
        assert set(result) == {"values", "statuses", "event_timestamps"}
        assert all(RFC3339_UTC.match(stamp) for stamp in result["event_timestamps"])
    keys, conv_rate, trips, city = document["results"]
    assert keys == {"values": [1001, 1002, 4242], "statuses": ["PRESENT"] * 3, "event_timestamps": [EPOCH] * 3}
    assert conv_rate == {"values": [0.5, 0.75, None], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"],
                         "event_timestamps": ["2024-05-02T10:00:00Z", "2024-05-01T12:00:00Z", EPOCH]}
    assert trips["values"] == [12, 7, None]
    assert city["values"] == ["Oslo", "Bergen", None]


def test_features_list_full_feature_names_and_max_age(served):
    reply = served.online({"driver_id": [1001, 1003]}, features=["driver_recent:trips", "driver_stats:city"],
                          full_feature_names=True)
    assert reply.status == 200, reply
    document = reply.json
    assert document["metadata"]["feature_names"] == ["driver_id", "driver_recent__trips", "driver_stats__city"]
    recent, city = document["results"][1:]
    # ttl 1d, data from 2024: too old today, so None with its event time (what a training set computes)
    assert recent == {"values": [None, None], "statuses": ["OUTSIDE_MAX_AGE"] * 2,
                      "event_timestamps": ["2024-05-02T10:00:00Z", "2024-05-01T08:00:00Z"]}
    assert city == {"values": ["Oslo", None], "statuses": ["PRESENT", "PRESENT"],
                    "event_timestamps": ["2024-05-02T10:00:00Z", "2024-05-01T08:00:00Z"]}


def test_one_entity_and_no_entities(served):
    one = served.online({"driver_id": [1002]}, feature_service="driver_mixed").json
    assert [r["values"] for r in one["results"]] == [[1002], [0.75], [None]]
    assert [r["statuses"] for r in one["results"]] == [["PRESENT"], ["PRESENT"], ["OUTSIDE_MAX_AGE"]]
    none = served.online({"driver_id": []}, feature_service="driver_v1")
    assert none.status == 200, none
    assert [r["values"] for r in none.json["results"]] == [[], [], [], []]


def test_date_join_key_given_as_iso_text(served):
    reply = served.online({"shift_day": ["2024-05-02", "2024-05-09"]}, features=["shift_stats:demand"])
    assert reply.status == 200, reply
    keys, demand = reply.json["results"]
    assert keys["values"] == ["2024-05-02", "2024-05-09"]  # dates come back as ISO text
    assert demand["values"] == [0.4, None] and demand["statuses"] == ["PRESENT", "NOT_FOUND"]


def test_non_finite_floats_come_back_as_strict_json(served):
    """JSON has no NaN: the server answers "NaN", "Infinity", "-Infinity" (protobuf's JSON mapping, as Feast)."""
    reply = served.online({"shift_day": ["2024-05-03", "2024-05-04", "2024-05-05", "2024-05-09"]},
                          features=["shift_stats:demand"])
    assert reply.status == 200, reply

    def refuse(constant):
        raise AssertionError(f"not strict JSON: {constant}")

    document = json.loads(reply.body, parse_constant=refuse)
    assert document["results"][1]["values"] == ["NaN", "Infinity", "-Infinity", None]
    assert document["results"][1]["statuses"] == ["PRESENT"] * 3 + ["NOT_FOUND"]


def test_request_as_feasts_remote_online_store_sends_it(served):
    """Feast's remote online store posts a JSON string with no Content-Type and reads the columns back by
    position, parsing event times with datetime.fromisoformat after swapping Z for +00:00."""
    body = json.dumps({"features": ["driver_stats:conv_rate", "driver_stats:trips"],
                       "entities": {"driver_id": [1001, 1002]}})
    reply = served.post("/get-online-features", body)  # http.client sets no Content-Type for bytes
    assert reply.status == 200, reply
    document = reply.json
    names = document["metadata"]["feature_names"]
    rows = []
    for row in range(2):
        values = {name: document["results"][i]["values"][row] for i, name in enumerate(names)
                  if name in ("conv_rate", "trips") and document["results"][i]["statuses"][row] == "PRESENT"}
        rows.append(values)
    assert rows == [{"conv_rate": 0.5, "trips": 12}, {"conv_rate": 0.75, "trips": 7}]
    stamp = dt.datetime.fromisoformat(document["results"][1]["event_timestamps"][0].replace("Z", "+00:00"))
    assert stamp == dt.datetime(2024, 5, 2, 10, tzinfo=dt.timezone.utc)


def test_keep_alive_connection_serves_many_requests(served):
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        for driver, expected in ((1001, 12), (1002, 7), (1003, 3)) * 5:
            connection.request("POST", "/get-online-features", body=json.dumps(
                {"entities": {"driver_id": [driver]}, "features": ["driver_stats:trips"]}))
            reply = connection.getresponse()
            assert reply.status == 200
            assert json.loads(reply.read())["results"][1]["values"] == [expected]
    finally:
        connection.close()
