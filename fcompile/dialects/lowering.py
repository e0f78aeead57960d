"""Lower plans to sqlglot trees: the point-in-time join (three strategies) and latest values.

The trees are dialect-neutral except where a `SqlDialect` flag or override says otherwise: native ASOF
joins, QUALIFY, `* EXCLUDE`, file reads and ttl arithmetic. Every strategy implements the point-in-time rules
(docs/concepts/point-in-time.md):
candidates have equal keys and `ts - ttl <= event_ts <= ts`; the newest event wins, ties go to the
newest created time, then to the greatest tie_breaker where the source declares one, and rows still tied
give each feature the greatest of their values (the rule the tests' reference implementation,
tests/compiler/reference.py, shares). A request reads only the features it returns. NULL keys never match.

Every tree here is built fresh and used once, so the builder calls change the select they are called
on (`copy=False`) instead of copying the tree built so far at every step, which made lowering
quadratic in the number of features.

The range and window plans compute a view's features once per distinct (keys, time) of the spine and the
final select joins them back to the spine's rows on keys and time; the spine's row number only orders
the output, so an engine that evaluates the spine CTE once per reference cannot attach features to the
wrong rows (docs/concepts/point-in-time.md, "How the SQL is shaped").
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.aggregations import (
    WINDOW_END, aggregate_reading, final_value, lower_aggregate_join, window_end,
)
from fcompile.dialects.base import SqlDialect
from fcompile.dialects.cte_comments import cte_rules, describe
from fcompile.planner.plans import (
    CREATED_TS, EVENT_TS, FEATURE_ROW_ID, IS_SPINE, RANK, ROW_ID, SPINE_TS, TIE_BREAKER, AggregateJoin, FeatureColumn,
    JoinStrategy,
    LatestValues, PointInTimeJoin, SpinePlan, ViewJoin,
)

SPINE = "spine"


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table)


def _all_not_null(columns: list[exp.Expression]) -> exp.Expression:
    """`a IS NOT NULL AND b IS NOT NULL ...`: a negated `Is` node prints as `IS NOT NULL`, where
    `NOT (IS NULL)` (the tree sqlglot parses it into) prints as `NOT a IS NULL`."""
    return exp.and_(*[exp.Is(this=c, expression=exp.Null(), negate=True) for c in columns])


def _keys_equal(view: ViewJoin, left: str, right: str) -> exp.Expression:
    """Typed equality, key by key (never a concatenated string key)."""
    return exp.and_(*[exp.EQ(this=col(k.name, left), expression=col(k.name, right)) for k in view.keys])


def _newest_first(dialect: SqlDialect, view_or_plan, table: str | None) -> list[exp.Ordered]:
    """Event time, then created time, then the tie_breaker (a string by its bytes, as the online tiles order
    it), each newest (greatest) first, NULL last: rows equal in all of them are a full tie, which
    `keep_newest` merges."""
    order = [exp.Ordered(this=col(EVENT_TS, table), desc=True, nulls_first=False)]
    if view_or_plan.created_timestamp:
        order.append(exp.Ordered(this=col(CREATED_TS, table), desc=True, nulls_first=False))
    if view_or_plan.tie_breaker:
        key = dialect.tie_breaker_order(col(TIE_BREAKER, table), view_or_plan.tie_breaker_dtype)
        order.append(exp.Ordered(this=key, desc=True, nulls_first=False))
    return order


def _keep_ranked(dialect: SqlDialect, select: exp.Select, window: exp.Window, columns: list[str]) -> exp.Select:
    """The rows of `select` whose `window` is 1: QUALIFY where the dialect accepts it on this select, else a
    ranked subquery whose columns are all aliased uniquely (a QUALIFY rewritten by sqlglot collapses
    duplicates)."""
    if dialect.can_qualify(select):
        return dialect.qualify(select, exp.EQ(this=window, expression=exp.Literal.number(1)))
    ranked = select.select(exp.alias_(window, RANK), copy=False)
    return (exp.select(*[col(c, "ranked") for c in columns])
            .from_(ranked.subquery("ranked", copy=False), copy=False)
            .where(exp.EQ(this=col(RANK, "ranked"), expression=exp.Literal.number(1)), copy=False))


def keep_newest(dialect: SqlDialect, select: exp.Select, partition_by: list[exp.Expression],
                order_by: list[exp.Ordered], columns: list[str], features: tuple[FeatureColumn, ...]) -> exp.Select:
    """One row per partition: the rows first in `order_by` (RANK() = 1: a full tie keeps them all), merged
    by `greatest_per_group`."""
    window = exp.Window(this=exp.Rank(), partition_by=partition_by, order=exp.Order(expressions=order_by))
    newest = _keep_ranked(dialect, select, window, columns)
    return greatest_per_group(dialect, newest.subquery("newest", copy=False), columns, features)


def greatest_per_group(dialect: SqlDialect, rows: exp.Expression, columns: list[str],
                       features: tuple[FeatureColumn, ...]) -> exp.Select:
    """`rows` grouped by every column but the features, each feature the greatest of the group's values
    (docs/concepts/point-in-time.md, rule 3); the rows of a group are a full tie."""
    greatest = {f.output_name: dialect.greatest(col(f.output_name), f.dtype) for f in features}
    grouped = [c for c in columns if c not in greatest]
    return (exp.select(*[exp.alias_(greatest[c], c) if c in greatest else col(c) for c in columns])
            .from_(rows, copy=False)
            .group_by(*[col(c) for c in grouped], copy=False))


def source_select(dialect: SqlDialect, view, alias: str) -> tuple[exp.Select, list[str]]:
    """The view's columns under fcompile's names; rows with a NULL key or event time are dropped
    (they can never match a spine row)."""
    projections = [exp.alias_(col(k.source_column, alias), k.name) for k in view.keys]
    zoned = view.relation.zoned_times
    projections.append(exp.alias_(dialect.utc_instant(col(view.event_timestamp, alias),
                                                      view.event_timestamp in zoned), EVENT_TS))
    names = [k.name for k in view.keys] + [EVENT_TS]
    if view.created_timestamp:
        projections.append(exp.alias_(dialect.utc_instant(col(view.created_timestamp, alias),
                                                          view.created_timestamp in zoned), CREATED_TS))
        names.append(CREATED_TS)
    if view.tie_breaker:
        projections.append(exp.alias_(col(view.tie_breaker, alias), TIE_BREAKER))
        names.append(TIE_BREAKER)
    for feature in view.features:
        projections.append(exp.alias_(col(feature.source_column, alias), feature.output_name))
        names.append(feature.output_name)
    select = (exp.select(*projections)
              .from_(dialect.relation(view.relation, alias, view.location), copy=False)
              .where(_all_not_null([col(k.source_column, alias) for k in view.keys]
                                   + [col(view.event_timestamp, alias)]), copy=False))
    return select, names


def _dedup_per_event(dialect: SqlDialect, view: ViewJoin, src: str, columns: list[str]) -> exp.Select:
    """One row per (keys, event time): the newest created, then the greatest tie_breaker, then each
    feature's greatest value among the rows still tied."""
    order = _newest_first(dialect, view, None)[1:]
    if not order:  # every row of a (keys, event time) is tied
        return greatest_per_group(dialect, exp.to_table(src), columns, view.features)
    partition = [col(k.name) for k in view.keys] + [col(EVENT_TS)]
    select = exp.select(*[col(c) for c in columns]).from_(src, copy=False)
    return keep_newest(dialect, select, partition, order, columns, view.features)


