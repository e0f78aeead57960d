"""The OpenAPI 3.0 document of the feature server (`GET /openapi.json`): every endpoint it has.

`OPERATIONS` describes each path of the server's route table (app.py's ROUTES and TEMPLATED_ROUTES);
`openapi_document` refuses a table with a path it does not describe, so a new endpoint cannot be left
out of the document, and a test checks the two against each other and the document against the
OpenAPI 3.0 JSON Schema. The bearer scheme is declared, and required by the endpoints that need a token,
only when the target's `serving.auth` has tokens.
"""

from __future__ import annotations

from typing import Any, Mapping

from fcompile.serving.metadata import DEFAULT_LIMIT, LINEAGE_KINDS, MAX_LIMIT
from fcompile.version import __version__

OPENAPI_VERSION = "3.0.3"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: tuple[str, ...] = (), extra: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    if not extra:
        out["additionalProperties"] = False
    return out


def _list(items: Any) -> dict[str, Any]:
    return {"type": "array", "items": items}


_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_INTEGER = {"type": "integer"}
_NUMBER = {"type": "number"}
_BOOLEAN = {"type": "boolean"}
_ANY: dict[str, Any] = {}
_TABLE = {"type": "object", "additionalProperties": _list(_ANY), "description": "column name -> list of values"}
_TAGS = {"type": "object", "additionalProperties": _STRING}
_LOCATION = {"type": "object", "nullable": True, "properties": {"path": _STRING, "line": _INTEGER, "column": _INTEGER}}
_PAGE_FIELDS = {"total": _INTEGER, "limit": _INTEGER, "offset": _INTEGER,
                "next_offset": {"type": "integer", "nullable": True}, "generation": _INTEGER}
_PAGE_REQUIRED = ("total", "limit", "offset", "next_offset", "generation")
_NODE_FIELDS = {"name": _STRING, "kind": _STRING, "description": _STRING, "owner": _STRING, "tags": _TAGS,
                "location": _LOCATION}
_JOIN_KEY = _object({"name": _STRING, "dtype": _STRING, "description": _STRING})
_VIEW_FIELDS = {**_NODE_FIELDS, "entities": _list(_STRING), "source": _STRING, "push_source": _NULLABLE_STRING,
                "ttl_seconds": {"type": "number", "nullable": True}, "online": _BOOLEAN, "feature_count": _INTEGER,
                "aggregated": _BOOLEAN, "inputs": _list(_STRING)}
_FEATURE = _object({"name": _STRING, "dtype": _STRING, "description": _STRING, "tags": _TAGS,
                    "aggregation": _object({"function": _STRING, "column": _NULLABLE_STRING,
                                            "window_seconds": _NUMBER}),
                    "expr": _STRING}, ("name", "dtype"))
_STAT_NUMBER = {"oneOf": [_NUMBER, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]}
_FEATURE_STATISTICS = _object({
    "name": _STRING, "type": _STRING, "num_non_missing": _INTEGER, "num_missing": _INTEGER, "min": _STAT_NUMBER,
    "max": _STAT_NUMBER, "mean": _STAT_NUMBER, "std_dev": _STAT_NUMBER, "num_zeros": _INTEGER, "median": _STAT_NUMBER,
    "histograms": _list(_object({"type": _STRING, "num_nan": _INTEGER, "buckets": _list(_object(
        {"low": _STAT_NUMBER, "high": _STAT_NUMBER, "count": _STAT_NUMBER}))})),
    "unique": _INTEGER, "avg_length": _STAT_NUMBER,
    "top_values": _list(_object({"value": _STRING, "frequency": _STAT_NUMBER})),
    "custom_stats": {"type": "object", "additionalProperties": _ANY}}, ("name", "type"))
_NEIGHBOUR = _object({"kind": _STRING, "name": _STRING}, ("kind", "name"))
_PROBLEM = _object({"code": _STRING, "message": _STRING, "hint": _NULLABLE_STRING, "path": _STRING,
                    "line": _INTEGER, "column": _INTEGER}, ("code", "message"))

SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": _PROBLEM, "errors": _list(_PROBLEM), "detail": _STRING}, ("error", "errors", "detail")),
    "OnlineFeaturesRequest": _object({
        "entities": {"type": "object", "additionalProperties": _list(_ANY), "description": "join key -> values"},
        "features": _list(_STRING), "feature_service": _STRING, "full_feature_names": _BOOLEAN}, ("entities",)),
    "OnlineFeaturesResponse": _object({
        "metadata": _object({"feature_names": _list(_STRING)}, ("feature_names",)),
        "results": _list(_object({"values": _list(_ANY), "statuses": _list(
            {"type": "string", "enum": ["PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"]}),
            "event_timestamps": _list(_STRING)}, ("values", "statuses", "event_timestamps")))},
        ("metadata", "results")),
    "PushRequest": _object({"push_source_name": _STRING, "df": _TABLE,
                            "to": {"type": "string", "enum": ["online", "offline", "online_and_offline"]}},
                           ("push_source_name", "df")),
    "PushResponse": _object({"push_source_name": _STRING, "to": _STRING, "rows": _INTEGER,
                             "views_written": _list(_STRING), "offline_rows": _INTEGER}),
    "WriteRequest": _object({"feature_view_name": _STRING, "df": _TABLE}, ("feature_view_name", "df")),
    "WriteResponse": _object({"feature_view_name": _STRING, "rows": _INTEGER}, ("feature_view_name", "rows")),
    "MaterializeRequest": _object({"start_ts": _STRING, "end_ts": _STRING, "feature_views": {
        "type": "array", "items": _STRING, "nullable": True}}, ("start_ts", "end_ts")),
    "MaterializeIncrementalRequest": _object({"end_ts": _STRING, "feature_views": {
        "type": "array", "items": _STRING, "nullable": True}}, ("end_ts",)),
    "MaterializeResponse": _object({"results": _list(_object({
        "feature_view": _STRING, "status": _STRING, "window": _ANY, "rows_read": {"type": "integer", "nullable": True},
        "keys_written": {"type": "integer", "nullable": True}, "seconds": _NUMBER, "message": _NULLABLE_STRING,
        "errors": _list(_PROBLEM)}))}, ("results",)),
    "Health": _object({"status": {"type": "string", "enum": ["ok", "unhealthy"]}, "project": _STRING,
                       "target": _STRING, "online_store": _STRING, "generation": _INTEGER, "loaded_at": _STRING},
                      ("status",)),
    "Entity": _object({**_NODE_FIELDS, "join_keys": _list(_JOIN_KEY)}, ("name", "kind")),
    "FeatureViewSummary": _object(_VIEW_FIELDS, ("name", "kind")),
    "FeatureView": _object({
        **_VIEW_FIELDS, "features": _list(_FEATURE), "join_keys": _list(_JOIN_KEY),
        "lineage": _object({"upstream": _list(_NEIGHBOUR), "downstream": _list(_NEIGHBOUR)},
                           ("upstream", "downstream")),
        "statistics": _object({"path": _STRING, "profiled_at": _NULLABLE_STRING, "datasets": _list(_object({
            "name": _STRING, "num_examples": _INTEGER, "features": _list(_FEATURE_STATISTICS)})),
            "error": _PROBLEM}, ("path",)),
        "generation": _INTEGER}, ("name", "kind", "features", "lineage", "generation")),
    "FeatureService": _object({**_NODE_FIELDS, "features": _list(_STRING)}, ("name", "kind", "features")),
    "Dataset": _object({**_NODE_FIELDS, "service": _NULLABLE_STRING, "features": _list(_STRING),
                        "spine": _object({"kind": _STRING, "locator": _STRING, "timestamp_field": _STRING}),
                        "output": _object({"kind": _STRING, "locator": _STRING})}, ("name", "kind")),
    "Lineage": _object({
        "nodes": _list(_object({"id": _STRING, "kind": {"type": "string", "enum": list(LINEAGE_KINDS)},
                                "name": _STRING, "description": _STRING}, ("id", "kind", "name"))),
        "edges": _list(_object({"from": _STRING, "to": _STRING}, ("from", "to"))), **_PAGE_FIELDS},
        ("nodes", "edges", *_PAGE_REQUIRED)),
}
for _name, _item in (("EntityPage", "Entity"), ("FeatureViewPage", "FeatureViewSummary"),
                     ("FeatureServicePage", "FeatureService"), ("DatasetPage", "Dataset")):
    SCHEMAS[_name] = _object({"items": _list(_ref(_item)), **_PAGE_FIELDS}, ("items", *_PAGE_REQUIRED))

_PAGE_PARAMETERS = [
    {"name": "limit", "in": "query", "required": False, "description": f"items per page (default {DEFAULT_LIMIT}, "
     f"1 to {MAX_LIMIT})", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
    {"name": "offset", "in": "query", "required": False, "description": "items to skip (past the end: an empty page)",
     "schema": {"type": "integer", "minimum": 0, "default": 0}},
]


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _operation(summary: str, ok: dict[str, Any], errors: dict[str, str], body: str | None = None,
               parameters: list[dict[str, Any]] | None = None, tag: str = "features") -> dict[str, Any]:
    out: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {"200": ok}}
    for status, why in errors.items():
        out["responses"][status] = _json("Error", why)
    if body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    if parameters:
        out["parameters"] = parameters
    return out


_BODY_ERRORS = {"400": "a body that is not JSON", "413": "a body over the server's limits",
                "422": "a body of the wrong shape, or values that do not fit"}
