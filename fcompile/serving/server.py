"""`fcompile serve`: check the project, then run the feature server (app.py) under uvicorn.

The project is loaded once here first, so a broken project or serving block ends the command with its
diagnostics (exit code 1) before any port is opened. uvicorn then runs `--workers` processes (uvloop and
httptools when installed), each loading the project itself and serving on the shared socket; uvicorn
restarts a worker that dies. Requests are read by protocol.py's variant of uvicorn's httptools protocol,
which bounds the time a client may take over its headers, and their size and number (431). The workers
get their settings through the environment (FCOMPILE_SERVE_CONFIG, with the serving block's header limits)
and write their metrics to a fresh folder (PROMETHEUS_MULTIPROC_DIR), removed when the server stops.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import socket
import tempfile
from typing import Any

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Severity
from fcompile.serving.settings import DEFAULT_HOST, DEFAULT_PORT, ServingSettings
from fcompile.serving.state import ServeConfig

LOG_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def check_server_packages() -> None:
    """FC090 naming the extra to install when a package of the server is missing."""
    missing = [name for name in ("uvicorn", "orjson", "prometheus_client") if importlib.util.find_spec(name) is None]
    if missing:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"fcompile serve needs {', '.join(missing)}, "
                                          "not installed here", None, "pip install 'fcompile[serve]' (in a clone of the "
                                          "repository: pip install -e '.[serve]')")])


def check_project(config: ServeConfig) -> tuple[ServingSettings, list[Diagnostic]]:
    """Load the project as a worker will (raises DiagnosticError when it cannot be served); returns the
    serving block's settings (host, port, the header limits) and the warnings to show (grants of unknown
    names, an unreachable store: the server still starts, and /health says 503 until the store answers)."""
    from fcompile.serving.state import load_state

    state = load_state(config, 0)
    try:
        warnings = list(state.warnings)
        if state.store_problem is not None:
            warnings += [dataclasses.replace(d, severity=Severity.WARNING) for d in state.store_problem.diagnostics]
        return state.settings, warnings
    finally:
        state.close_reader()
        state.close_writer()
        state.close_large_reader()


def run_server(config: ServeConfig, host: str, port: int, workers: int, log_level: str = "info",
               access_log: bool = False) -> None:
    """Serve until interrupted (SIGINT, SIGTERM): in-flight requests finish, stores are closed."""
    import uvicorn

    from fcompile.serving.app import CONFIG_ENV

    _check_port(host, port)
    metrics_dir = tempfile.mkdtemp(prefix="fcompile-serve-metrics-")
    os.environ[CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    http: Any = "h11"  # without httptools: uvicorn's h11 parser, which caps the headers' bytes (answering 400)
    if importlib.util.find_spec("httptools"):
        from fcompile.serving.protocol import HeaderLimitsProtocol  # reads the config: after it is set

        http = HeaderLimitsProtocol
    try:
        uvicorn.run(
            "fcompile.serving.app:create_app", factory=True, host=host, port=port, workers=workers,
            loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio", http=http,
            lifespan="on", access_log=access_log, log_level=log_level, log_config=_log_config(log_level),
            proxy_headers=False, server_header=False, date_header=False, timeout_keep_alive=5,
            timeout_graceful_shutdown=30, h11_max_incomplete_event_size=config.max_header_bytes,
        )
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _check_port(host: str, port: int) -> None:
    """FC090 when the address cannot be listened on, before uvicorn would fail with a traceback-like log."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"cannot listen on {host}:{port}: {exc.strerror}", None,
                                          "pass --host with an address of this machine, e.g. 127.0.0.1 or 0.0.0.0")]) \
            from None
    family, kind, proto, _, address = infos[0]
    probe = socket.socket(family, kind, proto)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
    except OSError as exc:
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"cannot listen on {host}:{port}: {exc.strerror}", None,
                                          "is another server on that port? pass --port with a free one")]) from None
    finally:
        probe.close()


def _log_config(level: str) -> dict:
    """One plain format for uvicorn's and fcompile's lines, on stderr (access lines, if on, on stdout)."""
    plain = {"format": LOG_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": plain, "access": {"format": "%(asctime)s [%(process)d] %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"},
                     "stdout": {"class": "logging.StreamHandler", "formatter": "access",
                                "stream": "ext://sys.stdout"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
            "fcompile.serve": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
        },
    }


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServeConfig", "check_project", "check_server_packages", "run_server"]