def _range_join(dialect: SqlDialect, view: ViewJoin, src: str, points: str, columns: list[str]) -> exp.Select:
    """Every candidate in [ts - ttl, ts] per spine point, the best one kept: (keys, spine time, features)."""
    condition = exp.and_(
        _keys_equal(view, "p", "f"),
        exp.LTE(this=col(EVENT_TS, "f"), expression=col(SPINE_TS, "p")),
    )
    if view.ttl_seconds is not None:
        condition = exp.and_(condition, exp.GTE(
            this=col(EVENT_TS, "f"), expression=dialect.ttl_lower_bound(col(SPINE_TS, "p"), view.ttl_seconds)))
    point = [k.name for k in view.keys] + [SPINE_TS]
    outputs = [f.output_name for f in view.features]
    select = (exp.select(*[exp.alias_(col(c, "p"), c) for c in point], *[exp.alias_(col(o, "f"), o) for o in outputs])
              .from_(exp.alias_(exp.to_table(points), "p", table=True), copy=False)
              .join(exp.alias_(exp.to_table(src), "f", table=True), on=condition, copy=False))
    return keep_newest(dialect, select, [col(c, "p") for c in point], _newest_first(dialect, view, "f"),
                       point + outputs, view.features)


def _window_join(dialect: SqlDialect, view: ViewJoin, rows: str, points: str, name: str,
                 ctes: list[tuple[str, exp.Expression]]) -> exp.Select:
    """Union spine points and feature rows per key, ordered by time with feature rows first at equal
    times (the bound is inclusive), and carry the newest feature row forward with a running MAX of
    its per-key sequence number: no ASOF join and no IGNORE NULLS needed, so it runs everywhere.
    Returns (keys, spine time, features) per spine point that has a candidate."""
    keys = [k.name for k in view.keys]
    spine_part = exp.select(*[col(k) for k in keys], exp.alias_(col(SPINE_TS), EVENT_TS),
                            exp.alias_(exp.Literal.number(1), IS_SPINE),
                            exp.alias_(exp.cast(exp.Null(), "BIGINT"), FEATURE_ROW_ID)).from_(points, copy=False)
    feature_part = (exp.select(*[col(k) for k in keys], col(EVENT_TS), exp.alias_(exp.Literal.number(0), IS_SPINE),
                               col(FEATURE_ROW_ID))
                    .from_(rows, copy=False))
    union = f"{name}_timeline"
    ctes.append((union, exp.union(spine_part, feature_part, distinct=False)))
    running = exp.Window(
        this=exp.Max(this=col(FEATURE_ROW_ID)),
        partition_by=[col(k) for k in keys],
        order=exp.Order(expressions=[dialect.ascending_never_null(col(EVENT_TS)),
                                     dialect.ascending_never_null(col(IS_SPINE))]),
        spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"),
    )
    carried = f"{name}_carried"
    ctes.append((carried, exp.select(*[col(k) for k in keys], exp.alias_(col(EVENT_TS), SPINE_TS),
                                     col(IS_SPINE), exp.alias_(running, FEATURE_ROW_ID)).from_(union, copy=False)))
    condition = exp.and_(_keys_equal(view, "c", "r"),
                         exp.EQ(this=col(FEATURE_ROW_ID, "c"), expression=col(FEATURE_ROW_ID, "r")))
    where: exp.Expression = exp.EQ(this=col(IS_SPINE, "c"), expression=exp.Literal.number(1))
    if view.ttl_seconds is not None:
        where = exp.and_(where, exp.GTE(this=col(EVENT_TS, "r"),
                                        expression=dialect.ttl_lower_bound(col(SPINE_TS, "c"), view.ttl_seconds)))
    return (exp.select(*[exp.alias_(col(c, "c"), c) for c in keys + [SPINE_TS]],
                       *[exp.alias_(col(f.output_name, "r"), f.output_name) for f in view.features])
            .from_(exp.alias_(exp.to_table(carried), "c", table=True), copy=False)
            .join(exp.alias_(exp.to_table(rows), "r", table=True), on=condition, copy=False)
            .where(where, copy=False))


