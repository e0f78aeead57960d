"""The metadata API of `fcompile serve` (GET /api/v1/...) and its OpenAPI document, on a real server.

The project is serving_helpers' (five views, three services) with a spine source, two datasets and an
on-demand view added, and TFDV profiles written here with tensorflow-metadata's protos: four of
`driver_stats` (the newest must be served) and a damaged one of `driver_recent`. Expectations are
written out by hand from the spec below, not read back from the server's own code.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from serving_helpers import Server, write_project
from test_auth import ADMIN, ENV, PUSHER, READER, TOKENS, bearer

EXTRA_SPEC = """\
sources:
  - {name: spine_rows, path: data/spine.parquet, timestamp_field: ts}
datasets:
  - name: training_v1
    spine: spine_rows
    service: driver_v1
    output: {table: training_v1}
  - name: recent_trips
    description: trips of the last day
    spine: spine_rows
    features: ["driver_recent:trips"]
    output: {table: recent_trips}
    tags: {team: ranking}
on_demand_views:
  - name: driver_ratios
    inputs: [driver_stats]
    features:
      - {name: conv_pct, dtype: float64, expr: "conv_rate * 100"}
"""
VIEWS = ["driver_archive", "driver_pushed", "driver_recent", "driver_stats", "shift_stats"]
SCHEMA_FILE = Path(__file__).parent / "openapi_schema" / "openapi-3.0.schema.json"


def write_metadata_project(root: Path, serving: dict | None = None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_project(root, {"type": "sqlite", "path": ".fcompile/online.db"}, serving)
    (root / "datasets.yml").write_text(EXTRA_SPEC)
    pq.write_table(pa.table({"driver_id": pa.array([1001], pa.int64()), "ts": pa.array([0], pa.timestamp("us"))}),
                   root / "data" / "spine.parquet")


def write_profiles(root: Path) -> None:
    from tensorflow_metadata.proto.v0 import statistics_pb2 as sp

    def profile(rows: int, mean: float) -> bytes:
        message = sp.DatasetFeatureStatisticsList()
        dataset = message.datasets.add(name="driver_stats", num_examples=rows)
        conv = dataset.features.add(type=sp.FeatureNameStatistics.FLOAT)
        conv.path.step.append("conv_rate")
        conv.num_stats.common_stats.num_non_missing = rows
        conv.num_stats.min, conv.num_stats.max, conv.num_stats.mean = 0.125, 0.75, mean
        conv.num_stats.std_dev = 0.25
        histogram = conv.num_stats.histograms.add(type=sp.Histogram.QUANTILES)
        histogram.buckets.add(low_value=0.125, high_value=0.75, sample_count=rows)
        city = dataset.features.add(type=sp.FeatureNameStatistics.STRING)
        city.path.step.append("city")
        city.string_stats.common_stats.num_non_missing = rows - 1
        city.string_stats.common_stats.num_missing = 1
        city.string_stats.unique = 2
        city.string_stats.top_values.add(value="Oslo", frequency=2)
        city.custom_stats.add(name="approximate", str="no")
        city.custom_stats.add(name="nan_share", num=float("nan"))
        return message.SerializeToString()

    folder = root / "target" / "profiles" / "feature_view.driver_stats"
    folder.mkdir(parents=True)
    (folder / "20240501T000000Z.pb").write_bytes(profile(3, 0.1))
    (folder / "20240502T000000Z.pb").write_bytes(profile(3, 0.2))
    (folder / "20240502T000000Z-9.pb").write_bytes(profile(3, 0.3))
    (folder / "20240502T000000Z-10.pb").write_bytes(profile(4, 0.40625))  # the newest: the 10th of that second
    (folder / "20240503T000000Z.json").write_text("{}")  # not a profile: ignored
    damaged = root / "target" / "profiles" / "driver_recent"  # the view's name alone is looked at too
    damaged.mkdir(parents=True)
    (damaged / "20240502T000000Z.pb").write_bytes(b"\xff\xff\xff not a protobuf")


@pytest.fixture(scope="module")
def open_server(tmp_path_factory):
    pytest.importorskip("tensorflow_metadata", reason="the profile fixtures are written with tensorflow-metadata")
    root = tmp_path_factory.mktemp("metadata")
    write_metadata_project(root)
    write_profiles(root)
    server = Server(root, "--reload-interval", "0")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    root = tmp_path_factory.mktemp("metadata-auth")
    write_metadata_project(root, TOKENS)
    server = Server(root, "--reload-interval", "0", env=ENV)
    try:
        yield server
    finally:
        server.stop()


def names(reply) -> list[str]:
    assert reply.status == 200, reply
    return [item["name"] for item in reply.json["items"]]


def everything(server, path: str, limit: int, key: str = "items", **headers) -> list:
    """Every item of a listing, walked page by page."""
    out, offset = [], 0
    separator = "&" if "?" in path else "?"
    while offset is not None:
        reply = server.get(f"{path}{separator}limit={limit}&offset={offset}", **headers)
        assert reply.status == 200, reply
        out += reply.json[key]
        assert len(reply.json[key]) <= limit
        offset = reply.json["next_offset"]
    return out


# -- listings ---------------------------------------------------------------------------------------------


def test_lists_every_node_of_each_kind(open_server):
    assert names(open_server.get("/api/v1/entities")) == ["driver", "shift"]
    views = open_server.get("/api/v1/feature_views").json
    assert [(v["name"], v["kind"]) for v in views["items"]] == \
        [(v, "feature_view") for v in VIEWS] + [("driver_ratios", "on_demand_view")]
    assert views["total"] == 6 and views["next_offset"] is None and views["generation"] == 1
    assert names(open_server.get("/api/v1/feature_services")) == ["driver_archived", "driver_mixed", "driver_v1"]
    datasets = open_server.get("/api/v1/datasets").json["items"]
    assert [d["name"] for d in datasets] == ["recent_trips", "training_v1"]
    assert datasets[0]["features"] == ["driver_recent:trips"] and datasets[0]["tags"] == {"team": "ranking"}
    assert datasets[0]["description"] == "trips of the last day" and datasets[0]["service"] is None
    assert datasets[1]["service"] == "driver_v1"
    assert datasets[1]["features"] == ["driver_stats:conv_rate", "driver_stats:trips", "driver_stats:city"]


def test_a_listing_item_says_what_the_spec_says(open_server):
    entity = open_server.get("/api/v1/entities?limit=1").json["items"][0]
    assert entity["join_keys"] == [{"name": "driver_id", "dtype": "int64", "description": ""}]
    assert entity["location"] == {"path": "features.yml", "line": 2, "column": 12}  # the name
    recent = next(v for v in open_server.get("/api/v1/feature_views").json["items"] if v["name"] == "driver_recent")
    assert recent["ttl_seconds"] == 86400 and recent["online"] is True and recent["source"] == "stats"
    assert recent["entities"] == ["driver"] and recent["feature_count"] == 1
    pushed = next(v for v in open_server.get("/api/v1/feature_views").json["items"] if v["name"] == "driver_pushed")
    assert pushed["push_source"] == "stats_push" and pushed["ttl_seconds"] is None


@pytest.mark.parametrize("limit", [1, 2, 4, 1000])
def test_pages_walk_to_the_whole_list(open_server, limit):
    assert [v["name"] for v in everything(open_server, "/api/v1/feature_views", limit)] == VIEWS + ["driver_ratios"]


def test_page_edges(open_server):
    last = open_server.get("/api/v1/feature_views?limit=4&offset=4").json
    assert [v["name"] for v in last["items"]] == ["shift_stats", "driver_ratios"] and last["next_offset"] is None
    middle = open_server.get("/api/v1/feature_views?offset=1&limit=2").json
    assert [v["name"] for v in middle["items"]] == ["driver_pushed", "driver_recent"] and middle["next_offset"] == 3
    for offset in (6, 7, 10**12):
        past = open_server.get(f"/api/v1/feature_views?offset={offset}").json
        assert past["items"] == [] and past["total"] == 6 and past["next_offset"] is None
    assert open_server.get("/api/v1/entities?").status == 200


@pytest.mark.parametrize("query, words", [
    ("limit=0", "'limit' is 0; it must be from 1 to 1000"),
    ("limit=-3", "'limit' is -3"),
    ("limit=1001", "'limit' is 1001"),
    ("limit=ten", "'limit' is not an integer"),
    ("limit=", "'limit' is not an integer"),
    ("offset=-1", "'offset' is -1; it must be 0 or more"),
    ("offset=1.5", "'offset' is not an integer"),
    ("offset=1_0", "'offset' is not an integer"),
    ("limit=%2B5", "'limit' is not an integer"),
    ("limit=%205", "'limit' is not an integer"),
    ("offset=" + "9" * 19, "'offset' is not an integer"),
    ("limit=1&limit=2", "'limit' is given more than once"),
    ("limt=5", "unknown query parameter 'limt'"),
    ("%ff=1", "not valid UTF-8"),
])
def test_bad_page_parameters_are_400(open_server, query, words):
    for path in ("/api/v1/feature_views", "/api/v1/entities", "/api/v1/lineage"):
        reply = open_server.get(f"{path}?{query}")
        assert reply.status == 400, reply
        assert reply.error["code"] == "FC171" and words in reply.error["message"], reply
    assert open_server.get("/api/v1/feature_views?limt=5").error["hint"] == "did you mean 'limit'?"


# -- one view ---------------------------------------------------------------------------------------------


def test_a_view_with_its_features_lineage_and_latest_statistics(open_server):
    reply = open_server.get("/api/v1/feature_views/driver_stats")
    assert reply.status == 200, reply
    view = reply.json
    assert [(f["name"], f["dtype"]) for f in view["features"]] == \
        [("conv_rate", "float64"), ("trips", "int64"), ("city", "string")]
    assert view["join_keys"] == [{"name": "driver_id", "dtype": "int64", "description": ""}]
    assert view["lineage"]["upstream"] == [{"kind": "entity", "name": "driver"}, {"kind": "source", "name": "stats"}]
    assert view["lineage"]["downstream"] == [
        {"kind": "on_demand_view", "name": "driver_ratios"}, {"kind": "feature_service", "name": "driver_mixed"},
        {"kind": "feature_service", "name": "driver_v1"}, {"kind": "dataset", "name": "training_v1"}]
    statistics = view["statistics"]
    assert statistics["path"] == "target/profiles/feature_view.driver_stats/20240502T000000Z-10.pb"
    assert statistics["profiled_at"] == "2024-05-02T00:00:00Z"  # the time in the file's name
    [dataset] = statistics["datasets"]
    assert dataset["name"] == "driver_stats" and dataset["num_examples"] == 4
    conv, city = dataset["features"]
    assert conv["name"] == "conv_rate" and conv["type"] == "FLOAT" and conv["num_non_missing"] == 4
    assert (conv["min"], conv["max"], conv["mean"], conv["std_dev"]) == (0.125, 0.75, 0.40625, 0.25)
    assert conv["histograms"] == [{"type": "QUANTILES", "num_nan": 0,
                                   "buckets": [{"low": 0.125, "high": 0.75, "count": 4}]}]
    assert city["type"] == "STRING" and city["num_missing"] == 1 and city["unique"] == 2
    assert city["top_values"] == [{"value": "Oslo", "frequency": 2}]
    assert city["custom_stats"] == {"approximate": "no", "nan_share": "NaN"}


def test_a_view_without_profiles_has_no_statistics_and_a_damaged_one_says_so(open_server):
    view = open_server.get("/api/v1/feature_views/shift_stats").json
    assert "statistics" not in view
    assert view["lineage"] == {"upstream": [{"kind": "entity", "name": "shift"}, {"kind": "source", "name": "shifts"}],
                               "downstream": []}
    recent = open_server.get("/api/v1/feature_views/driver_recent").json
    assert recent["statistics"]["path"] == "target/profiles/driver_recent/20240502T000000Z.pb"
    assert recent["statistics"]["error"]["code"] == "FC173"
    assert recent["lineage"]["downstream"] == [{"kind": "feature_service", "name": "driver_mixed"},
                                               {"kind": "dataset", "name": "recent_trips"}]
    pushed = open_server.get("/api/v1/feature_views/driver_pushed").json
    assert pushed["lineage"]["upstream"] == [{"kind": "entity", "name": "driver"}, {"kind": "source", "name": "stats"},
                                             {"kind": "push_source", "name": "stats_push"}]


def test_an_on_demand_view(open_server):
    view = open_server.get("/api/v1/feature_views/driver_ratios").json
    assert view["kind"] == "on_demand_view" and view["inputs"] == ["driver_stats"]
    assert view["features"] == [{"name": "conv_pct", "dtype": "float64", "description": "",
                                 "expr": "conv_rate * 100"}]
    assert view["lineage"]["upstream"] == [{"kind": "entity", "name": "driver"}, {"kind": "source", "name": "stats"},
                                           {"kind": "feature_view", "name": "driver_stats"}]


@pytest.mark.parametrize("path, status, code, hint", [
    ("/api/v1/feature_views/driver_stat", 404, "FC032", "did you mean 'driver_stats'?"),
    ("/api/v1/feature_views/nothing_like_it", 404, "FC032", "known feature views: 'driver_archive'"),
    ("/api/v1/feature_views/", 404, "FC125", None),
    ("/api/v1/feature_views/driver_stats/features", 404, "FC125", None),
    ("/api/v1/feature_views/driver_stats?limit=2", 400, "FC171", None),
    ("/api/v1/lineage?node=feature_view.driver_stat", 404, "FC032", "did you mean 'driver_stats'?"),
    ("/api/v1/lineage?node=dataset.training", 404, "FC172", "did you mean 'training_v1'?"),
    ("/api/v1/lineage?node=dataset.xyz", 404, "FC172", "known datasets: 'recent_trips', 'training_v1'"),
    ("/api/v1/lineage?node=featureview.driver_stats", 400, "FC171", "did you mean 'feature_view'?"),
    ("/api/v1/lineage?node=driver_stats", 400, "FC171", "kinds: entity, source"),
    ("/api/v1/no_such_list", 404, "FC125", None),
])
def test_unknown_names_are_json_errors(open_server, path, status, code, hint):
    reply = open_server.get(path)
    assert reply.status == status, reply
    assert reply.error["code"] == code and reply.json["errors"] and reply.json["detail"]
    if hint is not None:
        assert reply.error["hint"].startswith(hint), reply


def test_a_name_needing_percent_encoding(open_server):
    reply = open_server.get("/api/v1/feature_views/driver%20stats")
    assert reply.status == 404 and "'driver stats'" in reply.error["message"]


def test_the_api_takes_get_only(open_server):
    for path in ("/api/v1/feature_views", "/api/v1/feature_views/driver_stats", "/openapi.json"):
        reply = open_server.post(path, {})
        assert reply.status == 405 and reply.headers["allow"] == "GET", reply


# -- lineage ----------------------------------------------------------------------------------------------

EDGES = {  # from the spec, by hand: what each node reads
    ("source.stats", "push_source.stats_push"),
    ("entity.driver", "feature_view.driver_stats"), ("source.stats", "feature_view.driver_stats"),
    ("entity.driver", "feature_view.driver_recent"), ("source.stats", "feature_view.driver_recent"),
    ("entity.driver", "feature_view.driver_archive"), ("source.stats", "feature_view.driver_archive"),
    ("entity.driver", "feature_view.driver_pushed"), ("push_source.stats_push", "feature_view.driver_pushed"),
    ("entity.shift", "feature_view.shift_stats"), ("source.shifts", "feature_view.shift_stats"),
    ("feature_view.driver_stats", "on_demand_view.driver_ratios"),
    ("feature_view.driver_stats", "feature_service.driver_v1"),
    ("feature_view.driver_stats", "feature_service.driver_mixed"),
    ("feature_view.driver_recent", "feature_service.driver_mixed"),
    ("feature_view.driver_archive", "feature_service.driver_archived"),
    ("feature_service.driver_v1", "dataset.training_v1"), ("source.spine_rows", "dataset.training_v1"),
    ("feature_view.driver_recent", "dataset.recent_trips"), ("source.spine_rows", "dataset.recent_trips"),
}
NODES = {"entity.driver", "entity.shift", "source.stats", "source.shifts", "source.spine_rows",
         "push_source.stats_push", *(f"feature_view.{v}" for v in VIEWS), "on_demand_view.driver_ratios",
         "feature_service.driver_v1", "feature_service.driver_mixed", "feature_service.driver_archived",
         "dataset.training_v1", "dataset.recent_trips"}


@pytest.mark.parametrize("limit", [1, 3, 100])
def test_lineage_pages_hold_every_node_and_edge_once(open_server, limit):
    nodes, edges, offset = [], [], 0
    while offset is not None:
        page = open_server.get(f"/api/v1/lineage?limit={limit}&offset={offset}").json
        nodes += [n["id"] for n in page["nodes"]]
        assert all(e["to"] in [n["id"] for n in page["nodes"]] for e in page["edges"])
        edges += [(e["from"], e["to"]) for e in page["edges"]]
        offset = page["next_offset"]
    assert len(nodes) == len(set(nodes)) and set(nodes) == NODES
    assert len(edges) == len(set(edges)) and set(edges) == EDGES


@pytest.mark.parametrize("node, expected", [
    ("feature_service.driver_mixed", {"feature_service.driver_mixed", "feature_view.driver_stats",
                                      "feature_view.driver_recent", "entity.driver", "source.stats"}),
    ("feature_view.driver_recent", {"feature_view.driver_recent", "entity.driver", "source.stats",
                                    "feature_service.driver_mixed", "dataset.recent_trips"}),
    ("source.shifts", {"source.shifts", "feature_view.shift_stats"}),
])
def test_lineage_around_one_node(open_server, node, expected):
    page = open_server.get(f"/api/v1/lineage?node={node}").json
    assert [n["id"] for n in page["nodes"]] == sorted(expected, key=[n["id"] for n in everything(
        open_server, "/api/v1/lineage", 100, "nodes")].index)  # in the whole lineage's order
    assert {(e["from"], e["to"]) for e in page["edges"]} == {e for e in EDGES if e[0] in expected and e[1] in expected}


# -- auth -------------------------------------------------------------------------------------------------


def test_the_api_needs_a_token_under_auth(guarded):
    for path in ("/api/v1/entities", "/api/v1/feature_views", "/api/v1/feature_views/driver_stats",
                 "/api/v1/feature_services", "/api/v1/datasets", "/api/v1/lineage"):
        reply = guarded.get(path)
        assert reply.status == 401 and reply.error["code"] == "FC127", (path, reply)
    assert guarded.get("/openapi.json").status == 200  # describes the API, names nothing of the project


def test_a_token_lists_only_what_it_is_granted(guarded):
    reader = bearer(READER)  # services: driver_v1; views: shift_stats
    assert names(guarded.get("/api/v1/feature_views", headers=reader)) == ["driver_stats", "shift_stats"]
    assert names(guarded.get("/api/v1/feature_services", headers=reader)) == ["driver_v1"]
    assert names(guarded.get("/api/v1/entities", headers=reader)) == ["driver", "shift"]
    assert names(guarded.get("/api/v1/datasets", headers=reader)) == ["training_v1"]
    assert guarded.get("/api/v1/feature_views?limit=1&offset=1", headers=reader).json["total"] == 2
    view = guarded.get("/api/v1/feature_views/driver_stats", headers=reader).json
    assert view["lineage"]["downstream"] == [{"kind": "feature_service", "name": "driver_v1"},
                                             {"kind": "dataset", "name": "training_v1"}]
    lineage = everything(guarded, "/api/v1/lineage", 2, "nodes", headers=reader)
    assert {n["id"] for n in lineage} == {"entity.driver", "entity.shift", "source.stats", "source.shifts",
                                          "source.spine_rows", "feature_view.driver_stats",
                                          "feature_view.shift_stats", "feature_service.driver_v1",
                                          "dataset.training_v1"}


def test_hidden_names_answer_as_unknown_ones(guarded):
    reader = bearer(READER)
    hidden = guarded.get("/api/v1/feature_views/driver_recent", headers=reader)
    unknown = guarded.get("/api/v1/feature_views/driver_recnt", headers=reader)
    for reply in (hidden, unknown):
        assert reply.status == 404 and reply.error["code"] == "FC032", reply
        assert "driver_recent" not in reply.error["hint"] and "'driver_stats'" in reply.error["hint"]
        assert "token 'reader'" in reply.error["hint"]
    assert guarded.get("/api/v1/lineage?node=feature_service.driver_mixed", headers=reader).status == 404


def test_a_token_without_read_grants_lists_nothing_and_an_admin_everything(guarded):
    pusher = bearer(PUSHER)
    for path in ("/api/v1/entities", "/api/v1/feature_views", "/api/v1/feature_services", "/api/v1/datasets"):
        reply = guarded.get(path, headers=pusher)
        assert reply.status == 200 and reply.json["items"] == [] and reply.json["total"] == 0, reply
    assert guarded.get("/api/v1/lineage", headers=pusher).json["nodes"] == []
    admin = bearer(ADMIN)
    assert len(names(guarded.get("/api/v1/feature_views", headers=admin))) == 6
    assert names(guarded.get("/api/v1/datasets", headers=admin)) == ["recent_trips", "training_v1"]


# -- the OpenAPI document ---------------------------------------------------------------------------------


def openapi_schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text())


@pytest.mark.parametrize("fixture", ["open_server", "guarded"])
def test_the_openapi_document_is_valid_and_lists_every_route(request, fixture):
    from fcompile.serving.app import ROUTES, TEMPLATED_ROUTES

    server = request.getfixturevalue(fixture)
    reply = server.get("/openapi.json")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    document = reply.json
    jsonschema.Draft4Validator(openapi_schema()).validate(document)
    routes = {**{p: r.method for p, r in ROUTES.items()}, **{p: r.method for p, (_, r) in TEMPLATED_ROUTES.items()}}
    assert {p: next(iter(ops)).upper() for p, ops in document["paths"].items()} == routes
    for path, operations in document["paths"].items():  # every path the document names is answered
        concrete = path.replace("{name}", "driver_stats")
        method = next(iter(operations))
        headers = bearer(ADMIN) if fixture == "guarded" else {}
        reply = server.call(method.upper(), concrete, {} if method == "post" else None, headers=headers)
        assert reply.status != 404 or reply.error["code"] != "FC125", (path, reply)
    secured = {p for p, ops in document["paths"].items() if "security" in next(iter(ops.values()))}
    if fixture == "guarded":
        assert secured == {p for p, r in ROUTES.items() if r.protected} | set(TEMPLATED_ROUTES)
        assert document["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    else:
        assert secured == set() and "securitySchemes" not in document["components"]


def test_a_route_the_document_does_not_describe_is_refused():
    from fcompile.serving.app import Route, every_route
    from fcompile.serving.openapi import openapi_document

    with pytest.raises(ValueError, match="does not describe GET /api/v1/sources"):
        openapi_document({**every_route(), "/api/v1/sources": Route("GET", "_sources", True)}, False)
    with pytest.raises(ValueError, match="does not describe POST /health"):
        openapi_document({"/health": Route("POST", "_health", False)}, False)


def test_the_vendored_schema_rejects_what_it_should():
    """The schema is no rubber stamp: a document with a broken operation fails it."""
    schema = openapi_schema()
    jsonschema.Draft4Validator.check_schema(schema)
    bad = {"openapi": "3.0.3", "info": {"title": "x", "version": "1"},
           "paths": {"/a": {"get": {"responses": {"200": {"content": {}}}}}}}  # a response needs a description
    assert list(jsonschema.Draft4Validator(schema).iter_errors(bad))
    assert list(jsonschema.Draft4Validator(schema).iter_errors({**bad, "openapi": "3.1.0", "paths": {}}))


@pytest.mark.parametrize("path, schema", [
    ("/api/v1/entities", "EntityPage"), ("/api/v1/feature_views", "FeatureViewPage"),
    ("/api/v1/feature_services", "FeatureServicePage"), ("/api/v1/datasets", "DatasetPage"),
    ("/api/v1/lineage", "Lineage"), ("/api/v1/feature_views/driver_stats", "FeatureView"),
    ("/api/v1/feature_views/driver_recent", "FeatureView"), ("/api/v1/feature_views/driver_ratios", "FeatureView"),
    ("/health", "Health"), ("/api/v1/feature_views/nope", "Error"),
])
def test_answers_match_their_documented_schemas(open_server, path, schema):
    document = as_json_schema(open_server.get("/openapi.json").json)
    reply = open_server.get(path)
    validator = jsonschema.Draft4Validator({"$ref": f"#/components/schemas/{schema}", **document})
    validator.validate(reply.json)
    if schema == "FeatureView":  # and a wrong answer would not pass
        broken = {**reply.json, "lineage": {"upstream": "stats"}}
        assert list(validator.iter_errors(broken))


def as_json_schema(value):
    """OpenAPI 3.0's schema dialect as JSON Schema: `nullable: true` becomes a "null" type beside the other."""
    if isinstance(value, list):
        return [as_json_schema(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: as_json_schema(v) for k, v in value.items() if k != "nullable"}
    if value.get("nullable") is True:
        out["type"] = [value["type"], "null"]
    return out


def test_metadata_requests_are_counted_by_route_template(open_server):
    open_server.get("/api/v1/feature_views/driver_stats")
    open_server.get("/api/v1/feature_views/shift_stats")
    text = open_server.get("/metrics").body.decode()
    assert 'endpoint="/api/v1/feature_views/{name}"' in text
    assert 'endpoint="/api/v1/feature_views/driver_stats"' not in text


def test_the_metadata_follows_a_reload(tmp_path):
    from test_reload import NEW_SERVICE, wait_for

    write_metadata_project(tmp_path)
    server = Server(tmp_path, "--reload-interval", "0.2")
    try:
        first = server.get("/api/v1/feature_services").json
        assert first["generation"] == 1 and "driver_trips" not in [s["name"] for s in first["items"]]
        spec = tmp_path / "features.yml"
        spec.write_text(spec.read_text() + NEW_SERVICE)
        wait_for(lambda: server.get("/api/v1/feature_services").json["generation"] > 1, what="the reload")
        after = server.get("/api/v1/feature_services").json
        assert [s["name"] for s in after["items"]] == ["driver_archived", "driver_mixed", "driver_trips", "driver_v1"]
        assert after["generation"] == server.get("/health").json["generation"]
        downstream = server.get("/api/v1/feature_views/driver_stats").json["lineage"]["downstream"]
        assert {"kind": "feature_service", "name": "driver_trips"} in downstream
    finally:
        server.stop()


def test_the_statistics_of_a_profile_fcompile_profile_wrote(tmp_path):
    """End to end: `fcompile profile` writes the view's profile, the API serves its numbers (checked
    against numpy on the rows serving_helpers writes)."""
    import subprocess
    import sys

    import numpy as np

    pytest.importorskip("fcompile.tasks.profile_files", reason="this build has no `fcompile profile`")
    write_metadata_project(tmp_path)
    done = subprocess.run([sys.executable, "-m", "fcompile", "profile", "--project-dir", str(tmp_path),
                           "--select", "driver_stats"], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    server = Server(tmp_path, "--reload-interval", "0")
    try:
        statistics = server.get("/api/v1/feature_views/driver_stats").json["statistics"]
    finally:
        server.stop()
    assert statistics["path"].startswith("target/profiles/feature_view.driver_stats/")
    [dataset] = statistics["datasets"]
    features = {f["name"]: f for f in dataset["features"]}
    assert dataset["num_examples"] == 4
    conv = np.array([0.25, 0.5, 0.75, 0.125])
    assert features["conv_rate"]["mean"] == pytest.approx(conv.mean())
    assert features["conv_rate"]["std_dev"] == pytest.approx(conv.std())
    assert (features["conv_rate"]["min"], features["conv_rate"]["max"]) == (conv.min(), conv.max())
    assert features["trips"]["mean"] == pytest.approx(np.mean([10, 12, 7, 3]))
    city = features["city"]
    assert (city["num_non_missing"], city["num_missing"], city["unique"]) == (3, 1, 2)
    assert city["top_values"][0] == {"value": "Oslo", "frequency": 2}
