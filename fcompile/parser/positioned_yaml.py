"""YAML read with positions: plain Python data plus the file:line:col of every key and value.

The data is plain (dict/list/str/int/float/bool/None) so the JSON Schemas can validate it as is; the
positions are kept beside it, keyed by the same path a JSON Schema error reports (`absolute_path`).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import yaml

from fcompile.diagnostics import Code, Diagnostic, Position

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

PathKey = tuple[str | int, ...]


@dataclass
class YamlDocument:
    path: str
    data: Any
    values: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)

    def position(self, path: PathKey = ()) -> Position:
        """Where the value at `path` starts, or its nearest known ancestor."""
        path = tuple(path)
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, Position(self.path, 1, 1))

    def key_position(self, path: PathKey) -> Position:
        """Where the key naming `path` is written (falls back to the value)."""
        path = tuple(path)
        return self.keys.get(path) or self.position(path)


def load_yaml(path: str, text: str) -> tuple[YamlDocument | None, list[Diagnostic]]:
    """Parse one YAML file; a syntax error comes back as a diagnostic, never an exception."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Position(path, mark.line + 1, mark.column + 1) if mark else Position(path)
        problem = exc.problem or exc.context or "invalid YAML"
        return None, [Diagnostic(Code.YAML_SYNTAX, f"invalid YAML: {problem}", where,
                                 "check the indentation and quoting near this position")]
    except yaml.YAMLError as exc:  # reader errors (bad characters) carry no mark
        return None, [Diagnostic(Code.YAML_SYNTAX, f"invalid YAML: {exc}", Position(path),
                                 "the file must be UTF-8 YAML")]
    finally:
        loader.dispose()
    doc = YamlDocument(path, None)
    if node is None:
        return doc, []
    builder = _Builder(doc, loader)
    doc.data = builder.build(node, ())
    return doc, builder.diagnostics


class _Builder:
    def __init__(self, doc: YamlDocument, loader: Any) -> None:
        self.doc = doc
        self.loader = loader
        self.diagnostics: list[Diagnostic] = []
        self._active: set[int] = set()

    def _pos(self, node: yaml.Node) -> Position:
        return Position(self.doc.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.doc.values[path] = self._pos(node)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._active:
            self.diagnostics.append(Diagnostic(
                Code.FILE_SHAPE, "recursive YAML alias", self._pos(node),
                "an anchor may not contain an alias to itself"))
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.diagnostics.append(Diagnostic(
                Code.YAML_SYNTAX, f"invalid YAML value: {exc}", self._pos(node)))
            return node.value
        if isinstance(value, (_dt.date, _dt.datetime, bytes)):
            return node.value  # keep dates as written; the schema says what a field expects
        return value

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict:
        result: dict[str, Any] = {}
        first_seen: dict[str, Position] = {}
        merged: list[yaml.MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged.extend(self._merge_sources(value_node))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.diagnostics.append(Diagnostic(
                    Code.FILE_SHAPE, "a mapping key must be a plain name", self._pos(key_node)))
                continue
            key = str(key_node.value)
            key_pos = self._pos(key_node)
            if key in first_seen:
                prior = first_seen[key]
                self.diagnostics.append(Diagnostic(
                    Code.DUPLICATE_MEMBER, f"duplicate key '{key}' (first set at line {prior.line})",
                    key_pos, "remove one of the two; YAML would silently keep only the last"))
                continue
            first_seen[key] = key_pos
            self.doc.keys[path + (key,)] = key_pos
            result[key] = self.build(value_node, path + (key,))
        for source in merged:
            for key_node, value_node in source.value:
                key = str(key_node.value)
                if key not in result:
                    self.doc.keys[path + (key,)] = self._pos(key_node)
                    result[key] = self.build(value_node, path + (key,))
        return result

    def _merge_sources(self, node: yaml.Node) -> list[yaml.MappingNode]:
        if isinstance(node, yaml.MappingNode):
            return [node]
        if isinstance(node, yaml.SequenceNode) and all(isinstance(n, yaml.MappingNode) for n in node.value):
            return list(node.value)
        self.diagnostics.append(Diagnostic(
            Code.FILE_SHAPE, "'<<' merges only mappings", self._pos(node)))
        return []
