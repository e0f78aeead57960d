"""Lower a data test plan (fcompile/planner/data_tests.py) to one query per dialect: the failing rows, the
failing figure, or (freshness) the newest event time. User values are typed literals; a test's `where`
and `expression`, checked by the parser in the portable subset of on-demand features, are lowered as those
are (fcompile/expressions/to_sql.py), their columns renamed to the source's."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.planner.data_tests import (
    DUPLICATE_ROWS, NEWEST_EVENT_TIME, NULL_FRACTION, NULL_ROWS, ROW_COUNT, DataTestPlan,
)

SOURCE = "source"
COUNTED = "counted"


def lower_data_test(dialect: SqlDialect, plan: DataTestPlan) -> exp.Select:
    lower = {
        "not_null": _not_null, "range": _range, "accepted_values": _accepted_values, "unique": _unique,
        "unique_key_time": _unique_key_time, "row_count": _row_count, "null_fraction": _null_fraction,
        "freshness": _freshness, "expression": _expression,
    }[plan.kind]
    return lower(dialect, plan)


def _col(name: str) -> exp.Column:
    return exp.column(name, SOURCE)


def _rows(dialect: SqlDialect, plan: DataTestPlan, *projections: exp.Expression) -> exp.Select:
    """SELECT projections FROM the test's relation, filtered by its `where` when it has one."""
    select = exp.select(*projections).from_(dialect.relation(plan.relation, SOURCE, plan.location), copy=False)
    if plan.where is not None:
        select = select.where(user_condition(dialect, plan, plan.where), copy=False)
    return select


def _identity(plan: DataTestPlan) -> list[exp.Expression]:
    """What names a failing row of a view: its join keys and event time (and created time), as fcompile names them."""
    out: list[exp.Expression] = [exp.alias_(_col(k.source_column), k.name) for k in plan.keys]
    for time in (plan.event_time, plan.created_time):
        if time is not None and plan.keys:
            out.append(exp.alias_(_col(time.source_column), time.output_name))
    return out


def _feature(plan: DataTestPlan) -> exp.Column:
    return _col(plan.column.source_column)  # type: ignore[union-attr]


def _with_feature(dialect: SqlDialect, plan: DataTestPlan) -> exp.Select:
    return _rows(dialect, plan, *_identity(plan), exp.alias_(_feature(plan), plan.column.output_name))  # type: ignore[union-attr]


def _is_null(value: exp.Expression, negate: bool = False) -> exp.Expression:
    return exp.Is(this=value, expression=exp.Null(), negate=negate)


def _not_null(dialect: SqlDialect, plan: DataTestPlan) -> exp.Select:
    return _with_feature(dialect, plan).where(_is_null(_feature(plan)), copy=False)


def _range(dialect: SqlDialect, plan: DataTestPlan) -> exp.Select:
    outside = []
    if plan.argument("min") is not None:
        outside.append(exp.LT(this=_feature(plan), expression=literal(plan.argument("min"))))
    if plan.argument("max") is not None:
        outside.append(exp.GT(this=_feature(plan), expression=literal(plan.argument("max"))))
    condition = outside[0] if len(outside) == 1 else exp.paren(exp.or_(*outside), copy=False)
    return _with_feature(dialect, plan).where(condition, copy=False)  # NULL < min is not true: NULLs pass


def _accepted_values(dialect: SqlDialect, plan: DataTestPlan) -> exp.Select:
    listed = exp.In(this=_feature(plan), expressions=[literal(v) for v in plan.argument("values")])
    return _with_feature(dialect, plan).where(
        exp.and_(_is_null(_feature(plan), negate=True), exp.Not(this=listed)), copy=False)


def _count_rows() -> exp.Expression:
    return exp.Count(this=exp.Star())


def _more_than_one() -> exp.Expression:
    return exp.GT(this=_count_rows(), expression=exp.Literal.number(1))


def _unique(dialect: SqlDialect, plan: DataTestPlan) -> exp.Select:
    value = _feature(plan)
    return (_rows(dialect, plan, exp.alias_(value.copy(), plan.column.output_name),  # type: ignore[union-attr]
                  exp.alias_(_count_rows(), DUPLICATE_ROWS))
            .where(_is_null(value.copy(), negate=True), copy=False)
            .group_by(value.copy(), copy=False)
            .having(_more_than_one(), copy=False))


