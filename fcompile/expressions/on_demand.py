"""On-demand features as the two sides compute them, from one checked expression each.

Training: `on_demand_select` puts the expressions over a relation that already holds their inputs (the
point-in-time join's output, where a request field is a spine column), as one SELECT in the target
dialect. Serving: `compute_online` evaluates an expression over the values an online read returned:
an input that is not PRESENT (NOT_FOUND, OUTSIDE_MAX_AGE) enters as NULL, as it is NULL in the training
join, and the computed value carries the worst status of the inputs it reads.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence

import pyarrow as pa
from sqlglot import exp

from fcompile.expressions.evaluate import ExpressionOverflow, compile_expression, input_column
from fcompile.expressions.row_code import compile_rows
from fcompile.expressions.to_sql import expression_sql
from fcompile.expressions.tree import Node, columns
from fcompile.online.statuses import STATUS_ORDER

# from best to worst: a computed feature has the status of its worst input
# From this many entities on, a request is computed with Arrow kernels (evaluate.py), whose fixed cost per
# call is then smaller than row_code.py's cost per row (measured: row code is 10-70x faster for 10 rows,
# Arrow 2-4x faster for 1,000-10,000).
ARROW_FROM_ROWS = 256


@dataclass(frozen=True)
class OnDemandColumn:
    """One on-demand feature: its output name, its checked expression, and for each input the expression
    reads (by resolved name) the column of the relation that holds it, with the input's dtype."""

    name: str
    node: Node
    inputs: tuple[tuple[str, str, str], ...]  # (resolved name, column, dtype)

    def __post_init__(self) -> None:
        missing = set(columns(self.node)) - {name for name, _, _ in self.inputs}
        if missing:
            raise ValueError(f"on-demand feature '{self.name}' has no column for {sorted(missing)}")

    @functools.cached_property
    def arrow_evaluator(self):
        """The expression compiled to Arrow kernels, for large requests (evaluate.py)."""
        return compile_expression(self.node)

    @functools.cached_property
    def evaluator(self):
        """The expression compiled for serving, once per feature: row_code.py's function of a row (a
        request's few entities cost microseconds, where each Arrow kernel call costs 5-10)."""
        return compile_rows(self.node)


def on_demand_select(dialect, relation: exp.Expression, kept: Sequence[str],
                     features: Sequence[OnDemandColumn], alias: str = "fc_inputs") -> exp.Select:
    """SELECT the `kept` columns of `relation`, then each feature's expression under its name, in the
    dialect (a `SqlDialect`). `relation` is a table or a query; identifiers are quoted when generated."""
    source = relation.subquery(alias) if isinstance(relation, exp.Query) else exp.alias_(relation, alias, table=True)
    selected: list[exp.Expression] = [exp.column(name, table=alias) for name in kept]
    for feature in features:
        inputs = {name: _widened(exp.column(column, table=alias), dtype) for name, column, dtype in feature.inputs}
        selected.append(exp.alias_(expression_sql(feature.node, dialect, inputs), feature.name))
    return exp.select(*selected).from_(source)


def _widened(column: exp.Expression, dtype: str) -> exp.Expression:
    """An int32 or float32 input as the int64 or float64 the expression computes with (REAL arithmetic
    would round to single precision)."""
    wide = {"int32": "BIGINT", "float32": "DOUBLE"}.get(dtype)
    return exp.cast(column, wide) if wide else column


class OnlineInput(NamedTuple):
    """An input column as an online read gives it: a value per entity, and a status per entity (None for
    a request field, which the caller sends: PRESENT). A tuple: the feature server makes a few per request."""

    values: Sequence[Any]
    statuses: Sequence[str] | None = None


def compute_online(feature: OnDemandColumn, inputs: Mapping[str, OnlineInput],
                   rows: int) -> tuple[list[Any], list[str]]:
    """The feature's value and status for each of `rows` entities, vectorized over them."""
    columns = {}
    worst = None  # per entity, the rank of its worst input status, once one is not PRESENT
    for name, _, _ in feature.inputs:
        given = inputs[name]
        values = given.values
        if given.statuses is not None and any(s != "PRESENT" for s in given.statuses):
            if worst is None:
                worst = [0] * rows
            values = list(values)
            for n, status in enumerate(given.statuses):
                rank = STATUS_ORDER.index(status)
                if rank:
                    values[n] = None  # not PRESENT: NULL, as in the training join
                    worst[n] = max(worst[n], rank)
        columns[name] = values
    statuses = ["PRESENT"] * rows if worst is None else [STATUS_ORDER[rank] for rank in worst]
    if rows >= ARROW_FROM_ROWS:
        arrays = {name: input_column(pa.array(columns[name], _ARROW_TYPES[dtype]), dtype)
                  for name, _, dtype in feature.inputs}
        try:
            return feature.arrow_evaluator(arrays, rows).to_pylist(), statuses
        except ExpressionOverflow:
            pass  # Arrow computes every CASE branch for every row: the row code says whether SQL would raise
    return feature.evaluator(columns, rows), statuses


_ARROW_TYPES = {"int32": pa.int32(), "int64": pa.int64(), "float32": pa.float32(), "float64": pa.float64(),
                "string": pa.string(), "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC")}