def _numbered(dialect: SqlDialect, view: ViewJoin, dedup: str, columns: list[str]) -> exp.Select:
    number = exp.Window(this=exp.RowNumber(), partition_by=[col(k.name) for k in view.keys],
                        order=exp.Order(expressions=[dialect.ascending_never_null(col(EVENT_TS))]))
    return exp.select(*[col(c) for c in columns], exp.alias_(number, FEATURE_ROW_ID)).from_(dedup, copy=False)


def effective_strategy(dialect: SqlDialect, view: ViewJoin) -> JoinStrategy:
    """ASOF is lowered to the window plan where the dialect has no usable ASOF join."""
    if view.strategy is JoinStrategy.ASOF and not (dialect.SUPPORTS_ASOF_LEFT_JOIN
                                                   or dialect.SUPPORTS_ASOF_MATCH_CONDITION):
        return JoinStrategy.WINDOW
    return view.strategy


def _spine_time(dialect: SqlDialect, spine: SpinePlan, table: str | None) -> exp.Expression:
    """The spine's time as the views' event times are read: a UTC instant where the dialect converts times."""
    column = col(spine.timestamp_column, table)
    if not dialect.CONVERTS_TIMES_TO_UTC:
        return column
    return dialect.utc_instant(column, spine.timestamp_column in spine.relation.zoned_times)


def _spine_select(dialect: SqlDialect, plan: PointInTimeJoin, numbered: bool) -> exp.Select:
    """The spine CTE: every spine row, its time as compared (`__fc_spine_ts`, where the dialect converts
    times) and, when `numbered`, the number that puts the output in spine order. Only the final select
    reads the number, so a numbering an engine evaluates again per reference of the CTE (BigQuery, Trino)
    orders the output and attaches nothing: features are joined back on keys and time."""
    spine = plan.spine
    select = exp.select(exp.Star()).from_(dialect.relation(spine.relation, "spine_source", plan.location), copy=False)
    if spine.row_id_column:
        select = select.select(exp.alias_(col(spine.row_id_column), ROW_ID), copy=False)
    elif numbered:
        select = select.select(exp.alias_(dialect.spine_row_number(), ROW_ID), copy=False)
    if dialect.CONVERTS_TIMES_TO_UTC:
        select = select.select(exp.alias_(_spine_time(dialect, spine, None), SPINE_TS), copy=False)
    return select


