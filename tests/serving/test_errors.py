"""Bad requests get a 4xx JSON error naming the problem, and the server keeps serving."""

from __future__ import annotations

import pytest
from serving_helpers import read_raw_response

OK_BODY = {"entities": {"driver_id": [1001]}, "feature_service": "driver_v1"}

CASES = [
    # (label, body, status, code, words in the message)
    ("malformed JSON", b'{"entities": {"driver_id": [1001]', 400, "FC125", "not valid JSON"),
    ("empty body", b"", 400, "FC125", "body is empty"),
    ("not UTF-8", b'{"entities": "\xff\xfe"}', 400, "FC125", "not valid JSON"),
    ("deep nesting", b"[" * 3000 + b"]" * 3000, 400, "FC125", "not valid JSON"),
    ("a list, not an object", b"[1, 2]", 422, "FC125", "must be a JSON object"),
    ("no entities", {"feature_service": "driver_v1"}, 422, "FC125", 'lacks "entities"'),
    ("entities not an object", {"entities": [1001], "feature_service": "driver_v1"}, 422, "FC125",
     '"entities" of /get-online-features must be an object'),
    ("neither features nor service", {"entities": {"driver_id": [1001]}}, 422, "FC125", "has neither"),
    ("both features and service", {**OK_BODY, "features": ["driver_stats:trips"]}, 422, "FC125", "has both"),
    ("features not strings", {"entities": {"driver_id": [1]}, "features": [1]}, 422, "FC125", '"features"'),
    ("full_feature_names not bool", {**OK_BODY, "full_feature_names": "yes"}, 422, "FC125", "full_feature_names"),
    ("a misspelt field", {**OK_BODY, "full_feature_name": True}, 422, "FC125",
     '/get-online-features takes no field "full_feature_name"'),
    ("unknown service", {**OK_BODY, "feature_service": "driver_v2"}, 404, "FC034",
     "unknown feature service 'driver_v2'"),
    ("unknown view", {"entities": {"driver_id": [1]}, "features": ["drivers:trips"]}, 404, "FC032", "drivers"),
    ("unknown feature", {"entities": {"driver_id": [1]}, "features": ["driver_stats:trip"]}, 404, "FC033",
     "no feature 'trip'"),
    ("wrong value type", {**OK_BODY, "entities": {"driver_id": ["1001"]}}, 422, "FC117", "join key 'driver_id'"),
    ("bool for an int key", {**OK_BODY, "entities": {"driver_id": [True]}}, 422, "FC117", "driver_id"),
    ("value out of int64 range", {**OK_BODY, "entities": {"driver_id": [2 ** 70]}}, 422, "FC117", "driver_id"),
    ("values not a list", {**OK_BODY, "entities": {"driver_id": 1001}}, 422, "FC117", "must be a list"),
    ("missing join key", {**OK_BODY, "entities": {}}, 422, "FC117", "needs join key 'driver_id'"),
    ("unequal key lengths", {"entities": {"driver_id": [1, 2], "shift_day": ["2024-05-01"]},
                             "features": ["driver_stats:trips", "shift_stats:demand"]}, 422, "FC117",
     "different numbers of values"),
    ("bad date text", {"entities": {"shift_day": ["May 1st"]}, "features": ["shift_stats:demand"]}, 422, "FC117",
     "not a valid date"),
    ("view not online", {"entities": {"driver_id": [1]}, "features": ["driver_archive:conv_rate"]}, 400, "FC118",
     "online: false"),
    ("service with an offline view", {**OK_BODY, "feature_service": "driver_archived"}, 400, "FC118",
     "driver_archive"),
    ("colliding names", {"entities": {"driver_id": [1]}, "features": ["driver_stats:trips", "driver_recent:trips"]},
     400, "FC070", "trips"),
]


@pytest.mark.parametrize("label, body, status, code, words", CASES, ids=[c[0] for c in CASES])
def test_bad_online_request(served, label, body, status, code, words):
    reply = served.post("/get-online-features", body)
    assert reply.status == status, reply
    document = reply.json
    assert document["error"]["code"] == code, document
    assert words in document["error"]["message"], document
    assert document["errors"][0] == document["error"]
    assert words in document["detail"] and f"error[{code}]" in document["detail"]


