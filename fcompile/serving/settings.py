"""The feature server's settings: the selected target's `serving:` block, typed (docs/how-to/serving.md).

    targets:
      prod:
        offline: {...}
        online: {...}
        serving:                                    # all optional
          host: 0.0.0.0                             # default 127.0.0.1 (--host wins)
          port: 6566                                # default 6566 (--port wins)
          max_request_bytes: 4194304                # larger bodies get 413
          max_entities_per_request: 10000           # more entity rows in one read get 413
          max_header_bytes: 65536                   # a longer request line and headers get 431
          max_headers: 100                          # more header lines get 431
          auth:
            tokens:
              - name: ranker                        # shown in logs instead of the token
                token: "{{ env_var('RANKER_TOKEN') }}"
                feature_services: [driver_activity_v1]
              - name: ingest
                token: "{{ env_var('INGEST_TOKEN') }}"
                push_sources: ["*"]
                write_feature_views: ["*"]
                materialize: true

Without `auth`, every endpoint is open. With it, every endpoint but `/health` and `/metrics` needs
`Authorization: Bearer <token>` naming one of the tokens, and a token may do only what it is granted:
read the services in `feature_services`, read `features` lists of the views in `feature_views`, push to
the push sources in `push_sources`, write the views in `write_feature_views`, and materialize when
`materialize` is true. `"*"` grants every name; an omitted grant grants nothing.

The header limits are read when `fcompile serve` starts (like host and port: the HTTP protocol applies
them before any request reaches the application); the others, and the tokens, again at every reload.

Only a SHA-256 digest of each token is kept in memory, so no repr or log line can show one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcompile.diagnostics import Code, Diagnostic, DiagnosticSink
from fcompile.graph import FeatureGraph

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 6566
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_ENTITIES_PER_REQUEST = 10_000
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_MAX_HEADERS = 100
MIN_TOKEN_CHARS = 16
GRANTS = ("feature_services", "feature_views", "push_sources", "write_feature_views")
_GRANT_KINDS = {"feature_services": ("feature_service", "feature service"),
                "feature_views": ("feature_view", "feature view"),
                "push_sources": ("push_source", "push source"),
                "write_feature_views": ("feature_view", "feature view")}


@dataclass(frozen=True)
class Grant:
    """Names a token may use, or every name."""

    names: frozenset[str] = frozenset()
    everything: bool = False

    def allows(self, name: str) -> bool:
        return self.everything or name in self.names

    @classmethod
    def of(cls, names: list[str] | None) -> Grant:
        names = names or []
        return cls(frozenset(n for n in names if n != "*"), "*" in names)


@dataclass(frozen=True)
class TokenGrant:
    label: str            # the token's `name`, or "token #N" (1-based, in file order)
    digest: bytes         # SHA-256 of the token
    feature_services: Grant
    feature_views: Grant
    push_sources: Grant
    write_feature_views: Grant
    materialize: bool


@dataclass(frozen=True)
class ServingSettings:
    host: str | None = None
    port: int | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    tokens: tuple[TokenGrant, ...] | None = None   # None: no authentication
    max_entities_per_request: int = DEFAULT_MAX_ENTITIES_PER_REQUEST
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    max_headers: int = DEFAULT_MAX_HEADERS

    def __repr__(self) -> str:
        auth = "off" if self.tokens is None else f"{len(self.tokens)} tokens"
        return f"ServingSettings(host={self.host!r}, port={self.port!r}, max_request_bytes={self.max_request_bytes}, " \
               f"max_entities_per_request={self.max_entities_per_request}, max_header_bytes=" \
               f"{self.max_header_bytes}, max_headers={self.max_headers}, auth={auth})"


def token_digest(token: str | bytes) -> bytes:
    return hashlib.sha256(token.encode("utf-8") if isinstance(token, str) else token).digest()


def load_serving_settings(project_dir: str | os.PathLike[str], target: str | None,
                          graph: FeatureGraph | None = None,
                          environ: dict[str, str] | None = None) -> tuple[ServingSettings, list[Diagnostic]]:
    """The target's serving settings, and warnings (grants naming nodes the graph lacks). Raises
    `DiagnosticError` for an unset `env_var()`, a token shorter than 16 characters or given twice."""
    from fcompile.parser.project_file import load_project_file, render_serving_block

    sink = DiagnosticSink()
    project = load_project_file(Path(project_dir).resolve(), target, sink, environ)
    sink.raise_if_errors()
    assert project is not None
    block = render_serving_block(project, sink, environ)
    sink.raise_if_errors()
    if block is None:
        return ServingSettings(), []
    base = ("targets", project.info.target.name, "serving")
    tokens = None
    auth = block.get("auth")
    if auth is not None:
        tokens = tuple(_token(entry, i, project.document.position(base + ("auth", "tokens", i, "token")), sink)
                       for i, entry in enumerate(auth["tokens"]))
        _check_unique(tokens, project.document, base, sink)
    sink.raise_if_errors()
    settings = ServingSettings(block.get("host"), block.get("port"),
                               block.get("max_request_bytes", DEFAULT_MAX_REQUEST_BYTES), tokens,
                               block.get("max_entities_per_request", DEFAULT_MAX_ENTITIES_PER_REQUEST),
                               block.get("max_header_bytes", DEFAULT_MAX_HEADER_BYTES),
                               block.get("max_headers", DEFAULT_MAX_HEADERS))
    warnings = _unknown_grants(auth["tokens"], graph, project.document, base) if auth and graph else []
    return settings, warnings


def _token(entry: dict[str, Any], index: int, where: Any, sink: DiagnosticSink) -> TokenGrant:
    label = entry.get("name") or f"token #{index + 1}"
    secret = str(entry["token"]).strip()
    if len(secret) < MIN_TOKEN_CHARS:  # the message never quotes the token, not even its length
        sink.error(Code.INVALID_VALUE, f"serving token '{label}' is shorter than {MIN_TOKEN_CHARS} characters",
                   where, "use a long random secret, e.g. from `python -c \"import secrets; "
                   "print(secrets.token_urlsafe(32))\"`, given through {{ env_var('NAME') }}")
    return TokenGrant(label, token_digest(secret), *(Grant.of(entry.get(g)) for g in GRANTS),
                      materialize=bool(entry.get("materialize", False)))


def _check_unique(tokens: tuple[TokenGrant, ...], document: Any, base: tuple, sink: DiagnosticSink) -> None:
    seen_digests: dict[bytes, str] = {}
    seen_labels: set[str] = set()
    for i, token in enumerate(tokens):
        where = document.position(base + ("auth", "tokens", i))
        if token.digest in seen_digests:
            sink.error(Code.DUPLICATE_NAME, f"serving token '{token.label}' is the same secret as "
                       f"'{seen_digests[token.digest]}'", where, "give each client its own token")
        seen_digests.setdefault(token.digest, token.label)
        if token.label in seen_labels:
            sink.error(Code.DUPLICATE_NAME, f"two serving tokens are named '{token.label}'", where,
                       "give each token its own name")
        seen_labels.add(token.label)


def _unknown_grants(entries: list[dict[str, Any]], graph: FeatureGraph, document: Any,
                    base: tuple) -> list[Diagnostic]:
    """Warnings for granted names the project does not define (a typo would silently grant nothing)."""
    from fcompile.diagnostics import Severity, reference_hint

    out = []
    for i, entry in enumerate(entries):
        for grant in GRANTS:
            kind, word = _GRANT_KINDS[grant]
            known = [n for k, nodes in graph.by_kind() if k == kind for n in (node.name for node in nodes)]
            for j, name in enumerate(entry.get(grant) or ()):
                if name != "*" and name not in known:
                    label = entry.get("name") or f"token #{i + 1}"
                    out.append(Diagnostic(_unknown_code(kind), f"serving token '{label}' is granted unknown {word} "
                                          f"'{name}'", document.position(base + ("auth", "tokens", i, grant, j)),
                                          reference_hint(name, word, known), Severity.WARNING))
    return out


def _unknown_code(kind: str) -> Code:
    return {"feature_service": Code.UNKNOWN_SERVICE, "feature_view": Code.UNKNOWN_VIEW}.get(kind, Code.UNKNOWN_SOURCE)