def _spine_points(view: ViewJoin, spine_ts: str) -> exp.Select:
    """The spine's distinct (keys, time) that can match (no NULL key or time). A view's features depend on
    nothing else, so the range and window plans compute them once per point, and the final select joins
    them back to every spine row at that point."""
    keys = [k.name for k in view.keys]
    time = col(SPINE_TS) if spine_ts == SPINE_TS else exp.alias_(col(spine_ts), SPINE_TS)
    return (exp.select(*[col(k) for k in keys], time).distinct(copy=False)
            .from_(SPINE, copy=False).where(_all_not_null([col(k) for k in keys] + [col(spine_ts)]), copy=False))


def _spine_rows(dialect: SqlDialect, plan: PointInTimeJoin, ordered: bool) -> exp.Select:
    """The final select's spine rows `s` with the spine's columns and nothing of fcompile's: from the spine
    CTE when the columns are known or can be excluded (`ordered`), else the spine relation itself."""
    spine = plan.spine
    if not ordered:
        star = exp.Column(this=exp.Star(), table=exp.to_identifier("s"))
        return exp.select(star).from_(dialect.relation(spine.relation, "s", plan.location), copy=False)
    final = exp.select().from_(exp.alias_(exp.to_table(SPINE), "s", table=True), copy=False)
    if spine.columns is not None:
        columns = [exp.alias_(col(c, "s"), c) for c in spine.columns if c != spine.row_id_column]
        return final.select(*columns, copy=False)
    excluded = [col(ROW_ID)] + ([col(SPINE_TS)] if dialect.CONVERTS_TIMES_TO_UTC else []) \
        + ([col(spine.row_id_column)] if spine.row_id_column else [])
    return final.select(exp.Column(this=exp.Star(except_=excluded), table=exp.to_identifier("s")), copy=False)


def lower_point_in_time_join(dialect: SqlDialect, plan: PointInTimeJoin) -> exp.Select:
    """One row per spine row: the spine's columns, then the features. The output is in spine order
    where the final select can drop the ordering number (the spine's columns are known, or the dialect
    has `* EXCLUDE`); else it is `s.*` of the spine relation itself, in no particular order (a table has
    none), which every dialect can compile."""
    spine = plan.spine
    ordered = spine.columns is not None or dialect.STAR_EXCEPT
    ctes: list[tuple[str, exp.Expression]] = [(SPINE, _spine_select(dialect, plan, numbered=ordered))]
    spine_ts = SPINE_TS if dialect.CONVERTS_TIMES_TO_UTC else spine.timestamp_column  # in the spine CTE
    final = _spine_rows(dialect, plan, ordered)
    time_in_final = col(spine_ts, "s") if ordered else _spine_time(dialect, spine, "s")

    value_of: dict[tuple[int, str], exp.Expression] = {}
    view_ctes: dict[str, tuple[int, JoinStrategy]] = {}
    aggregate_rules: dict[str, str] = {}
    for index, view in enumerate(plan.joins):
        name = f"fv{index}_{view.view}"
        alias = f"f{index}"
        if isinstance(view, AggregateJoin):  # windowed aggregations: fcompile/dialects/aggregations.py
            rows = source_select(dialect, aggregate_reading(view), "src")
            aggregate_rules.update(lower_aggregate_join(dialect, view, name, SPINE, spine_ts, rows, ctes))
            at_end = exp.and_(*[exp.EQ(this=col(k.name, "s"), expression=col(k.name, alias)) for k in view.keys],
                              exp.EQ(this=window_end(dialect, time_in_final.copy(), view.step_seconds),
                                     expression=col(WINDOW_END, alias)))
            final = final.join(exp.alias_(exp.to_table(name), alias, table=True), on=at_end, join_type="left",
                               copy=False)
            for feature in view.features:
                value_of[(index, feature.output_name)] = final_value(view, feature, alias)
            continue
        src = f"{name}_source"
        source, columns = source_select(dialect, view, "src")
        ctes.append((src, source))
        strategy = effective_strategy(dialect, view)
        view_ctes[name] = (index, strategy)
        if strategy is JoinStrategy.ASOF:  # native: join the de-duplicated rows straight onto the spine
            ctes.append((name, _dedup_per_event(dialect, view, src, columns)))
            final = _asof_join(dialect, final, view, name, alias, time_in_final)
            in_ttl = None
            if view.ttl_seconds is not None:
                in_ttl = exp.GTE(this=col(EVENT_TS, alias),
                                 expression=dialect.ttl_lower_bound(time_in_final.copy(), view.ttl_seconds))
            for feature in view.features:
                value = col(feature.output_name, alias)
                value_of[(index, feature.output_name)] = (exp.Case(ifs=[exp.If(this=in_ttl, true=value)])
                                                          if in_ttl is not None else value)
            continue
        points = f"{name}_points"
        ctes.append((points, _spine_points(view, spine_ts)))
        if strategy is JoinStrategy.RANGE:
            ctes.append((name, _range_join(dialect, view, src, points, columns)))
        else:
            dedup = f"{name}_latest_per_event"
            ctes.append((dedup, _dedup_per_event(dialect, view, src, columns)))
            rows = f"{name}_rows"
            ctes.append((rows, _numbered(dialect, view, dedup, columns)))
            ctes.append((name, _window_join(dialect, view, rows, points, name, ctes)))
        # back to every spine row at the point; a NULL key or time matches nothing and gets NULL features
        at_point = exp.and_(*[exp.EQ(this=col(k.name, "s"), expression=col(k.name, alias)) for k in view.keys],
                            exp.EQ(this=time_in_final.copy(), expression=col(SPINE_TS, alias)))
        final = final.join(exp.alias_(exp.to_table(name), alias, table=True), on=at_point, join_type="left",
                           copy=False)
        for feature in view.features:
            value_of[(index, feature.output_name)] = col(feature.output_name, alias)

    final = final.select(*[exp.alias_(value_of[key], key[1]) for key in plan.output_order], copy=False)
    if ordered:
        final = final.order_by(col(ROW_ID, "s"), copy=False)
    rules = {**cte_rules(dialect, plan, view_ctes), **aggregate_rules}
    for cte_name, cte in ctes:
        # built here, shared with nobody
        final = final.with_(cte_name, as_=describe(cte, rules.get(cte_name)), copy=False)
    return final