def test_other_unknown_fields_are_ignored(served):
    """Feast's clients' own fields, and fields spelt like none of ours: answered (a client may add its own)."""
    for extra in ({"allow_registry_cache": True, "transform_on_write": False}, {"request_id": "abc"}):
        reply = served.post("/get-online-features", {**OK_BODY, **extra})
        assert reply.status == 200, reply
    reply = served.post("/get-online-features", {**OK_BODY, "full_feature_name": True})
    assert reply.json["error"]["hint"] == "did you mean 'full_feature_names'?"


def test_every_problem_is_listed(served):
    reply = served.online({"drivr_id": [1]}, feature_service="driver_v1")
    assert reply.status == 422
    messages = [e["message"] for e in reply.json["errors"]]
    assert any("takes no join key 'drivr_id'" in m for m in messages) and any("needs join key" in m for m in messages)
    (extra,) = [e for e in reply.json["errors"] if "takes no join key" in e["message"]]
    assert "did you mean 'driver_id'" in extra["hint"]


def test_unknown_endpoint_and_wrong_method(served):
    missing = served.get("/get-online-feature")
    assert missing.status == 404 and "no endpoint /get-online-feature" in missing.error["message"]
    assert "POST /get-online-features" in missing.error["hint"]
    wrong = served.get("/get-online-features")
    assert wrong.status == 405 and wrong.headers["allow"] == "POST"
    assert served.post("/health").status == 405


def test_oversized_request_gets_413_before_and_while_reading(served):
    big = {**OK_BODY, "entities": {"driver_id": list(range(3000))}}  # ~20 KB, the limit is 8 KiB
    reply = served.post("/get-online-features", big)
    assert reply.status == 413, reply
    assert reply.error["code"] == "FC126" and "8,192 bytes" in reply.error["message"]
    # chunked, with no Content-Length: the limit is found while reading, and the rest is not awaited
    import json
    import socket

    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as client:
        client.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b" " * 4096
        for _ in range(3):  # 12 KiB of a body that never ends
            client.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        head, _, rest = read_raw_response(client).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
    assert json.loads(rest)["error"]["code"] == "FC126"
    assert served.online({"driver_id": [1001]}, feature_service="driver_v1").status == 200


def test_bad_materialize_and_push_bodies(served):
    reply = served.post("/materialize", {"end_ts": "2024-06-01"})
    assert reply.status == 422 and '"start_ts"' in reply.error["message"]
    reply = served.post("/materialize", {"start_ts": "yesterday", "end_ts": "2024-06-01"})
    assert reply.status == 422 and "not an ISO 8601" in reply.error["message"]
    reply = served.post("/materialize", {**{"start_ts": "2024-06-02", "end_ts": "2024-06-01"}})
    assert reply.status == 400 and reply.error["code"] == "FC119"
    reply = served.post("/materialize-incremental", {"end_ts": "9999-12-31T00:00:00"})  # never the watermark
    assert reply.status == 400 and reply.error["code"] == "FC119" and "(now plus 1 day)" in reply.error["message"]
    reply = served.post("/materialize-incremental", {"end_ts": "2024-06-01", "feature_views": ["driver_stat"]})
    assert reply.status == 404 and reply.error["code"] == "FC032" and "driver_stats" in reply.error["hint"]
    reply = served.post("/materialize-incremental", {"end_ts": "2024-06-01", "feature_views": ["driver_archive"]})
    assert reply.status == 400 and reply.error["code"] == "FC118"
    reply = served.post("/push", {"push_source_name": "stats_push", "df": {}, "to": "somewhere"})
    assert reply.status == 422 and reply.error["code"] == "FC123" and "unknown push destination 'somewhere'" in \
        reply.error["message"]  # the SDK's check, as for every caller
    reply = served.post("/push", {"df": {}})
    assert reply.status == 422 and '"push_source_name"' in reply.error["message"]
    reply = served.post("/write-to-online-store", {"feature_view_name": "driver_stats", "df": [1]})
    assert reply.status == 422 and '"df"' in reply.error["message"]