def _unique_key_time(dialect: SqlDialect, plan: DataTestPlan) -> exp.Select:
    """Rows with a NULL key or event time are left out: they never match a spine row or reach the online store."""
    grouped = [_col(k.source_column) for k in plan.keys] + [_col(plan.event_time.source_column)]  # type: ignore[union-attr]
    if plan.created_time is not None:
        grouped.append(_col(plan.created_time.source_column))
    present = [_is_null(c.copy(), negate=True) for c in grouped[:len(plan.keys) + 1]]
    return (_rows(dialect, plan, *_identity(plan), exp.alias_(_count_rows(), DUPLICATE_ROWS))
            .where(exp.and_(*present), copy=False)
            .group_by(*[c.copy() for c in grouped], copy=False)
            .having(_more_than_one(), copy=False))


def _figure(counted: exp.Select, figures: list[exp.Expression], failing: exp.Expression) -> exp.Select:
    """One row of figures computed over `counted` (a single aggregate row), kept only when `failing` holds."""
    return exp.select(*figures).from_(counted.subquery(COUNTED, copy=False), copy=False).where(failing, copy=False)


def _row_count(dialect: SqlDialect, plan: DataTestPlan) -> exp.Select:
    counted = _rows(dialect, plan, exp.alias_(_count_rows(), ROW_COUNT))
    total = exp.column(ROW_COUNT, COUNTED)
    outside = []
    if plan.argument("min") is not None:
        outside.append(exp.LT(this=total.copy(), expression=literal(plan.argument("min"))))
    if plan.argument("max") is not None:
        outside.append(exp.GT(this=total.copy(), expression=literal(plan.argument("max"))))
    return _figure(counted, [exp.alias_(total.copy(), ROW_COUNT)], exp.or_(*outside) if len(outside) > 1 else outside[0])


def _null_fraction(dialect: SqlDialect, plan: DataTestPlan) -> exp.Select:
    counted = _rows(dialect, plan, exp.alias_(_count_rows(), ROW_COUNT),
                    exp.alias_(exp.Sub(this=_count_rows(), expression=exp.Count(this=_feature(plan))), NULL_ROWS))
    nulls, total = exp.column(NULL_ROWS, COUNTED), exp.column(ROW_COUNT, COUNTED)
    fraction = exp.Div(this=exp.Cast(this=nulls.copy(), to=exp.DataType.build("double")), expression=total.copy())
    # nulls > max * rows, in exact arithmetic for a whole-number max; no division where there are no rows
    failing = exp.GT(this=nulls.copy(), expression=exp.Mul(this=literal(float(plan.argument("max"))),
                                                            expression=total.copy()))
    return _figure(counted, [exp.alias_(nulls.copy(), NULL_ROWS), exp.alias_(total.copy(), ROW_COUNT),
                             exp.alias_(fraction, NULL_FRACTION)], failing)


def _freshness(dialect: SqlDialect, plan: DataTestPlan) -> exp.Select:
    event = dialect.utc_instant(_col(plan.event_time.source_column),  # type: ignore[union-attr]
                                plan.event_time.source_column in plan.relation.zoned_times)  # type: ignore[union-attr]
    return _rows(dialect, plan, exp.alias_(exp.Max(this=event), NEWEST_EVENT_TIME),
                 exp.alias_(_count_rows(), ROW_COUNT))


def _expression(dialect: SqlDialect, plan: DataTestPlan) -> exp.Select:
    """The rows for which the expression is false (a NULL result is no failure, as in a CHECK constraint)."""
    condition = exp.Not(this=user_condition(dialect, plan, plan.expression))
    return _rows(dialect, plan, exp.Star()).where(condition, copy=False)


def user_condition(dialect: SqlDialect, plan: DataTestPlan, node) -> exp.Expression:
    """A test's `where` or `expression` (a typed tree: fcompile/expressions/tree.py) in the dialect, lowered as
    an on-demand feature's expression is (fcompile/expressions/to_sql.py), over the source's columns: names
    given by field_mapping are turned back into the source's own."""
    from fcompile.expressions.to_sql import expression_sql
    from fcompile.expressions.tree import columns

    renames = dict(plan.renames)
    inputs = {name: _col(renames.get(name, name)) for name in columns(node)}
    return exp.paren(expression_sql(node, dialect, inputs), copy=False)


def literal(value: Any) -> exp.Expression:
    """A user's value as a typed literal: a boolean, a number, or a string."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        return exp.Literal.number(repr(value))
    return exp.Literal.string(str(value))
