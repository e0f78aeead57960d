"""Bearer tokens (`serving: {auth: {tokens: [...]}}`, settings.py): who is calling, and may they.

The token from `Authorization: Bearer <token>` is hashed (SHA-256) and compared with every configured
token's digest by `hmac.compare_digest`, all of them each time, so the time taken says nothing about
which token came close. No token, or one that matches none: 401 (FC127) with `WWW-Authenticate: Bearer`.
A valid token asking for something outside its grant: 403 (FC128), naming the token's label (never the
token) and what it asked for. Nothing here logs or echoes a token.
"""

from __future__ import annotations

import hmac
from typing import Iterable

from fcompile.diagnostics import Code
from fcompile.serving.errors import request_error
from fcompile.serving.settings import Grant, TokenGrant, token_digest

_CHALLENGE = ((b"www-authenticate", b'Bearer realm="fcompile"'),)


def authenticate(headers: Iterable[tuple[bytes, bytes]], tokens: tuple[TokenGrant, ...]) -> TokenGrant:
    """The caller's grant. Raises HttpError 401 without a valid bearer token."""
    given = None
    for name, value in headers:
        if name == b"authorization":
            given = value
            break
    if given is None:
        raise request_error(401, "this endpoint needs a bearer token", "send the header "
                            "'Authorization: Bearer <token>' with a token of the target's serving.auth",
                            Code.UNAUTHENTICATED, _CHALLENGE)
    scheme, _, secret = given.strip().partition(b" ")
    secret = secret.strip()
    if scheme.lower() != b"bearer" or not secret:
        raise request_error(401, "the Authorization header is not a bearer token", "send "
                            "'Authorization: Bearer <token>'", Code.UNAUTHENTICATED, _CHALLENGE)
    digest = token_digest(secret)
    found = None
    for grant in tokens:
        if hmac.compare_digest(digest, grant.digest):
            found = grant
    if found is None:
        raise request_error(401, "the bearer token is not valid", "check the token the client sends against the "
                            "target's serving.auth tokens", Code.UNAUTHENTICATED, _CHALLENGE)
    return found


def require(grant: TokenGrant | None, allowed: Grant | bool, action: str, name: str | None = None) -> None:
    """Raise HttpError 403 unless the caller may do `action` ("read feature service") on `name` (by the
    grant `allowed`, a Grant or a flag). `grant` None: authentication is off, everything is allowed."""
    if grant is None:
        return
    if allowed is True or (isinstance(allowed, Grant) and name is not None and allowed.allows(name)):
        return
    subject = f"{action} '{name}'" if name is not None else action
    raise request_error(403, f"token '{grant.label}' may not {subject}", "grant it in the token's entry under "
                        "the target's serving.auth.tokens", Code.FORBIDDEN)
