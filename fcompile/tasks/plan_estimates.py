"""`fcompile plan --estimate`: about how many rows `fcompile materialize --full-refresh` would read for each
view the plan says must be refreshed in full.

A full refresh reads the view's source over the window of a first run (fcompile/tasks/materialize.py:
`end - ttl` to `end` for a view with a ttl, else every row up to `end`); each view costs one COUNT over
that window on the target's offline engine, built like a profile's scan (fcompile/dialects/profiles.py).
The figure is approximate in the sense that matters: rows arriving before the refresh runs are not in it.

A view whose count fails (its source missing on the engine, say) gets a note instead of a figure; the plan
is printed either way.
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from fcompile.artifacts.plan import RowEstimate
from fcompile.diagnostics import DiagnosticError
from fcompile.graph import FeatureGraph
from fcompile.runners.base import Runner


def estimate_full_refresh(graph: FeatureGraph, runner: Runner, views: Sequence[str],
                          end: dt.datetime) -> tuple[RowEstimate, ...]:
    """One COUNT per view over the source window a full refresh ending at `end` reads."""
    from fcompile.dialects import get_dialect, session_statements
    from fcompile.dialects.profiles import lower_row_count
    from fcompile.planner.profiles import plan_view_profile
    from fcompile.tasks.materialize import choose_window

    dialect = get_dialect(runner.dialect)
    for statement in session_statements(dialect):
        runner.run_session_statement(statement)
    estimates = []
    for name in views:
        view = graph.feature_view(name)
        window = choose_window(view, end, None, None)
        plan = plan_view_profile(graph, view, window.start, window.end)
        try:
            _, rows = runner.query_rows(dialect.generate(lower_row_count(dialect, plan), pretty=False),
                                        f"row count of feature view {name}", plan.location)
        except DiagnosticError as error:
            estimates.append(RowEstimate(name, None, window.start, error.diagnostics[0].message))
            continue
        estimates.append(RowEstimate(name, int(rows[0][0]), window.start))
    return tuple(estimates)
