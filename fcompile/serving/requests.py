"""Request bodies of the feature server, read into small frozen dataclasses with Feast's field names.

Each reader takes the raw body and raises `HttpError` naming the problem: 400 for a body that is not
JSON, 422 for JSON of the wrong shape (a missing or mistyped field). Fields a Feast client sends that
fcompile has no use for (`allow_registry_cache`, `transform_on_write`) are accepted and ignored.
Whether names exist and values fit their dtypes is the SDK's business (its diagnostics map to 404/422).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from fcompile.diagnostics import Code, Diagnostic, clipped, did_you_mean
from fcompile.online.values import parse_moment
from fcompile.runners.base import first_line
from fcompile.serving.errors import HttpError, request_error


@dataclass(frozen=True)
class OnlineFeaturesCall:
    entities: dict[str, Any]
    features: list[str] | None
    feature_service: str | None
    full_feature_names: bool
    rows: int                   # entity rows asked for: the longest list of values (the SDK checks they agree)


@dataclass(frozen=True)
class PushCall:
    push_source_name: str
    df: dict[str, Any]
    to: str


@dataclass(frozen=True)
class WriteCall:
    feature_view_name: str
    df: dict[str, Any]


@dataclass(frozen=True)
class MaterializeCall:
    start: dt.datetime | None   # None: incremental (each view's watermark minus its lateness)
    end: dt.datetime
    feature_views: list[str] | None  # None: every online view


def json_object(body: bytes, endpoint: str) -> dict[str, Any]:
    if not body:
        raise request_error(400, f"{endpoint} needs a JSON object as its body, and the body is empty",
                            _example(endpoint))
    try:
        document = _loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, nesting too deep
        raise request_error(400, f"the body of {endpoint} is not valid JSON: {first_line(exc)}",
                            _example(endpoint)) from None
    if type(document) is not dict:
        raise request_error(422, f"the body of {endpoint} must be a JSON object, not {_json_type(document)}",
                            _example(endpoint))
    return document


def _loads(body: bytes) -> Any:
    """The body's JSON: orjson (in C, a microsecond for a one-entity request against the standard library's
    six); what orjson refuses - a body that is not JSON, and what only the standard library takes (NaN,
    integers beyond 64 bits, UTF-16 and UTF-32) - goes to the standard library, which parses it or says why
    not."""
    if _orjson_loads is not None:
        try:
            return _orjson_loads(body)
        except ValueError:  # orjson.JSONDecodeError
            pass
    return json.loads(body)


try:
    from orjson import loads as _orjson_loads
except ImportError:  # the server's extra is not installed: the standard library alone
    _orjson_loads = None


ONLINE_FIELDS = ("entities", "features", "feature_service", "full_feature_names")
# fields Feast's clients send that change nothing here; other unknown fields are ignored too (a client may add
# its own), except one spelt like a field of ours, which is refused rather than silently not applied
FEAST_IGNORED_FIELDS = ("allow_registry_cache", "transform_on_write")
_ONLINE_KNOWN = frozenset(ONLINE_FIELDS + FEAST_IGNORED_FIELDS)


def read_online_features(body: bytes, max_entities: int) -> OnlineFeaturesCall:
    """The request; 413 when it asks for more than `max_entities` entity rows."""
    document = json_object(body, "/get-online-features")
    problems: list[Diagnostic] = []
    if not document.keys() <= _ONLINE_KNOWN:
        problems += _misspelt_fields(document.keys() - _ONLINE_KNOWN)
    entities = document.get("entities")
    if type(entities) is not dict:
        problems.append(_shape("/get-online-features", "entities", entities, "an object of join key to a list of "
                               "values", '"entities": {"driver_id": [1001, 1002]}'))
    features = document.get("features")
    service = document.get("feature_service")
    if features is not None and (type(features) is not list or any(type(f) is not str for f in features)):
        problems.append(_shape("/get-online-features", "features", features, "a list of \"view:feature\" strings",
                               '"features": ["driver_hourly_stats:conv_rate"]'))
    if service is not None and type(service) is not str:
        problems.append(_shape("/get-online-features", "feature_service", service, "a string",
                               '"feature_service": "driver_activity_v1"'))
    if (features is None) == (service is None) and not problems:
        both = "both" if features is not None else "neither"
        problems.append(Diagnostic(Code.BAD_REQUEST, f"/get-online-features takes exactly one of \"features\" and "
                                   f"\"feature_service\", and the body has {both}", None,
                                   '"features": ["view:feature", ...] or "feature_service": "name"'))
    full = document.get("full_feature_names", False)
    if full is None:
        full = False
    if type(full) is not bool:
        problems.append(_shape("/get-online-features", "full_feature_names", full, "true or false",
                               '"full_feature_names": true'))
    if problems:
        raise HttpError(422, problems)
    rows = max((len(values) for values in entities.values() if type(values) is list), default=0)
    if rows > max_entities:
        raise HttpError(413, [Diagnostic(Code.REQUEST_TOO_LARGE, f"/get-online-features asks for {rows:,} entities, "
                                         f"more than the {max_entities:,} one request may ask for", None,
                                         "split the entities over several requests, or raise the target's "
                                         "serving.max_entities_per_request")])
    return OnlineFeaturesCall(entities, features, service, full, rows)  # type: ignore[arg-type]


def _misspelt_fields(unknown: Iterable[str]) -> list[Diagnostic]:
    """A 422 problem for each unknown field spelt like one of /get-online-features' own (`full_feature_name`)."""
    problems = []
    for name in sorted(unknown):
        hint = did_you_mean(name, ONLINE_FIELDS)
        if hint is not None:
            problems.append(Diagnostic(Code.BAD_REQUEST, f"/get-online-features takes no field \"{clipped(name)}\"",
                                       None, hint))
    return problems


