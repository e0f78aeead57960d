"""Statements of a known shape without sqlglot: templates generated through sqlglot when fcompile is developed
(fcompile/dialects/shipped_build.py), shipped beside this module (shipped_sql.json) and filled in here with the
plan's names and path.

Why: `fcompile materialize` in a fresh process would otherwise import sqlglot and the dialect modules (0.1-0.2
s of CPU) to write two statements whose text differs from plan to plan only in names, a path and how many
features there are. A template is the shape's SQL (one per source kind, time columns and number of keys) with
a slot where each name or the path goes, and, for each feature, a unit of SQL inserted at fixed places (the
end of each list of features), one unit per feature in plan order.

The newest-rows query is the compiled file's text, laid out by sqlglot's pretty-printer (materialization runs
exactly the statements of target/compiled/<dialect>/materialize/<view>.sql): where the printer breaks a line
depends on widths. The compiler lays out a plan's shape, its names swapped for sentinels of their length
rounded up to a step (fcompile/dialects/shapes.py), so those lengths decide. Each decision is shipped with
the template as a width (a constant plus, per slot, how many times its text takes part) and the decision
taken; a plan is filled only when its sentinels' lengths give every decision the same outcome, so its layout
is the compiler's. The window's count is generated without layout.

Filling is text substitution of values fcompile quotes itself: a name must be a plain identifier (letters,
digits, underscores; `sql_names.IDENTIFIER_RE`), written as a double-quoted identifier, as the dialect's
generator writes every name; a path is a single-quoted string with its quotes doubled; a table's parts are
names that the dialect's tokenizer does not take for keywords. Anything else, and any plan outside the
shipped shapes (a query source, a tie-breaker, nanosecond time columns, names that repeat, a dtype the
templates do not know, a layout that would differ), gets None: the caller compiles it through sqlglot.
tests/dialects/test_shipped_sql.py regenerates the templates and compares them with the shipped file, and
checks filled statements against sqlglot's for many plans.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from fcompile.planner.plans import LatestValues, Relation
from fcompile.sql_names import IDENTIFIER_RE

DATA_FILE = "shipped_sql.json"
INTERNAL_PREFIX = "__fc"  # the lowering's own column names start so; a plan's name that does is not templated
MAX_TABLE_PARTS = 3  # catalog.schema.table
MAX_KEYS = 3  # templates are shipped for views of 1 to MAX_KEYS entity key columns


@functools.lru_cache(maxsize=1)
def shipped() -> dict[str, Any]:
    return json.loads(resources.files("fcompile.runners").joinpath(DATA_FILE).read_text(encoding="utf-8"))


def latest_values_sql(plan: LatestValues, dialect: str, data: dict | None = None) -> tuple[list[str], str] | None:
    """The statements that set up the session and the plan's query (as `query_statement` splits
    `compile_statements(plan, dialect)`), or None where no shipped template covers the plan. `data`:
    templates other than the shipped ones (the generator checks its own with it)."""
    return _filled(plan, dialect, "latest_values", (), data, plan.features)


def window_extent_sql(plan: LatestValues, dialect: str, with_start: bool, data: dict | None = None) -> str | None:
    """`window_estimate_select(dialect, plan, with_start)` generated without layout, or None (no template)."""
    filled = _filled(plan, dialect, "window_extent", ("start" if with_start else "open",), data, ())
    return None if filled is None else filled[1]


def column_types_sql(relation: Relation, columns: list[str], dialect: str) -> str | None:
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


def base_key(source: str, has_created: bool, event_zoned: bool, created_zoned: bool, key_classes: list[str],
             *rest: str) -> str:
    """What picks a template (the generator and `_filled` must agree)."""
    return "|".join((source, "created" if has_created else "no_created", "event_zoned" if event_zoned else "event_any",
                     "created_zoned" if created_zoned else "created_any", ",".join(key_classes), *rest))


def _structure(plan: LatestValues, root: dict) -> tuple | None:
    """(source kind, has created, event zoned, created zoned); None when the plan is outside the shipped
    shapes."""
    relation = plan.relation
    if relation.nanosecond_times or plan.tie_breaker is not None or not 1 <= len(plan.keys) <= MAX_KEYS:
        return None
    if (plan.start_parameter, plan.end_parameter) != ("start", "end"):
        return None
    times = {plan.event_timestamp, plan.created_timestamp} - {None}
    if not set(relation.zoned_times) <= times or not _plain_names(plan, root):
        return None
    parts = relation.locator.split(".")
    if relation.kind == "path" and _plain_path(relation.locator):
        source = "csv" if relation.file_format == "csv" else "parquet"
    elif relation.kind == "table" and len(parts) <= MAX_TABLE_PARTS:
        source = f"table{len(parts)}"  # its parts are checked against the dialect's words when filled
    else:
        return None
    return (source, plan.created_timestamp is not None, plan.event_timestamp in relation.zoned_times,
            plan.created_timestamp is not None and plan.created_timestamp in relation.zoned_times)


def _plain_names(plan: LatestValues, root: dict) -> bool:
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
            and not any(n.startswith(INTERNAL_PREFIX) for n in folded)
            and not any(_looks_like_a_sentinel(n, root) for n in (*names, plan.relation.locator)))


def _looks_like_a_sentinel(text: str, root: dict) -> bool:
    """A name or locator that the compiler's shapes would not swap (shapes.py `_ANY_SENTINEL`): it compiles
    such a plan as it is, laid out by its own lengths."""
    import re

    return re.search(root["shape_sentinel_pattern"], text, re.IGNORECASE) is not None


def _plain_path(path: str) -> bool:
    """A path fcompile's quoting writes as the generator would: no control characters."""
    return bool(path) and all(ch >= " " and ch != "\x7f" for ch in path)


