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

The limits come from the target's serving block, read by `fcompile serve` at start (ServeConfig, through
FCOMPILE_SERVE_CONFIG like the timeout): they apply before a request reaches the application, whose
project may be reloaded.
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from fcompile.diagnostics import Code, Diagnostic
from fcompile.serving.errors import error_body
from fcompile.serving.state import ServeConfig

_CONFIG_ENV = "FCOMPILE_SERVE_CONFIG"
_guarded: weakref.WeakSet[HeaderLimitsProtocol] = weakref.WeakSet()
_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = weakref.WeakKeyDictionary()


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

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.headers_since = self.loop.time()
        self.header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_count += 1
        if self.header_count > self.max_headers:
            raise HeadersTooLarge(f"the request has more than {self.max_headers:,} header lines", "send fewer "
                                  "headers, or raise the target's serving.max_headers and restart the server")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.headers_since = None
        self.header_room = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.header_room = self.max_header_bytes  # the next request's line and headers


async def _sweep(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    pause = min(1.0, timeout / 4)
    while True:
        await asyncio.sleep(pause)
        now = loop.time()
        for connection in list(_guarded):
            since = connection.headers_since
            if since is not None and now - since > timeout and not connection.transport.is_closing():
                connection.transport.close()
