"""Dialects stage: plans in, SQL text out, one module per target warehouse."""

from __future__ import annotations

from sqlglot.errors import SqlglotError

from fcompile.dialects.base import SqlDialect
from fcompile.dialects.registry import DIALECTS
from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, did_you_mean


def get_dialect(name: str) -> SqlDialect:
    try:
        return DIALECTS[name]()
    except KeyError:
        hint = did_you_mean(name, DIALECTS) or f"dialects: {', '.join(sorted(DIALECTS))}"
        raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, f"unknown dialect '{name}'", None, hint)]) from None


def compile_select(plan, dialect: SqlDialect):
    """The sqlglot tree of a point-in-time join, latest-values or tiles plan (a view's windowed aggregations'
    tiles, for serving)."""
    from fcompile.dialects.lowering import lower_latest_values, lower_point_in_time_join
    from fcompile.dialects.online_tiles import lower_latest_tiles
    from fcompile.planner.on_demand import OnDemandJoin
    from fcompile.planner.online_tiles import LatestTiles
    from fcompile.planner.plans import LatestValues, PointInTimeJoin

    if isinstance(plan, PointInTimeJoin):
        return lower_point_in_time_join(dialect, plan)
    if isinstance(plan, LatestValues):
        return lower_latest_values(dialect, plan)
    if isinstance(plan, OnDemandJoin):  # on-demand features in a training set
        from fcompile.dialects.on_demand import lower_on_demand_join

        return lower_on_demand_join(dialect, plan)
    if isinstance(plan, LatestTiles):
        return lower_latest_tiles(dialect, plan)
    raise TypeError(f"not a query plan: {type(plan).__name__}")


def generate_statements(plan, dialect: SqlDialect, pretty: bool = True) -> list[str]:
    """Lower and generate a plan as it is, without looking for its shape (see `compile_statements`)."""
    from fcompile.dialects.datasets import lower_build_dataset
    from fcompile.planner.plans import BuildDataset

    from fcompile.planner.data_tests import DataTestPlan

    if isinstance(plan, DataTestPlan):  # issue 18
        from fcompile.dialects.data_tests import lower_data_test

        trees = [lower_data_test(dialect, plan)]
    else:
        trees = (lower_build_dataset(dialect, plan, compile_select(plan.query, dialect)) if isinstance(plan, BuildDataset)
                 else [compile_select(plan, dialect)])
    return [dialect.generate(tree, pretty=pretty, copy=False) for tree in trees]  # the trees are ours alone


def compile_statements(plan, dialect: SqlDialect | str, pretty: bool = True, templates=None) -> list[str]:
    """SQL statements for a plan, to run in order: one for a PointInTimeJoin or LatestValues; a
    BuildDataset may take two (DROP TABLE IF EXISTS, CREATE TABLE AS) where the dialect has no
    CREATE OR REPLACE TABLE. Where the dialect has a SESSION_TIME_ZONE, the statement that sets it comes
    first, so the statements give the same rows in a session of any time zone (see `query_statement`).

    Plans are compiled by shape (fcompile/dialects/shapes.py): the plan with its names swapped for
    sentinels is generated, then the names are put back. `templates` (a `shapes.Templates`) keeps
    generated shapes between calls, so plans of one shape cost one generation; errors always come
    from the real plan, in its own names."""
    dialect = get_dialect(dialect) if isinstance(dialect, str) else dialect
    return session_statements(dialect) + _plan_statements(plan, dialect, pretty, templates)


def session_statements(dialect: SqlDialect) -> list[str]:
    """The statements that set up the session before a plan's own (its time zone), possibly none."""
    return [dialect.SESSION_TIME_ZONE] if dialect.SESSION_TIME_ZONE else []


def query_statement(statements: list[str], dialect: SqlDialect | str) -> tuple[list[str], str]:
    """A query plan's statements (`compile_statements` of a PointInTimeJoin or a LatestValues) as the
    statements that set up the session, to run first, and the query itself."""
    dialect = get_dialect(dialect) if isinstance(dialect, str) else dialect
    leading = session_statements(dialect)
    if statements[:len(leading)] != leading or len(statements) != len(leading) + 1:
        raise ValueError(f"not the statements of one {dialect.name} query: {len(statements)} statements")
    return leading, statements[-1]


def _plan_statements(plan, dialect: SqlDialect, pretty: bool, templates) -> list[str]:
    """The plan's own statements, compiled by shape."""
    from fcompile.dialects.shapes import Templates

    templates = Templates() if templates is None else templates
    shape = templates.shape(plan)
    key = templates.key(dialect.name, pretty, plan)
    if key not in templates.generated:
        try:
            templates.add(key, generate_statements(shape.plan, dialect, pretty))
        except (DiagnosticError, SqlglotError):
            templates.add(key, None)  # the real plan says why, below, in its own names
    generated = templates.generated[key]
    if generated is not None:
        return [template.fill(shape, dialect) for template in generated]
    return generate_statements(plan, dialect, pretty)


def compile_sql(plan, dialect: SqlDialect | str, pretty: bool = True, templates=None) -> str:
    """SQL text for a plan: PointInTimeJoin, LatestValues or BuildDataset (statements separated by `;`)."""
    return ";\n\n".join(compile_statements(plan, dialect, pretty, templates))
