"""`target/manifest.json`: the resolved graph and the compiled files, versioned and byte-stable.

Nothing in it depends on the machine or the moment: no timestamps, no absolute paths (spec locations
are relative to the project), keys sorted, lists in the graph's stable order. Its JSON Schema ships as
`fcompile/schemas/manifest.schema.json`; `schema_version` changes whenever the shape does.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any, Mapping

from fcompile.artifacts.compiled_files import node_of_path, relative_spec_path
from fcompile.artifacts.selection import direct_dependencies
from fcompile.graph import FeatureGraph, hash_plain, to_plain
from fcompile.version import __version__

SCHEMA_VERSION = 4  # 2: push sources (nodes.push_source, feature_view.push_source); 3: source tie_breaker, feature_view.strategy;
# 4: aggregated features (feature.aggregation, feature_view.aggregation_step), data tests (nodes.test)
MANIFEST_FILE = "manifest.json"
SCHEMA_FILE = "manifest.schema.json"


def build_manifest(graph: FeatureGraph, compiled: Mapping[str, bytes]) -> dict[str, Any]:
    """The manifest of `graph` with `compiled` (paths relative to `target/compiled/` -> file bytes)."""
    root = graph.project.root
    nodes: dict[str, dict[str, Any]] = {}
    for kind, members in graph.by_kind():
        nodes[kind] = {}
        for node in members:
            spec = to_plain(node)
            spec.pop("location", None)
            location = node.location
            nodes[kind][node.name] = {
                "spec": spec,
                "location": None if location is None else {
                    "path": relative_spec_path(root, location.path), "line": location.line,
                    "column": location.column},
                "content_hash": hash_plain(spec),  # node.content_hash, without a second to_plain
                "depends_on": [str(ref) for ref in direct_dependencies(graph, node)],
            }
    files = []
    for path in sorted(compiled):
        ref = node_of_path(path)
        files.append({
            "path": f"compiled/{path}",
            "dialect": path.split("/", 1)[0],
            "node": str(ref) if ref is not None else None,
            "sha256": hashlib.sha256(compiled[path]).hexdigest(),
        })
    return {
        "metadata": {"schema_version": SCHEMA_VERSION, "fcompile_version": __version__,
                     "project": graph.project.name},
        "nodes": nodes,
        "compiled": files,
    }


def dump_manifest(manifest: Mapping[str, Any]) -> bytes:
    """Sorted JSON with one line per node and per compiled file: a pull request's diff of the manifest
    shows which nodes and files changed, and each line is written by json's C encoder (an indented
    dump of a 1,000-view manifest goes through the pure-Python one and takes half a second)."""
    def compact(value: Any) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))

    def members(pairs: list[str], indent: str) -> str:
        return ",\n".join(indent + pair for pair in pairs)

    nodes = []
    for kind in sorted(manifest["nodes"]):
        entries = manifest["nodes"][kind]
        inner = members([f"{compact(name)}: {compact(entries[name])}" for name in sorted(entries)], " " * 6)
        nodes.append(f"{compact(kind)}: {{\n{inner}\n    }}" if entries else f"{compact(kind)}: {{}}")
    top = {
        "compiled": "[\n" + members([compact(f) for f in manifest["compiled"]], " " * 4) + "\n  ]"
        if manifest["compiled"] else "[]",
        "metadata": compact(manifest["metadata"]),
        "nodes": "{\n" + members(nodes, " " * 4) + "\n  }" if nodes else "{}",
    }
    return ("{\n" + members([f"{compact(key)}: {top[key]}" for key in sorted(top)], "  ") + "\n}\n").encode("utf-8")


def load_manifest_schema() -> dict[str, Any]:
    return json.loads(resources.files("fcompile.schemas").joinpath(SCHEMA_FILE).read_text("utf-8"))


def manifest_problems(manifest: Any) -> list[str]:
    """Where a manifest breaks its JSON Schema (empty when it is valid)."""
    import jsonschema

    schema = load_manifest_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in sorted(validator.iter_errors(manifest), key=lambda e: list(map(str, e.absolute_path)))]