_PAGE_ERRORS = {"400": "an unknown, repeated or out-of-range query parameter (FC171)"}

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "/get-online-features": ("post", _operation(
        "Online feature values (Feast's feature server request and response)",
        _json("OnlineFeaturesResponse", "one result per name, join keys first"),
        {**_BODY_ERRORS, "404": "unknown feature view, feature or service", "503": "the online store failed"},
        "OnlineFeaturesRequest")),
    "/push": ("post", _operation("Rows into a push source: online, offline or both",
                                 _json("PushResponse", "rows written"),
                                 {**_BODY_ERRORS, "404": "unknown push source"}, "PushRequest")),
    "/write-to-online-store": ("post", _operation(
        "Rows of one feature view into the online store", _json("WriteResponse", "rows written"),
        {**_BODY_ERRORS, "404": "unknown feature view"}, "WriteRequest")),
    "/materialize": ("post", _operation(
        "Materialize a window into the online store", _json("MaterializeResponse", "per view, what ran"),
        {**_BODY_ERRORS, "409": "a materialization of the project is already running"}, "MaterializeRequest")),
    "/materialize-incremental": ("post", _operation(
        "Materialize from each view's watermark", _json("MaterializeResponse", "per view, what ran"),
        {**_BODY_ERRORS, "409": "a materialization of the project is already running"},
        "MaterializeIncrementalRequest")),
    "/health": ("get", _operation("Whether the online store answers (without a valid token under auth: the status "
                                  "only)", _json("Health", "healthy"), {"503": "the online store does not answer"},
                                  tag="operations")),
    "/metrics": ("get", {"summary": "Prometheus metrics, text format", "tags": ["operations"], "responses": {
        "200": {"description": "the metrics", "content": {"text/plain": {"schema": _STRING}}}}}),
    "/openapi.json": ("get", {"summary": "This document", "tags": ["operations"], "responses": {
        "200": {"description": "an OpenAPI 3.0 document", "content": {"application/json": {"schema": {
            "type": "object"}}}}}}),
    "/api/v1/entities": ("get", _operation("A page of entities", _json("EntityPage", "entities"), _PAGE_ERRORS,
                                           parameters=_PAGE_PARAMETERS, tag="metadata")),
    "/api/v1/feature_views": ("get", _operation(
        "A page of feature views (on-demand views too)", _json("FeatureViewPage", "feature views"), _PAGE_ERRORS,
        parameters=_PAGE_PARAMETERS, tag="metadata")),
    "/api/v1/feature_views/{name}": ("get", _operation(
        "One feature view: features, join keys, lineage and its latest statistics",
        _json("FeatureView", "the view (`statistics` only when a profile exists)"),
        {"404": "unknown feature view (FC032, with a did-you-mean)"},
        parameters=[{"name": "name", "in": "path", "required": True, "schema": _STRING}], tag="metadata")),
    "/api/v1/feature_services": ("get", _operation(
        "A page of feature services", _json("FeatureServicePage", "feature services"), _PAGE_ERRORS,
        parameters=_PAGE_PARAMETERS, tag="metadata")),
    "/api/v1/datasets": ("get", _operation("A page of datasets", _json("DatasetPage", "datasets"), _PAGE_ERRORS,
                                           parameters=_PAGE_PARAMETERS, tag="metadata")),
    "/api/v1/lineage": ("get", _operation(
        "A page of lineage nodes, with the edges into them", _json("Lineage", "nodes and edges"),
        {**_PAGE_ERRORS, "404": "`node` names a node the project does not have"},
        parameters=[*_PAGE_PARAMETERS, {
            "name": "node", "in": "query", "required": False, "schema": _STRING,
            "description": "kind.name (feature_view.driver_stats): only that node, what it reads and what reads "
                           "it, transitively"}], tag="metadata")),
}


def openapi_document(routes: Mapping[str, Any], auth: bool) -> dict[str, Any]:
    """The document for the route table `routes` (path -> route with `method` and `protected`). Raises
    ValueError for a route OPERATIONS does not describe, or describes with another method."""
    paths: dict[str, Any] = {}
    for path, route in routes.items():
        if path not in OPERATIONS or OPERATIONS[path][0] != route.method.lower():
            raise ValueError(f"the OpenAPI document does not describe {route.method} {path}")
        method, operation = OPERATIONS[path]
        operation = dict(operation, operationId=_operation_id(method, path))
        if auth and route.protected:
            operation["security"] = [{"bearer": []}]
            operation["responses"] = dict(operation["responses"], **{
                "401": _json("Error", "no valid bearer token (FC127)"),
                "403": _json("Error", "the token's grants do not allow it (FC128)")})
        paths[path] = {method: operation}
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "fcompile feature server", "version": __version__,
                 "description": "Online features (wire-compatible with Feast's feature server), writes, "
                                "materialization, and read-only metadata about the served project."},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
    if auth:
        document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return document


def _operation_id(method: str, path: str) -> str:
    words = [w.strip("{}") for w in path.replace(".", "_").replace("-", "_").split("/") if w and w != "api"]
    return "_".join([method, *words])
