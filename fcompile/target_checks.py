"""`fcompile debug`: what fcompile finds when it looks at a project's selected target.

Each check gives one line (ok, fail, or skipped when an earlier failure makes it meaningless) with a hint
when it fails: the versions, the project file, the offline engine and the online store (their type and a
safe description: host, port, database, user, never a password or the connection text as written), their
Python drivers and the extra that installs each, the environment variables the target's `env_var()` calls
name (set or not, never their values) and a connection to each, through the runners' own connect and
close, with a short timeout unless the target sets one.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Mapping

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, DiagnosticSink, Severity
from fcompile.graph import ProjectInfo
from fcompile.version import __version__

CONNECT_TIMEOUT_SECONDS = 5
"""How long a connection check waits for a server, unless the target sets its own timeout."""

TIMEOUT_KEYS = {"postgres": "connect_timeout", "snowflake": "login_timeout", "bigquery": "connect_timeout",
                "redis": "connect_timeout"}
"""The setting that bounds connecting, by engine or store type."""

SAFE_KEYS = ("path", "host", "port", "dbname", "database", "user", "account", "role", "warehouse", "schema",
             "project", "dataset", "location", "api_endpoint", "master", "catalog", "staging_dir")
"""Settings a description may show, in this order; anything else (passwords, tokens, keys, URLs as
written) never appears."""


@dataclass(frozen=True)
class Driver:
    module: str              # what fcompile imports
    distribution: str | None  # the package that provides it (None: Python's standard library)
    extra: str | None         # the pip extra of fcompile that installs it (None: the base install)


OFFLINE_DRIVERS = {
    "duckdb": Driver("duckdb", "duckdb", None),
    "postgres": Driver("psycopg", "psycopg", "postgres"),
    "spark": Driver("pyspark", "pyspark", "spark"),
    "snowflake": Driver("snowflake.connector", "snowflake-connector-python", "snowflake"),
    "bigquery": Driver("google.cloud.bigquery", "google-cloud-bigquery", "bigquery"),
}
ONLINE_DRIVERS = {
    "sqlite": Driver("sqlite3", None, None),
    "redis": Driver("redis", "redis", "redis"),
    "postgres": Driver("psycopg", "psycopg", "postgres"),
}


@dataclass(frozen=True)
class Check:
    """One line of `fcompile debug`: `ok` True (ok), False (fail) or None (skipped)."""

    name: str
    ok: bool | None
    detail: str
    hint: str | None = None


def check_target(project_dir: str | os.PathLike[str], target: str | None,
                 environ: Mapping[str, str] | None = None) -> Iterator[Check]:
    """The checks of the project's target, each as soon as it is done (connecting can take seconds)."""
    from fcompile.parser.project_file import env_var_uses, find_project_file, load_project_file

    env = os.environ if environ is None else environ
    yield Check("fcompile", True, f"{__version__} on Python {platform.python_version()} ({sys.executable})")
    root = Path(project_dir).resolve()
    sink = DiagnosticSink()
    project = load_project_file(root, target, sink, dict(env))
    problems = [d for d in sink.items if d.code is not Code.ENV_VAR_UNSET and d.severity is Severity.ERROR]
    if project is None or problems:
        first = problems[0] if problems else None
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        yield Check("project file", False, (first.message if first else "cannot be read") + more,
                    (first.hint if first and first.hint else "run 'fcompile validate' for every problem"))
        return
    info = project.info
    path = find_project_file(root)
    yield Check("project file", True, f"{path} parses; target '{info.target.name}' (of "
                f"{', '.join(info.target_names)})")
    raw = project.document.data["targets"][info.target.name]
    offline, online = dict(info.target.offline), dict(info.target.online)
    yield _describe("offline engine", "offline", offline)
    offline_driver = yield from _driver_check("offline driver", OFFLINE_DRIVERS, offline)
    yield _describe("online store", "online", online)
    online_driver = yield from _driver_check("online driver", ONLINE_DRIVERS, online)
    yield _credentials_check(raw, env)
    for side, driver_found in (("offline", offline_driver), ("online", online_driver)):
        unset_here = [use.name for use in env_var_uses(raw[side]) if use.name not in env and not use.has_default]
        verb = "is" if len(unset_here) == 1 else "are"
        skipped = f"{', '.join(unset_here)} {verb} not set" if unset_here else None
        yield _connection_check(f"{side} connection", info, side, driver_found, skipped)


def _describe(name: str, side: str, settings: Mapping[str, Any]) -> Check:
    kind = str(settings.get("type"))
    return Check(name, True, f"{kind}: {describe_settings(side, settings)}")


