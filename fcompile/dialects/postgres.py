"""PostgreSQL: no ASOF join, no QUALIFY, no `* EXCLUDE`, no CREATE OR REPLACE TABLE; ttl bounds as
`ts - INTERVAL '<n> SECOND'` (sqlglot spells TimestampSub as a TIMESTAMP_SUB function Postgres does not
have).

Bound parameters are spelled `%(name)s`, as psycopg binds them by name; psycopg then reads every `%` of
the statement as the start of a placeholder, so a statement with parameters writes any other `%` (a LIKE
pattern or the modulo operator in a query source) as `%%`, which psycopg sends as `%`."""

from __future__ import annotations

import collections
import uuid

from sqlglot import exp

from fcompile.dialects.base import SqlDialect, fraction_literal
from fcompile.expressions.traits import ExpressionTraits
from fcompile.graph import DType

_REGTYPE = exp.DataType.build("REGTYPE", dialect="postgres")


class PostgresDialect(SqlDialect):
    name = "postgres"
    sqlglot_name = "postgres"
    SUPPORTS_CREATE_OR_REPLACE_TABLE = False
    TRANSACTIONAL_DDL = True
    CONVERTS_TIMES_TO_UTC = True
    ORDERS_ARRAYS = True
    STRINGS_ORDER_BY_BYTES = False  # a database made with en_US.UTF-8 puts 'a' before 'B'
    EXPRESSIONS = ExpressionTraits(int_division="slash", extremes_skip_nulls=True, exp_raises_out_of_range=True,
                                   code_point_collation="C", wall_clock="instant_at_utc")
    EXACT_QUANTILES = True       # PostgreSQL has no approximate percentile
    EXACT_DISTINCT_COUNT = True

    def quantiles(self, value: exp.Expression, buckets: int) -> list[exp.Expression]:
        # PERCENTILE_CONT(ARRAY[...]) WITHIN GROUP (ORDER BY v): exact, interpolated, one sort, a double[]
        fractions = exp.Array(expressions=[fraction_literal(i, buckets) for i in range(buckets + 1)])
        return [exp.WithinGroup(this=exp.PercentileCont(this=fractions),
                                expression=exp.Order(expressions=[exp.Ordered(this=value)]))]

    def distinct_count(self, value: exp.Expression) -> exp.Expression:
        return exp.Count(this=exp.Distinct(expressions=[value]))

    def byte_order(self, value: exp.Expression) -> exp.Expression:
        return exp.Collate(this=value, expression=exp.Identifier(this="C", quoted=True))

    def greatest(self, value: exp.Expression, dtype: DType) -> exp.Expression:
        # strings in byte order, as every other warehouse compares them, not in the column's collation (a database
        # made with en_US.UTF-8 puts 'a' before 'B')
        if dtype.name == "string":
            value = self.byte_order(value)
        return super().greatest(value, dtype)

    def spine_view(self, name: str, query: exp.Query) -> list[exp.Expression]:
        # CREATE OR REPLACE VIEW cannot change a view's columns; the drop names the session's own schema, so
        # that a permanent view of that name is never dropped
        temporary = exp.Table(this=exp.to_identifier(name), db=exp.to_identifier("pg_temp"))
        return [exp.Drop(tables=[temporary], kind="VIEW", exists=True),
                exp.Create(this=exp.to_table(name), kind="VIEW", expression=query,
                           properties=exp.Properties(expressions=[exp.TemporaryProperty()]))]

    def utc_instant(self, time: exp.Expression, zoned: bool = False) -> exp.Expression:
        if zoned:  # a timestamptz is an instant already
            return time
        # `ts AT TIME ZONE 'UTC'` reads a timestamp without time zone as UTC, exactly and whatever the session's
        # TimeZone (`ts::timestamptz` would use it), but turns a timestamptz into a naive time: the column's
        # type, unknown here, picks the branch (both type-check for either type; only one runs). Exact for every
        # microsecond in range, where TO_TIMESTAMP(EXTRACT(EPOCH FROM ts)) goes through a double (9999-12-31
        # 23:59:59.999999 rounds out of range), and cheaper.
        is_zoned = exp.EQ(this=exp.Anonymous(this="PG_TYPEOF", expressions=[time.copy()]),
                          expression=exp.cast(exp.Literal.string("timestamp with time zone"), _REGTYPE))
        naive_as_utc = exp.AtTimeZone(this=exp.cast(time.copy(), "TIMESTAMP"), zone=exp.Literal.string("UTC"))
        return exp.Case(ifs=[exp.If(this=is_zoned, true=exp.cast(time, "TIMESTAMPTZ"))], default=naive_as_utc)

    def epoch_microseconds(self, time: exp.Expression) -> exp.Expression:
        # EXTRACT(EPOCH ...) is an exact numeric since PostgreSQL 14 (a double before), of a timestamptz here
        epoch = exp.Extract(this=exp.var("EPOCH"), expression=time)
        return exp.cast(exp.Mul(this=epoch, expression=exp.Literal.number(1_000_000)), "BIGINT")

    def ttl_lower_bound(self, timestamp: exp.Expression, seconds: int) -> exp.Expression:
        return exp.Sub(this=timestamp, expression=exp.Interval(this=exp.Literal.string(f"{seconds} SECOND")))

    def generate(self, expression: exp.Expression, pretty: bool = True, copy: bool = True) -> str:
        counts = collections.Counter(p.name for p in expression.find_all(exp.Placeholder))
        text = super().generate(expression, pretty, copy)
        if not counts:
            return text
        if any(text.count(f"%({name})s") != n for name, n in counts.items()):
            # the text of a placeholder appears elsewhere too (in a string in a query source): mark the
            # parameters with names no text holds (the layout may then differ)
            return self._generate_marked(expression, pretty, copy)
        escaped = text.replace("%", "%%")
        for name in counts:
            escaped = escaped.replace(f"%%({name})s", f"%({name})s")
        return escaped

    def _generate_marked(self, expression: exp.Expression, pretty: bool, copy: bool) -> str:
        tree = expression.copy() if copy else expression
        names = {}
        for placeholder in tree.find_all(exp.Placeholder):
            token = f"fcparam{uuid.uuid4().hex}"
            names[token] = placeholder.name
            placeholder.set("this", token)
        text = super().generate(tree, pretty, copy=False).replace("%", "%%")
        for token, name in names.items():
            text = text.replace(f"%%({token})s", f"%({name})s")
        return text
