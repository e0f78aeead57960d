"""Comments that say which point-in-time rule each CTE of a compiled join implements.

A reviewer reading `fv2_customer_daily_profile_carried` should not have to work out from the SQL that it
carries the newest feature row forward for the window plan. Each CTE of `lower_point_in_time_join` gets a
comment naming the view, the rule, the view's ttl and the strategy the SQL uses in this dialect, e.g.

    /* driver_hourly_stats: newest row per (driver_id, event time); ttl 2h; strategy window */

What a comment holds: view and join-key names (plain identifiers, checked by the parser), a duration and
a strategy name - never free text from a spec. sqlglot writes a comment as `/* ... */` and breaks up any
`*/` or `/*` inside it, so no comment can end early or open a nested one (PostgreSQL nests them). Names
are written as the dialect resolves them, like every other name in the file (`DRIVER_ID` on Snowflake),
which is also how the shape templates put names back (fcompile/dialects/shapes.py).
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.control_characters import escape_controls
from fcompile.dialects.base import SqlDialect
from fcompile.dialects.shapes import normalized_name
from fcompile.planner.durations import format_duration
from fcompile.planner.plans import JoinStrategy, PointInTimeJoin, ViewJoin

SPINE_RULE = "spine: the spine's rows; each view's features join back to them by keys and time"


def cte_rules(dialect: SqlDialect, plan: PointInTimeJoin,
              view_ctes: dict[str, tuple[int, JoinStrategy]]) -> dict[str, str]:
    """The comment of each CTE by name. `view_ctes` maps each view's CTE name (`fv<i>_<view>`) to its join's
    index and the strategy lowered for it in the dialect; the view's other CTEs are that name with a suffix."""
    rules = {"spine": SPINE_RULE}
    for name, (index, strategy) in view_ctes.items():
        view = plan.joins[index]
        keys = ", ".join(normalized_name(dialect, k.name) for k in view.keys)
        about = f"; ttl {_ttl(view)}; strategy {strategy.value}"
        for suffix, rule in _view_rules(strategy, keys, view.ttl_seconds is not None).items():
            rules[name + suffix] = escape_controls(f"{normalized_name(dialect, view.view)}: {rule}{about}")
    return rules


def describe(cte: exp.Expression, rule: str | None) -> exp.Expression:
    """`cte` with `rule` as a comment printed at its top (on the first SELECT of a UNION)."""
    if rule:
        first = cte
        while isinstance(first, exp.SetOperation):
            first = first.this
        first.add_comments([f" {rule} "])
    return cte


def _ttl(view: ViewJoin) -> str:
    return format_duration(view.ttl_seconds) if view.ttl_seconds is not None else "none"


def _view_rules(strategy: JoinStrategy, keys: str, bounded: bool) -> dict[str, str]:
    """The rule of each CTE suffix of one view's join. The range and window plans work per spine point:
    a distinct (keys, time) of the spine."""
    rules = {"_source": "source rows with a key and an event time",
             "_points": f"the spine's distinct ({keys}, time) with no NULL"}
    newest_per_event = f"newest row per ({keys}, event time)"
    if strategy is JoinStrategy.RANGE:
        rules[""] = ("newest row per spine point with an event time in [spine time - ttl, spine time]" if bounded
                     else "newest row per spine point with an event time <= spine time")
    elif strategy is JoinStrategy.ASOF:
        rules[""] = f"{newest_per_event}, ASOF-joined to the spine"
    else:
        rules["_latest_per_event"] = newest_per_event
        rules["_rows"] = f"rows numbered per ({keys}) by event time"
        rules["_timeline"] = f"spine points and feature rows in one timeline per ({keys})"
        rules["_carried"] = "newest feature row at or before each spine point, carried forward"
        rules[""] = "the carried row of each spine point" + (", if within the ttl" if bounded else "")
    return rules