def describe_settings(side: str, settings: Mapping[str, Any]) -> str:
    """Where a target's engine or store is, without secrets: a URL's scheme, user, host, port and
    database, and the settings of `SAFE_KEYS`; a setting left out is shown with its default."""
    parts = []
    url = settings.get("url")
    if isinstance(url, str) and "{{" in url:  # left as written: its variable is not set
        parts.append("url (not set)")
    elif isinstance(url, str) and url:
        parts.append(_safe_url(url))
    for key in SAFE_KEYS:
        value = settings.get(key)
        if isinstance(value, str) and "{{" in value:
            parts.append(f"{key} (not set)")
        elif value not in (None, ""):
            parts.append(f"{key} {value}")
    if not parts:
        parts.append(_default_location(side, str(settings.get("type"))))
    return ", ".join(parts)


def _default_location(side: str, kind: str) -> str:
    """Where an engine or store is when the target says nothing: its runner's or store's `default_location`
    (the module loads, its driver does not)."""
    try:
        if side == "offline":
            from fcompile.runners import runner_class

            return runner_class(kind).default_location
        from fcompile.online import online_store_class

        return online_store_class(kind).default_location
    except (DiagnosticError, ImportError):  # a compile-only or unknown type; a broken install (its check says)
        return "default settings"


def _safe_url(url: str) -> str:
    """What a connection text names (scheme, user, host, port, database), never its password or query."""
    from fcompile.connection_text import describe_connection

    return describe_connection(url)


def _driver_check(name: str, drivers: Mapping[str, Driver], settings: Mapping[str, Any]) -> Iterator[Check]:
    """The driver's check; returns whether the driver is there (None for a compile-only type)."""
    kind = str(settings.get("type"))
    driver = drivers.get(kind)
    if driver is None:
        yield Check(name, None, f"none: '{kind}' is compile-only (fcompile build compiles SQL for it; nothing "
                    "runs on it)")
        return None
    try:
        found = importlib.util.find_spec(driver.module) is not None
    except (ImportError, ValueError):
        found = False
    extra = f"pip install 'fcompile[{driver.extra}]'" if driver.extra else "installed with fcompile"
    if not found:
        yield Check(name, False, f"{driver.distribution or driver.module} is not installed", extra)
        return False
    if driver.distribution is None:
        yield Check(name, True, f"{driver.module} (Python's standard library)")
        return True
    try:
        version = importlib.metadata.version(driver.distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "(version unknown)"
    source = f"the extra [{driver.extra}]" if driver.extra else "the base install"
    yield Check(name, True, f"{driver.distribution} {version} (from {source})")
    return True


def _credentials_check(raw_target: Mapping[str, Any], env: Mapping[str, str]) -> Check:
    """The environment variables the target's settings name, set or not (never their values)."""
    from fcompile.parser.project_file import env_var_uses

    uses = env_var_uses({key: raw_target[key] for key in ("offline", "online", "serving") if key in raw_target})
    if not uses:
        return Check("credentials", True, "the target names no environment variable")
    states: dict[str, str] = {}
    missing = []
    for use in uses:
        if use.name in states:
            continue
        used_by = " (by fcompile serve)" if use.path[0] == "serving" else ""
        if use.name in env:
            states[use.name] = "set" + used_by
        elif use.has_default:
            states[use.name] = "not set, its default is used" + used_by
        else:
            states[use.name] = "NOT SET" + used_by
            missing.append(use.name)
    detail = ", ".join(f"{name} {state}" for name, state in states.items())
    if missing:
        return Check("credentials", False, detail, f"export {' '.join(f'{m}=...' for m in missing)} where "
                     "fcompile runs")
    return Check("credentials", True, detail)


def _connection_check(name: str, project: ProjectInfo, side: str, driver_found: bool | None,
                      skipped: str | None) -> Check:
    """Connect to the target's engine (`side` offline) or store (online) and close again."""
    from fcompile.parser.project_file import freeze_settings

    settings = dict(getattr(project.target, side))
    kind = str(settings.get("type"))
    if driver_found is None:
        return Check(name, None, "nothing runs on a compile-only type")
    if skipped is not None:
        return Check(name, None, skipped)
    if not driver_found:
        return Check(name, None, "its driver is not installed")
    key = TIMEOUT_KEYS.get(kind)
    if key is not None and key not in settings:
        settings[key] = CONNECT_TIMEOUT_SECONDS
    project = replace(project, target=replace(project.target, **{side: freeze_settings(settings)}))
    started = time.perf_counter()
    try:
        _connect_and_close(project, side)
    except DiagnosticError as error:
        first: Diagnostic = error.diagnostics[0]
        return Check(name, False, first.message, first.hint)
    except ImportError as error:  # a dependency of fcompile itself is missing
        return Check(name, False, f"fcompile cannot load its {side} code: {error}",
                     "install fcompile again (pip install --force-reinstall fcompile)")
    return Check(name, True, f"connected in {time.perf_counter() - started:.2f} s")


def _connect_and_close(project: ProjectInfo, side: str) -> None:
    if side == "offline":
        from fcompile.runners import connect_runner

        runner = connect_runner(project)
        try:
            runner.ping()
        finally:
            runner.close()
    else:
        from fcompile.online import connect_online_store

        connect_online_store(project).close()
