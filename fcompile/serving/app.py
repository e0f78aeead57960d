"""The feature server: a bare ASGI application run by uvicorn (`fcompile serve`, server.py).

| method and path | does | body |
| --- | --- | --- |
| `POST /get-online-features` | `FeatureStore.get_online_features` | Feast's request and response |
| `POST /push` | `FeatureStore.push` | `{"push_source_name", "df", "to"}` |
| `POST /write-to-online-store` | `FeatureStore.write_to_online_store` | `{"feature_view_name", "df"}` |
| `POST /materialize` | materialization of a window | `{"start_ts", "end_ts", "feature_views"}` |
| `POST /materialize-incremental` | materialization from the watermarks | `{"end_ts", "feature_views"}` |
| `GET /health` | 200, or 503 when the online store does not answer (without a token, under auth: the status only) | |
| `GET /metrics` | Prometheus text format (metrics.py) | |
| `GET /openapi.json` | the OpenAPI 3.0 document of every endpoint here (openapi.py) | |
| `GET /api/v1/...` | read-only metadata about the project's graph, paginated (metadata.py) | |

A small `POST /get-online-features` is answered by `FeatureServer.answer_now`, called by the protocol
(protocol.py) once the body has arrived, without the ASGI call and its task: the same auth, read, errors
and metrics (docs/performance.md has what it saves). Every other request is an ASGI call.

Each worker process holds one `ServingState` (state.py) and reads through it on the event loop: an
online read is 15-20 us on SQLite and one round trip on Redis, and a hop to a thread and back costs about
26 us (on Redis, reads on the loop measured 9,000-9,200 requests/s at concurrency 16 on one worker, a
reader thread 6,800-7,600), so more throughput comes from more workers (`--workers`). A large read would
hold the loop, and every other client, for as long as it takes (500,000 entities: 7-8 s), so a read of
more than LOOP_READ_ENTITIES entities, or with a body over LOOP_READ_BODY_BYTES (then parsed there too),
runs on one reader thread per worker, with a `FeatureStore` of its own on the same graph (at 256 entities
a read takes a millisecond or more, and the hop is lost in it); one request asks for at most
`serving.max_entities_per_request` entities (413). Writes (`/push`, `/write-to-online-store`) run on one
writer thread per worker, from parsing their body on, with a `FeatureStore` of their own on the reader's
project graph (`FeatureStore.of_graph`), their rows bounded by the body's size; materialization runs in a
thread of its own, with its own connections, one at a time per project (materialize.py). A request body
is bounded in size (413) and in time (408: one task per worker cancels the reads that overrun, cheaper
than a timer per request), as are its headers in time, size and count (protocol.py: 431), so a slow or
greedy client holds only its own connection, not for long, and a bounded amount of memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gc
import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.serving.auth import authenticate, require
from fcompile.serving.encoding import encode_online
from fcompile.tasks.push import with_feast_time_columns
from fcompile.serving.errors import (
    INTERNAL_ERROR_BODY, HttpError, error_body, error_document, from_diagnostics, request_error, status_for,
)
from fcompile.serving.metadata import API_PREFIX, encode, read_query
from fcompile.serving.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from fcompile.serving.metrics import ServingMetrics
from fcompile.serving.openapi import openapi_document
from fcompile.serving.requests import (
    OnlineFeaturesCall, read_key_text, read_materialize, read_online_features, read_push, read_write,
)
from fcompile.serving.state import ServeConfig, ServingState, load_state, project_fingerprint
from fcompile.tasks.online_reads import finish_online_read

log = logging.getLogger("fcompile.serve")
CONFIG_ENV = "FCOMPILE_SERVE_CONFIG"   # the ServeConfig as JSON, set by `fcompile serve` for its workers
HEALTH_PROBE = "__fcompile_health__"   # a view name no project can have (names may not hold "__")
_JSON = b"application/json"
_CLOSE = ((b"connection", b"close"),)
_perf = time.perf_counter
LOOP_READ_ENTITIES = 256            # reads of more entities run on the reader thread
LOOP_READ_BODY_BYTES = 32 * 1024    # larger bodies of /get-online-features are parsed and read there
ONLINE_PATH = "/get-online-features"  # answered by `FeatureServer.answer_now` when small (protocol.py)
BODY_SINCE = "fcompile.body_since"  # scope key set by protocol.py: when a request's body began (loop time)


@dataclass
class Call:
    """What one request did, for the metrics."""

    endpoint: str
    service: str = ""
    rows_read: int = 0


@dataclass(frozen=True)
class Route:
    method: str
    handler: str          # name of the FeatureServer method
    protected: bool       # needs a token when auth is on
    is_async: bool = False
    reads_token: bool = False  # open, but answers a caller with a valid token more (the grant, else None)
    takes_scope: bool = False  # a GET handler given the ASGI scope (path, query string) in place of a body


ROUTES: dict[str, Route] = {
    ONLINE_PATH: Route("POST", "_get_online_features", True, True),
    "/push": Route("POST", "_push", True, True),
    "/write-to-online-store": Route("POST", "_write_to_online_store", True, True),
    "/materialize": Route("POST", "_materialize", True, True),
    "/materialize-incremental": Route("POST", "_materialize_incremental", True, True),
    "/health": Route("GET", "_health", False, reads_token=True),
    "/metrics": Route("GET", "_metrics", False),
    "/openapi.json": Route("GET", "_openapi", False),
    f"{API_PREFIX}/entities": Route("GET", "_list_entities", True, takes_scope=True),
    f"{API_PREFIX}/feature_views": Route("GET", "_list_feature_views", True, takes_scope=True),
    f"{API_PREFIX}/feature_services": Route("GET", "_list_feature_services", True, takes_scope=True),
    f"{API_PREFIX}/datasets": Route("GET", "_list_datasets", True, takes_scope=True),
    f"{API_PREFIX}/lineage": Route("GET", "_lineage", True, takes_scope=True),
}
# Paths with a name in them: template -> (the prefix before the name, the route). The template stands for
# the path in messages, metrics and the OpenAPI document. Looked at only when a path is none of ROUTES, so
# the feature endpoints pay nothing for them.
VIEW_PATH_PREFIX = f"{API_PREFIX}/feature_views/"
TEMPLATED_ROUTES: dict[str, tuple[str, Route]] = {
    f"{VIEW_PATH_PREFIX}{{name}}": (VIEW_PATH_PREFIX, Route("GET", "_feature_view", True, takes_scope=True)),
}


def every_route() -> dict[str, Route]:
    """Every path the server answers, templates included (what /openapi.json describes)."""
    return {**ROUTES, **{template: route for template, (_, route) in TEMPLATED_ROUTES.items()}}


def _templated(path: str) -> tuple[str, Route | None]:
    """The template and route of a path with a name in it (one path segment, not empty), else (path, None)."""
    for template, (prefix, route) in TEMPLATED_ROUTES.items():
        if path.startswith(prefix) and len(path) > len(prefix) and "/" not in path[len(prefix):]:
            return template, route
    return path, None


def create_app() -> FeatureServer:
    """uvicorn's factory (`fcompile.serving.app:create_app`): the config comes from FCOMPILE_SERVE_CONFIG."""
    return FeatureServer(ServeConfig(**json.loads(os.environ[CONFIG_ENV])))


