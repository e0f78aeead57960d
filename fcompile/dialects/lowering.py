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
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.planner.plans import (
    CREATED_TS, EVENT_TS, FEATURE_ROW_ID, IS_SPINE, RANK, ROW_ID, SPINE_TS, TIE_BREAKER, FeatureColumn, JoinStrategy,
    LatestValues, PointInTimeJoin, ViewJoin,
)

SPINE = "spine"


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table)


def _all_not_null(columns: list[exp.Expression]) -> exp.Expression:
    return exp.and_(*[exp.Not(this=exp.Is(this=c, expression=exp.Null())) for c in columns])


def _keys_equal(view: ViewJoin, left: str, right: str) -> exp.Expression:
    """Typed equality, key by key (never a concatenated string key)."""
    return exp.and_(*[exp.EQ(this=col(k.name, left), expression=col(k.name, right)) for k in view.keys])


def _newest_first(view_or_plan, table: str | None) -> list[exp.Ordered]:
    """Event time, then created time, then the tie_breaker, each newest (greatest) first, NULL last: rows
    equal in all of them are a full tie, which `keep_newest` merges."""
    order = [exp.Ordered(this=col(EVENT_TS, table), desc=True, nulls_first=False)]
    if view_or_plan.created_timestamp:
        order.append(exp.Ordered(this=col(CREATED_TS, table), desc=True, nulls_first=False))
    if view_or_plan.tie_breaker:
        order.append(exp.Ordered(this=col(TIE_BREAKER, table), desc=True, nulls_first=False))
    return order


def _keep_ranked(dialect: SqlDialect, select: exp.Select, window: exp.Window, columns: list[str]) -> exp.Select:
    """The rows of `select` whose `window` is 1: QUALIFY where the dialect has it, else a ranked subquery
    whose columns are all aliased uniquely (a QUALIFY rewritten by sqlglot collapses duplicates)."""
    if dialect.SUPPORTS_QUALIFY:
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
    order = _newest_first(view, None)[1:]
    if not order:  # every row of a (keys, event time) is tied
        return greatest_per_group(dialect, exp.to_table(src), columns, view.features)
    partition = [col(k.name) for k in view.keys] + [col(EVENT_TS)]
    select = exp.select(*[col(c) for c in columns]).from_(src, copy=False)
    return keep_newest(dialect, select, partition, order, columns, view.features)


def _range_join(dialect: SqlDialect, view: ViewJoin, src: str, spine_ts: str, columns: list[str]) -> exp.Select:
    condition = exp.and_(
        _keys_equal(view, "s", "f"),
        exp.LTE(this=col(EVENT_TS, "f"), expression=col(spine_ts, "s")),
    )
    if view.ttl_seconds is not None:
        condition = exp.and_(condition, exp.GTE(
            this=col(EVENT_TS, "f"), expression=dialect.ttl_lower_bound(col(spine_ts, "s"), view.ttl_seconds)))
    outputs = [f.output_name for f in view.features]
    select = (exp.select(exp.alias_(col(ROW_ID, "s"), ROW_ID), *[exp.alias_(col(o, "f"), o) for o in outputs])
              .from_(exp.alias_(exp.to_table(SPINE), "s", table=True), copy=False)
              .join(exp.alias_(exp.to_table(src), "f", table=True), on=condition, copy=False))
    return keep_newest(dialect, select, [col(ROW_ID, "s")], _newest_first(view, "f"), [ROW_ID] + outputs,
                       view.features)


