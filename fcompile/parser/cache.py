"""Partial parsing: a spec file whose bytes did not change is not read as YAML again.

Each file's parsed document and structural diagnostics are kept in `.fcompile/parse-cache.bin`, keyed
by the file's path and a hash of its content (never its mtime, so a cache can only miss, never lie).
The cache is signed with a key kept in the user's cache directory: a cache file that arrived with a
cloned repository fails the signature and is ignored, so unpickling never runs foreign data.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import pickle
import secrets
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from fcompile import __version__
from fcompile.diagnostics import Diagnostic
from fcompile.parser.positioned_yaml import PathKey, YamlDocument

CACHE_FILE = Path(".fcompile") / "parse-cache.bin"
_MAGIC = b"FCPC1"


@dataclass(frozen=True)
class ParsedFile:
    digest: str
    document: YamlDocument | None
    diagnostics: tuple[Diagnostic, ...]
    invalid_paths: frozenset[PathKey]


def content_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()


class ParseCache:
    def __init__(self, root: Path, enabled: bool = True) -> None:
        self.path = root / CACHE_FILE
        self.enabled = enabled and signing_key() is not None
        self._entries: dict[str, ParsedFile] = self._load() if self.enabled else {}
        self._fresh: dict[str, ParsedFile] = {}
        self._dirty = False

    def get(self, file: str, digest: str) -> ParsedFile | None:
        hit = self._entries.get(file)
        if hit is not None and hit.digest == digest:
            self._fresh[file] = hit
            return hit
        return None

    def put(self, file: str, parsed: ParsedFile) -> None:
        self._fresh[file] = parsed
        self._dirty = True

    def save(self) -> None:
        """Keep exactly the files seen in this parse; written atomically, failures ignored."""
        if not self.enabled or (not self._dirty and self._fresh.keys() == self._entries.keys()):
            return
        key = signing_key()
        if key is None:
            return
        payload = pickle.dumps((_version_tag(), self._fresh), protocol=pickle.HIGHEST_PROTOCOL)
        blob = _MAGIC + hmac.new(key, payload, hashlib.sha256).digest() + payload
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".parse-cache.")
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
            os.replace(tmp, self.path)
        except OSError:
            return

    def _load(self) -> dict[str, ParsedFile]:
        key = signing_key()
        try:
            blob = self.path.read_bytes()
        except OSError:
            return {}
        if key is None or not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + 32:
            return {}
        mac, payload = blob[len(_MAGIC):len(_MAGIC) + 32], blob[len(_MAGIC) + 32:]
        if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()):
            return {}
        try:
            version, entries = pickle.loads(payload)
        except Exception:  # a cache written by another fcompile version: start over
            return {}
        return entries if version == _version_tag() else {}


_KEY: list[bytes | None] = []


def signing_key() -> bytes | None:
    """A per-user secret, created on first use; None where no private place can hold it."""
    if _KEY:
        return _KEY[0]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fcompile"
    path = base / "cache.key"
    key: bytes | None
    try:
        key = path.read_bytes()
        if len(key) < 32:
            raise OSError("short key")
    except OSError:
        try:
            base.mkdir(parents=True, exist_ok=True)
            key = secrets.token_bytes(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key)
        except OSError:
            key = None
    _KEY.append(key)
    return key


@functools.lru_cache(maxsize=1)
def _version_tag() -> str:
    """Changes whenever what a parse produces could: the version, the schemas, the parser's code."""
    digest = hashlib.sha256()
    for package, suffix in (("fcompile.schemas", ".json"), ("fcompile.parser", ".py")):
        folder = resources.files(package)
        for name in sorted(p.name for p in folder.iterdir() if p.name.endswith(suffix)):
            digest.update(folder.joinpath(name).read_bytes())
    return f"{__version__}:{digest.hexdigest()[:16]}"