class FeatureServer:
    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.state: ServingState = None  # type: ignore[assignment]  # set by start(), before any request
        self.metrics = ServingMetrics()
        self._rejected: Any = None         # the fingerprint of files that failed to load, until they change
        self._changing: Any = None         # the fingerprint of files seen changed, not yet loaded
        self._watcher: asyncio.Task | None = None
        self._reaper: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._body_deadlines: dict[asyncio.Task, float] = {}  # requests whose body is being read
        self._timed_out: set[asyncio.Task] = set()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="fcompile-write")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="fcompile-read")  # large reads
        self._handlers = {path: getattr(self, route.handler) for path, route in every_route().items()}
        self._openapi: dict[bool, bytes] = {}  # the document, with and without auth

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # -- one request --------------------------------------------------------------------------------

    async def _http(self, scope: dict, receive: Callable, send: Callable) -> None:
        started = _perf()
        path = scope["path"]
        route = ROUTES.get(path)
        if route is None:
            path, route = _templated(path)
        call = Call(path if route is not None else "other")
        state = self.state
        headers: tuple = ()
        code = None
        try:
            if route is None:
                raise request_error(404, f"the feature server has no endpoint {path}",
                                    f"endpoints: {', '.join(f'{r.method} {p}' for p, r in every_route().items())}")
            if scope["method"] != route.method:
                raise request_error(405, f"{path} takes {route.method} requests, not {scope['method']}", None,
                                    headers=((b"allow", route.method.encode()),))
            grant = None
            if state.settings.tokens is not None:
                if route.protected:
                    grant = authenticate(scope["headers"], state.settings.tokens)
                elif route.reads_token:
                    grant = _grant_if_any(scope["headers"], state.settings.tokens)
            body = b""
            if route.method == "POST":
                body = await self._read_body(scope, receive, state.settings.max_request_bytes)
                if body is None:  # the client went away
                    return
            handler = self._handlers[path]
            if route.is_async:
                status, payload, content_type = await handler(grant, body, call)
            else:
                status, payload, content_type = handler(grant, scope if route.takes_scope else body, call)
        except Exception as error:  # noqa: BLE001  # every failure answers (an unexpected one 500, logged)
            status, payload, content_type, headers, code = self._failure(error, scope.get("method"), path)
        response_headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(payload)), *headers]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
        self.metrics.record(call.endpoint, call.service, status, _perf() - started, call.rows_read, code)

    def _failure(self, error: Exception, method: Any, path: str) -> tuple[int, bytes, bytes, tuple, str]:
        """The answer to a request that failed: status, body, content type, extra headers and the metrics'
        code (the first diagnostic's, or `internal` for an unexpected exception, which is logged)."""
        if isinstance(error, HttpError):
            code = error.diagnostics[0].code.value if error.diagnostics else "FC125"
            return error.status, error_body(error.diagnostics, self._root()), _JSON, tuple(error.headers), code
        if isinstance(error, DiagnosticError):
            failure = from_diagnostics(error)
            return (failure.status, error_body(failure.diagnostics, self._root()), _JSON, (),
                    failure.diagnostics[0].code.value)
        log.error("internal error while answering %s %s", method, path, exc_info=error)
        return 500, INTERNAL_ERROR_BODY, _JSON, (), "internal"

    def answer_now(self, headers: list[tuple[bytes, bytes]], body: bytes,
                   started: float) -> tuple[int, bytes, tuple] | None:
        """The whole answer to a `POST /get-online-features` whose body has arrived, given by the protocol
        (protocol.py) without the ASGI cycle: status, body and the extra headers (a `connection: close`
        among them ends the connection). Does what `_http` does for that request - auth, the read on the
        loop, errors, metrics - or returns None, having read and counted nothing, when the read belongs on the
        reader thread (more than LOOP_READ_ENTITIES entities): then the request goes through `_http`."""
        return self.answer_together([(headers, body, started)])[0]

    def answer_together(self, requests: list[tuple[list[tuple[bytes, bytes]], bytes, float]]) -> list:
        """`answer_now` of each (headers, body, started), their store reads made at once
        (`OnlineStore.read_many`: one round trip on Redis), each request checked, authorized, answered and
        counted on its own. When that read fails (one request's key, one stored row the store cannot read, or
        the store itself), each request is read alone, so that it fails, or not, as it would alone, with a
        message about its own reads."""
        state = self.state
        answers: list = [None] * len(requests)
        planned = []  # (position, call, started, entities read, its PlannedRead)
        for position, (headers, body, started) in enumerate(requests):
            call = Call(ONLINE_PATH)
            try:
                grant = authenticate(headers, state.settings.tokens) if state.settings.tokens is not None else None
                if len(body) > state.settings.max_request_bytes:
                    raise _too_large(state.settings.max_request_bytes)
                request = read_online_features(body, state.settings.max_entities_per_request)
                if request.rows > LOOP_READ_ENTITIES:
                    continue  # None: for the reader thread
                entities = _allowed_entities(state, grant, request, call)
                planned.append((position, call, started, request.rows, state.store.plan_online_read(
                    request.features, request.feature_service, request.full_feature_names, entities, None, "http")))
            except Exception as error:  # noqa: BLE001  # as in _http
                answers[position] = self._answered(call, started, error=error)
        if not planned:
            return answers
        online_store = state.store.online_store
        together = None
        if len(planned) > 1:
            try:
                together = iter(online_store.read_many([read for *_, plan in planned for read in plan.reads]))
            except Exception:  # noqa: BLE001  # each read alone below, to fail (or not) as it would alone
                pass
        for position, call, started, rows, plan in planned:
            try:
                fetched = online_store.read_many(plan.reads) if together is None else \
                    [next(together) for _ in plan.reads]
                response = finish_online_read(plan, fetched)
                call.rows_read = rows
                answers[position] = self._answered(call, started, _response_body(response))
            except Exception as error:  # noqa: BLE001  # as in _http
                answers[position] = self._answered(call, started, error=error)
        return answers

    def _answered(self, call: Call, started: float, payload: bytes = b"",
                  error: Exception | None = None) -> tuple[int, bytes, tuple]:
        """A direct answer (status, body, extra headers): the payload of a read, or the answer to its error;
        counted in the metrics."""
        status, extra, code = 200, (), None
        if error is not None:
            status, payload, _, extra, code = self._failure(error, "POST", ONLINE_PATH)
        self.metrics.record(call.endpoint, call.service, status, _perf() - started, call.rows_read, code)
        return status, payload, extra

    async def _read_body(self, scope: dict, receive: Callable, limit: int) -> bytes | None:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise request_error(400, "the Content-Length header is not a number", None,
                                        headers=_CLOSE) from None
                if declared > limit:
                    raise _too_large(limit)
                break
        chunks: list[bytes] = []
        size = 0
        task = asyncio.current_task()
        # from the end of the headers; from earlier for a request protocol.py began to answer itself
        self._body_deadlines[task] = scope.get(BODY_SINCE, self._loop.time()) + self.config.request_timeout
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        except asyncio.CancelledError:
            if task not in self._timed_out:
                raise
            self._timed_out.discard(task)
            task.uncancel()  # type: ignore[union-attr]
            raise request_error(408, f"the request body did not arrive within {self.config.request_timeout:g} s",
                                "send the whole body at once; the server stops waiting for slow clients",
                                headers=_CLOSE) from None
        finally:
            del self._body_deadlines[task]
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _reap_slow_bodies(self) -> None:
        """Cancel the body reads that ran past their deadline (their request then answers 408). One task
        looking a few times per timeout costs less than a timer per request. It also writes the requests'
        metrics (metrics.py), once a second at most."""
        pause = min(1.0, self.config.request_timeout / 4)
        while True:
            await asyncio.sleep(pause)
            try:
                self.metrics.flush()
            except Exception:  # the metrics' files: never a reason to stop timing out slow bodies
                log.exception("writing the request metrics failed")
            now = self._loop.time()
            for task, deadline in list(self._body_deadlines.items()):
                if deadline <= now and task not in self._timed_out:
                    self._timed_out.add(task)
                    task.cancel()

    def _root(self) -> str:
        return self.state.root if self.state is not None else self.config.project_dir

    # -- endpoints ------------------------------------------------------------------------------------

    async def _get_online_features(self, grant: Any, body: bytes, call: Call) -> tuple[int, bytes, bytes]:
        """A small read here on the loop; a large one (or a large body to parse) on the reader thread."""
        state = self.state
        request = None
        if len(body) <= LOOP_READ_BODY_BYTES:
            request = read_online_features(body, state.settings.max_entities_per_request)
            if request.rows <= LOOP_READ_ENTITIES:
                return _read_online(state, state.store, grant, request, call)
        return await self._loop.run_in_executor(self._reader, _read_large, state, grant, body, request, call)

    def _health(self, grant: Any, body: bytes, call: Call) -> tuple[int, bytes, bytes]:
        """With auth on, a caller without a valid token learns only healthy or not: no project, target,
        store, host or error text."""
        state = self.state
        anonymous = state.settings.tokens is not None and grant is None
        try:
            state.store.online_store.get_state(HEALTH_PROBE)
        except DiagnosticError as error:
            if anonymous:
                return 503, b'{"status": "unhealthy"}', _JSON
            raise HttpError(503, error.diagnostics) from None
        if anonymous:
            return 200, b'{"status": "ok"}', _JSON
        graph = state.graph
        document = {"status": "ok", "project": graph.project.name, "target": graph.project.target.name,
                    "online_store": dict(graph.project.target.online).get("type"),
                    "generation": state.generation,
                    "loaded_at": _iso(state.loaded_at)}
        return 200, json.dumps(document).encode(), _JSON

    def _metrics(self, grant: Any, body: bytes, call: Call) -> tuple[int, bytes, bytes]:
        return 200, self.metrics.exposition(), METRICS_CONTENT_TYPE

    def _openapi(self, grant: Any, body: bytes, call: Call) -> tuple[int, bytes, bytes]:
        auth = self.state.settings.tokens is not None
        document = self._openapi.get(auth)
        if document is None:
            document = self._openapi[auth] = encode(openapi_document(every_route(), auth))
        return 200, document, _JSON

    # -- the metadata API (metadata.py): small answers from the state's index, on the loop ------------------

    def _list_entities(self, grant: Any, scope: dict, call: Call) -> tuple[int, bytes, bytes]:
        return _listing(self.state, ("entity",), grant, scope)

    def _list_feature_views(self, grant: Any, scope: dict, call: Call) -> tuple[int, bytes, bytes]:
        return _listing(self.state, ("feature_view", "on_demand_view"), grant, scope)

    def _list_feature_services(self, grant: Any, scope: dict, call: Call) -> tuple[int, bytes, bytes]:
        return _listing(self.state, ("feature_service",), grant, scope)

    def _list_datasets(self, grant: Any, scope: dict, call: Call) -> tuple[int, bytes, bytes]:
        return _listing(self.state, ("dataset",), grant, scope)

    def _feature_view(self, grant: Any, scope: dict, call: Call) -> tuple[int, bytes, bytes]:
        read_query(scope["query_string"], paged=False)  # it takes none: any parameter is a 400
        name = scope["path"][len(VIEW_PATH_PREFIX):]
        return 200, encode(self.state.metadata.feature_view(name, grant)), _JSON

    def _lineage(self, grant: Any, scope: dict, call: Call) -> tuple[int, bytes, bytes]:
        page, extra = read_query(scope["query_string"], ("node",))
        return 200, encode(self.state.metadata.lineage(grant, page, extra.get("node"))), _JSON

    async def _push(self, grant: Any, body: bytes, call: Call) -> tuple[int, bytes, bytes]:
        request, result = await self._loop.run_in_executor(self._writer, _push_rows, self.state, grant, body)
        self.metrics.written(call.endpoint, request.push_source_name, result.rows)
        document = {"push_source_name": request.push_source_name, "to": request.to, **dataclasses.asdict(result)}
        return 200, json.dumps(document).encode(), _JSON

    async def _write_to_online_store(self, grant: Any, body: bytes, call: Call) -> tuple[int, bytes, bytes]:
        request, rows = await self._loop.run_in_executor(self._writer, _write_rows, self.state, grant, body)
        self.metrics.written(call.endpoint, request.feature_view_name, rows)
        return 200, json.dumps({"feature_view_name": request.feature_view_name, "rows": rows}).encode(), _JSON

    async def _materialize(self, grant: Any, body: bytes, call: Call) -> tuple[int, bytes, bytes]:
        return await self._run_materialization(grant, read_materialize(body, incremental=False))

    async def _materialize_incremental(self, grant: Any, body: bytes, call: Call) -> tuple[int, bytes, bytes]:
        return await self._run_materialization(grant, read_materialize(body, incremental=True))

    async def _run_materialization(self, grant: Any, request: Any) -> tuple[int, bytes, bytes]:
        from fcompile.serving.materialize import run_materialization

        if grant is not None:
            require(grant, grant.materialize, "materialize")
        document, failures = await asyncio.to_thread(run_materialization, self.state.graph, request)
        if not failures:
            return 200, json.dumps(document).encode(), _JSON
        failed = error_document(failures, self._root())
        failed.update(document)
        return status_for(failures), json.dumps(failed).encode(), _JSON

    # -- loading and reloading ------------------------------------------------------------------------

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.start()
                except DiagnosticError as error:
                    text = "\n".join(d.render(self.config.project_dir) for d in error.diagnostics)
                    log.error("cannot serve the project:\n%s", text)
                    await send({"type": "lifespan.startup.failed", "message": text})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.state = await asyncio.to_thread(load_state, self.config, 1)
        gc.freeze()  # what is loaded now lives as long as the server: no collection needs to walk it
        self._report(self.state)
        log.info("serving project '%s' (target '%s') from %s", self.state.graph.project.name,
                 self.state.graph.project.target.name, self.config.project_dir)
        self._reaper = self._loop.create_task(self._reap_slow_bodies())
        if self.config.reload_interval > 0:
            self._watcher = self._loop.create_task(self._watch())

    async def stop(self) -> None:
        self.metrics.flush()
        for task in (self._watcher, self._reaper):
            if task is None:
                continue
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self.state is not None:
            self._retire(self.state)
            self.state = None
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=True)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.reload_interval)
            try:
                await self.reload_if_changed()
            except Exception:
                log.exception("looking for changes to the project failed; still serving generation %d",
                              self.state.generation if self.state else 0)

    async def reload_if_changed(self) -> bool:
        """Load the project again if its files changed; swap it in when it is valid. True if swapped."""
        current = self.state
        fingerprint = await asyncio.to_thread(project_fingerprint, self.config.project_dir)
        if fingerprint == current.fingerprint or fingerprint == self._rejected:
            self._changing = None
            return False
        if fingerprint != self._changing:  # changed since the last look: wait until it holds still for one
            self._changing = fingerprint   # interval, so that a file caught half-written is never loaded
            return False
        try:
            fresh = await asyncio.to_thread(load_state, self.config, current.generation + 1, current)
        except DiagnosticError as error:
            self._rejected = fingerprint
            self.metrics.reloaded(False)
            log.error("the project changed but cannot be loaded; still serving generation %d:\n%s", current.generation,
                      "\n".join(d.render(current.root) for d in error.diagnostics))
            return False
        self._rejected = None
        self.state = fresh  # the swap: requests from here on see the new project whole
        self._retire(current)
        gc.freeze()
        self.metrics.reloaded(True)
        self._report(fresh)
        log.info("reloaded the project: now serving generation %d (%d feature views, %d feature services)",
                 fresh.generation, len(fresh.graph.feature_views), len(fresh.services))
        return True

    def _retire(self, state: ServingState) -> None:
        """Close a state no request can reach any more: the reader here (small reads run on this thread),
        the writer and the large reader on their threads, after the work already queued there."""
        state.close_reader()
        for thread, close in ((self._writer, state.close_writer), (self._reader, state.close_large_reader)):
            try:
                thread.submit(close)
            except RuntimeError:  # the thread is shut down: nothing can be using its store
                close()

    def _report(self, state: ServingState) -> None:
        for warning in state.warnings:
            log.warning("%s", warning.render(state.root))
        if state.store_problem is not None:
            log.warning("the online store cannot be reached (requests get 503 until it can):\n%s",
                        "\n".join(d.render(state.root) for d in state.store_problem.diagnostics))


