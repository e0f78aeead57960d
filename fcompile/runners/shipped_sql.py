"""Statements of a known shape without sqlglot: templates generated through sqlglot when fcompile is developed
(fcompile/dialects/shipped_build.py) and shipped beside this module (shipped_sql.json), filled in here with the
plan's names and paths.

Why: `fcompile materialize` in a fresh process would otherwise import sqlglot and the dialect modules (0.1-0.2
s of CPU) to write two statements whose text differs from plan to plan only in names, a path and how many keys
and features there are. A template is the shape's SQL with a slot where each name or the path goes, and, for
the second and later keys and every feature, a unit of SQL inserted at fixed places (after the first key's
column in each list, at the end of each list of features), one unit per key or feature in plan order.

Filling is text substitution of values fcompile quotes itself: a name must be a plain identifier (letters,
digits, underscores; `sql_names.IDENTIFIER_RE`), written as a double-quoted identifier, as the dialect's
generator writes every name; a path is a single-quoted string with its quotes doubled. Anything else, and any
plan outside the shipped shapes (a table or query source, a tie-breaker, nanosecond time columns, names that
repeat, a dtype the templates do not know), gets None: the caller compiles it through sqlglot as before.
tests/dialects/test_shipped_sql.py regenerates the templates and compares them with the shipped file, and
checks filled statements against sqlglot's for many plans.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from fcompile.planner.plans import LatestValues
from fcompile.sql_names import IDENTIFIER_RE

DATA_FILE = "shipped_sql.json"
INTERNAL_PREFIX = "__fc"  # the lowering's own column names start so; a plan's name that does is not templated
MAX_TABLE_PARTS = 3  # catalog.schema.table


@functools.lru_cache(maxsize=1)
def shipped() -> dict[str, Any]:
    return json.loads(resources.files("fcompile.runners").joinpath(DATA_FILE).read_text(encoding="utf-8"))


def latest_values_sql(plan: LatestValues, dialect: str, data: dict | None = None) -> tuple[list[str], str] | None:
    """The statements that set up the session and the plan's query (as `query_statement` splits
    `compile_statements(plan, dialect, pretty=False)`), or None where no shipped template covers the plan.
    `data`: templates other than the shipped ones (the generator checks its own with it)."""
    return _filled(plan, dialect, "latest_values", (), data, plan.features)


def window_extent_sql(plan: LatestValues, dialect: str, with_start: bool, data: dict | None = None) -> str | None:
    """`window_estimate_select(dialect, plan, with_start)` generated without layout, or None (no template)."""
    filled = _filled(plan, dialect, "window_extent", ("start" if with_start else "open",), data, ())
    return None if filled is None else filled[1]


def base_key(file_format: str, has_created: bool, event_zoned: bool, created_zoned: bool, key_class: str,
             *rest: str) -> str:
    """What picks a template's base (the generator and `_filled` must agree)."""
    return "|".join((file_format, "created" if has_created else "no_created",
                     "event_zoned" if event_zoned else "event_any", "created_zoned" if created_zoned else "created_any",
                     key_class, *rest))


def _structure(plan: LatestValues) -> tuple | None:
    """(file format, has created, event zoned, created zoned); None when the plan is outside the shipped
    shapes."""
    relation = plan.relation
    if relation.nanosecond_times or plan.tie_breaker is not None or not plan.keys:
        return None
    if (plan.start_parameter, plan.end_parameter) != ("start", "end"):
        return None
    times = {plan.event_timestamp, plan.created_timestamp} - {None}
    if not set(relation.zoned_times) <= times or not _plain_names(plan):
        return None
    if relation.kind == "path" and _plain_path(relation.locator):
        source = "csv" if relation.file_format == "csv" else "parquet"
    elif relation.kind == "table" and 1 <= len(relation.locator.split(".")) <= MAX_TABLE_PARTS:
        source = f"table{len(relation.locator.split('.'))}"  # its parts are checked against the dialect's words
    else:
        return None
    return (source, plan.created_timestamp is not None,
            plan.event_timestamp in relation.zoned_times,
            plan.created_timestamp is not None and plan.created_timestamp in relation.zoned_times)


