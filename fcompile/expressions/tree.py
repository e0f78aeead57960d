"""The typed expression tree: what an on-demand feature's `expr` means once checked.

The checker (check.py) builds it from sqlglot's parse of the text; the SQL compiler (to_sql.py) and the
in-process evaluator (evaluate.py) are two readers of it. Every implicit conversion is explicit here (an
int64 operand of a float64 operation is wrapped in a `cast` node), so neither reader infers a type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The types an expression computes with. A feature or field of dtype int32 or float32 enters widened to
# int64 or float64 (exactly); `null` is the type of a bare NULL before its context gives it one.
EXPRESSION_TYPES = ("bool", "int64", "float64", "string", "timestamp")
WIDENED = {"int32": "int64", "float32": "float64"}
NUMERIC = ("int64", "float64")


@dataclass(frozen=True)
class Node:
    dtype: str
    # where the node starts in the expression text (0-based character offset), for diagnostics only
    offset: int = field(default=0, compare=False, kw_only=True)


@dataclass(frozen=True)
class Column(Node):
    """An input: a feature of an input view or a request field, by its resolved name (`view.feature` or
    the field's name)."""

    name: str


@dataclass(frozen=True)
class Literal(Node):
    value: Any  # None for NULL; a bool, int, float or str otherwise


@dataclass(frozen=True)
class Call(Node):
    """An operation on operands. `op` is one of the names check.py makes and every reader knows (the keys of
    evaluate.py's `_OPERATIONS`, which the parity test checks it generates); `digits` is
    ROUND's second argument. CASE is `case` with operands (cond1, value1, cond2, value2, ..., default)."""

    op: str
    args: tuple[Node, ...]
    digits: int = 0


def walk(node: Node):
    """The node and every node below it, parents first."""
    yield node
    if isinstance(node, Call):
        for arg in node.args:
            yield from walk(arg)


def columns(node: Node) -> tuple[str, ...]:
    """The inputs an expression reads, sorted, each once."""
    return tuple(sorted({n.name for n in walk(node) if isinstance(n, Column)}))


def depth(node: Node) -> int:
    if isinstance(node, Call) and node.args:
        return 1 + max(depth(a) for a in node.args)
    return 0
