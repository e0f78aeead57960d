"""Compile plans by shape: plans that differ only in names share one trip through sqlglot.

Lowering and generating a statement costs 10-60 ms of sqlglot work, and a project's plans repeat a few
shapes: a thousand feature views with the same key, feature types and timestamps make a thousand
LatestValues plans that differ only in their names. `shape_of` replaces every user name in a plan with
a sentinel (`fcq0xxxz`, `fcq1xxxz`, ... in order of first use; file paths `fcp0xxxz`) and keeps everything
that decides the SQL's structure: dtypes, ttls, strategies, how many keys and features, which names are
equal. The canonical plan is compiled once per dialect; each plan's SQL is that text with its own names
put back.

Putting a name back is exact because of what names may be: a name that takes part is a plain
identifier (letters, digits, underscores), which the generator quotes like any other after normalizing
its case; normalizing is per character (upper or lower) or nothing, so a sentinel inside a longer
generated name (`fv0_fcq3z_source`) becomes that name with the real one inside. A path comes back as a
string literal or a quoted identifier, escaped by sqlglot for the dialect. A plan whose names do not
qualify (a table written with quotes or reserved words, a query text that happens to contain a
sentinel) has no shape and is compiled directly. The result is the same SQL as compiling the plan
directly, up to where the pretty-printer breaks long lines (tests check both parse to one tree).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace
from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from fcompile.dialects.registry import DIALECTS
from fcompile.planner.plans import (
    FeatureColumn, KeyColumn, LatestValues, PointInTimeJoin, Relation, SpinePlan, ViewJoin,
)
from fcompile.sql_names import IDENTIFIER_RE

# Sentinels are padded with x to the name's length rounded up to a multiple of this: the pretty-printer
# breaks lines by width, so a template laid out with names of about the real lengths reads like SQL
# generated with the real names, while names of similar lengths still share a shape.
LENGTH_STEP = 8
_ANY_SENTINEL = re.compile(r"fc[qp]\d+x*z", re.IGNORECASE)
# A name sentinel (in any case: normalizing may have upper-cased it), or a path sentinel inside its
# quotes: a string literal ('...') or a quoted identifier (`...`, "...").
_SLOT = re.compile(r"""fcq(\d+)x*z|(['"`])fcp(\d+)x*z(?:\.csv)?\2""", re.IGNORECASE)


def _sentinel(kind: str, index: int, length: int) -> str:
    head = f"fc{kind}{index}"
    width = max(-(-length // LENGTH_STEP) * LENGTH_STEP, len(head) + 1)
    return head + "x" * (width - len(head) - 1) + "z"


class _NoShape(Exception):
    """The plan holds a name that cannot be swapped for a sentinel safely."""


@dataclass(frozen=True)
class Shape:
    plan: Any                 # the plan with sentinels for names and paths, and no source positions
    names: tuple[str, ...]    # sentinel i stands for names[i]
    paths: tuple[str, ...]    # path sentinel i stands for paths[i]
    literal: bool = False     # a shape of one: the plan itself, whose SQL is used as it is


@dataclass(frozen=True)
class Template:
    """A canonical statement as a `str.format` pattern: `{i}` where fields[i] goes."""

    pattern: str
    fields: tuple[tuple[str, int], ...]  # ("name", i) for name i, or (quote, i) for path i inside that quote

    @classmethod
    def of(cls, statement: str, literal: bool = False) -> Template | None:
        """None when a sentinel is spelled in a way fill does not know (compile directly instead)."""
        if literal:
            return cls(statement, ())
        texts, fields, at = [], {}, 0
        for match in _SLOT.finditer(statement):
            field = ("name", int(match.group(1))) if match.group(1) else (match.group(2), int(match.group(3)))
            texts.append(_escape(statement[at:match.start()]) + "{%d}" % fields.setdefault(field, len(fields)))
            at = match.end()
        texts.append(_escape(statement[at:]))
        if _ANY_SENTINEL.search(_SLOT.sub("", statement)):
            return None
        return cls("".join(texts), tuple(fields)) if fields else cls(statement, ())

    def fill(self, shape: Shape, dialect) -> str:
        """The real plan's statement: every slot filled with its name or path, as the dialect spells it."""
        if not self.fields:
            return self.pattern
        return self.pattern.format(*[normalized_name(dialect, shape.names[index]) if kind == "name"
                                     else _path(dialect, shape.paths[index], kind) for kind, index in self.fields])


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


class Templates:
    """The shapes of the plans compiled so far and their generated templates, shared between the
    plans of one build (see `fcompile.dialects.compile_statements`)."""

    def __init__(self) -> None:
        self._shapes: dict[int, tuple[Any, Shape, int]] = {}  # id(plan) -> (plan, its shape, the shape's number)
        self._numbers: dict[tuple[bool, Any], int] = {}       # distinct shapes, numbered in order of first use
        self.generated: dict[tuple, tuple[Template, ...] | None] = {}

    def shape(self, plan: Any) -> Shape:
        """`shape_of(plan)`, worked out once per plan object (builds use one plan for every dialect)."""
        return self._entry(plan)[1]

    def key(self, dialect_name: str, pretty: bool, plan: Any) -> tuple:
        """What `generated` is keyed by: the dialect, the layout and the plan's shape (by number, so
        that a big plan is hashed once per build rather than at every lookup)."""
        entry = self._entry(plan)
        return (dialect_name, pretty, entry[1].literal, entry[2])

    def _entry(self, plan: Any) -> tuple[Any, Shape, int]:
        entry = self._shapes.get(id(plan))
        if entry is None or entry[0] is not plan:  # the plan is kept, so its id is not reused
            shape = shape_of(plan)
            number = self._numbers.setdefault((shape.literal, shape.plan), len(self._numbers))
            entry = self._shapes[id(plan)] = (plan, shape, number)
        return entry

    def add(self, key: tuple, statements: list[str] | None) -> None:
        """Keep the statements generated for a shape (None: generating failed)."""
        literal = key[2]
        templates = None if statements is None else tuple(Template.of(s, literal) for s in statements)
        self.generated[key] = None if templates is None or None in templates else templates  # type: ignore[assignment]


def _path(dialect, path: str, quote: str) -> str:
    if quote == "'":
        return exp.Literal.string(path).sql(dialect=dialect.sqlglot_name)
    return exp.to_identifier(path, quoted=True).sql(dialect=dialect.sqlglot_name)


def normalized_name(dialect, name: str) -> str:
    """`name` as the dialect resolves it unquoted: upper-cased, lower-cased or as written."""
    return name if dialect.PRESERVES_IDENTIFIER_CASE else _normalized_in(dialect.sqlglot_name, name)


@functools.lru_cache(maxsize=65536)
def _normalized_in(sqlglot_dialect: str, name: str) -> str:
    return Dialect.get_or_raise(sqlglot_dialect).normalize_identifier(exp.to_identifier(name)).name


def _plain_table_name(locator: str) -> bool:
    """Whether every dialect reads `locator` as its dot-separated parts, each a plain unquoted name
    (then the parts can be sentinels; a reserved word or a quoted part keeps the name as written)."""
    parts = locator.split(".")
    return 1 <= len(parts) <= 3 and all(_plain_name(part) for part in parts)


def _plain_name(part: str) -> bool:
    """A name that every dialect's tokenizer reads as one plain name: not a keyword, not quoted."""
    return IDENTIFIER_RE.fullmatch(part) is not None and part.upper() not in _keywords()


@functools.lru_cache(maxsize=1)
def _keywords() -> frozenset[str]:
    """Every word some target dialect's tokenizer reads as a keyword rather than a name."""
    return frozenset(word for dialect in DIALECTS.values()
                     for word in Dialect.get_or_raise(dialect.sqlglot_name).tokenizer_class.KEYWORDS)


class _Canonical:
    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # real name -> its sentinel, in order of first use
        self.paths: dict[str, int] = {}

    def name(self, value: str) -> str:
        sentinel = self.names.get(value)
        if sentinel is None:
            if not IDENTIFIER_RE.fullmatch(value) or _ANY_SENTINEL.search(value):
                raise _NoShape(value)
            sentinel = self.names[value] = _sentinel("q", len(self.names), len(value))
        return sentinel

    def optional(self, value: str | None) -> str | None:
        return None if value is None else self.name(value)

    def relation(self, relation: Relation) -> Relation:
        if _ANY_SENTINEL.search(relation.locator):  # kept as written, or put back: it must not look like one
            raise _NoShape(relation.locator)
        if relation.kind == "path":
            suffix = ".csv" if relation.file_format == "csv" else ""
            index = self.paths.setdefault(relation.locator, len(self.paths))
            return Relation("path", _sentinel("p", index, len(relation.locator) - len(suffix)) + suffix)
        if relation.kind == "table":
            parts = relation.locator.split(".")
            if _plain_table_name(relation.locator):
                return Relation("table", ".".join(self.name(p) for p in parts))
        return relation

    def keys(self, keys: tuple[KeyColumn, ...]) -> tuple[KeyColumn, ...]:
        return tuple(KeyColumn(self.name(k.name), self.name(k.source_column), k.dtype) for k in keys)

    def features(self, features: tuple[FeatureColumn, ...]) -> tuple[FeatureColumn, ...]:
        return tuple(FeatureColumn(self.name(f.source_column), self.name(f.output_name), f.dtype) for f in features)

    def zoned(self, shaped: Relation, relation: Relation) -> Relation:
        """`shaped` with the relation's zoned time columns under their sentinels (named after the plan's
        own names, so they take no sentinel numbers of their own), and its nanosecond columns as they are
        (they appear in no SQL, but a dialect may refuse them: such plans are shaped apart)."""
        return replace(shaped, zoned_times=tuple(self.name(c) for c in relation.zoned_times),
                       nanosecond_times=relation.nanosecond_times)

    def reading(self, plan: ViewJoin | LatestValues) -> dict:
        reading = {"view": self.name(plan.view), "relation": self.relation(plan.relation),
                   "keys": self.keys(plan.keys), "event_timestamp": self.name(plan.event_timestamp),
                   "created_timestamp": self.optional(plan.created_timestamp),
                   "tie_breaker": self.optional(plan.tie_breaker),
                   "features": self.features(plan.features), "location": None}
        reading["relation"] = self.zoned(reading["relation"], plan.relation)
        return reading

    def plan(self, plan: Any) -> Any:
        if isinstance(plan, LatestValues):
            return replace(plan, **self.reading(plan))
        if isinstance(plan, PointInTimeJoin):
            if not all(isinstance(j, ViewJoin) for j in plan.joins):
                raise _NoShape("windowed aggregations")  # compiled as they are
            spine = plan.spine
            shaped = SpinePlan(self.relation(spine.relation), self.name(spine.timestamp_column),
                               None if spine.columns is None else tuple(self.name(c) for c in spine.columns),
                               self.optional(spine.row_id_column))
            spine = replace(shaped, relation=self.zoned(shaped.relation, spine.relation))
            joins = tuple(replace(j, **self.reading(j)) for j in plan.joins)
            order = tuple((index, self.name(name)) for index, name in plan.output_order)
            return PointInTimeJoin(spine, joins, order, None)
        raise _NoShape(type(plan).__name__)


def shape_of(plan: Any) -> Shape:
    """The plan's shape; a literal shape of its own for plans compiled as they are (dataset builds,
    unusual names)."""
    canonical = _Canonical()
    try:
        shaped = canonical.plan(plan)
    except _NoShape:
        return Shape(plan, (), (), literal=True)
    return Shape(shaped, tuple(canonical.names), tuple(canonical.paths))