def _plain_names(plan: LatestValues) -> bool:
    """Every name a plain identifier, none of the lowering's own, and no two the same (ignoring case, as the
    engines compare unquoted names) except a key or feature named as its source column."""
    names = [plan.event_timestamp] + ([plan.created_timestamp] if plan.created_timestamp else [])
    for key in plan.keys:
        names += [key.source_column] + ([key.name] if key.name != key.source_column else [])
    for feature in plan.features:
        names += [feature.source_column] + ([feature.output_name] if feature.output_name != feature.source_column
                                            else [])
    folded = [n.casefold() for n in names]
    return (all(IDENTIFIER_RE.fullmatch(n) for n in names) and len(set(folded)) == len(folded)
            and not any(n.startswith(INTERNAL_PREFIX) for n in folded))


def _plain_path(path: str) -> bool:
    """A path fcompile's quoting writes as the generator would: no control characters."""
    return bool(path) and all(ch >= " " and ch != "\x7f" for ch in path)


def _filled(plan: LatestValues, dialect: str, kind: str, suffix: tuple[str, ...], data: dict | None,
            features: tuple) -> tuple[list[str], str] | None:
    """The template's statement filled in; `features` those that take part (the window's count reads none)."""
    structure = _structure(plan)
    if structure is None:
        return None
    templates = (shipped() if data is None else data).get("dialects", {}).get(dialect)
    if templates is None:
        return None
    key_classes = [templates["key_classes"].get(str(k.dtype)) for k in plan.keys]
    feature_classes = [templates["feature_classes"].get(str(f.dtype)) for f in features]
    if None in key_classes or None in feature_classes:
        return None
    found = templates[kind].get(base_key(*structure, key_classes[0], *suffix))
    if found is None:
        return None
    values = _source_values(plan.relation, set(templates["table_name_keywords"]))
    if values is None:
        return None
    values |= {"event": _name(plan.event_timestamp),
              "created": _name(plan.created_timestamp) if plan.created_timestamp else None,
              "key0.name": _name(plan.keys[0].name), "key0.source": _name(plan.keys[0].source_column)}
    units = {"key": [(found["key"].get(c), {"key.name": _name(k.name), "key.source": _name(k.source_column)})
                     for c, k in zip(key_classes[1:], plan.keys[1:])],
             "feature": [(found["feature"].get(c), {"feature.source": _name(f.source_column),
                                                    "feature.output": _name(f.output_name)})
                         for c, f in zip(feature_classes, features)]}
    if any(unit is None for role_units in units.values() for unit, _ in role_units):
        return None
    return list(templates["session"]), _fill(found["base"], values, units)


def column_types_sql(relation, columns: list[str], dialect: str) -> str | None:
    """`SELECT <columns> FROM <table> LIMIT 0`, which DuckDB binds to say the columns' types, for a table whose
    parts and columns fcompile's quoting writes as the generator would; None otherwise."""
    templates = shipped().get("dialects", {}).get(dialect)
    if templates is None or relation.kind != "table" or not columns:
        return None
    values = _source_values(relation, set(templates["table_name_keywords"]))
    if values is None or not all(IDENTIFIER_RE.fullmatch(c) for c in columns):
        return None
    table = ".".join(values[f"table{i}"] for i in range(len(values)))
    return f'SELECT {", ".join(_name(c) for c in columns)} FROM {table} AS "source" LIMIT 0'


def _source_values(relation, keywords: set[str]) -> dict[str, str] | None:
    """The source's slots: a path as a string literal; a table's parts as quoted names, each a plain
    identifier that the dialect's tokenizer does not take for a keyword (such a name is parsed by sqlglot,
    which decides how to read it)."""
    if relation.kind == "path":
        return {"path": _string(relation.locator)}
    parts = relation.locator.split(".")
    if not all(IDENTIFIER_RE.fullmatch(p) and p.lower() not in keywords for p in parts):
        return None
    return {f"table{i}": _name(part) for i, part in enumerate(parts)}


def _fill(pieces: list, values: dict[str, str | None], units: dict[str, list]) -> str:
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif piece[0] == "insert":  # ["insert", "key" | "feature", i]: unit i of every extra key / feature
            for unit, unit_values in units[piece[1]]:
                out.append(_fill(unit[piece[2]], unit_values, {}))
        else:  # ["slot", name]
            value = values[piece[1]]
            if value is None:
                raise ValueError(f"the template needs {piece[1]}, which the plan lacks")
            out.append(value)
    return "".join(out)


def _name(name: str) -> str:
    return '"' + name + '"'  # a plain identifier (checked): nothing to escape


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