def _asof_join(dialect: SqlDialect, final: exp.Select, view: ViewJoin, name: str, alias: str,
               spine_time: exp.Expression) -> exp.Select:
    keys = _keys_equal(view, "s", alias)
    newest_before = exp.GTE(this=spine_time.copy(), expression=col(EVENT_TS, alias))
    table = exp.alias_(exp.to_table(name), alias, table=True)
    if dialect.SUPPORTS_ASOF_LEFT_JOIN:
        join = exp.Join(this=table, on=exp.and_(keys, newest_before), side="LEFT", method="ASOF")
    else:
        join = exp.Join(this=table, on=keys, method="ASOF", match_condition=newest_before)
    return final.join(join, copy=False)


def coarse_window(dialect: SqlDialect, plan: LatestValues, with_start: bool = True) -> exp.Expression:
    """The window widened by a day on each side, on the event-time column as it is stored: a superset of the
    window in any session zone (an implicit cast shifts a time by at most 14 hours), which the engine can
    push into a Parquet scan or answer from an index, as it cannot a filter on the converted time. Without
    `with_start`, only the end bounds it."""
    column = col(plan.event_timestamp, "src")
    day = exp.Interval(this=exp.Literal.string("1"), unit=exp.var("DAY"))

    def bound(name: str) -> exp.Expression:
        return exp.cast(dialect.parameter(name), "TIMESTAMP")

    high = exp.Add(this=bound(plan.end_parameter), expression=day.copy())
    if not with_start:
        return exp.LTE(this=column, expression=high)
    return exp.Between(this=column, low=exp.Sub(this=bound(plan.start_parameter), expression=day), high=high)


def lower_latest_values(dialect: SqlDialect, plan: LatestValues) -> exp.Select:
    source, columns = source_select(dialect, plan, "src")
    if dialect.CONVERTS_TIMES_TO_UTC:
        source = source.where(coarse_window(dialect, plan), copy=False)
    # the window bounds the event time as read (a UTC instant where the dialect converts times)
    window = exp.and_(
        exp.GTE(this=col(EVENT_TS), expression=dialect.utc_instant(dialect.parameter(plan.start_parameter))),
        exp.LTE(this=col(EVENT_TS), expression=dialect.utc_instant(dialect.parameter(plan.end_parameter))),
    )
    if plan.tie_breaker:  # read to rank the rows, not returned
        columns.remove(TIE_BREAKER)
    select = (exp.select(*[col(c) for c in columns]).from_(source.subquery("in_window", copy=False), copy=False)
              .where(window, copy=False))
    return keep_newest(dialect, select, [col(k.name) for k in plan.keys], _newest_first(dialect, plan, None), columns,
                       plan.features)