def _window_join(dialect: SqlDialect, view: ViewJoin, rows: str, spine_ts: str, name: str,
                 ctes: list[tuple[str, exp.Expression]]) -> exp.Select:
    """Union spine rows and feature rows per key, ordered by time with feature rows first at equal
    times (the bound is inclusive), and carry the newest feature row forward with a running MAX of
    its per-key sequence number: no ASOF join and no IGNORE NULLS needed, so it runs everywhere."""
    keys = [k.name for k in view.keys]
    spine_part = (exp.select(col(ROW_ID), *[col(k) for k in keys],
                             exp.alias_(col(spine_ts), EVENT_TS),
                             exp.alias_(exp.Literal.number(1), IS_SPINE),
                             exp.alias_(exp.cast(exp.Null(), "BIGINT"), FEATURE_ROW_ID))
                  .from_(SPINE, copy=False).where(_all_not_null([col(k) for k in keys] + [col(spine_ts)]), copy=False))
    feature_part = (exp.select(exp.alias_(exp.cast(exp.Null(), "BIGINT"), ROW_ID), *[col(k) for k in keys],
                               col(EVENT_TS), exp.alias_(exp.Literal.number(0), IS_SPINE), col(FEATURE_ROW_ID))
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
    ctes.append((carried, exp.select(col(ROW_ID), *[col(k) for k in keys], exp.alias_(col(EVENT_TS), SPINE_TS),
                                     col(IS_SPINE), exp.alias_(running, FEATURE_ROW_ID)).from_(union, copy=False)))
    condition = exp.and_(_keys_equal(view, "c", "r"),
                         exp.EQ(this=col(FEATURE_ROW_ID, "c"), expression=col(FEATURE_ROW_ID, "r")))
    where: exp.Expression = exp.EQ(this=col(IS_SPINE, "c"), expression=exp.Literal.number(1))
    if view.ttl_seconds is not None:
        where = exp.and_(where, exp.GTE(this=col(EVENT_TS, "r"),
                                        expression=dialect.ttl_lower_bound(col(SPINE_TS, "c"), view.ttl_seconds)))
    return (exp.select(exp.alias_(col(ROW_ID, "c"), ROW_ID),
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


def lower_point_in_time_join(dialect: SqlDialect, plan: PointInTimeJoin) -> exp.Select:
    spine = plan.spine
    ctes: list[tuple[str, exp.Expression]] = []
    spine_relation = dialect.relation(spine.relation, "spine_source", plan.location)
    if spine.row_id_column:
        spine_select = exp.select("*", exp.alias_(col(spine.row_id_column), ROW_ID)).from_(spine_relation, copy=False)
    else:
        row_number = dialect.spine_row_number()
        spine_select = exp.select(exp.Star(), exp.alias_(row_number, ROW_ID)).from_(spine_relation, copy=False)
    # the spine's time as the views' event times are read (a UTC instant), where the dialect converts them
    spine_ts = spine.timestamp_column
    if dialect.CONVERTS_TIMES_TO_UTC:
        zoned = spine_ts in spine.relation.zoned_times
        spine_select = spine_select.select(exp.alias_(dialect.utc_instant(col(spine_ts), zoned), SPINE_TS),
                                           copy=False)
        spine_ts = SPINE_TS
    ctes.append((SPINE, spine_select))

    final = exp.select().from_(exp.alias_(exp.to_table(SPINE), "s", table=True), copy=False)
    if spine.columns is not None:
        columns = [exp.alias_(col(c, "s"), c) for c in spine.columns if c != spine.row_id_column]
        final = final.select(*columns, copy=False)
    elif dialect.STAR_EXCEPT:
        excluded = [col(ROW_ID)] + ([col(SPINE_TS)] if spine_ts == SPINE_TS else []) \
            + ([col(spine.row_id_column)] if spine.row_id_column else [])
        final = final.select(exp.Column(this=exp.Star(except_=excluded), table=exp.to_identifier("s")), copy=False)
    else:
        raise dialect.unsupported("a spine whose columns are unknown at compile time",
                                  "the runner passes the spine's columns; for build output, declare the spine "
                                  "as a file or use a dialect with SELECT * EXCLUDE", plan.location)

    value_of: dict[tuple[int, str], exp.Expression] = {}
    for index, view in enumerate(plan.joins):
        name = f"fv{index}_{view.view}"
        src = f"{name}_source"
        source, columns = source_select(dialect, view, "src")
        ctes.append((src, source))
        strategy = effective_strategy(dialect, view)
        alias = f"f{index}"
        if strategy is JoinStrategy.RANGE:
            ctes.append((name, _range_join(dialect, view, src, spine_ts, columns)))
        elif strategy is JoinStrategy.WINDOW:
            dedup = f"{name}_latest_per_event"
            ctes.append((dedup, _dedup_per_event(dialect, view, src, columns)))
            rows = f"{name}_rows"
            ctes.append((rows, _numbered(dialect, view, dedup, columns)))
            ctes.append((name, _window_join(dialect, view, rows, spine_ts, name, ctes)))
        if strategy in (JoinStrategy.RANGE, JoinStrategy.WINDOW):
            final = final.join(exp.alias_(exp.to_table(name), alias, table=True),
                               on=exp.EQ(this=col(ROW_ID, alias), expression=col(ROW_ID, "s")), join_type="left",
                               copy=False)
            for feature in view.features:
                value_of[(index, feature.output_name)] = col(feature.output_name, alias)
            continue
        # native ASOF: join the de-duplicated rows straight onto the spine
        ctes.append((name, _dedup_per_event(dialect, view, src, columns)))
        final = _asof_join(dialect, final, view, name, alias, spine_ts)
        in_ttl = None
        if view.ttl_seconds is not None:
            in_ttl = exp.GTE(this=col(EVENT_TS, alias),
                             expression=dialect.ttl_lower_bound(col(spine_ts, "s"), view.ttl_seconds))
        for feature in view.features:
            value = col(feature.output_name, alias)
            value_of[(index, feature.output_name)] = (exp.Case(ifs=[exp.If(this=in_ttl, true=value)])
                                                      if in_ttl is not None else value)

    final = final.select(*[exp.alias_(value_of[key], key[1]) for key in plan.output_order], copy=False)
    final = final.order_by(col(ROW_ID, "s"), copy=False)
    for cte_name, cte in ctes:
        final = final.with_(cte_name, as_=cte, copy=False)  # built here, shared with nobody
    return final


def _asof_join(dialect: SqlDialect, final: exp.Select, view: ViewJoin, name: str, alias: str,
               spine_ts: str) -> exp.Select:
    keys = _keys_equal(view, "s", alias)
    newest_before = exp.GTE(this=col(spine_ts, "s"), expression=col(EVENT_TS, alias))
    table = exp.alias_(exp.to_table(name), alias, table=True)
    if dialect.SUPPORTS_ASOF_LEFT_JOIN:
        join = exp.Join(this=table, on=exp.and_(keys, newest_before), side="LEFT", method="ASOF")
    else:
        join = exp.Join(this=table, on=keys, method="ASOF", match_condition=newest_before)
    return final.join(join, copy=False)


def _coarse_window(dialect: SqlDialect, plan: LatestValues) -> exp.Expression:
    """The window widened by a day on each side, on the event-time column as it is stored: a superset of the
    window in any session zone (an implicit cast shifts a time by at most 14 hours), which the engine can
    push into a Parquet scan or answer from an index, as it cannot a filter on the converted time."""
    column = col(plan.event_timestamp, "src")
    day = exp.Interval(this=exp.Literal.string("1"), unit=exp.var("DAY"))

    def bound(name: str) -> exp.Expression:
        return exp.cast(dialect.parameter(name), "TIMESTAMP")

    return exp.Between(this=column, low=exp.Sub(this=bound(plan.start_parameter), expression=day),
                       high=exp.Add(this=bound(plan.end_parameter), expression=day.copy()))


def lower_latest_values(dialect: SqlDialect, plan: LatestValues) -> exp.Select:
    source, columns = source_select(dialect, plan, "src")
    if dialect.CONVERTS_TIMES_TO_UTC:
        source = source.where(_coarse_window(dialect, plan), copy=False)
    # the window bounds the event time as read (a UTC instant where the dialect converts times)
    window = exp.and_(
        exp.GTE(this=col(EVENT_TS), expression=dialect.utc_instant(dialect.parameter(plan.start_parameter))),
        exp.LTE(this=col(EVENT_TS), expression=dialect.utc_instant(dialect.parameter(plan.end_parameter))),
    )
    if plan.tie_breaker:  # read to rank the rows, not returned
        columns.remove(TIE_BREAKER)
    select = (exp.select(*[col(c) for c in columns]).from_(source.subquery("in_window", copy=False), copy=False)
              .where(window, copy=False))
    return keep_newest(dialect, select, [col(k.name) for k in plan.keys], _newest_first(plan, None), columns,
                       plan.features)