def read_push(body: bytes) -> PushCall:
    document = json_object(body, "/push")
    problems = _required_string(document, "/push", "push_source_name", '"push_source_name": "driver_stats_push"')
    df = document.get("df")
    if type(df) is not dict:
        problems.append(_shape("/push", "df", df, "an object of column name to a list of values",
                               '"df": {"driver_id": [1001], "event_timestamp": ["2024-05-01T12:00:00Z"], ...}'))
    to = document.get("to")  # checked by the SDK's push (FC123), as for every caller
    if problems:
        raise HttpError(422, problems)
    return PushCall(document["push_source_name"], df, "online" if to is None else to)  # type: ignore[arg-type]


def read_write(body: bytes) -> WriteCall:
    document = json_object(body, "/write-to-online-store")
    problems = _required_string(document, "/write-to-online-store", "feature_view_name",
                                '"feature_view_name": "driver_hourly_stats"')
    df = document.get("df")
    if type(df) is not dict:
        problems.append(_shape("/write-to-online-store", "df", df, "an object of column name to a list of values",
                               '"df": {"driver_id": [1001], "event_timestamp": ["2024-05-01T12:00:00Z"], ...}'))
    if problems:
        raise HttpError(422, problems)
    return WriteCall(document["feature_view_name"], df)  # type: ignore[arg-type]


def read_materialize(body: bytes, incremental: bool) -> MaterializeCall:
    endpoint = "/materialize-incremental" if incremental else "/materialize"
    document = json_object(body, endpoint)
    problems: list[Diagnostic] = []
    end = _moment(document, endpoint, "end_ts", problems)
    start = None if incremental else _moment(document, endpoint, "start_ts", problems)
    views = document.get("feature_views")
    if views is not None and (type(views) is not list or any(type(v) is not str for v in views)):
        problems.append(_shape(endpoint, "feature_views", views, "a list of feature view names (or null for all)",
                               '"feature_views": ["driver_hourly_stats"]'))
    if problems:
        raise HttpError(422, problems)
    return MaterializeCall(start, end, views)  # type: ignore[arg-type]


def _moment(document: Mapping[str, Any], endpoint: str, field: str, problems: list[Diagnostic]) -> dt.datetime:
    value = document.get(field)
    example = f'"{field}": "2024-05-01T00:00:00Z"'
    if type(value) is not str:
        problems.append(_shape(endpoint, field, value, "an ISO 8601 date or time", example))
        return None  # type: ignore[return-value]
    try:
        return parse_moment(value)
    except ValueError:
        problems.append(Diagnostic(Code.BAD_REQUEST, f"\"{field}\" of {endpoint} is not an ISO 8601 date or time: "
                                   f"{json.dumps(value)}", None, example))
        return None  # type: ignore[return-value]


