-- fcompile 0.1.0 · feature view customer_daily_profile · features/customer.yml
-- %(start)s and %(end)s are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
SELECT
  "customer_id",
  "__fc_event_ts",
  MAX("current_balance") AS "current_balance",
  MAX("credit_score") AS "credit_score",
  MAX("lifetime_order_count") AS "lifetime_order_count",
  MAX("customer_segment" COLLATE "C") AS "customer_segment"
FROM (
  SELECT
    "ranked"."customer_id",
    "ranked"."__fc_event_ts",
    "ranked"."current_balance",
    "ranked"."credit_score",
    "ranked"."lifetime_order_count",
    "ranked"."customer_segment"
  FROM (
    SELECT
      "customer_id",
      "__fc_event_ts",
      "current_balance",
      "credit_score",
      "lifetime_order_count",
      "customer_segment",
      RANK() OVER (PARTITION BY "customer_id" ORDER BY "__fc_event_ts" DESC NULLS LAST) AS "__fc_rank"
    FROM (
      SELECT
        "src"."customer_id" AS "customer_id",
        CASE
          WHEN PG_TYPEOF("src"."snapshot_ts") = CAST('timestamp with time zone' AS REGTYPE)
          THEN CAST("src"."snapshot_ts" AS TIMESTAMPTZ)
          ELSE CAST("src"."snapshot_ts" AS TIMESTAMP) AT TIME ZONE 'UTC'
        END AS "__fc_event_ts",
        "src"."current_balance" AS "current_balance",
        "src"."credit_score" AS "credit_score",
        "src"."lifetime_order_count" AS "lifetime_order_count",
        "src"."customer_segment" AS "customer_segment"
      FROM "raw"."customer_profile" AS "src"
      WHERE
        (
          "src"."customer_id" IS NOT NULL AND "src"."snapshot_ts" IS NOT NULL
        )
        AND "src"."snapshot_ts" BETWEEN CAST(%(start)s AS TIMESTAMP) - INTERVAL '1 DAY' AND CAST(%(end)s AS TIMESTAMP) + INTERVAL '1 DAY'
    ) AS "in_window"
    WHERE
      "__fc_event_ts" >= CASE
        WHEN PG_TYPEOF(%(start)s) = CAST('timestamp with time zone' AS REGTYPE)
        THEN CAST(%(start)s AS TIMESTAMPTZ)
        ELSE CAST(%(start)s AS TIMESTAMP) AT TIME ZONE 'UTC'
      END
      AND "__fc_event_ts" <= CASE
        WHEN PG_TYPEOF(%(end)s) = CAST('timestamp with time zone' AS REGTYPE)
        THEN CAST(%(end)s AS TIMESTAMPTZ)
        ELSE CAST(%(end)s AS TIMESTAMP) AT TIME ZONE 'UTC'
      END
  ) AS "ranked"
  WHERE
    "ranked"."__fc_rank" = 1
) AS "newest"
GROUP BY
  "customer_id",
  "__fc_event_ts"