def _filled(plan: LatestValues, dialect: str, kind: str, suffix: tuple[str, ...], data: dict | None,
            features: tuple) -> tuple[list[str], str] | None:
    """The template's statement filled in; `features` those that take part (the window's count reads none)."""
    root = shipped() if data is None else data
    structure = _structure(plan, root)
    if structure is None:
        return None
    templates = root.get("dialects", {}).get(dialect)
    if templates is None:
        return None
    key_classes = [templates["key_classes"].get(str(k.dtype)) for k in plan.keys]
    feature_classes = [templates["feature_classes"].get(str(f.dtype)) for f in features]
    if None in key_classes or None in feature_classes:
        return None
    variants = templates[kind].get(base_key(*structure, key_classes, *suffix))  # type: ignore[arg-type]
    values = None if variants is None else _source_values(plan.relation, set(templates["table_name_keywords"]))
    if values is None:
        return None
    values |= {"event": _name(plan.event_timestamp),
               "created": _name(plan.created_timestamp) if plan.created_timestamp else ""}
    for i, key in enumerate(plan.keys):
        values |= {f"key{i}.name": _name(key.name), f"key{i}.source": _name(key.source_column)}
    feature_values = [{"feature.source": _name(f.source_column), "feature.output": _name(f.output_name)}
                      for f in features]
    widths = _shaped_widths(values, plan.relation, root)
    for found in variants:  # the first whose layout the plan's shape reproduces
        units = list(zip((found["feature"].get(c) for c in feature_classes), feature_values))
        if any(unit is None for unit, _ in units) or not _same_layout(found["widths"], widths, root):
            continue
        if all(_same_layout(unit["widths"], _shaped_widths(unit_values, None, root), root)
               for unit, unit_values in units):
            return list(templates["session"]), _fill(found["base"], values, units)
    return None


def _shaped_widths(values: dict[str, str], relation: Relation | None, root: dict) -> dict[str, int]:
    """Each slot's width in the SQL the compiler lays out: a name's sentinel is its length rounded up to the
    shapes' step, quotes added; the path's sentinel is its length less a CSV suffix, rounded up, then the
    suffix, quotes added (shapes.py `_sentinel`, `_Canonical.relation`)."""
    step = root["shape_length_step"]

    def padded(length: int) -> int:
        return max(-(-length // step) * step, len("fcp0") + 1)

    widths = {slot: 2 + padded(len(text) - 2) for slot, text in values.items() if slot != "path"}
    if "path" in values and relation is not None:
        suffix = 4 if relation.file_format == "csv" else 0  # ".csv"
        widths["path"] = 2 + padded(len(relation.locator) - suffix) + suffix
    return widths


def _same_layout(decisions: list, widths: dict[str, int], root: dict) -> bool:
    """Whether every line-break decision of the printer comes out as it did for the template: [constant,
    {slot: times}, wide] is a text of `constant` characters plus the slots' texts, and `wide` whether it was
    more than the printer's width."""
    limit = root["max_text_width"]
    return all((constant + sum(times * widths[slot] for slot, times in slots.items()) > limit) == wide
               for constant, slots, wide in decisions)


def _fill(pieces: list, values: dict[str, str], units: list) -> str:
    out: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        elif piece[0] == "insert":  # ["insert", i]: unit text i of every feature, in order
            out.extend(_fill(unit["points"][piece[1]], unit_values, []) for unit, unit_values in units)
        else:  # ["slot", name]
            out.append(values[piece[1]])
    return "".join(out)


def _source_values(relation: Relation, keywords: set[str]) -> dict[str, str] | None:
    """The source's slots: a path as a string literal; a table's parts as quoted names, each a plain
    identifier that the dialect's tokenizer does not take for a keyword (such a name is parsed by sqlglot,
    which decides how to read it)."""
    if relation.kind == "path":
        return {"path": _string(relation.locator)}
    parts = relation.locator.split(".")
    if not all(IDENTIFIER_RE.fullmatch(p) and p.lower() not in keywords for p in parts):
        return None
    return {f"table{i}": _name(part) for i, part in enumerate(parts)}


def _name(name: str) -> str:
    return '"' + name + '"'  # a plain identifier (checked): nothing to escape


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
