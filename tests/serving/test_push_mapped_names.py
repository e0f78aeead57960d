"""POST /write-to-online-store and POST /push on a source that maps a column (`field_mapping`), as Feast's
clients send them: by the view's feature name (`conv_rate`), which Feast's remote online store always uses,
or by the source's column (`conversion_rate`). Both names of one column in one body is a 422 (FC121) that
stores nothing; the offline append writes the source's own column names. On SQLite and Redis."""

from __future__ import annotations

import datetime as dt

import pytest
from serving_helpers import Server, redis_cleanup, write_project

MAPPED_SPEC = """\
sources:
  - name: live_stats
    path: data/live/
    timestamp_field: event_timestamp
    created_timestamp_field: created
    field_mapping: {conversion_rate: conv_rate}
  - {name: live_push, push: {batch_source: live_stats}}
feature_views:
  - name: driver_live
    entities: [driver]
    source: live_push
    features: [{name: conv_rate, dtype: float64}, {name: acc_rate, dtype: float64}]
"""
LIVE = ["driver_live:conv_rate", "driver_live:acc_rate"]


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def mapped(request, tmp_path_factory):
    """A server on the serving tests' project plus a push source whose batch source maps
    conversion_rate -> conv_rate, like the sample's driver_stats."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp(f"mapped-{request.param}")
    online = ({"type": "redis", "url": request.getfixturevalue("redis_url")} if request.param == "redis"
              else {"type": "sqlite", "path": ".fcompile/online.db"})
    name = write_project(root, online)
    (root / "mapped.yml").write_text(MAPPED_SPEC)
    (root / "data" / "live").mkdir(parents=True)
    pq.write_table(pa.table({
        "driver_id": pa.array([1001], pa.int64()),
        "event_timestamp": pa.array([dt.datetime(2024, 5, 1, 10)], pa.timestamp("us", "UTC")),
        "created": pa.array([dt.datetime(2024, 5, 1, 10, 5)], pa.timestamp("us", "UTC")),
        "conversion_rate": [0.5],
        "acc_rate": [0.25],
    }), root / "data" / "live" / "part-0.parquet")
    server = Server(root, "--reload-interval", "0")
    try:
        yield server
    finally:
        server.stop()
        if request.param == "redis":
            redis_cleanup(request.getfixturevalue("redis_url"), name)


def live_values(server: Server, driver_id: int) -> list:
    reply = server.online({"driver_id": [driver_id]}, features=LIVE)
    assert reply.status == 200, reply
    return [result["values"][0] for result in reply.json["results"][1:]]


def test_write_by_feature_names_as_feasts_remote_online_store_sends_them(mapped):
    body = {"feature_view_name": "driver_live", "allow_registry_cache": False,
            "df": {"driver_id": [4001], "conv_rate": [0.75], "acc_rate": [0.5],
                   "event_timestamp": ["2024-05-20T08:00:00"], "created": [None]}}
    reply = mapped.post("/write-to-online-store", body)
    assert reply.status == 200, reply
    assert live_values(mapped, 4001) == [0.75, 0.5]


def test_write_by_source_column_names(mapped):
    body = {"feature_view_name": "driver_live",
            "df": {"driver_id": [4002], "conversion_rate": [0.125], "acc_rate": [0.5],
                   "event_timestamp": ["2024-05-20T08:00:00Z"]}}
    reply = mapped.post("/write-to-online-store", body)
    assert reply.status == 200, reply
    assert live_values(mapped, 4002) == [0.125, 0.5]


def test_both_names_of_one_column_are_refused_and_nothing_is_written(mapped):
    df = {"driver_id": [4003], "conversion_rate": [0.1], "conv_rate": [0.9], "acc_rate": [0.5],
          "event_timestamp": ["2024-05-20T08:00:00Z"]}
    for path, body in (("/write-to-online-store", {"feature_view_name": "driver_live", "df": df}),
                       ("/push", {"push_source_name": "live_push", "df": df, "to": "online_and_offline"})):
        reply = mapped.post(path, body)
        assert reply.status == 422 and reply.error["code"] == "FC121", reply
        assert "'conversion_rate' and 'conv_rate'" in reply.error["message"]
        assert "field_mapping" in reply.error["message"]
    assert live_values(mapped, 4003) == [None, None]
    assert [p.name for p in (mapped.project / "data" / "live").iterdir()] == ["part-0.parquet"]


def test_a_missing_mapped_column_names_both_of_its_names(mapped):
    reply = mapped.post("/push", {"push_source_name": "live_push",
                                  "df": {"driver_id": [4004], "acc_rate": [0.5], "event_timestamp": ["2024-05-20"]}})
    assert reply.status == 422 and reply.error["code"] == "FC121", reply
    assert "'conversion_rate' (or 'conv_rate')" in reply.error["message"]


@pytest.mark.parametrize("column", ["conv_rate", "conversion_rate"])
def test_push_online_by_either_name(mapped, column):
    driver = 4100 if column == "conv_rate" else 4101
    reply = mapped.post("/push", {"push_source_name": "live_push", "to": "online",
                                  "df": {"driver_id": [driver], column: [0.625], "acc_rate": [0.375],
                                         "event_timestamp": ["2024-05-21T09:00:00Z"], "created": [None]}})
    assert reply.status == 200, reply
    assert reply.json["views_written"] == ["driver_live"] and reply.json["offline_rows"] == 0
    assert live_values(mapped, driver) == [0.625, 0.375]


def test_push_offline_by_feature_name_appends_the_sources_column_names(mapped):
    import pyarrow.parquet as pq

    folder = mapped.project / "data" / "live"
    before = set(folder.iterdir())
    reply = mapped.post("/push", {"push_source_name": "live_push", "to": "online_and_offline",
                                  "df": {"driver_id": [4200], "conv_rate": [0.875], "acc_rate": [0.5],
                                         "event_timestamp": ["2024-05-22T10:00:00Z"]}})
    assert reply.status == 200, reply
    assert (reply.json["views_written"], reply.json["offline_rows"]) == (["driver_live"], 1)
    (added,) = set(folder.iterdir()) - before
    table = pq.read_table(added)
    assert table.column_names == ["driver_id", "event_timestamp", "created", "conversion_rate", "acc_rate"]
    assert table.to_pylist()[0]["conversion_rate"] == 0.875 and table.to_pylist()[0]["created"] is None
    assert live_values(mapped, 4200) == [0.875, 0.5]
