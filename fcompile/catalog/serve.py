"""`fcompile docs serve`: the generated site over HTTP on this machine (Python's http.server, read-only)."""

from __future__ import annotations

import functools
import http.server
from pathlib import Path
from typing import Callable

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError

DEFAULT_PORT = 8080


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Files of the site folder; one log line per request, without the client's address."""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass


def catalog_server(folder: Path, host: str, port: int) -> http.server.ThreadingHTTPServer:
    """A server of `folder` (FC176 when no site was generated there; FC177 when the port cannot be had)."""
    if not (folder / "index.html").is_file():
        raise DiagnosticError([Diagnostic(Code.NO_CATALOG, f"no catalog site in {folder}", None,
                                          "run 'fcompile docs generate' first")])
    handler = functools.partial(_QuietHandler, directory=str(folder))
    try:
        return http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise DiagnosticError([Diagnostic(Code.CATALOG_PORT, f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                                          None, "choose another port with --port")]) from None


def serve_catalog(server: http.server.ThreadingHTTPServer, announce: Callable[[str], None]) -> None:
    host, port = server.server_address[:2]
    announce(f"serving the catalog at http://{host}:{port}/ (Ctrl+C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
