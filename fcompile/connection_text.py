"""Connection text (a URL, or libpq `key=value` text) as messages may show it: only the fields known to be
safe, never the text as written, so no spelling of a password can reach a message, a log or a response."""

from __future__ import annotations

from typing import Any


def credentials_outside_netloc(parts: Any) -> bool:
    """Whether a split URL holds an '@' after its network location: a password with an unencoded '/', '?'
    or '#' (common in base64 secrets) ends the netloc early and leaves the rest of it, '@host' included,
    in the path, query or fragment, where nothing would recognise it as a secret."""
    return "@" in f"{parts.path}?{parts.query}#{parts.fragment}"


def describe_connection(text: str) -> str:
    """How messages name a server, built from fields known to be safe - scheme, user, host, port and
    database - never from the text as written: a password, however it is spelled (libpq's `password = 'x'`,
    a URL's `?password=`, a password holding '/', '?' or '#'), never reaches a message or a log.

    A URL is read with `urllib.parse`, libpq `key=value` text with psycopg's own parser (libpq's rules);
    text neither can read is not shown at all."""
    from urllib.parse import urlsplit

    if "://" not in text:
        return _describe_conninfo(text)
    try:
        parts = urlsplit(text)
        if credentials_outside_netloc(parts):
            return f"{parts.scheme}://(credentials not shown)"
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return "(an invalid URL, not shown)"
    if ":" in host:
        host = f"[{host}]"
    user = f"{parts.username}@" if parts.username else ""
    database = parts.path if "@" not in parts.path else ""
    return f"{parts.scheme}://{user}{host}{port}{database}"


def _describe_conninfo(text: str) -> str:
    """`host H, port P, dbname D, user U` of libpq key=value text, as libpq reads it."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        found = conninfo_to_dict(text)
    except Exception:  # psycopg not installed, or text libpq cannot read: show nothing of it
        return "(connection text not shown)"
    shown = [f"{key} {found[key]}" for key in ("host", "port", "dbname", "user") if found.get(key)]
    return ", ".join(shown) or "(default connection)"
