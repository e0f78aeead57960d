"""POST /push and POST /write-to-online-store (the SDK's push and write_to_online_store), on SQLite and Redis."""

from __future__ import annotations

from serving_helpers import metric

PUSHED = {"entities": {"driver_id": [3001, 3002]}, "features": ["driver_pushed:conv_rate", "driver_pushed:trips"]}


def rows(driver_ids, stamp, conv_rates, trips):
    count = len(driver_ids)
    return {"driver_id": driver_ids, "ts": [stamp] * count, "conv_rate": conv_rates, "trips": trips,
            "city": ["Oslo"] * count}


def test_push_online_then_read_back_newer_wins(served):
    before = served.get("/metrics").body.decode()
    reply = served.post("/push", {"push_source_name": "stats_push", "to": "online",
                                  "df": rows([3001, 3002], "2024-05-10T08:00:00Z", [0.9, 0.8], [5, 6])})
    assert reply.status == 200, reply
    assert reply.json == {"push_source_name": "stats_push", "to": "online", "rows": 2,
                          "views_written": ["driver_pushed"], "offline_rows": 0}
    document = served.post("/get-online-features", PUSHED).json
    assert [r["values"] for r in document["results"]] == [[3001, 3002], [0.9, 0.8], [5, 6]]
    assert document["results"][1]["event_timestamps"] == ["2024-05-10T08:00:00Z"] * 2

    older = served.post("/push", {"push_source_name": "stats_push",
                                  "df": rows([3001], "2024-05-09T08:00:00Z", [0.1], [1])})  # "to" defaults online
    assert older.status == 200, older
    assert served.post("/get-online-features", PUSHED).json["results"][1]["values"] == [0.9, 0.8]
    after = served.get("/metrics").body.decode()
    labels = {"endpoint": "/push", "name": "stats_push"}
    assert metric(after, "fcompile_serve_rows_written_total", **labels) - \
        metric(before, "fcompile_serve_rows_written_total", **labels) == 3


def test_push_errors_name_the_problem(served):
    unknown = served.post("/push", {"push_source_name": "stats_psh", "df": rows([1], "2024-05-10", [0.1], [1])})
    assert unknown.status == 404 and unknown.error["code"] == "FC031" and "stats_push" in unknown.error["hint"]
    bad = served.post("/push", {"push_source_name": "stats_push",
                                "df": rows([3003], "2024-05-10T00:00:00Z", ["high"], [1])})
    assert bad.status == 422 and bad.error["code"] == "FC122" and "conv_rate" in bad.error["message"]
    missing = served.post("/push", {"push_source_name": "stats_push", "df": {"driver_id": [3003]}})
    assert missing.status == 422 and missing.error["code"] == "FC121"
    not_push = served.post("/push", {"push_source_name": "stats", "df": rows([1], "2024-05-10", [0.1], [1])})
    assert not_push.status == 400 and not_push.error["code"] == "FC120" and "stats_push" in not_push.error["hint"]
    assert served.post("/get-online-features", PUSHED).status == 200  # nothing written, still serving


def test_write_to_online_store(served):
    reply = served.post("/write-to-online-store", {"feature_view_name": "driver_stats",
                                                   "df": rows([2001], "2024-05-11T00:00:00Z", [0.33], [4])})
    assert reply.status == 200, reply
    assert reply.json == {"feature_view_name": "driver_stats", "rows": 1}
    read = served.online({"driver_id": [2001]}, feature_service="driver_v1").json
    assert [r["values"] for r in read["results"]] == [[2001], [0.33], [4], ["Oslo"]]

    unknown = served.post("/write-to-online-store", {"feature_view_name": "driver_stat", "df": {}})
    assert unknown.status == 404 and unknown.error["code"] == "FC032"
    offline = served.post("/write-to-online-store", {"feature_view_name": "driver_archive",
                                                     "df": rows([1], "2024-05-11", [0.1], [1])})
    assert offline.status == 400 and offline.error["code"] == "FC118"
    bad = served.post("/write-to-online-store", {"feature_view_name": "driver_stats",
                                                 "df": rows([2001], "not a time", [0.1], [1])})
    assert bad.status == 422 and bad.error["code"] == "FC122"



def test_write_as_feasts_remote_online_store_sends_it(served):
    """Feast's remote online store names the timestamps `event_timestamp` and `created` (naive ISO text,
    None when absent), whatever the source calls them, and adds `allow_registry_cache`."""
    body = {"feature_view_name": "driver_stats", "allow_registry_cache": False,
            "df": {"driver_id": [2101], "conv_rate": [0.61], "trips": [9], "city": ["Molde"],
                   "event_timestamp": ["2024-05-20T00:00:00"], "created": [None]}}
    reply = served.post("/write-to-online-store", body)
    assert reply.status == 200, reply
    read = served.online({"driver_id": [2101]}, features=["driver_stats:conv_rate", "driver_stats:city"]).json
    assert [r["values"] for r in read["results"]] == [[2101], [0.61], ["Molde"]]
    assert read["results"][1]["event_timestamps"] == ["2024-05-20T00:00:00Z"]


def test_push_offline_appends_a_parquet_file_to_the_batch_source(served):
    import pyarrow.dataset as ds

    folder = served.project / "data" / "stats"
    before = set(folder.iterdir())
    reply = served.post("/push", {"push_source_name": "stats_push", "to": "offline",
                                  "df": rows([3101], "2024-05-12T08:00:00Z", [0.44], [7])})
    assert reply.status == 200, reply
    assert reply.json == {"push_source_name": "stats_push", "to": "offline", "rows": 1, "views_written": [],
                          "offline_rows": 1}
    added = set(folder.iterdir()) - before
    assert len(added) == 1 and next(iter(added)).suffix == ".parquet"
    table = ds.dataset(next(iter(added)), format="parquet").to_table().to_pylist()
    assert [(r["driver_id"], r["conv_rate"], r["trips"]) for r in table] == [(3101, 0.44, 7)]
    read = served.post("/get-online-features", {"entities": {"driver_id": [3101]},
                                                "features": ["driver_pushed:conv_rate"]}).json
    assert read["results"][1]["statuses"] == ["NOT_FOUND"]  # offline only: the online store is untouched


def test_rows_in_the_far_future_are_422_and_nothing_is_written(served):
    """A typo'd year in one row (2205): refused with the row, the column, the value and the limit; the good
    row of the same request is not written either."""
    body = rows([3005, 3006], "2024-05-10T08:00:00Z", [0.5, 0.6], [1, 2])
    body["ts"] = ["2024-05-10T08:00:00Z", "2205-05-10T08:00:00Z"]
    for endpoint, request in (("/push", {"push_source_name": "stats_push", "df": body}),
                              ("/write-to-online-store", {"feature_view_name": "driver_pushed", "df": body})):
        reply = served.post(endpoint, request)
        assert reply.status == 422 and reply.error["code"] == "FC122", (endpoint, reply)
        assert "column 'ts' (event timestamp) holds 2205-05-10T08:00:00Z in row 1, later than " in \
            reply.error["message"] and "(now plus 1 day)" in reply.error["message"]
        found = served.post("/get-online-features", {"entities": {"driver_id": [3005, 3006]},
                                                     "features": ["driver_pushed:trips"]}).json
        assert found["results"][1]["statuses"] == ["NOT_FOUND", "NOT_FOUND"]
