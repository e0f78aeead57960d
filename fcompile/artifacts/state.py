"""An earlier build to compare with: the `--state DIR` of `fcompile plan` and of `state:modified` selections.

The state is a target folder an earlier `fcompile build` wrote (main's `target/`, say): its `manifest.json`
and, when they are there, its `compiled/` files. The project as it is now is compiled in memory for the
dialects the state holds, and the two are compared node by node:

- a node is *modified* when it is new, when its definition changed (the manifest's `content_hash`), or
  when one of its compiled files differs from the state's - the header line that names fcompile's version
  and the spec file is left out, so moving a node to another file or upgrading fcompile alone modifies
  nothing; a node that no longer compiles is modified too (the build reports why);
- without `compiled/` files in the state, the manifest's `sha256` of each file is compared instead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from fcompile.artifacts.build import COMPILED, compile_project, read_tree, resolve_dialects
from fcompile.artifacts.manifest import MANIFEST_FILE, SCHEMA_VERSION, build_manifest
from fcompile.artifacts.compiled_files import compiled_path, produces_file
from fcompile.artifacts.selection import NodeRef
from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.graph import FeatureGraph

HEADER_PREFIX = b"-- fcompile "


@dataclass(frozen=True)
class PreviousBuild:
    """A target folder an earlier build wrote: its manifest and its compiled files (relative to `compiled/`)."""

    folder: Path
    manifest: Mapping[str, Any]
    files: Mapping[str, bytes]

    @property
    def nodes(self) -> dict[NodeRef, Mapping[str, Any]]:
        return {NodeRef(kind, name): entry for kind, entries in self.manifest["nodes"].items()
                for name, entry in entries.items()}

    @property
    def dialects(self) -> tuple[str, ...]:
        return tuple(sorted({entry["dialect"] for entry in self.manifest["compiled"]}))

    @property
    def sha256(self) -> dict[str, str]:
        """The manifest's digest of each compiled file, by path relative to `compiled/`."""
        return {entry["path"].split("/", 1)[1]: entry["sha256"] for entry in self.manifest["compiled"]}


def load_previous_build(folder: Path) -> PreviousBuild:
    """The build in `folder`, or FC170 saying why it cannot be compared with (no position: it is an option)."""
    shown = str(folder)

    def problem(what: str, hint: str) -> DiagnosticError:
        return DiagnosticError([Diagnostic(Code.STATE_UNREADABLE, f"--state {shown}: {what}", None, hint)])

    build_hint = ("give the target/ folder of an earlier `fcompile build` (e.g. main's, checked out or "
                  "downloaded by CI), or write one with `fcompile build --target-path DIR`")
    if not folder.is_dir():
        raise problem("no such folder" if not folder.exists() else "not a folder", build_hint)
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise problem(f"holds no {MANIFEST_FILE}", build_hint)
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise problem(f"{MANIFEST_FILE} cannot be read as JSON ({type(exc).__name__})", build_hint) from None
    metadata = manifest.get("metadata") if isinstance(manifest, dict) else None
    if not isinstance(metadata, dict) or "schema_version" not in metadata \
            or not isinstance(manifest.get("nodes"), dict) or not isinstance(manifest.get("compiled"), list):
        raise problem(f"{MANIFEST_FILE} is not an fcompile manifest", build_hint)
    if metadata["schema_version"] != SCHEMA_VERSION:
        raise problem(f"its manifest has schema version {metadata['schema_version']!r} (fcompile "
                      f"{metadata.get('fcompile_version', '?')}); this fcompile reads version {SCHEMA_VERSION}",
                      "build the state with the fcompile that compares it: check out the earlier commit and run "
                      "`fcompile build --dialect all --target-path DIR` there")
    return PreviousBuild(folder, manifest, read_tree(folder / COMPILED))


def sql_body(content: bytes) -> bytes:
    """A compiled file without its first header line (fcompile's version, the node, the spec file)."""
    if content.startswith(HEADER_PREFIX):
        return content.partition(b"\n")[2]
    return content


@dataclass(frozen=True)
class CurrentBuild:
    """The project compiled in memory for the state's dialects: what a build would write now."""

    manifest: Mapping[str, Any]
    files: Mapping[str, bytes]
    diagnostics: tuple[Diagnostic, ...]
    dialects: tuple[str, ...]

    @property
    def nodes(self) -> dict[NodeRef, Mapping[str, Any]]:
        return {NodeRef(kind, name): entry for kind, entries in self.manifest["nodes"].items()
                for name, entry in entries.items()}


def compile_current(graph: FeatureGraph, previous: PreviousBuild) -> CurrentBuild:
    """Compile every node for the dialects the state holds (the target's dialect when it holds none)."""
    from fcompile.dialects.registry import DIALECTS

    dialects = tuple(d for d in previous.dialects if d in DIALECTS) or resolve_dialects(graph, None)
    result = compile_project(graph, dialects)
    return CurrentBuild(build_manifest(graph, result.files), dict(result.files), tuple(result.diagnostics), dialects)


def file_differs(previous: PreviousBuild, path: str, content: bytes | None) -> bool:
    """Whether the state's file at `path` (relative to `compiled/`) and `content` differ, header line aside."""
    if path in previous.files:
        return content is None or sql_body(previous.files[path]) != sql_body(content)
    digest = previous.sha256.get(path)
    if digest is None:
        return content is not None
    return content is None or hashlib.sha256(content).hexdigest() != digest


def changed_files(previous: PreviousBuild, current: CurrentBuild, ref: NodeRef) -> list[str]:
    """The compiled files of `ref` (paths relative to `compiled/`) that differ between the state and now."""
    if not produces_file(ref):
        return []
    paths = [compiled_path(dialect, ref) for dialect in current.dialects]
    return [path for path in paths if file_differs(previous, path, current.files.get(path))]


def modified_nodes(graph: FeatureGraph, previous: PreviousBuild, current: CurrentBuild | None = None
                   ) -> frozenset[NodeRef]:
    """The nodes of `graph` that are new, whose definition changed, or whose compiled SQL changed."""
    current = current or compile_current(graph, previous)
    before = previous.nodes
    found = set()
    for ref, entry in current.nodes.items():
        old = before.get(ref)
        if old is None or old.get("content_hash") != entry["content_hash"] or changed_files(previous, current, ref):
            found.add(ref)
    return frozenset(found)