def _read_large(state: ServingState, grant: Any, body: bytes, request: OnlineFeaturesCall | None,
                call: Call) -> tuple[int, bytes, bytes]:
    """A large read on the reader thread, with the state's store for them (parsing the body too, if large)."""
    if request is None:
        request = read_online_features(body, state.settings.max_entities_per_request)
    return _read_online(state, state.large_reader, grant, request, call)


def _read_online(state: ServingState, store: Any, grant: Any, request: OnlineFeaturesCall,
                 call: Call) -> tuple[int, bytes, bytes]:
    entities = _allowed_entities(state, grant, request, call)
    response = store.read_online(request.features, request.feature_service, request.full_feature_names, entities,
                                 None, "http")
    call.rows_read = request.rows
    return 200, _response_body(response), _JSON


def _response_body(response: Any) -> bytes:
    """An online response as the server's JSON."""
    return encode_online(response.to_http_dict(), response.float_results)


def _allowed_entities(state: ServingState, grant: Any, request: OnlineFeaturesCall, call: Call) -> Any:
    """The request's entities, typed where the project reads keys from text, once the caller's grant allows
    the read (403 else); names the request's service in `call` when the project has it."""
    service = request.feature_service
    if service is not None:
        if service in state.services:
            call.service = service
        if grant is not None:
            require(grant, grant.feature_services, "read feature service", service)
    elif grant is not None:
        for reference in request.features:  # type: ignore[union-attr]  # one of the two is given
            require(grant, grant.feature_views, "read features of feature view", reference.partition(":")[0])
    if state.key_readers:
        return read_key_text(request.entities, state.key_readers)
    return request.entities


