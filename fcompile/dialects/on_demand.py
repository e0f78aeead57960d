"""Lower an `OnDemandJoin` (fcompile/planner/on_demand.py): the point-in-time join's final select, its
feature columns replaced by the requested outputs, each on-demand feature spelled by the expression compiler
(fcompile/expressions/to_sql.py) over the joined values and the spine's columns. The expressions sit in the
join's own final select, so the rows keep the spine's order and no joined input is output unless requested.
A request field is the spine's column of its name, cast to DOUBLE when its dtype is a float.
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.dialects.lowering import lower_point_in_time_join
from fcompile.expressions.on_demand import _widened
from fcompile.expressions.to_sql import expression_sql
from fcompile.planner.on_demand import OnDemandJoin, OnDemandOutput


def lower_on_demand_join(dialect: SqlDialect, plan: OnDemandJoin) -> exp.Select:
    final = lower_point_in_time_join(dialect, plan.query)
    features = len(plan.query.output_order)
    selected = list(final.expressions)
    spine, joined = selected[:len(selected) - features], selected[len(selected) - features:]
    values = {e.alias: e.this for e in joined}
    spine_values = {e.alias: e.this for e in spine if isinstance(e, exp.Alias)}

    def value(source) -> exp.Expression:
        if isinstance(source, OnDemandOutput):
            return expression_sql(source.node, dialect, {name: value(s) for name, s in source.inputs})
        kind, name, dtype = source
        if kind == "join":
            return _widened(values[name].copy(), dtype)
        # a request field: the spine's column (by name when the spine's columns are not known), read as its
        # declared dtype, so a float field the spine holds as integers still divides as floats
        column = spine_values[name].copy() if name in spine_values else exp.column(name, "s")
        return exp.cast(column, "DOUBLE") if dtype.startswith("float") else column

    def output(source) -> exp.Expression:
        """A requested feature view feature as the join gives it (its own type); a computed one by its expression."""
        if isinstance(source, OnDemandOutput):
            return value(source)
        return values[source[1]].copy()

    outputs = [exp.alias_(output(source), name) for name, source in plan.outputs]
    return final.select(*spine, *outputs, append=False, copy=False)
