"""Structural checks, driven by the JSON Schemas that ship in the package.

The schemas are the single statement of what keys and types a file may hold (editors read the same
files). This module turns each schema violation into a positioned diagnostic with a useful hint.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from collections.abc import Iterator
from typing import Any, Literal

from fcompile.control_characters import LINE_WHITESPACE, escape_controls, first_control
from fcompile.diagnostics import Code, Diagnostic, Position, clipped, did_you_mean
from fcompile.parser.positioned_yaml import PathKey, YamlDocument
from fcompile.parser.values import ValueProblem, identifier_problems, parse_dtype, parse_duration

SchemaKind = Literal["spec", "project", "manifest"]

SCHEMA_FILES: dict[SchemaKind, str] = {
    "spec": "spec.schema.json", "project": "project.schema.json", "manifest": "manifest.schema.json",
}

LIST_LABELS = {
    "entities": "entity",
    "sources": "source",
    "feature_views": "feature view",
    "feature_services": "feature service",
    "datasets": "dataset",
    "request_sources": "request source",
    "on_demand_views": "on-demand view",
}

_TYPE_WORDS = {
    "object": "a mapping", "array": "a list", "string": "a string", "boolean": "true or false",
    "number": "a number", "integer": "a whole number", "null": "empty",
}


def load_schema(kind: SchemaKind) -> dict:
    text = resources.files("fcompile.schemas").joinpath(SCHEMA_FILES[kind]).read_text("utf-8")
    return json.loads(text)


@functools.lru_cache(maxsize=None)
def _validator(kind: SchemaKind) -> Any:
    import jsonschema

    schema = load_schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@functools.lru_cache(maxsize=None)
def _fast_check(kind: SchemaKind) -> Any:
    """The schema's compiled validator. Generating and compiling its code takes 30-40 ms, so the code is
    kept in the user's cache folder (signed, like the parse cache) for the next process."""
    import fastjsonschema

    from fcompile.parser.cache import cached_code

    schema = load_schema(kind)
    key = f"{fastjsonschema.VERSION}\0{json.dumps(schema, sort_keys=True)}"
    namespace: dict[str, Any] = {}
    exec(cached_code(f"{kind}-schema", key, lambda: fastjsonschema.compile_to_code(schema)), namespace)  # noqa: S102
    return namespace[fastjsonschema.RefResolver.from_schema(schema).get_scope_name()]


def check_structure(doc: YamlDocument, kind: SchemaKind) -> tuple[list[Diagnostic], set[PathKey]]:
    """Every schema violation in `doc` as diagnostics, and the (list, index) paths of the items
    that have one (the resolver leaves those out of the graph).

    Valid documents, the common case, are confirmed by a compiled validator (fastjsonschema, about
    twenty times faster); only a document that fails it is walked by jsonschema, whose errors carry
    the detail the diagnostics need."""
    import fastjsonschema

    out: list[Diagnostic] = []
    invalid: set[PathKey] = set()
    if kind == "spec":
        for path, diagnostic in _control_characters(doc, doc.data, ()):
            out.append(diagnostic)
            invalid.add(path[:2])
    try:
        _fast_check(kind)(doc.data)
        return out, invalid
    except fastjsonschema.JsonSchemaException:
        pass
    for error in _validator(kind).iter_errors(doc.data):
        out.extend(_convert(doc, error))
        if not _rechecked_by_resolver(error):
            invalid.add(tuple(error.absolute_path)[:2])
    return out, invalid


# Fields whose text may span lines: free text, SQL queries and on-demand expressions. Every other string of a spec (names,
# paths, tables, columns, owners, tags) is one line of visible characters.
_MULTILINE_FIELDS = frozenset({"description", "query", "expr"})


