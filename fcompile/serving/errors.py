"""Errors of the feature server: a status code that says what was wrong, and a JSON body naming it.

Every failed request gets

    {"error": {"code": "FC117", "message": "...", "hint": "..."},   # the first problem
     "errors": [{"code": ..., "message": ..., "hint": ...}, ...],  # every problem, as diagnostics list them
     "detail": "error[FC117]: ...\n  hint: ..."}                    # the same as text (FastAPI clients read it)

The status comes from the first problem's diagnostic code (`STATUS_BY_CODE`); a problem the server finds
in the request itself (FC125) carries its own status (400 malformed JSON, 404 unknown endpoint, 405 wrong
method, 408 body too slow, 422 a body of the wrong shape). Headers over their limits get FC126 with 431,
answered by the HTTP protocol itself (protocol.py) before the request reaches the application.
"""

from __future__ import annotations

import json
from typing import Iterable, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError

STATUS_BY_CODE: dict[Code, int] = {
    # unknown names
    Code.UNKNOWN_ENTITY: 404, Code.UNKNOWN_SOURCE: 404, Code.UNKNOWN_VIEW: 404, Code.UNKNOWN_FEATURE: 404,
    Code.UNKNOWN_SERVICE: 404, Code.API_UNKNOWN_NODE: 404,
    # values that do not fit
    Code.ENTITY_VALUE: 422, Code.ONLINE_KEY_MISMATCH: 422, Code.REQUEST_FIELDS_MISSING: 422,
    Code.REQUEST_FIELD_VALUE: 422, Code.EXPRESSION_OVERFLOW: 422,
    # requests that cannot be served as asked
    Code.BAD_ARGUMENT: 400, Code.FEATURE_NAME_COLLISION: 400, Code.REQUEST_FIELD_CONFLICT: 400, Code.VIEW_NOT_ONLINE: 400, Code.AGGREGATES_NOT_ONLINE: 400,
    Code.MATERIALIZE_WINDOW: 400, Code.BAD_REQUEST: 400, Code.API_QUERY: 400,
    Code.REQUEST_TOO_LARGE: 413, Code.UNAUTHENTICATED: 401, Code.FORBIDDEN: 403, Code.MATERIALIZE_BUSY: 409,
    # the server's side: the store, the engine, the project's files
    Code.ONLINE_STORE_UNREACHABLE: 503, Code.ONLINE_STORE_ERROR: 503, Code.ONLINE_WRITE_FAILED: 503,
    Code.ENGINE_ERROR: 500, Code.NO_RUNNER: 501, Code.SOURCE_FILE_NOT_FOUND: 500, Code.FILE_UNREADABLE: 500,
    Code.OUTPUT_UNWRITABLE: 500,
    # pushed rows: the wrong kind of source or a source that cannot take them; rows that do not fit
    Code.PUSH_SOURCE_KIND: 400, Code.OFFLINE_PUSH_UNSUPPORTED: 400,
    Code.PUSH_COLUMNS: 422, Code.PUSH_VALUE_TYPE: 422, Code.PUSH_REQUEST: 422,
}
DEFAULT_STATUS = 400


class HttpError(Exception):
    """A request that fails with `status`, for the reasons in `diagnostics`."""

    def __init__(self, status: int, diagnostics: Sequence[Diagnostic], headers: Iterable[tuple[bytes, bytes]] = ()):
        self.status = status
        self.diagnostics = list(diagnostics)
        self.headers = tuple(headers)
        super().__init__(diagnostics[0].message if diagnostics else str(status))


def request_error(status: int, message: str, hint: str | None = None, code: Code = Code.BAD_REQUEST,
                  headers: Iterable[tuple[bytes, bytes]] = ()) -> HttpError:
    return HttpError(status, [Diagnostic(code, message, None, hint)], headers)


def status_for(diagnostics: Sequence[Diagnostic]) -> int:
    """The status of a failure: its first error's (a view's failures may carry warnings too)."""
    first = next((d for d in diagnostics if d.severity.value == "error"), diagnostics[0] if diagnostics else None)
    return 500 if first is None else STATUS_BY_CODE.get(first.code, DEFAULT_STATUS)


def from_diagnostics(error: DiagnosticError) -> HttpError:
    diagnostics = error.errors or error.diagnostics
    return HttpError(status_for(diagnostics), diagnostics)


def error_document(diagnostics: Sequence[Diagnostic], relative_to: str | None) -> dict:
    """The JSON document of a failed request. Positions are shown relative to the project folder."""
    listed = [_plain(d, relative_to) for d in diagnostics]
    detail = "\n".join(d.render(relative_to) for d in diagnostics)
    first = listed[0] if listed else {"code": "FC125", "message": "error", "hint": None}
    return {"error": first, "errors": listed, "detail": detail}


def error_body(diagnostics: Sequence[Diagnostic], relative_to: str | None) -> bytes:
    return json.dumps(error_document(diagnostics, relative_to)).encode()


def _plain(diagnostic: Diagnostic, relative_to: str | None) -> dict:
    out = {"code": diagnostic.code.value, "message": diagnostic.message, "hint": diagnostic.hint}
    if diagnostic.position is not None:
        full = diagnostic.to_json(relative_to)
        out.update(path=full["path"], line=full["line"], column=full["column"])
    return out


INTERNAL_ERROR_BODY = json.dumps({
    "error": {"code": "internal", "message": "internal error in the feature server; it is logged with its traceback",
              "hint": "this is a bug in fcompile: please report it with the server's log"},
    "errors": [], "detail": "internal error in the feature server"}).encode()
