"""The layout of `target/compiled/`: a folder per dialect, a folder per kind of node, a file per node.

Kept apart from the compiler (queries.py), which needs sqlglot: reading or checking a build's files, the
manifest and a remembered build (compile_cache.py) need only these names.
"""

from __future__ import annotations

import os
from pathlib import PurePath

from fcompile.artifacts.selection import NodeRef
from fcompile.sql_names import TARGET_DIALECTS

# The registered dialects' names, sorted, for naming dialects without loading them (tests check that they
# are fcompile/dialects/registry.py's).
DIALECT_NAMES = tuple(sorted(TARGET_DIALECTS))
FOLDERS = {"feature_view": "materialize", "feature_service": "retrieve", "dataset": "datasets", "test": "tests"}
KINDS_BY_FOLDER = {folder: kind for kind, folder in FOLDERS.items()}


def produces_file(ref: NodeRef) -> bool:
    return ref.kind in FOLDERS


def compiled_path(dialect: str, ref: NodeRef) -> str:
    """Where a node's SQL goes, relative to `target/compiled/`."""
    return f"{dialect}/{FOLDERS[ref.kind]}/{ref.name}.sql"


def node_of_path(path: str) -> NodeRef | None:
    """The node a path below `target/compiled/` belongs to, if it has fcompile's layout."""
    parts = path.split("/")
    if len(parts) != 3 or parts[1] not in KINDS_BY_FOLDER or not parts[2].endswith(".sql"):
        return None
    return NodeRef(KINDS_BY_FOLDER[parts[1]], parts[2][:-len(".sql")])


def relative_spec_path(root: str, path: str) -> str:
    rel = os.path.relpath(path, root) if os.path.isabs(path) else path
    return PurePath(rel).as_posix().replace("\n", " ").replace("\r", " ")