def _control_characters(doc: YamlDocument, value: Any, path: PathKey) -> Iterator[tuple[PathKey, Diagnostic]]:
    """A diagnostic for each string (or mapping key) of a spec holding a character that could end a line
    or hide text where the value is written: a SQL comment, a terminal, a log."""
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and first_control(key) is not None:
                yield path + (key,), _control_diagnostic(doc, path + (key,), key, first_control(key),
                                                         doc.key_position(path + (key,)), "key", False)
            yield from _control_characters(doc, item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _control_characters(doc, item, path + (index,))
    elif isinstance(value, str) and path[-1:] != ("name",):  # names: the identifier rules refuse them (FC040)
        free = (bool(path) and path[-1] in _MULTILINE_FIELDS
                and not (len(path) >= 2 and path[-2] in ("tags", "field_mapping")))
        index = first_control(value, LINE_WHITESPACE if free else frozenset())
        if index is not None:
            yield path, _control_diagnostic(doc, path, value, index, doc.position(path), "value", free)


def _control_diagnostic(doc: YamlDocument, path: PathKey, text: str, index: int, where: Position,
                        what: str, free: bool) -> Diagnostic:
    shown = escape_controls(text if len(text) <= 60 else text[:57] + "...")
    subject = escape_controls(f"{_subject(doc, path)}{'the key ' if what == 'key' else ''}{_field_label(path)}")
    hint = ("remove it: descriptions, queries and expressions may span lines, but hold no other control characters" if free
            else "remove it: names, paths, tables, columns, owners and tags are one line of visible characters")
    return Diagnostic(Code.INVALID_VALUE, f"{subject} holds the control character {escape_controls(text[index])} "
                      f"(character {index + 1}): '{shown}'", where, hint)


def _rechecked_by_resolver(error: Any) -> bool:
    """A malformed dtype or duration does not hide the rest of its item: the resolver parses those
    values itself (reporting the same diagnostic), so references in the item still get checked."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    return error.validator == "pattern" and schema.get("x-format") in ("dtype", "duration")


def _convert(doc: YamlDocument, error: Any) -> list[Diagnostic]:
    path: PathKey = tuple(error.absolute_path)
    subject = _subject(doc, path)
    label = _field_label(path)
    validator = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    instance = error.instance

    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = list(schema.get("properties", {}))
        excluded = schema.get("x-excluded", {})  # keys that belong to another form of the item, with why
        out = []
        for key in instance:
            if key in allowed:
                continue
            if key in excluded:
                kind = schema.get("x-label", "this item")
                out.append(Diagnostic(Code.EXCLUSIVE_FIELDS, f"{subject}{kind} cannot also have '{clipped(key)}'",
                                      doc.key_position(path + (key,)), excluded[key]))
                continue
            hint = did_you_mean(key, allowed) or (
                f"allowed keys here: {', '.join(allowed)}" if allowed else None)
            out.append(Diagnostic(Code.UNKNOWN_KEY, f"{subject}unknown key '{clipped(key)}'",
                                  doc.key_position(path + (key,)), hint))
        return out

    if validator == "required" and isinstance(instance, dict):
        props = schema.get("properties", {})
        out = []
        for name in error.validator_value:
            if name in instance:
                continue
            about = props.get(name, {}).get("description")
            hint = f"add '{name}:'" + (f" ({about[0].lower()}{about[1:].rstrip('.')})" if about else "")
            out.append(Diagnostic(Code.MISSING_FIELD, f"{subject}missing required field '{name}'",
                                  doc.position(path), hint))
        return out

    if validator == "oneOf" and "x-exclusive" in schema:
        if not isinstance(instance, dict):
            return []  # not a mapping at all: the type error already says so
        return [_exclusive(doc, path, subject, schema["x-exclusive"], instance)]

    if validator in ("oneOf", "anyOf"):
        branch_errors = _errors_of_matching_branch(error)
        if branch_errors is not None:
            return [d for e in branch_errors for d in _convert(doc, e)]
        expected = schema.get("x-expected", "a different value")
        return [Diagnostic(Code.WRONG_TYPE, f"{subject}{label} must be {expected}", doc.position(path))]

    if validator == "type":
        if not path:
            what = "a spec file" if "entities" in schema.get("properties", {}) else "the project file"
            return [Diagnostic(Code.FILE_SHAPE, f"{what} must be a mapping, not {_describe(instance)}",
                               doc.position(path), _shape_hint(schema))]
        expected = error.validator_value
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in (expected if isinstance(expected, list) else [expected]))
        return [Diagnostic(Code.WRONG_TYPE, f"{subject}{label} must be {words}, not {_describe(instance)}",
                           doc.position(path))]

    if validator == "enum":
        shown = f"'{instance}'" if isinstance(instance, str) and len(instance) <= 40 else _describe(instance)
        options = [str(o) for o in error.validator_value]
        hint = did_you_mean(str(instance), options) or f"use one of {', '.join(options)}"
        return [Diagnostic(Code.INVALID_VALUE, f"{subject}{label} {shown} is not supported",
                           doc.position(path), hint)]

    if "propertyNames" in error.relative_schema_path and isinstance(instance, str):
        return [Diagnostic(Code.BAD_IDENTIFIER, f"{subject}'{clipped(instance)}' is not a valid name",
                           doc.key_position(path + (instance,)),
                           "use letters, digits, '_' and '-', not starting with a digit")]
    if validator == "pattern" and isinstance(instance, str):
        return [_pattern(doc, path, subject, label, schema, instance)]

    if validator == "minItems":
        return [Diagnostic(Code.EMPTY_LIST, f"{subject}{label} must list at least one item",
                           doc.position(path))]
    if validator == "minProperties":
        return [Diagnostic(Code.EMPTY_LIST, f"{subject}{label} must define at least one entry",
                           doc.position(path))]
    if validator == "minLength":
        return [Diagnostic(Code.INVALID_VALUE, f"{subject}{label} must not be empty", doc.position(path))]
    # jsonschema's own message quotes the whole value: say what the schema asks, not what was written
    return [Diagnostic(Code.INVALID_VALUE, f"{subject}{label} does not satisfy '{validator}: "
                       f"{clipped(error.validator_value)}'", doc.position(path),
                       clipped(schema.get("description")) or None)]


def _exclusive(doc: YamlDocument, path: PathKey, subject: str, names: list[str], instance: dict) -> Diagnostic:
    present = [n for n in names if n in instance]
    choices = _quote_list(names, "or")
    if not present:
        return Diagnostic(Code.EXCLUSIVE_FIELDS, f"{subject}needs exactly one of {choices}",
                          doc.position(path), f"add one of {choices}")
    return Diagnostic(Code.EXCLUSIVE_FIELDS, f"{subject}sets {_quote_list(present, 'and')}; use exactly one",
                      doc.key_position(path + (present[1],)), f"keep one of {choices} and remove the others")


def _pattern(doc: YamlDocument, path: PathKey, subject: str, label: str, schema: dict, value: str) -> Diagnostic:
    fmt = schema.get("x-format")
    where = doc.position(path)
    try:
        if fmt == "identifier":
            problems = identifier_problems(value)
            if problems:
                raise problems[0]
        elif fmt == "dtype":
            parse_dtype(value)
        elif fmt == "duration":
            parse_duration(value)
        elif fmt == "feature_ref":
            raise ValueProblem(Code.INVALID_VALUE, f"invalid feature reference '{value}'",
                               "write 'view:feature' or 'view:*'")
    except ValueProblem as problem:
        return Diagnostic(problem.code, f"{subject}{problem.message}", where, problem.hint)
    return Diagnostic(Code.INVALID_VALUE, f"{subject}{label} '{clipped(value)}' is not valid", where,
                      schema.get("description"))


def _errors_of_matching_branch(error: Any) -> list[Any] | None:
    """For a oneOf whose instance has the type of exactly one branch, that branch's errors."""
    by_branch: dict[int, list[Any]] = {}
    for sub in error.context or ():
        by_branch.setdefault(sub.schema_path[0], []).append(sub)
    candidates = [errors for errors in by_branch.values()
                  if not any(e.validator == "type" and not e.relative_path for e in errors)]
    if len(candidates) == 1:
        return candidates[0]
    return None


def _subject(doc: YamlDocument, path: PathKey) -> str:
    data = doc.data
    if len(path) >= 2 and path[0] in LIST_LABELS and isinstance(path[1], int) and isinstance(data, dict):
        items = data.get(path[0])
        item = items[path[1]] if isinstance(items, list) and path[1] < len(items) else None
        name = item.get("name") if isinstance(item, dict) else None
        kind = LIST_LABELS[path[0]]
        return f"{kind} '{clipped(escape_controls(name))}': " if isinstance(name, str) else f"{kind} #{path[1] + 1}: "
    if len(path) >= 2 and path[0] == "targets":
        return f"target '{clipped(path[1])}': "
    return ""


def _field_label(path: PathKey) -> str:
    start = 2 if (len(path) >= 2 and (path[0] in LIST_LABELS or path[0] == "targets")) else 0
    parts: list[str] = []
    for part in path[start:]:
        if isinstance(part, int):
            parts.append(f"[{part}]") if parts else parts.append(f"item {part + 1}")
        else:
            parts.append(("." if parts else "") + part)
    return f"'{''.join(parts)}'" if parts else "this entry"


def _describe(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        return f"{value} (a number)"
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"'{shown}' (a string)"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _shape_hint(schema: dict) -> str:
    keys = ", ".join(schema.get("properties", {}))
    return f"top-level keys: {keys}"


def _quote_list(names: list[str], conjunction: str) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {conjunction} {quoted[-1]}"
