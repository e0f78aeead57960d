"""Connection text (a URL, or libpq `key=value` text) as messages may show it: only the fields known to be
safe, never the text as written, so no spelling of a password can reach a message, a log or a response."""

from __future__ import annotations

import re
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


# What separates the words of a connection text or a driver's message: a password is compared word by word
_SEPARATORS = re.compile(r"[\s\"'`=:/@?#&,;.()\[\]{}<>]+")
DRIVER_MESSAGE_HIDDEN = ("the driver's message is not shown: it quotes the connection text, which may hold the "
                         "password")


def driver_reason(error: BaseException | str, text: str) -> str:
    """A driver's message about connection `text` as messages may show it: its first line when it repeats no
    word of `text` but those `describe_connection` shows (scheme, user, host, port, database), else a fixed
    sentence. A driver quotes the text it could not read - libpq `missing "=" after "S3cret"`, redis-py
    `Port could not be cast to integer value as 'pw'`, `failed to resolve host 'x@db'` - and with a password
    holding a space, a quote, '/', '?', '#' or '@' that text is a piece of the password."""
    message = str(error).strip()
    message = message.splitlines()[0] if message else type(error).__name__
    if _words(message) & (_words(text) - _shown_words(text)):
        return DRIVER_MESSAGE_HIDDEN
    return message


def _shown_words(text: str) -> set[str]:
    """The words of `text` a message may repeat: those of its description, and the names of its settings
    (`password`, `sslmode`: libpq's `password authentication failed` names no secret)."""
    from urllib.parse import parse_qsl, urlsplit

    names: set[str] = set()
    if "://" not in text:
        try:
            from psycopg.conninfo import conninfo_to_dict

            names = set(conninfo_to_dict(text))
        except Exception:  # psycopg not installed, or text libpq cannot read: no names are known
            pass
    else:
        try:
            parts = urlsplit(text)
            if not credentials_outside_netloc(parts):  # else the "query" is a piece of the password
                names = {name for name, _ in parse_qsl(parts.query)}
        except ValueError:
            pass
    return _words(" ".join([describe_connection(text), *names]))


def _words(text: str) -> set[str]:
    return {word for word in _SEPARATORS.split(text.casefold()) if word}
