"""YAML read with positions: plain Python data plus the line and column of every key and value.

The data is plain (dict/list/str/int/float/bool/None) so the JSON Schemas can validate it as is; the
positions are kept beside it, keyed by the same path a JSON Schema error reports (`absolute_path`).

The document is built straight from libyaml's event stream rather than through PyYAML's node graph
and constructor: on a 1,000-view project that is three times faster, and parse time is a feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events as ev

from fcompile.diagnostics import Code, Diagnostic, Position, clipped

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_IMPLICIT = yaml.SafeLoader.yaml_implicit_resolvers  # first character -> [(tag, regexp)]
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_TAG_PREFIX = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG_PREFIX + name for name in ("int", "float", "bool", "null")}

PathKey = tuple[str | int, ...]
MAX_DEPTH = 64  # deeper documents are refused, before anything recursive (schemas, caches) sees them
# How many nodes (scalars, lists, mappings) the aliases (`*name`) of one file may copy in, all together: enough
# for any real reuse of anchors, far below the billion nodes ten lines of nested aliases can expand to.
MAX_ALIAS_NODES = 100_000
LineCol = tuple[int, int]


@dataclass
class YamlDocument:
    path: str
    data: Any
    values: dict[PathKey, LineCol] = field(default_factory=dict)
    keys: dict[PathKey, LineCol] = field(default_factory=dict)

    def position(self, path: PathKey = ()) -> Position:
        """Where the value at `path` starts, or its nearest known ancestor."""
        path = tuple(path)
        while path not in self.values and path:
            path = path[:-1]
        line, column = self.values.get(path, (1, 1))
        return Position(self.path, line, column)

    def key_position(self, path: PathKey) -> Position:
        """Where the key naming `path` is written (falls back to the value)."""
        found = self.keys.get(tuple(path))
        return Position(self.path, *found) if found else self.position(path)


class _YamlProblem(Exception):
    def __init__(self, diagnostic: Diagnostic):
        self.diagnostic = diagnostic


def load_yaml(path: str, text: str) -> tuple[YamlDocument | None, list[Diagnostic]]:
    """Parse one YAML file; a syntax error comes back as a diagnostic, never an exception."""
    builder = _Builder(path)
    try:
        builder.run(yaml.parse(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Position(path, mark.line + 1, mark.column + 1) if mark else Position(path)
        problem = exc.problem or exc.context or "invalid YAML"
        context = exc.context_mark
        if exc.problem and exc.context and context is not None and mark is not None and context.line != mark.line:
            problem += f" ({exc.context} at line {context.line + 1}, column {context.column + 1})"
        at_tab = mark is not None and text[mark.index:mark.index + 1] == "\t"
        hint = ("YAML indents with spaces, never tabs" if at_tab or "tab" in problem
                else "check the indentation and quoting near this position")
        return None, [Diagnostic(Code.YAML_SYNTAX, f"invalid YAML: {problem}", where, hint)]
    except yaml.reader.ReaderError as exc:  # a character YAML forbids: no mark, only an offset
        before = text[:exc.position]
        where = Position(path, before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1)
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return None, [Diagnostic(Code.YAML_SYNTAX, f"invalid YAML: character U+{ord(character):04X} is not "
                                 "allowed in YAML text", where, "remove it, or write it as an escape in a "
                                 "double-quoted string (\\x07)")]
    except yaml.YAMLError as exc:
        return None, [Diagnostic(Code.YAML_SYNTAX, f"invalid YAML: {exc}", Position(path),
                                 "the file must be UTF-8 YAML")]
    except _YamlProblem as problem:
        return None, [problem.diagnostic]
    return builder.doc, builder.diagnostics


class _Builder:
    """Folds the event stream into plain data, recording positions as it goes."""

    def __init__(self, path: str) -> None:
        self.doc = YamlDocument(path, None)
        self.diagnostics: list[Diagnostic] = []
        self._anchors: dict[str, Any] = {}
        self._sizes: dict[str, int] = {}  # anchor -> nodes its value holds, with the aliases in it expanded
        self._nodes = 0  # nodes so far, aliases expanded
        self._alias_nodes = 0  # of which copied in by aliases
        self._seen_keys: list[dict[str, int]] = []

    def run(self, stream: Any) -> None:
        values, keys = self.doc.values, self.doc.keys
        stack: list[tuple[Any, PathKey, Any, bool, Any, int]] = []
        container: Any = None  # the dict or list being filled
        here: PathKey = ()
        key: Any = None  # pending mapping key (None = expecting a key)
        in_map = False
        anchor_of: Any = None  # anchor name of the current container
        documents = 0
        for event in stream:
            kind = type(event)
            if kind is ev.ScalarEvent or kind is ev.AliasEvent:
                mark = event.start_mark
                at = (mark.line + 1, mark.column + 1)
                if kind is ev.AliasEvent:
                    value = self._alias(event, at)
                else:
                    self._nodes += 1
                    if in_map and key is None:
                        value = event.value  # keys are names: keep them as written ('yes' stays 'yes')
                    else:
                        value = self._scalar(event, at)
                if kind is ev.ScalarEvent and event.anchor:
                    self._anchors[event.anchor] = value
                    self._sizes[event.anchor] = 1
                if in_map and key is None:
                    key = self._key(value, at, here, keys, kind is ev.AliasEvent)
                    continue
                if container is None:
                    values[()] = at
                    self.doc.data = value
                    continue
                if in_map:
                    if key is _MERGE_KEY:
                        self._merge(container, value, at)
                    elif key is not _SKIP:
                        values[here + (key,)] = at
                        container[key] = value
                    key = None
                else:
                    values[here + (len(container),)] = at
                    container.append(value)
            elif kind is ev.MappingStartEvent or kind is ev.SequenceStartEvent:
                mark = event.start_mark
                at = (mark.line + 1, mark.column + 1)
                new: Any = {} if kind is ev.MappingStartEvent else []
                if container is None:
                    path: PathKey = ()
                    self.doc.data = new
                elif in_map:
                    if key is None:  # a mapping or list used as a key
                        raise _YamlProblem(Diagnostic(
                            Code.FILE_SHAPE, "a mapping key must be a plain name", Position(self.doc.path, *at)))
                    path = here + (key,) if key not in (_MERGE_KEY, _SKIP) else here + ("<<",)
                    if key not in (_MERGE_KEY, _SKIP):
                        container[key] = new
                else:
                    path = here + (len(container),)
                    container.append(new)
                values[path] = at
                if len(stack) >= MAX_DEPTH:
                    raise _YamlProblem(Diagnostic(
                        Code.FILE_SHAPE, f"YAML nested deeper than {MAX_DEPTH} levels",
                        Position(self.doc.path, *at), "no fcompile file needs more than a few levels"))
                stack.append((container, here, key, in_map, anchor_of, self._nodes))
                self._nodes += 1
                container, here, key, in_map = new, path, None, kind is ev.MappingStartEvent
                anchor_of = event.anchor
                if in_map:
                    self._seen_keys.append({})
            elif kind is ev.MappingEndEvent or kind is ev.SequenceEndEvent:
                finished = container
                if in_map:
                    self._seen_keys.pop()
                container, here, key, in_map, previous_anchor, nodes_before = stack.pop()
                if anchor_of:
                    self._anchors[anchor_of] = finished
                    self._sizes[anchor_of] = self._nodes - nodes_before
                anchor_of = previous_anchor
                if in_map:
                    if key is _MERGE_KEY:
                        self._merge(container, finished, self.doc.values.get(here, (1, 1)))
                    key = None
            elif kind is ev.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    mark = event.start_mark
                    raise _YamlProblem(Diagnostic(
                        Code.FILE_SHAPE, "a file may hold only one YAML document",
                        Position(self.doc.path, mark.line + 1, mark.column + 1),
                        "remove the '---' separator, or split the documents into separate files"))

    def _key(self, value: Any, at: LineCol, here: PathKey,
             keys: dict[PathKey, LineCol], from_alias: bool) -> Any:
        if value == "<<" and not from_alias:
            return _MERGE_KEY
        if isinstance(value, (dict, list)):
            raise _YamlProblem(Diagnostic(Code.FILE_SHAPE, "a mapping key must be a plain name",
                                          Position(self.doc.path, *at)))
        name = _key_text(value)
        seen = self._seen_keys[-1]
        if name in seen:
            self.diagnostics.append(Diagnostic(
                Code.DUPLICATE_MEMBER, f"duplicate key '{clipped(name)}' (first set at line {seen[name]})",
                Position(self.doc.path, *at), "remove one of the two; YAML would silently keep only the last"))
            return _SKIP
        seen[name] = at[0]
        keys[here + (name,)] = at
        return name

    def _scalar(self, event: ev.ScalarEvent, at: LineCol) -> Any:
        text = event.value
        tag = event.tag
        if tag in (None, "!") and not event.style and event.implicit[0]:  # plain: '' from libyaml
            for candidate, regexp in _IMPLICIT.get(text[:1], ()):
                if regexp.match(text):
                    tag = candidate
                    break
            else:
                return text
        if tag is None or tag == "!" or tag == _STR or not tag.startswith(_TAG_PREFIX):
            return text
        if tag not in _SCALAR_TAGS:
            return "<<" if tag == _MERGE else text  # dates stay as written; the schema says what fits
        node = yaml.ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
        try:
            return yaml.SafeLoader.yaml_constructors[tag](_CONSTRUCTOR, node)
        except (KeyError, ValueError, yaml.YAMLError):
            self.diagnostics.append(Diagnostic(Code.YAML_SYNTAX, f"invalid value for tag {clipped(tag)}: '{clipped(text)}'",
                                               Position(self.doc.path, *at)))
            return text

    def _alias(self, event: ev.AliasEvent, at: LineCol) -> Any:
        if event.anchor not in self._anchors:
            raise _YamlProblem(Diagnostic(Code.YAML_SYNTAX, f"unknown or recursive alias '*{clipped(event.anchor)}'",
                                          Position(self.doc.path, *at), "define the anchor (&name) before using it"))
        size = self._sizes[event.anchor]
        self._nodes += size
        self._alias_nodes += size
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise _YamlProblem(Diagnostic(
                Code.FILE_SHAPE, f"the aliases of this file expand to more than {MAX_ALIAS_NODES:,} values "
                f"(this '*{clipped(event.anchor, 40)}' alone copies {size:,})", Position(self.doc.path, *at),
                "aliases that repeat aliases multiply: write the values out, or reuse an anchor fewer times"))
        return self._anchors[event.anchor]

    def _merge(self, container: dict, value: Any, at: LineCol) -> None:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(s, dict) for s in sources):
            self.diagnostics.append(Diagnostic(Code.FILE_SHAPE, "'<<' merges only mappings",
                                               Position(self.doc.path, *at)))
            return
        for source in sources:
            for k, v in source.items():
                container.setdefault(k, v)


_MERGE_KEY = object()
_SKIP = object()
_CONSTRUCTOR = yaml.SafeLoader("")


def _key_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    return str(value)
