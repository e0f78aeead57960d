"""uvicorn's httptools protocol with a deadline on request headers.

uvicorn closes idle keep-alive connections, but waits without end for a request whose line and headers
trickle in (or never come after the connection opens): each such client holds a connection and a file
descriptor for as long as it likes. Here a request's headers must be complete within the server's
request timeout (`--request-timeout`; the body then has as long again, app.py) counted from the
connection or from the first byte of the request; one task per worker closes the connections that
overrun, so a request pays two attribute writes and no timer of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fcompile.serving.state import ServeConfig

_CONFIG_ENV = "FCOMPILE_SERVE_CONFIG"
_guarded: weakref.WeakSet[HeaderDeadlineProtocol] = weakref.WeakSet()
_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task] = weakref.WeakKeyDictionary()


def _timeout() -> float:
    text = os.environ.get(_CONFIG_ENV)
    return ServeConfig(**json.loads(text)).request_timeout if text else ServeConfig("").request_timeout


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout = _timeout()

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.headers_since: float | None = self.loop.time()
        _guarded.add(self)
        if self.loop not in _sweepers:
            _sweepers[self.loop] = self.loop.create_task(_sweep(self.loop, self.header_timeout))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.headers_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self.headers_since = None
        super().on_headers_complete()


async def _sweep(loop: asyncio.AbstractEventLoop, timeout: float) -> None:
    pause = min(1.0, timeout / 4)
    while True:
        await asyncio.sleep(pause)
        now = loop.time()
        for connection in list(_guarded):
            since = connection.headers_since
            if since is not None and now - since > timeout and not connection.transport.is_closing():
                connection.transport.close()