def _push_rows(state: ServingState, grant: Any, body: bytes) -> tuple[Any, Any]:
    """/push on the writer thread, parsing included (a body of a few MiB of JSON takes a tenth of a second
    to read: not on the event loop)."""
    request = read_push(body)
    if grant is not None:
        require(grant, grant.push_sources, "push to push source", request.push_source_name)
    return request, state.writer.push(request.push_source_name, request.df, request.to)


def _write_rows(state: ServingState, grant: Any, body: bytes) -> tuple[Any, int]:
    """/write-to-online-store on the writer thread, parsing included."""
    request = read_write(body)
    if grant is not None:
        require(grant, grant.write_feature_views, "write feature view", request.feature_view_name)
    df = with_feast_time_columns(state.graph, request.feature_view_name, request.df)
    return request, state.writer.write_to_online_store(request.feature_view_name, df)


def _listing(state: ServingState, kinds: tuple[str, ...], grant: Any, scope: dict) -> tuple[int, bytes, bytes]:
    page, _ = read_query(scope["query_string"])
    return 200, state.metadata.listing(kinds, grant, page), _JSON


def _too_large(limit: int) -> HttpError:
    return HttpError(413, [Diagnostic(Code.REQUEST_TOO_LARGE, f"the request body is larger than {limit:,} bytes", None,
                                      "send fewer entities or rows per request, or raise the target's "
                                      "serving.max_request_bytes")], _CLOSE)


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _grant_if_any(headers: Any, tokens: Any) -> Any:
    """The caller's grant when it sends a valid token, else None (no 401: for open endpoints)."""
    try:
        return authenticate(headers, tokens)
    except HttpError:
        return None
