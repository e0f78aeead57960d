"""Partial parsing: a spec file whose bytes did not change is not read as YAML again.

Each file's parsed document and structural diagnostics are kept in `.fcompile/parse-cache.bin`, keyed
by the file's path and a hash of its content (never its mtime, so a cache can only miss, never lie).
Beside them, the same file keeps the results of checks that load a large library (`remembered`): an
on-demand expression's typed tree (sqlglot parses it), a feature view's `schema:` file's warnings
(tensorflow-metadata reads it), each keyed by everything its result depends on, so that listing or
validating an unchanged project loads neither library.
The cache is signed with a key kept in the user's cache directory: a cache file that arrived with a
cloned repository fails the signature and is ignored, so unpickling never runs foreign data. The same
signing keeps generated code (the schemas' compiled validators) in that directory (`cached_code`).
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
from types import CodeType
from typing import Any, Callable, Hashable, TypeVar

from fcompile.diagnostics import Diagnostic
from fcompile.parser.positioned_yaml import PathKey, YamlDocument
from fcompile.version import __version__

CACHE_FILE = Path(".fcompile") / "parse-cache.bin"
_MAGIC = b"FCPC1"
_CODE_MAGIC = b"FCCODE1"
T = TypeVar("T")


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
        self._entries: dict[str, ParsedFile] = {}
        self._checks: dict[Hashable, Any] = {}
        if self.enabled:
            self._entries, self._checks = self._load()
        self._fresh: dict[str, ParsedFile] = {}
        self._fresh_checks: dict[Hashable, Any] = {}
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

    def remembered(self, key: Hashable, compute: Callable[[], T | None]) -> T | None:
        """The result of a check whose inputs are all in `key` (a tuple of plain values, its first item
        naming the check): kept from an earlier parse, or computed now. A None result (the check found a
        problem) is not kept: problems are reported by running the check again."""
        if key in self._checks:
            self._fresh_checks[key] = self._checks[key]
            return self._checks[key]
        result = compute()
        if result is not None and self.enabled:
            self._fresh_checks[key] = result
            self._dirty = True
        return result

    def save(self) -> None:
        """Keep exactly the files seen and the checks made in this parse; written atomically, failures
        ignored."""
        if not self.enabled or (not self._dirty and self._fresh.keys() == self._entries.keys()
                                and self._fresh_checks.keys() == self._checks.keys()):
            return
        payload = pickle.dumps((_version_tag(), self._fresh, self._fresh_checks), protocol=pickle.HIGHEST_PROTOCOL)
        write_signed(self.path, _MAGIC, payload)

    def _load(self) -> tuple[dict[str, ParsedFile], dict[Hashable, Any]]:
        payload = read_signed(self.path, _MAGIC)
        if payload is None:
            return {}, {}
        try:
            version, entries, checks = pickle.loads(payload)
        except Exception:  # a cache written by another fcompile version: start over
            return {}, {}
        return (entries, checks) if version == _version_tag() else ({}, {})


def read_signed(path: Path, magic: bytes) -> bytes | None:
    """The payload of a file `write_signed` wrote, or None: missing, unreadable, or not signed with this
    user's key (a file that arrived from elsewhere is never unpickled or run)."""
    key = signing_key()
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    if key is None or not blob.startswith(magic) or len(blob) < len(magic) + 32:
        return None
    mac, payload = blob[len(magic):len(magic) + 32], blob[len(magic) + 32:]
    return payload if hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()) else None


def write_signed(path: Path, magic: bytes, payload: bytes) -> None:
    """`payload`, signed with this user's key, written atomically; failures ignored (it is a cache)."""
    key = signing_key()
    if key is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as out:
            out.write(magic + hmac.new(key, payload, hashlib.sha256).digest() + payload)
        os.replace(tmp, path)
    except OSError:
        return


def cached_code(label: str, source_key: str, make_source: Callable[[], str]) -> CodeType:
    """Python code compiled from generated source (`make_source()`), kept marshalled and signed in the
    user's cache folder under `source_key` and the interpreter's bytecode version, so that later processes
    load it in a fraction of a millisecond instead of generating and compiling it again."""
    import marshal
    from importlib.util import MAGIC_NUMBER

    digest = hashlib.sha256(f"{source_key}\0{MAGIC_NUMBER.hex()}".encode()).hexdigest()[:24]
    path = user_cache_folder() / "code" / f"{label}-{digest}.bin"
    payload = read_signed(path, _CODE_MAGIC)
    if payload is not None:
        try:
            return marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            pass
    code = compile(make_source(), f"<fcompile {label}>", "exec")
    write_signed(path, _CODE_MAGIC, marshal.dumps(code))
    return code


def user_cache_folder() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fcompile"


_KEY: list[bytes | None] = []


def signing_key() -> bytes | None:
    """A per-user secret, created on first use; None where no private place can hold it."""
    if _KEY:
        return _KEY[0]
    base = user_cache_folder()
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
    """Changes whenever what a parse produces could: the version, the schemas, the parser's code, the
    expression checker's code and the versions of the libraries the remembered checks use (read from
    their files: importing them is what the cache saves)."""
    digest = hashlib.sha256()
    for package, suffix in (("fcompile.schemas", ".json"), ("fcompile.parser", ".py"),
                            ("fcompile.expressions", ".py")):
        folder = resources.files(package)
        for name in sorted(p.name for p in folder.iterdir() if p.name.endswith(suffix)):
            digest.update(folder.joinpath(name).read_bytes())
    digest.update(resources.files("fcompile").joinpath("control_characters.py").read_bytes())  # what structure refuses
    for package, version_file in (("sqlglot", "_version.py"), ("tensorflow_metadata", "version.py")):
        digest.update(f"\0{package}\0".encode() + installed_file(package, version_file))
    return f"{__version__}:{digest.hexdigest()[:16]}"


def installed_file(package: str, name: str) -> bytes:
    """The bytes of a file of an installed package, found without importing it (b"" when absent)."""
    from importlib.util import find_spec

    try:
        spec = find_spec(package)
        folders = list(spec.submodule_search_locations or ()) if spec is not None else []
        return (Path(folders[0]) / name).read_bytes() if folders else b""
    except (ImportError, ValueError, OSError):
        return b""
