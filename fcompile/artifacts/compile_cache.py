"""Compile cache: a shape of plan already turned into SQL by the same code is not lowered and
generated again.

Lowering and generating one statement through sqlglot costs 10-60 ms (the re-parse check alone is a
third of it). Builds generate each shape of plan once (fcompile/dialects/shapes.py), and this cache
keeps those templates between builds: the statements (a JSON list) of a shape are a pure function of
the shape's plan, the dialect and the code, so each entry is keyed by a hash of exactly those: the
shape plan's repr (frozen dataclasses, paths already project-relative), the dialect name, the cache
format, fcompile's and sqlglot's versions and the bytes of the planner, dialect and expression modules. A cache
can only miss, never lie.

It lives in `.fcompile/compile-cache.sqlite` beside the parse cache. Each entry is signed with the
per-user key the parse cache uses, so a cache file that arrived with a cloned repository is never
trusted (its SQL would otherwise go straight into `target/`). A whole build is kept the same way (`get_build`), keyed
by everything it depends on (`build_key`), so that a build or a validate of an unchanged project loads
neither sqlglot nor the dialects. Entries unused for `KEEP_BUILDS` builds
are dropped (an entry in use is re-dated every few builds, not at every hit). Any error reading or writing the cache just disables it for the run.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import sqlite3
from pathlib import Path
from fcompile.version import __version__

CACHE_FILE = Path(".fcompile") / "compile-cache.sqlite"
KEEP_BUILDS = 10
KEEP_WHOLE_BUILDS = 4  # whole builds (each every file of a build) kept, the most recently used
FORMAT = "templates-1"  # what an entry holds: the JSON list of a shape's statements


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """fcompile's and sqlglot's versions (sqlglot's read from its version file: importing it is what a
    remembered build saves) and the source of every module between a plan and its SQL."""
    from fcompile.parser.cache import installed_file

    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(f"{FORMAT}\0{__version__}\0".encode() + installed_file("sqlglot", "_version.py"))
    for folder in ("planner", "dialects", "expressions"):  # expressions: the lowering of on-demand and test expressions
        for path in sorted((package / folder).glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def other_build_modules() -> str:
    """Every other module a build's files depend on (besides `code_fingerprint`'s): the graph, the
    expression compilers, the file headers and layout (artifacts/), the shared helpers at the package's
    top. These are many more files, so each counts by its size and modification time - what Python itself
    trusts its bytecode cache by - rather than by its bytes."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    paths = [*package.glob("*.py"), *(p for folder in ("expressions", "artifacts") for p in (package / folder).glob("*.py"))]
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.relative_to(package)}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def build_key(graph_text: str, dialects: tuple[str, ...], select: tuple[str, ...], exclude: tuple[str, ...]) -> str:
    """The key of a whole build: the resolved graph (its repr: every field that reaches SQL, source
    positions and all), the dialects and the selection, compiled by this code."""
    text = "\0".join([code_fingerprint(), other_build_modules(), "build", graph_text, *dialects, "select", *select, "exclude", *exclude])
    return "build:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def plan_key(dialect: str, plan_text: str) -> str:
    """The cache key of a plan (by its repr) rendered for a dialect by this code."""
    return hashlib.sha256(f"{code_fingerprint()}\0{dialect}\0{plan_text}".encode()).hexdigest()


class CompileCache:
    """Statement text by plan key, for one build. `save()` writes the new entries and ages the rest."""

    def __init__(self, project_root: str | Path, enabled: bool = True) -> None:
        from fcompile.parser.cache import signing_key  # the per-user secret shared with the parse cache

        self._key = signing_key() if enabled else None
        self._db: sqlite3.Connection | None = None
        self._used: list[str] = []  # hits whose age must be refreshed
        self._generation = 0
        self._new: dict[str, str] = {}
        if self._key is None:
            return
        path = Path(project_root) / CACHE_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=5)
            self._db.execute("CREATE TABLE IF NOT EXISTS statements "
                             "(key TEXT PRIMARY KEY, sql TEXT NOT NULL, mac BLOB NOT NULL, used INTEGER NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS builds (generation INTEGER NOT NULL)")
            self._generation = self._db.execute("SELECT MAX(generation) FROM builds").fetchone()[0] or 0
        except sqlite3.Error:
            self._db = None

    @property
    def enabled(self) -> bool:
        return self._db is not None

    def get_many(self, keys: list[str]) -> dict[str, str]:
        """The cached statements of those keys that have a valid entry."""
        found: dict[str, str] = {}
        if self._db is None:
            return found
        wanted = sorted(set(keys))
        try:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i:i + 500]
                rows = self._db.execute(f"SELECT key, sql, mac, used FROM statements WHERE key IN "
                                        f"({','.join('?' * len(chunk))})", chunk).fetchall()
                for key, sql, mac, used in rows:
                    if hmac.compare_digest(mac, self._mac(key, sql)):
                        found[key] = sql
                        if used <= self._generation - KEEP_BUILDS // 2:  # refreshed now and then, not always
                            self._used.append(key)
        except sqlite3.Error:
            self._db = None
            return {}
        return found

    def get_build(self, key: str) -> dict[str, bytes] | None:
        """The files (path below `compiled/` -> content) of a whole build remembered under `key`."""
        text = self.get_many([key]).get(key)
        if text is None:
            return None
        if key not in self._used:
            self._used.append(key)  # always re-dated: only the few most recently used whole builds are kept
        import json

        return {path: content.encode("utf-8") for path, content in json.loads(text).items()}

    def put_build(self, key: str, files: dict[str, bytes]) -> None:
        import json

        self.put(key, json.dumps({path: content.decode("utf-8") for path, content in sorted(files.items())}))

    def put(self, key: str, sql: str) -> None:
        if self._db is not None:
            self._new[key] = sql

    def save(self) -> None:
        if self._db is None:
            return
        db = self._db
        try:
            with db:
                generation = self._generation + 1
                db.execute("DELETE FROM builds")
                db.execute("INSERT INTO builds VALUES (?)", (generation,))
                db.executemany("UPDATE statements SET used = ? WHERE key = ?",
                               [(generation, k) for k in self._used])
                db.executemany("INSERT OR REPLACE INTO statements VALUES (?, ?, ?, ?)",
                               [(k, sql, self._mac(k, sql), generation) for k, sql in self._new.items()])
                db.execute("DELETE FROM statements WHERE used < ?", (generation - KEEP_BUILDS,))
                db.execute("DELETE FROM statements WHERE key LIKE 'build:%' AND key NOT IN (SELECT key FROM "
                           "statements WHERE key LIKE 'build:%' ORDER BY used DESC, key LIMIT ?)", (KEEP_WHOLE_BUILDS,))
        except sqlite3.Error:
            pass
        finally:
            db.close()
            self._db = None

    def _mac(self, key: str, sql: str) -> bytes:
        assert self._key is not None
        return hmac.new(self._key, f"{key}\0{sql}".encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
