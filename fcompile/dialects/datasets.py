"""Lower a dataset build: (re)create a table from the point-in-time join, or copy it to a Parquet file."""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.planner.plans import BuildDataset


def lower_build_dataset(dialect: SqlDialect, plan: BuildDataset, query: exp.Query) -> list[exp.Expression]:
    """The statements, in order, that build the dataset from `query`, its training join's tree (a point-in-time
    join, or one with on-demand features)."""
    if plan.output.kind == "table":
        table = dialect.table(plan.output.locator)
        return dialect.replace_table(table, query)
    if not dialect.READS_FILES:
        raise dialect.unsupported(f"writing dataset '{plan.name}' to a file", "write it to a table: output: {table: ...}",
                                  plan.location)
    return [dialect.copy_to_file(query, plan.output.locator)]
