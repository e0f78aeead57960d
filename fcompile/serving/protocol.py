"""uvicorn's httptools protocol with limits on request headers: time, bytes and count.

Time. uvicorn closes idle keep-alive connections, but waits without end for a request whose line and
headers trickle in (or never come after the connection opens): each such client holds a connection and a
file descriptor for as long as it likes. Here a request's headers must be complete within the server's
request timeout (`--request-timeout`; the body then has as long again, app.py) counted from the
connection or from the first byte of the request; one task per worker closes the connections that
overrun, so a request pays two attribute writes and no timer of its own.

Size. httptools hands a header to the protocol only once it is whole, and keeps the part it has seen
until then: one endless header would grow a worker without bound (12 connections of 100 MiB took one from
105 to 1,308 MiB). So the bytes a connection sends from the end of one request (or its opening) to the end
of the next request's headers are counted before they are parsed: past `serving.max_header_bytes` (request
line and headers together) the parser is fed no more, and past `serving.max_headers` header lines it is
stopped at the next one. Either way the client gets 431 with the server's JSON error body (errors.py), and the connection is
closed, as what follows in it cannot be told apart from the rest of the refused headers: first only the
server's side (what the client still sends is read and dropped, so that its socket is not reset before it
reads the answer), the rest when the client closes its side or after the request timeout. Only when a
response to an earlier request of the connection is still being written is it closed at once without an
answer, as one in the middle of another would garble both.

Small online reads. A `POST /get-online-features` with a declared body of at most LOOP_READ_BODY_BYTES
(app.py) is answered here rather than through an ASGI call, whose task, event and send coroutines cost
more than the read of one entity itself (docs/performance.md). Once its body is complete it waits for the
end of the event loop's turn, and the reads completed in that turn are answered together by the
application's `answer_together`: their store reads made at once (one round trip on Redis), each request
checked, authorized, answered and counted on its own, and the answers written one after the other. Written
at the end of the turn, the answers leave in a burst: at 16 connections on SQLite this doubled the requests a
worker answers against writing each from its parser callback. Everything else that reaches the application
- auth, the read, errors, metrics - is the same code as the ASGI path's. A connection whose next request
begins while its read waits (pipelining), or that the server stops, has its read answered alone first
(`answer_now`); one that closes meanwhile gets no answer and costs no read. The request goes the ASGI way
after all (uvicorn's callbacks, replayed with the body read so far) when the application declines (a read
for the reader thread), when the connection's write buffer is full (a client that does not read its
answers: the ASGI path waits for it to drain), when its body is slower than the request timeout (the
application then answers 408 as it does for any slow body), or when the server stops while its body is
arriving. Not taken for a request that asks for `100-continue`, while an earlier request of the
connection is still being answered the ASGI way, or with the access log on.

The limits come from the target's serving block, read by `fcompile serve` at start (ServeConfig, through
FCOMPILE_SERVE_CONFIG like the timeout): they apply before a request reaches the application, whose
project may be reloaded.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import weakref
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from fcompile.diagnostics import Code, Diagnostic
from fcompile.serving.app import BODY_SINCE, LOOP_READ_BODY_BYTES, ONLINE_PATH, FeatureServer
from fcompile.serving.errors import error_body
from fcompile.serving.state import ServeConfig

_CONFIG_ENV = "FCOMPILE_SERVE_CONFIG"
_DIRECT_URL = ONLINE_PATH.encode()  # the request target as sent: no query string, no escapes
_guarded: weakref.WeakSet[HeaderLimitsProtocol] = weakref.WeakSet()
_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = weakref.WeakKeyDictionary()
# per event loop, the reads to answer together at the end of its turn (connection, request)
_waiting: dict[asyncio.AbstractEventLoop, list[tuple[HeaderLimitsProtocol, _DirectRequest]]] = {}


def _config() -> ServeConfig:
    text = os.environ.get(_CONFIG_ENV)
    return ServeConfig(**json.loads(text)) if text else ServeConfig("")


_STARTED_WITH = _config()


class HeadersTooLarge(Exception):
    """Raised in a parser callback to stop parsing a request whose headers are over a limit (message, hint)."""


class HeaderLimitsProtocol(HttpToolsProtocol):
    header_timeout = _STARTED_WITH.request_timeout
    max_header_bytes = _STARTED_WITH.max_header_bytes
    max_headers = _STARTED_WITH.max_headers

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.headers_since: float | None = self.loop.time()
        self.header_room: int | None = self.max_header_bytes  # bytes the request line and headers may still take
        self.header_count = 0
        self.refused = False  # answered 431: what the client still sends is dropped
        self.direct: _DirectRequest | None = None  # a small online read whose body is arriving
        self.waiting: _DirectRequest | None = None  # a small read complete, to be answered with others (below)
        _guarded.add(self)
        if self.loop not in _sweepers:
            _sweepers[self.loop] = self.loop.create_task(_sweep(self.loop, self.header_timeout))

    def data_received(self, data: bytes) -> None:
        while not self.refused:
            room = self.header_room
            if room is None or len(data) <= room:
                if room is not None:
                    self.header_room = room - len(data)
                self._feed(data)
                return
            self.header_room = 0  # more than the headers may still take: feed that much, then see if they ended
            if room:
                self._feed(data[:room])
            if self.header_room == 0:
                self._refuse(f"the request line and headers are larger than {self.max_header_bytes:,} bytes",
                             "send shorter headers (large data belongs in the body), or raise the target's "
                             "serving.max_header_bytes and restart the server")
                return
            data = data[room:]  # they did: the body, or the next request

    def _feed(self, data: bytes) -> None:
        """uvicorn's data_received, with the limits' refusal told apart from a malformed request."""
        if self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError as error:
            if isinstance(error.__context__, HeadersTooLarge):  # httptools chains what a callback raised
                self._refuse(*error.__context__.args)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)

    def _refuse(self, message: str, hint: str) -> None:
        transport = self.transport
        if transport.is_closing():
            return
        self.refused = True
        if (self.cycle is not None and not self.cycle.response_complete) or not transport.can_write_eof():
            transport.close()
            return
        body = error_body([Diagnostic(Code.REQUEST_TOO_LARGE, message, None, hint)], None)
        transport.write(b"".join((STATUS_LINE[431], b"content-type: application/json\r\ncontent-length: %d\r\n"
                                  % len(body), b"connection: close\r\n\r\n", body)))
        transport.write_eof()
        self.headers_since = self.loop.time()  # the sweep closes it, if the client does not close first

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        if self.header_count > self.max_headers:
            raise HeadersTooLarge(f"the request has more than {self.max_headers:,} header lines", "send fewer "
                                  "headers, or raise the target's serving.max_headers and restart the server")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.headers_since = None
        self.header_room = None
        if self._answers_directly():
            keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
            self.direct = _DirectRequest(self.loop.time(), time.perf_counter(), keep_alive)
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        direct = self.direct
        if direct is None:
            super().on_body(body)
        else:
            direct.body += body

    def on_message_complete(self) -> None:
        direct = self.direct
        if direct is None:
            super().on_message_complete()
        else:
            self.direct = None
            if self.flow.write_paused:
                self._hand_over(direct, complete=True)
            else:
                self._wait(direct)
        self.header_room = self.max_header_bytes  # the next request's line and headers

    def _answers_directly(self) -> bool:
        """Whether the request whose headers just ended is a small online read this protocol answers."""
        if self.url != _DIRECT_URL or self.parser.get_method() != b"POST" or self.expect_100_continue:
            return False
        cycle = self.cycle
        if (cycle is not None and not cycle.response_complete) or self.pipeline or self.access_log:
            return False
        if not isinstance(self.app, FeatureServer) or self.parser.should_upgrade():
            return False
        for name, value in self.headers:
            if name == b"content-length":
                return value.isdigit() and int(value) <= LOOP_READ_BODY_BYTES
        return False  # a chunked body: the ASGI path reads it

    def _wait(self, direct: _DirectRequest) -> None:
        """Queue the read to be answered, with the others of this turn of the event loop, at its end. Until
        then the connection's headers, URL and scope stay the read's: a next request answers it first."""
        self.waiting = direct
        waiting = _waiting.get(self.loop)
        if waiting is None:
            waiting = _waiting[self.loop] = []
            self.loop.call_soon(_answer_turn, self.loop)
        waiting.append((self, direct))

    def _answer_waiting(self) -> None:
        """Answer the read this connection has waiting, alone (the connection goes on, or stops)."""
        direct = self.waiting
        self.waiting = None
        self._write(direct, self.app.answer_now(self.headers, bytes(direct.body), direct.started))

    def _write(self, direct: _DirectRequest, answer: tuple[int, bytes, tuple] | None) -> None:
        """Write the application's answer to the request; None: the application leaves it to ASGI."""
        if answer is None:
            self._hand_over(direct, complete=True)
            return
        status, payload, extra = answer
        closing = (b"connection", b"close") in extra  # an error that ends the connection (app.py's `_CLOSE`)
        keep_alive = not closing and direct.keep_alive
        head = [STATUS_LINE[status], b"content-type: application/json\r\ncontent-length: %d\r\n" % len(payload)]
        for name, value in extra:
            head += (name, b": ", value, b"\r\n")
        if not keep_alive and not closing:
            head.append(b"connection: close\r\n")
        head += (b"\r\n", payload)
        self.transport.write(b"".join(head))
        if not keep_alive:
            self.transport.close()
        self.on_response_complete()  # counts the request, resumes reading, arms the keep-alive timeout

    def _hand_over(self, direct: _DirectRequest, complete: bool) -> None:
        """The request to the ASGI path after all, as uvicorn's callbacks would have given it: its headers,
        the body so far, and its end if it came. The application's body timeout counts from `since`. Whether
        the connection stays open is the request's own: handed over when the next request of the connection
        begins, the parser already holds that one's state."""
        super().on_headers_complete()
        self.cycle.keep_alive = direct.keep_alive
        self.scope[BODY_SINCE] = direct.since
        if direct.body:
            super().on_body(bytes(direct.body))
        if complete:
            super().on_message_complete()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown, which lets a request in progress finish: a small read waiting for
        the end of the loop's turn is answered first, and one still waiting for its body goes the ASGI way,
        so that it is seen as one."""
        if self.waiting is not None:
            self._answer_waiting()
        direct = self.direct
        if direct is not None:
            self.direct = None
            self._hand_over(direct, complete=False)
        super().shutdown()

    def on_message_begin(self) -> None:
        if self.waiting is not None:  # answered before the next request of the connection (pipelining)
            self._answer_waiting()
        super().on_message_begin()
        self.headers_since = self.loop.time()
        self.header_count = 0
        self._unset_keepalive_if_required()  # armed by a direct answer earlier in the same read


async def _sweep(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    pause = min(1.0, timeout / 4)
    while True:
        await asyncio.sleep(pause)
        now = loop.time()
        for connection in list(_guarded):
            if connection.transport.is_closing():
                continue
            since = connection.headers_since
            if since is not None and now - since > timeout:
                connection.transport.close()
            direct = connection.direct
            if direct is not None and now - direct.since > timeout:  # a slow body: the application's 408
                connection.direct = None
                connection._hand_over(direct, complete=False)


def _answer_turn(loop: asyncio.AbstractEventLoop) -> None:
    """Answer together the small reads that completed in one turn of the event loop (the application reads
    their values at once: one round trip to Redis); those whose connection closed, or that were answered
    alone meanwhile, are left out."""
    waiting = []
    for connection, request in _waiting.pop(loop):
        if connection.waiting is request:
            connection.waiting = None
            if not connection.transport.is_closing():
                waiting.append((connection, request))
    if not waiting:
        return
    try:
        answers = waiting[0][0].app.answer_together([(c.headers, bytes(r.body), r.started) for c, r in waiting])
    except BaseException:
        for connection, _ in waiting:  # nothing answered: never leave a client without an answer
            connection.transport.close()
        raise
    for (connection, request), answer in zip(waiting, answers):
        try:
            connection._write(request, answer)
        except Exception:  # one connection's failure: the others are still answered
            connection.logger.exception("writing the answer to an online read failed; closing its connection")
            connection.transport.close()


class _DirectRequest:
    __slots__ = ("since", "started", "body", "keep_alive")

    def __init__(self, since: float, started: float, keep_alive: bool) -> None:
        self.since = since      # loop time at the end of its headers (for the request timeout)
        self.started = started  # the same moment by time.perf_counter (for the latency metric)
        self.body = bytearray()
        self.keep_alive = keep_alive  # whether the connection stays open after the answer (HTTP/1.1, no close)