def _required_string(document: Mapping[str, Any], endpoint: str, field: str, example: str) -> list[Diagnostic]:
    value = document.get(field)
    if type(value) is str and value:
        return []
    return [_shape(endpoint, field, value, "a non-empty string", example)]


def _shape(endpoint: str, field: str, value: Any, expected: str, example: str) -> Diagnostic:
    if value is None:
        return Diagnostic(Code.BAD_REQUEST, f"the body of {endpoint} lacks \"{field}\" ({expected})", None,
                          f"e.g. {example}")
    return Diagnostic(Code.BAD_REQUEST, f"\"{field}\" of {endpoint} must be {expected}, not {_json_type(value)}",
                      None, f"e.g. {example}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _example(endpoint: str) -> str:
    return f"send a body such as {_EXAMPLES[endpoint]}"


_EXAMPLES = {
    "/get-online-features": '{"entities": {"driver_id": [1001]}, "feature_service": "driver_activity_v1"}',
    "/push": '{"push_source_name": "name", "df": {"column": [values]}, "to": "online"}',
    "/write-to-online-store": '{"feature_view_name": "name", "df": {"column": [values]}}',
    "/materialize": '{"start_ts": "2024-05-01T00:00:00Z", "end_ts": "2024-05-02T00:00:00Z", "feature_views": null}',
    "/materialize-incremental": '{"end_ts": "2024-05-02T00:00:00Z", "feature_views": null}',
}


# -- join-key values that JSON cannot carry as they are ------------------------------------------------

def key_readers(graph: Any) -> dict[str, tuple[str, Callable[[str], Any], str]]:
    """For each join key or request field whose dtype JSON has no type for (date, timestamp, bytes): the
    dtype and a reader of its text form (ISO 8601, base64). Others are taken as JSON gives them."""
    readers = {"date": dt.date.fromisoformat, "timestamp": parse_moment, "bytes": _base64}
    out: dict[str, tuple[str, Callable[[str], Any], str]] = {}
    for entity in graph.entities:
        for key in entity.join_keys:
            if key.dtype.name in readers:
                out[key.name] = (key.dtype.name, readers[key.dtype.name], "join key")
    for source in getattr(graph, "request_sources", ()):  # request fields sit beside the keys in `entities`
        for request_field in source.fields:
            if request_field.dtype.name in readers:
                out.setdefault(request_field.name, (request_field.dtype.name, readers[request_field.dtype.name],
                                                    "request field"))
    return out


def read_key_text(entities: dict[str, Any], readers: dict[str, tuple[str, Callable[[str], Any], str]]) -> dict[str, Any]:
    """`entities` with the text values of date, timestamp and bytes keys read as their dtype (a new
    mapping; the others are left to the SDK's checks). Raises HttpError 422 naming the key and value."""
    problems: list[Diagnostic] = []
    out = dict(entities)
    for name, (dtype, reader, what) in readers.items():
        values = entities.get(name)
        if type(values) is not list:
            continue
        converted = list(values)
        for i, value in enumerate(values):
            if type(value) is str:
                try:
                    converted[i] = reader(value)
                except (ValueError, binascii.Error):
                    code = Code.ENTITY_VALUE if what == "join key" else Code.REQUEST_FIELD_VALUE
                    problems.append(Diagnostic(code, f"{'entity ' * (code is Code.ENTITY_VALUE)}value "
                                               f"{json.dumps(value)} of {what} '{name}' is not a valid {dtype}", None,
                                               _TEXT_FORMS[dtype]))
                    break
        out[name] = converted
    if problems:
        raise HttpError(422, problems)
    return out


_TEXT_FORMS = {"date": "give dates as ISO 8601 text, e.g. \"2024-05-01\"",
               "timestamp": "give times as ISO 8601 text, e.g. \"2024-05-01T12:00:00Z\" (naive times are UTC)",
               "bytes": "give bytes as base64 text"}


def _base64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
