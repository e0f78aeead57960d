"""The folders fcompile writes inside a project, and `fcompile clean` that removes what can be made again.

    target/      build output: compiled SQL and manifest.json (`fcompile build`), run_results.json
                 (`run`, `materialize`, `test`), test_results.json (`test`, `run`), profiles/ (`profile`),
                 the materialization lock, and the catalog site in docs/ (`fcompile docs generate`)
    .fcompile/   local state: the parse and compile caches, and the data of local targets (the sample's
                 dev target keeps its DuckDB database and SQLite online store there; Spark's local
                 warehouse lives there too)

`clean` removes `target/` and the caches, never data: a materialized online store and its watermarks, or
the tables of a local engine, are not made again by a build. `clean --all` removes `.fcompile/` whole.
Only these two folders of a folder holding fcompile_project.yml are touched; a symbolic link there is
removed as a link, never followed.
"""

from __future__ import annotations

import os
import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position

BUILD_DIR = "target"
STATE_DIR = ".fcompile"
GITIGNORE = """\
# fcompile: local state, caches and the data of local targets
.fcompile/
# what runs leave in target/; the compiled SQL and manifest.json stay versioned, so that
# `fcompile build --check` can compare them in CI (reviewers read the SQL in pull requests)
target/run_results.json
target/test_results.json
target/.test_results.lock
target/.materialize.lock
# the catalog site `fcompile docs generate` writes: made again from the specs at any time
target/docs/
"""


def cache_files() -> tuple[Path, ...]:
    """The caches under `.fcompile/`, relative to the project folder (each with SQLite's side files)."""
    from fcompile.artifacts.compile_cache import CACHE_FILE as COMPILE_CACHE
    from fcompile.parser.cache import CACHE_FILE as PARSE_CACHE

    sqlite_sides = ("-wal", "-shm", "-journal")
    return (PARSE_CACHE, COMPILE_CACHE, *(COMPILE_CACHE.with_name(COMPILE_CACHE.name + s) for s in sqlite_sides))


def write_gitignore(root: Path) -> Path | None:
    """A `.gitignore` for a new project; an existing one is left alone (None)."""
    path = Path(root) / ".gitignore"
    if path.exists():
        return None
    path.write_text(GITIGNORE, encoding="utf-8")
    return path


@dataclass(frozen=True)
class Cleaned:
    removed: tuple[str, ...]  # project-relative, folders ending in "/"
    kept: tuple[str, ...]     # what `.fcompile/` still holds (data), project-relative


def clean_project(project_dir: str | os.PathLike[str], everything: bool = False) -> Cleaned:
    """Remove `target/` and the caches of `.fcompile/` (with `everything`, all of `.fcompile/`). Raises
    FC003 when the folder holds no project, FC129 while a materialization runs (nothing removed then)."""
    from fcompile.parser.project_file import find_project_file
    from fcompile.tasks.locks import LOCK_FILE, materialization_lock

    root = Path(project_dir).resolve()
    if not root.is_dir() or find_project_file(root) is None:
        raise DiagnosticError([Diagnostic(Code.PROJECT_FILE_MISSING, f"no fcompile_project.yml in {root}; nothing "
                                          "removed", Position(str(root)), "pass --project-dir with the project "
                                          "folder (clean removes only its target/ and .fcompile/ caches)")])
    removed: list[str] = []
    build, state = root / BUILD_DIR, root / STATE_DIR
    # the lock is held until the end: `--all` removes the online store a materialization would write to
    with materialization_lock(str(build / LOCK_FILE)) if _is_real_dir(build) else nullcontext():
        if build.is_symlink() or build.exists():
            _remove(build, root)
            removed.append(f"{BUILD_DIR}/")
        if everything:
            if state.is_symlink() or state.exists():
                _remove(state, root)
                removed.append(f"{STATE_DIR}/")
            return Cleaned(tuple(removed), ())
        if _is_real_dir(state):
            for relative in cache_files():
                path = root / relative
                if path.is_file() or path.is_symlink():
                    _remove(path, root)
                    removed.append(relative.as_posix())
    kept = tuple(sorted(f"{STATE_DIR}/{p.name}" + ("/" if p.is_dir() else "") for p in state.iterdir())) \
        if _is_real_dir(state) else ()
    return Cleaned(tuple(removed), kept)


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _remove(path: Path, root: Path) -> None:
    """A folder and what it holds, or a file, or a symbolic link (not what it points to); FC135 when the
    system refuses (what was removed before stays removed)."""
    try:
        if _is_real_dir(path):
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError as exc:
        raise DiagnosticError([Diagnostic(Code.OUTPUT_UNWRITABLE, f"cannot remove {path.relative_to(root)}: "
                                          f"{exc.strerror or exc}", Position(str(path)),
                                          "check its permissions, or whether another program holds it open")]) \
            from None

