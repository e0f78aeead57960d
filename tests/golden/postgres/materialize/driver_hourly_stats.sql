-- fcompile 0.1.0 · feature view driver_hourly_stats · features/driver.yml
-- %(start)s and %(end)s are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
SELECT
  "driver_id",
  "__fc_event_ts",
  "__fc_created_ts",
  MAX("conv_rate") AS "conv_rate",
  MAX("acc_rate") AS "acc_rate",
  MAX("avg_daily_trips") AS "avg_daily_trips",
  MAX("avg_rating") AS "avg_rating"
FROM (
  SELECT
    "ranked"."driver_id",
    "ranked"."__fc_event_ts",
    "ranked"."__fc_created_ts",
    "ranked"."conv_rate",
    "ranked"."acc_rate",
    "ranked"."avg_daily_trips",
    "ranked"."avg_rating"
  FROM (
    SELECT
      "driver_id",
      "__fc_event_ts",
      "__fc_created_ts",
      "conv_rate",
      "acc_rate",
      "avg_daily_trips",
      "avg_rating",
      RANK() OVER (
        PARTITION BY "driver_id"
        ORDER BY
          "__fc_event_ts" DESC NULLS LAST,
          "__fc_created_ts" DESC NULLS LAST
      ) AS "__fc_rank"
    FROM (
      SELECT
        "src"."driver_id" AS "driver_id",
        CASE
          WHEN PG_TYPEOF("src"."event_timestamp") = CAST('timestamp with time zone' AS REGTYPE)
          THEN CAST("src"."event_timestamp" AS TIMESTAMPTZ)
          ELSE CAST("src"."event_timestamp" AS TIMESTAMP) AT TIME ZONE 'UTC'
        END AS "__fc_event_ts",
        CASE
          WHEN PG_TYPEOF("src"."created") = CAST('timestamp with time zone' AS REGTYPE)
          THEN CAST("src"."created" AS TIMESTAMPTZ)
          ELSE CAST("src"."created" AS TIMESTAMP) AT TIME ZONE 'UTC'
        END AS "__fc_created_ts",
        "src"."conversion_rate" AS "conv_rate",
        "src"."acc_rate" AS "acc_rate",
        "src"."avg_daily_trips" AS "avg_daily_trips",
        "src"."avg_rating" AS "avg_rating"
      FROM "raw"."driver_stats" AS "src"
      WHERE
        (
          "src"."driver_id" IS NOT NULL AND "src"."event_timestamp" IS NOT NULL
        )
        AND "src"."event_timestamp" BETWEEN CAST(%(start)s AS TIMESTAMP) - INTERVAL '1 DAY' AND CAST(%(end)s AS TIMESTAMP) + INTERVAL '1 DAY'
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
  "driver_id",
  "__fc_event_ts",
  "__fc_created_ts"
